namespace Alpa.Client.Transport;

/// <summary>
/// Ambient settings of the grain calls made from the current async flow: a deadline and the job the
/// calls belong to (logged as the <c>job</c> property). The silo sets both for grain code from the
/// incoming call, so nested calls inherit the caller's deadline.
/// </summary>
public static class GrainCallContext
{
    private static readonly AsyncLocal<Scope?> Current = new();

    /// <summary>The deadline of the current flow, if any.</summary>
    public static DateTimeOffset? Deadline => Current.Value?.Deadline;

    /// <summary>The job id of the current flow, if any.</summary>
    public static string? JobId => Current.Value?.JobId;

    /// <summary>Calls in the returned scope must finish within <paramref name="timeout"/> (or an outer, earlier deadline).</summary>
    public static IDisposable WithDeadline(TimeSpan timeout) => Push(DateTimeOffset.UtcNow + timeout, JobId);

    /// <summary>Calls in the returned scope belong to <paramref name="jobId"/>.</summary>
    public static IDisposable WithJob(string jobId) => Push(Deadline, jobId);

    /// <summary>Sets both at once (used by the silo for incoming calls).</summary>
    public static IDisposable Push(DateTimeOffset? deadline, string? jobId)
    {
        var outer = Current.Value;
        if (outer?.Deadline is { } earlier && (deadline is null || earlier < deadline))
        {
            deadline = earlier;
        }
        Current.Value = new Scope(deadline, jobId, outer);
        return Current.Value;
    }

    private sealed record Scope(DateTimeOffset? Deadline, string? JobId, Scope? Outer) : IDisposable
    {
        public void Dispose() => Current.Value = Outer;
    }
}
