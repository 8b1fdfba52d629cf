namespace Alpa.Client.Contracts;

/// <summary>
/// Marker of a grain interface. A grain interface is a handful of methods, each returning
/// <see cref="Task"/> or <see cref="Task{TResult}"/> and taking at most one message record plus an
/// optional trailing <see cref="CancellationToken"/>; method names are unique within the interface.
/// The hosting layer turns each call into one authenticated HTTP/2 request; grain code never sees it.
/// </summary>
public interface IGrain;

/// <summary>Where the hosting layer activates a grain.</summary>
public enum GrainPlacement
{
    /// <summary>The grain key is a silo address (<c>host:port</c>): the grain lives on that silo
    /// and nowhere else (one <c>MeshWorker</c> per silo, pinned to its devices).</summary>
    SiloKeyed,

    /// <summary>The grain is placed on any live silo and found again through the grain directory.</summary>
    AnyLiveSilo,

    /// <summary>Like <see cref="AnyLiveSilo"/>, but a new activation goes to the silo that received the call
    /// (the client's gateway) when it is active (Orleans' PreferLocalPlacement): a job's driver then lives
    /// where its client connected, not on a worker silo that may die.</summary>
    PreferLocal,
}

/// <summary>Declares the placement of a grain interface; interfaces without it use <see cref="GrainPlacement.AnyLiveSilo"/>.</summary>
[AttributeUsage(AttributeTargets.Interface)]
public sealed class GrainPlacementAttribute(GrainPlacement placement) : Attribute
{
    public GrainPlacement Placement { get; } = placement;
}

/// <summary>
/// Lets calls to one activation run concurrently. Without it an activation handles one call at a
/// time, in arrival order (Orleans' turn-based default).
/// </summary>
[AttributeUsage(AttributeTargets.Interface)]
public sealed class ReentrantGrainAttribute : Attribute;

/// <summary>Well-known grain keys.</summary>
public static class GrainKeys
{
    /// <summary>Key of a <see cref="GrainPlacement.SiloKeyed"/> grain meaning "the silo that receives
    /// the call" (a client that knows only the endpoint it connected to uses it).</summary>
    public const string Gateway = "gateway";
}
