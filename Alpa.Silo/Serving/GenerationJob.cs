using System.Diagnostics;
using System.Threading.Channels;

namespace Alpa.Silo.Serving;

/// <summary>A validated generation request as the engine runs it.</summary>
public sealed record GenerationRequest
{
    /// <summary>Prompt tokens (at least one).</summary>
    public required int[] Prompt { get; init; }
    /// <summary>Most tokens to generate.</summary>
    public required int MaxTokens { get; init; }
    public required SamplingOptions Sampling { get; init; }
    /// <summary>Stop strings: generation ends before the first; it is not returned.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];
    /// <summary>Token ids that end generation; not returned.</summary>
    public IReadOnlyList<int> StopTokens { get; init; } = [];
    /// <summary>When the request gives up (queue wait included).</summary>
    public required DateTimeOffset Deadline { get; init; }
}

/// <summary>One event of a job: a piece of text, or the end (with <see cref="Finish"/> or <see cref="Error"/>).</summary>
public sealed record GenerationEvent(string Text, string? Finish = null, ServingError? Error = null, int CompletionTokens = 0);

/// <summary>Why a job failed: HTTP status and reason.</summary>
public sealed record ServingError(int Status, string Type, string Message);

/// <summary>
/// A request admitted to the engine: its state in a batch slot and the channel its events go to.
/// Touched only by the engine loop, except <see cref="Events"/> (read by the HTTP handler) and
/// <see cref="Cancel"/>.
/// </summary>
public sealed class GenerationJob(GenerationRequest request)
{
    private readonly Channel<GenerationEvent> _events = Channel.CreateUnbounded<GenerationEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly StopMatcher _stop = new(request.Stop);
    private readonly ByteTokenizer.Decoder _decoder = new();
    private volatile bool _cancelled;

    public GenerationRequest Request { get; } = request;
    public ChannelReader<GenerationEvent> Events => _events.Reader;
    public long EnqueuedAt { get; } = Stopwatch.GetTimestamp();
    /// <summary>Prompt tokens already written to the cache.</summary>
    internal int Fed { get; set; }
    /// <summary>Tokens in the cache (prompt and generated).</summary>
    internal int Length { get; set; }
    internal int? LastToken { get; set; }
    internal List<int> Generated { get; } = [];
    internal Sampler Sampler { get; } = new(request.Sampling);
    internal bool Cancelled => _cancelled;
    internal bool Done { get; private set; }

    /// <summary>Back to the state of a queued job (its cache was lost before it produced a token).</summary>
    internal void Restart() => (Fed, Length, LastToken) = (0, 0, null);

    /// <summary>The client went away: the engine frees the slot at the next step.</summary>
    public void Cancel() => _cancelled = true;

    /// <summary>Appends a sampled token; returns true when the job finished.</summary>
    internal bool Accept(int token, int context)
    {
        if (Request.StopTokens.Contains(token)) return Finish("stop");
        Generated.Add(token);
        var text = _stop.Push(_decoder.Push(token), out var hit);
        if (text.Length > 0) _events.Writer.TryWrite(new GenerationEvent(text));
        if (hit) return Finish("stop");
        if (Generated.Count >= Request.MaxTokens || Length + 1 > context) return Finish("length");
        return false;
    }

    internal bool Finish(string reason)
    {
        Done = true;
        var tail = _stop.Push(_decoder.Flush(), out _) + _stop.Flush();
        if (tail.Length > 0) _events.Writer.TryWrite(new GenerationEvent(tail));
        _events.Writer.TryWrite(new GenerationEvent("", reason, CompletionTokens: Generated.Count));
        _events.Writer.TryComplete();
        return true;
    }

    internal void Fail(ServingError error)
    {
        Done = true;
        _events.Writer.TryWrite(new GenerationEvent("", Error: error, CompletionTokens: Generated.Count));
        _events.Writer.TryComplete();
    }
}

/// <summary>
/// Holds back streamed text that might be the start of a stop string; reports the first stop
/// string found and drops it and everything after.
/// </summary>
internal sealed class StopMatcher(IReadOnlyList<string> stops)
{
    private string _pending = "";
    private bool _stopped;

    /// <summary>Adds <paramref name="piece"/>; returns the text that is safe to emit now.</summary>
    public string Push(string piece, out bool hit)
    {
        hit = false;
        if (_stopped) return "";
        _pending += piece;
        var first = -1;
        foreach (var s in stops)
        {
            var at = _pending.IndexOf(s, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first)) first = at;
        }
        if (first >= 0)
        {
            hit = _stopped = true;
            var before = _pending[..first];
            _pending = "";
            return before;
        }
        var hold = 0;
        foreach (var s in stops)
            for (var k = Math.Min(s.Length - 1, _pending.Length); k > hold; k--)
                if (_pending.EndsWith(s[..k], StringComparison.Ordinal)) { hold = k; break; }
        var safe = _pending[..^hold];
        _pending = _pending[^hold..];
        return safe;
    }

    /// <summary>Text held back when generation ends for another reason.</summary>
    public string Flush()
    {
        var rest = _stopped ? "" : _pending;
        _pending = "";
        return rest;
    }
}
