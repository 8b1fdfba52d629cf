using Alpa.Client.Transport;

namespace Alpa.Client.Jobs;

/// <summary>
/// A job request was refused: unknown job id (<see cref="GrainErrorKind.NotFound"/>), a malformed
/// spec (<see cref="GrainErrorKind.BadRequest"/>) or a job that has already finished
/// (<see cref="Conflict"/>). The SDK, the CLI and the dashboard's HTTP API report the same message.
/// </summary>
public sealed class JobException : GrainCallException
{
    /// <summary>Error kind of an operation that does not fit the job's state (HTTP 409).</summary>
    public const string Conflict = "conflict";
    /// <summary>Remote type name that marks a job error on the wire.</summary>
    public const string WireType = nameof(JobException);

    public JobException(string kind, string message) : base(kind, message) => RemoteType = WireType;

    public static JobException NotFound(string jobId) =>
        new(GrainErrorKind.NotFound, $"no job '{jobId}' in this cluster; `alpa jobs` lists them");

    public static JobException BadSpec(string field, string problem) =>
        new(GrainErrorKind.BadRequest, $"job spec: {field} {problem}");

    public static JobException AlreadyFinished(string jobId, string state) =>
        new(Conflict, $"job '{jobId}' has already finished ({state}); only queued or running jobs can be cancelled");

    /// <summary>The job error carried by a failed grain call, or the call's own exception.</summary>
    public static Exception FromCall(GrainCallException e)
    {
        if (e.RemoteType != WireType)
        {
            return e;
        }
        var colon = e.Message.IndexOf(": ", StringComparison.Ordinal);
        return new JobException(e.Kind, colon >= 0 ? e.Message[(colon + 2)..] : e.Message);
    }
}
