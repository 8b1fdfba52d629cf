using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Display;

namespace Alpa.Silo.Dashboard;

/// <summary>One log line for the dashboard's live log stream.</summary>
public sealed record LogLine(long Sequence, DateTimeOffset At, string Level, string Message, string? Grain, string? Job);

/// <summary>A Serilog sink that keeps the silo's last <see cref="Capacity"/> log events, numbered, for the dashboard.</summary>
public sealed class LogRing : ILogEventSink
{
    public const int Capacity = 1000;
    private static readonly MessageTemplateTextFormatter Format = new("{Message:lj}");
    private readonly Queue<LogLine> _lines = new();
    private long _sequence;
    private TaskCompletionSource _added = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Emit(LogEvent logEvent)
    {
        ArgumentNullException.ThrowIfNull(logEvent);
        lock (_lines)
        {
            _lines.Enqueue(new LogLine(++_sequence, logEvent.Timestamp, logEvent.Level.ToString(), Render(logEvent),
                Text(logEvent, "grain"), Text(logEvent, "job")));
            if (_lines.Count > Capacity)
            {
                _lines.Dequeue();
            }
            var added = _added;
            _added = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            added.TrySetResult();
        }
    }

    /// <summary>Lines after <paramref name="after"/>; when there are none, waits until one is logged or <paramref name="wait"/> passes (then empty).</summary>
    public async Task<IReadOnlyList<LogLine>> WaitAfterAsync(long after, TimeSpan wait, CancellationToken cancellationToken)
    {
        Task added;
        lock (_lines)
        {
            if (_sequence > after)
            {
                return After(after);
            }
            added = _added.Task;
        }
        await Task.WhenAny(added, Task.Delay(wait, cancellationToken)).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return After(after);
    }

    /// <summary>Lines after sequence <paramref name="after"/>, oldest first (at most <paramref name="limit"/>, the newest ones).</summary>
    public IReadOnlyList<LogLine> After(long after, int limit = 500)
    {
        lock (_lines)
        {
            var lines = _lines.Where(l => l.Sequence > after).ToList();
            return lines.Count > limit ? lines[^limit..] : lines;
        }
    }

    private static string Render(LogEvent e)
    {
        using var text = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
        Format.Format(e, text);
        return text.ToString();
    }

    private static string? Text(LogEvent e, string property) =>
        e.Properties.TryGetValue(property, out var value) && value is ScalarValue { Value: { } v } ? v.ToString() : null;
}
