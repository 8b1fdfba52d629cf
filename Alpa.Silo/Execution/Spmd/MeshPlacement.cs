using Alpa.Kernels.Collectives;
using Alpa.Planner.Cluster;

namespace Alpa.Silo.Execution.Spmd;

/// <summary>
/// Which ranks of a stage's logical mesh one process runs, and the collectives that join them to the
/// rest of the mesh. The default (no placement) is the whole mesh in one process with in-process
/// collectives; a mesh spanning silos gives each silo its own ranks and a communicator across the
/// silos (<c>ClusterCollectives</c> over the mesh's ranks) behind the same <see cref="ICollectives"/>.
/// </summary>
public sealed record MeshPlacement
{
    /// <summary>Mesh ranks (i·n1 + j) this process runs, ascending; each gets a device of its own.</summary>
    public required IReadOnlyList<int> LocalRanks { get; init; }
    /// <summary>Collectives over all ranks of the mesh (rank = mesh rank); called with this process's members only.</summary>
    public required ICollectives Collectives { get; init; }

    /// <summary>Throws a typed error when the placement does not fit <paramref name="mesh"/>.</summary>
    public void Validate(LogicalMesh mesh)
    {
        ArgumentNullException.ThrowIfNull(mesh);
        if (LocalRanks.Count == 0) throw new SpmdException("a mesh placement needs at least one local rank");
        if (LocalRanks.Any(r => r < 0 || r >= mesh.Devices) || LocalRanks.Distinct().Count() != LocalRanks.Count || !LocalRanks.SequenceEqual(LocalRanks.Order()))
            throw new SpmdException($"local ranks [{string.Join(", ", LocalRanks)}] must be distinct, ascending ranks of the mesh of {mesh.Devices}");
        if (Collectives.WorldSize != mesh.Devices)
            throw new SpmdException($"the collectives connect {Collectives.WorldSize} ranks; the mesh has {mesh.Devices}");
    }
}
