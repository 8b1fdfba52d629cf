using Alpa.Kernels;
using Alpa.Kernels.Cpu;
using Alpa.Silo.Execution.Collectives;

namespace Alpa.Tests.CrossSilo;

/// <summary>Runs one body per silo of a <see cref="LoopbackSilos"/> set, each on its own thread (as each silo process would).</summary>
internal static class CrossSiloHarness
{
    /// <summary>Runs <paramref name="body"/>(silo index, that silo's communicator) on every silo at once; returns each silo's exception (null when it finished).</summary>
    public static Exception?[] Run(LoopbackSilos silos, IReadOnlyList<string> siloOfRank, Action<int, ClusterCollectives> body,
                                   CollectiveOptions? options = null, TimeSpan? limit = null)
    {
        var count = silos.Addresses.Count;
        var errors = new Exception?[count];
        var threads = Enumerable.Range(0, count).Select(i => new Thread(() =>
        {
            using var comm = new ClusterCollectives(new RankPlacement(siloOfRank, silos.Addresses[i]), silos.Peers(i), options);
            try
            {
                body(i, comm);
            }
            catch (Exception e)
            {
                errors[i] = e;
            }
        }) { IsBackground = true }).ToList();
        threads.ForEach(t => t.Start());
        foreach (var t in threads)
            Assert.True(t.Join(limit ?? TimeSpan.FromSeconds(60)), "a silo's collectives hung");
        return errors;
    }

    /// <summary>Deterministic values for one rank's tensor.</summary>
    public static float[] Values(int rank, long elements, int salt)
    {
        var random = new Random((rank * 7919) + salt);
        return [.. Enumerable.Range(0, (int)elements).Select(_ => (float)((random.NextDouble() * 2) - 1))];
    }

    public static Tensor Filled(Device device, long[] shape, float[] values)
    {
        var t = device.Allocate(ElementType.F32, shape);
        values.CopyTo(t.Floats());
        return t;
    }

    /// <summary>‖a − b‖ / ‖b‖.</summary>
    public static double RelativeError(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double diff = 0, norm = 0;
        for (var i = 0; i < a.Length; i++)
        {
            diff += (double)(a[i] - b[i]) * (a[i] - b[i]);
            norm += (double)b[i] * b[i];
        }
        return Math.Sqrt(diff) / Math.Max(Math.Sqrt(norm), 1e-30);
    }
}
