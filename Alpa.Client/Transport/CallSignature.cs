using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Alpa.Client.Transport;

/// <summary>
/// How a grain call proves knowledge of the cluster secret: three headers,
/// <c>alpa-ts</c> (Unix milliseconds), <c>alpa-nonce</c> (16 random bytes, base64url) and
/// <c>alpa-sig</c> = base64url(HMAC-SHA256(secret, "METHOD\nPATH\nTS\nNONCE")). The silo rejects a
/// timestamp outside its replay window and any nonce it has already seen inside the window.
/// Data-plane streams open with the same proof over the method <c>DATA</c> and path <c>/tensors</c>.
/// </summary>
public static class CallSignature
{
    public const string TimestampHeader = "alpa-ts";
    public const string NonceHeader = "alpa-nonce";
    public const string SignatureHeader = "alpa-sig";

    /// <summary>Length of a nonce in bytes.</summary>
    public const int NonceBytes = 16;

    /// <summary>Length of a signature in bytes.</summary>
    public const int SignatureBytes = 32;

    /// <summary>The signed text for one call.</summary>
    public static byte[] Message(string method, string path, long timestampMs, string nonce) =>
        Encoding.UTF8.GetBytes($"{method}\n{path}\n{timestampMs}\n{nonce}");

    /// <summary>A fresh random nonce, base64url.</summary>
    public static string NewNonce()
    {
        Span<byte> bytes = stackalloc byte[NonceBytes];
        RandomNumberGenerator.Fill(bytes);
        return Base64Url(bytes);
    }

    /// <summary>Signature headers for a call at <paramref name="timestampMs"/>.</summary>
    public static (string Timestamp, string Nonce, string Signature) Create(
        ClusterSecret secret, string method, string path, long timestampMs)
    {
        var nonce = NewNonce();
        var signature = Base64Url(secret.Sign(Message(method, path, timestampMs, nonce)));
        return (timestampMs.ToString(System.Globalization.CultureInfo.InvariantCulture), nonce, signature);
    }

    public static string Base64Url(ReadOnlySpan<byte> bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Decodes base64url into <paramref name="destination"/>; false when malformed or of another length.</summary>
    public static bool TryDecodeBase64Url(string text, Span<byte> destination)
    {
        if (text.Length > 64)
        {
            return false;
        }
        var padded = text.Replace('-', '+').Replace('_', '/');
        padded += (padded.Length % 4) switch { 2 => "==", 3 => "=", _ => "" };
        Span<byte> buffer = stackalloc byte[64];
        return Convert.TryFromBase64String(padded, buffer, out var written) && written == destination.Length
            && buffer[..written].TryCopyTo(destination);
    }

    /// <summary>Current time in Unix milliseconds.</summary>
    public static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>Writes a data-plane handshake: timestamp (8 bytes LE), nonce (16), signature (32).</summary>
    public static void WriteHandshake(ClusterSecret? secret, Span<byte> destination)
    {
        var ts = NowMs();
        BinaryPrimitives.WriteInt64LittleEndian(destination, ts);
        var nonce = destination.Slice(8, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        var signature = destination.Slice(8 + NonceBytes, SignatureBytes);
        if (secret is null)
        {
            signature.Clear();
            return;
        }
        secret.Sign(Message("DATA", "/tensors", ts, Base64Url(nonce))).CopyTo(signature);
    }

    /// <summary>Size of <see cref="WriteHandshake"/>'s output.</summary>
    public const int HandshakeBytes = 8 + NonceBytes + SignatureBytes;
}
