using Alpa.Planner.Cluster;

namespace Alpa.Silo.Cli;

/// <summary>
/// Resolves <c>--cluster</c>: <c>NAME:HOSTSxDEVICES</c> for a built-in cluster
/// (<c>aws-p3.16xlarge:8x8</c>, <c>dgx-h100:2x8</c>), <c>local:HxD</c> (CPU devices of this machine,
/// measured now), or the path of a JSON cluster file.
/// </summary>
internal static class ClusterArgument
{
    public static ClusterSpec Load(string argument, TextWriter log)
    {
        if (File.Exists(argument))
        {
            try
            {
                return ClusterJson.Parse(File.ReadAllText(argument));
            }
            catch (ClusterSpecException e)
            {
                throw new ClusterSpecException($"{argument}: {e.Message}", e) { Field = e.Field };
            }
        }
        if (!argument.Contains(':', StringComparison.Ordinal) && (argument.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || argument.Contains('/', StringComparison.Ordinal)))
            throw new ClusterSpecException($"cluster file '{argument}' does not exist") { Field = "cluster" };
        var name = ClusterName.Parse(argument);
        if (name.Name != BuiltInClusters.Local) return BuiltInClusters.Resolve(name);
        log.WriteLine($"measuring local devices for {name} …");
        return LocalClusterProbe.Measure(name.Hosts, name.DevicesPerHost);
    }
}
