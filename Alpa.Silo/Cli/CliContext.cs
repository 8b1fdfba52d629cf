using System.Text;
using System.Text.Json;

namespace Alpa.Silo.Cli;

/// <summary>
/// What a command writes to. With <see cref="Json"/> the command writes exactly one JSON document
/// to <see cref="Out"/> (through <see cref="WriteJson"/>); logs and progress always go to <see cref="Err"/>.
/// </summary>
internal sealed class CliContext(TextWriter output, TextWriter error, bool json, bool verbose)
{
    public TextWriter Out { get; } = output;
    public TextWriter Err { get; } = error;
    /// <summary><c>--json</c>: one JSON document on stdout instead of text.</summary>
    public bool Json { get; } = json;
    /// <summary><c>--verbose</c>: more logging, stack traces on errors.</summary>
    public bool Verbose { get; } = verbose;

    /// <summary>Writes one indented JSON document (and a newline) to <see cref="Out"/>.</summary>
    public void WriteJson(Action<Utf8JsonWriter> write)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            write(w);
        Out.WriteLine(Encoding.UTF8.GetString(stream.ToArray()));
    }

    /// <summary>A progress or log line on stderr (shown only with <c>--verbose</c>).</summary>
    public void Log(string line)
    {
        if (Verbose) Err.WriteLine(line);
    }
}
