using Alpa.Planner;

namespace Alpa.Client.Transport;

/// <summary>A grain interface breaks the contract rules (see <see cref="Contracts.IGrain"/>).</summary>
public sealed class GrainContractException(string message) : AlpaException(message);

/// <summary>A grain call failed; <see cref="Kind"/> says how (see <see cref="GrainErrorKind"/>).</summary>
public class GrainCallException : AlpaException
{
    public GrainCallException(string kind, string message) : base(message) => Kind = kind;
    public GrainCallException(string kind, string message, Exception inner) : base(message, inner) => Kind = kind;

    /// <summary>One of the <see cref="GrainErrorKind"/> constants.</summary>
    public string Kind { get; }

    /// <summary>Exception type name thrown by the grain, for <see cref="GrainErrorKind.GrainFailed"/>.</summary>
    public string? RemoteType { get; init; }
}

/// <summary>The call's deadline passed before the grain answered.</summary>
public sealed class DeadlineExceededException(string message) : GrainCallException(GrainErrorKind.DeadlineExceeded, message);

/// <summary>The silo refused the call's credentials: check the cluster secret.</summary>
public sealed class UnauthorizedCallException(string message) : GrainCallException(GrainErrorKind.Unauthorized, message);

/// <summary>No silo could be reached (refused, reset, or down) within the deadline.</summary>
public class SiloUnavailableException : GrainCallException
{
    public SiloUnavailableException(string message) : base(GrainErrorKind.Unavailable, message) { }
    public SiloUnavailableException(string message, Exception inner) : base(GrainErrorKind.Unavailable, message, inner) { }
}

/// <summary>A silo could not be connected to, so the call was not sent (safe to send to another silo).</summary>
public sealed class SiloUnreachableException : SiloUnavailableException
{
    public SiloUnreachableException(string message) : base(message) { }
    public SiloUnreachableException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>No silo the client knows of answers (each refused or timed out); <see cref="Tried"/> lists them.</summary>
public sealed class ClusterUnavailableException(string message, IReadOnlyList<string> tried) : SiloUnavailableException(message)
{
    /// <summary>The silos tried, in order.</summary>
    public IReadOnlyList<string> Tried { get; } = tried;
}

/// <summary>Error kinds carried in the <see cref="GrainError"/> body of a failed call.</summary>
public static class GrainErrorKind
{
    public const string GrainFailed = "grain-failed";
    public const string DeadlineExceeded = "deadline-exceeded";
    public const string Cancelled = "cancelled";
    public const string Unauthorized = "unauthorized";
    public const string Unavailable = "unavailable";
    public const string NotFound = "not-found";
    public const string BadRequest = "bad-request";
}

/// <summary>Body of a failed grain call.</summary>
public sealed record GrainError(string Kind, string Message, string? Type);
