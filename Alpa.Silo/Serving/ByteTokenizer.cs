using System.Text;

namespace Alpa.Silo.Serving;

/// <summary>
/// Byte-level tokenizer: token i is byte i of the UTF-8 text (vocabulary 256, nothing to fetch).
/// <see cref="Decoder"/> turns a token stream back into text without splitting a multi-byte
/// character across two streamed pieces.
/// </summary>
public static class ByteTokenizer
{
    /// <summary>Vocabulary size the model must have (at least).</summary>
    public const int VocabSize = 256;

    public static int[] Encode(string text) => [.. Encoding.UTF8.GetBytes(text).Select(b => (int)b)];

    public static string Decode(IEnumerable<int> tokens) => Encoding.UTF8.GetString([.. tokens.Select(t => (byte)t)]);

    /// <summary>A streaming decoder: bytes of an unfinished character wait for the next token.</summary>
    public sealed class Decoder
    {
        private readonly System.Text.Decoder _utf8 = Encoding.UTF8.GetDecoder();
        private readonly char[] _chars = new char[8];

        /// <summary>The text completed by <paramref name="token"/> (empty while a character is unfinished).</summary>
        public string Push(int token)
        {
            ReadOnlySpan<byte> one = [(byte)token];
            var n = _utf8.GetChars(one, _chars, flush: false);
            return new string(_chars, 0, n);
        }

        /// <summary>Ends the stream: an unfinished character becomes U+FFFD, as <see cref="Decode"/> does.</summary>
        public string Flush()
        {
            var n = _utf8.GetChars([], _chars, flush: true);
            return new string(_chars, 0, n);
        }
    }
}
