using Alpa.Planner;

namespace Alpa.Silo.Execution.Collectives;

/// <summary>A cross-silo collective or transfer could not complete; <see cref="Silo"/> names the silo at fault when one is known.</summary>
public class CollectiveException : AlpaException
{
    public CollectiveException(string message, string? silo = null) : base(message) => Silo = silo;
    public CollectiveException(string message, string? silo, Exception inner) : base(message, inner) => Silo = silo;

    /// <summary>Advertised address of the silo that failed or did not answer; null when the fault is local.</summary>
    public string? Silo { get; }
}

/// <summary>
/// A peer silo died or became unreachable (its data-plane connection broke, it refused a new one, or
/// membership declared it dead). Every pending and later transfer with that silo fails with this.
/// </summary>
public sealed class SiloFailedException : CollectiveException
{
    public SiloFailedException(string silo, string reason) : base($"silo {silo} failed: {reason}", silo) { }
    public SiloFailedException(string silo, string reason, Exception inner) : base($"silo {silo} failed: {reason}", silo, inner) { }
}

/// <summary>A peer silo stayed alive but did not deliver within the collective's deadline.</summary>
public sealed class CollectiveTimeoutException(string silo, string what, TimeSpan deadline)
    : CollectiveException($"{what}: silo {silo} sent nothing within the deadline of {deadline.TotalSeconds:0.#} s " +
                          "(is it running the same program? raise CollectiveOptions.CallTimeout for very large tensors)", silo);
