namespace Alpa.Client.Contracts;

/// <summary>
/// One per silo (key: the silo address): runs a cross-silo all-reduce over the data plane among the
/// silos a request names, on synthetic tensors of the silo's CPU devices. Every silo of the group is
/// called with the same request. Used by <c>alpa bench collectives</c> and by the failure tests that
/// kill a silo process in the middle of a collective.
/// </summary>
[GrainPlacement(GrainPlacement.SiloKeyed)]
[ReentrantGrain]
public interface ICollectiveGrain : IGrain
{
    /// <summary>Runs <see cref="CollectiveRunRequest.Iterations"/> all-reduces and times each; fails naming the silo that died or went silent.</summary>
    Task<CollectiveRunReply> RunAllReduceAsync(CollectiveRunRequest request, CancellationToken cancellationToken = default);
}

/// <summary>An all-reduce run, identical on every silo of the group.</summary>
/// <param name="Tag">Job tag (0 … 65534), distinct for runs that may overlap.</param>
/// <param name="Silos">Silo addresses; silo s holds ranks s·D … s·D + D − 1.</param>
/// <param name="DevicesPerSilo">D: ranks (CPU devices) per silo.</param>
/// <param name="Elements">f32 elements per rank's tensor.</param>
/// <param name="Iterations">All-reduces to run one after another.</param>
/// <param name="TimeoutSeconds">Deadline of one all-reduce.</param>
public sealed record CollectiveRunRequest(int Tag, IReadOnlyList<string> Silos, int DevicesPerSilo, long Elements, int Iterations, double TimeoutSeconds);

/// <summary>
/// Seconds of each all-reduce on this silo, the sum of its first rank's tensor after the last one, and the
/// bytes it sent to other silos. The inputs are filled once; each later all-reduce sums the previous results.
/// </summary>
public sealed record CollectiveRunReply(string Silo, IReadOnlyList<double> Seconds, double Checksum, long NetworkBytesSent)
{
    /// <summary>Element i of rank r's input: (r + 1)·(i mod 97)/97, so the result's sum is known in advance.</summary>
    public static float Input(int rank, long i) => (rank + 1) * (i % 97) / 97f;

    /// <summary>The expected checksum after <paramref name="iterations"/> all-reduces of <paramref name="ranks"/> ranks of <paramref name="elements"/> elements.</summary>
    public static double ExpectedChecksum(int ranks, long elements, int iterations)
    {
        double sum = 0;
        for (long i = 0; i < elements; i++) sum += (double)(i % 97) / 97 * ranks * (ranks + 1) / 2;
        return sum * Math.Pow(ranks, iterations - 1);
    }
}
