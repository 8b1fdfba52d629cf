using Alpa.Planner.Inter;

namespace Alpa.Planner.Baselines;

/// <summary>The hand-designed systems Alpa is compared with (paper §8.1, §8.2) and its intra-op ablation baselines (§8.3).</summary>
public enum BaselineMethod
{
    /// <summary>Megatron-LM: data × tensor (inside a host) × pipeline, equal layers per stage.</summary>
    Megatron,
    /// <summary>DeepSpeed: ZeRO-2/3 data parallelism, expert parallelism for MoE, optional tensor parallelism.</summary>
    DeepSpeed,
    /// <summary>Pipeline + data parallelism only (PipeDream/GPipe-style), equal layers per stage.</summary>
    PpDp,
    /// <summary>Plain data parallelism on the whole cluster.</summary>
    Data,
    /// <summary>ZeRO-2 data parallelism on the whole cluster.</summary>
    Zero2,
    /// <summary>ZeRO-3 data parallelism on the whole cluster.</summary>
    Zero3,
    /// <summary>Shard each op's largest dimension and propagate (the paper's intra-op heuristic).</summary>
    Heuristic,
}

/// <summary>One configuration of a family: the degrees, the microbatch count and the ZeRO stage.</summary>
/// <param name="Data">Data-parallel degree (logical mesh axis 0 of every stage).</param>
/// <param name="Tensor">Tensor-parallel degree (logical mesh axis 1, consecutive devices of one host).</param>
/// <param name="Pipeline">Number of pipeline stages, each with an equal share of the model's blocks.</param>
/// <param name="Microbatches">Microbatch count B (gradient accumulation steps without a pipeline).</param>
/// <param name="Zero">How parameters and optimizer state are laid out over the data axis.</param>
public sealed record GridPoint(int Data, int Tensor, int Pipeline, int Microbatches, ZeroStage Zero)
{
    /// <summary>Devices of one stage.</summary>
    public int StageDevices => Data * Tensor;

    public override string ToString() =>
        $"dp={Data} tp={Tensor} pp={Pipeline} B={Microbatches}" + (Zero == ZeroStage.None ? "" : $" zero{(int)Zero}");
}

/// <summary>The configurations each family searches (DESIGN: baselines by grid search).</summary>
public static class BaselineGrid
{
    public static string Name(BaselineMethod method) => method switch
    {
        BaselineMethod.Megatron => "megatron",
        BaselineMethod.DeepSpeed => "deepspeed",
        BaselineMethod.PpDp => "ppdp",
        BaselineMethod.Data => "data",
        BaselineMethod.Zero2 => "zero2",
        BaselineMethod.Zero3 => "zero3",
        _ => "heuristic",
    };

    /// <summary>The method named <paramref name="name"/> (as printed by <see cref="Name"/>), or null.</summary>
    public static BaselineMethod? Parse(string name) =>
        Enum.GetValues<BaselineMethod>().Cast<BaselineMethod?>().FirstOrDefault(m => Name(m!.Value) == name);

    /// <summary>
    /// The grid of <paramref name="method"/> on <paramref name="hosts"/> × <paramref name="devicesPerHost"/>
    /// devices for a model of <paramref name="blocks"/> blocks and global batch <paramref name="batch"/>,
    /// grouped by configuration: the microbatch counts of one group are listed ascending.
    /// </summary>
    public static IReadOnlyList<GridPoint> Points(BaselineMethod method, int hosts, int devicesPerHost, int blocks, int batch,
                                                  int maxMicrobatches = 64)
    {
        var devices = hosts * devicesPerHost;
        var list = new List<GridPoint>();
        foreach (var (dp, tp, pp, zero) in Degrees(method, devices, devicesPerHost, blocks))
        {
            if (!StageFits(devices / pp, devicesPerHost)) continue;
            foreach (var b in Microbatches(batch, maxMicrobatches))
            {
                // Each of the dp replicas takes an equal share of every microbatch.
                if (batch / b % dp != 0 || (pp > 1 && b < pp)) continue;
                list.Add(new GridPoint(dp, tp, pp, b, zero));
            }
        }
        return list;
    }

    private static IEnumerable<(int Dp, int Tp, int Pp, ZeroStage Zero)> Degrees(BaselineMethod method, int devices, int perHost, int blocks)
    {
        switch (method)
        {
            case BaselineMethod.Megatron:
                for (var tp = 1; tp <= Math.Min(perHost, devices); tp *= 2)
                    foreach (var pp in Divisors(devices / tp).Where(p => p <= blocks))
                        yield return (devices / tp / pp, tp, pp, ZeroStage.None);
                break;
            case BaselineMethod.DeepSpeed:
                foreach (var zero in new[] { ZeroStage.Two, ZeroStage.Three })
                    for (var tp = 1; tp <= Math.Min(perHost, devices); tp *= 2)
                        yield return (devices / tp, tp, 1, zero);
                break;
            case BaselineMethod.PpDp:
                foreach (var pp in Divisors(devices).Where(p => p <= blocks))
                    yield return (devices / pp, 1, pp, ZeroStage.None);
                break;
            case BaselineMethod.Zero2: yield return (devices, 1, 1, ZeroStage.Two); break;
            case BaselineMethod.Zero3: yield return (devices, 1, 1, ZeroStage.Three); break;
            default: yield return (devices, 1, 1, ZeroStage.None); break;
        }
    }

    /// <summary>A stage of <paramref name="stageDevices"/> devices is a submesh of the DP's space: (1, 2^k ≤ M) or (n, M).</summary>
    private static bool StageFits(int stageDevices, int perHost) =>
        stageDevices <= perHost ? (stageDevices & (stageDevices - 1)) == 0 : stageDevices % perHost == 0;

    private static IEnumerable<int> Divisors(int n) => Enumerable.Range(1, n).Where(d => n % d == 0);

    private static IEnumerable<int> Microbatches(int batch, int max)
    {
        for (var b = 1; b <= Math.Min(batch, max); b *= 2)
            if (batch % b == 0) yield return b;
    }

    /// <summary>The submesh a stage of <paramref name="stageDevices"/> devices takes.</summary>
    public static SubmeshShape StageSubmesh(int stageDevices, int perHost) =>
        stageDevices <= perHost ? new SubmeshShape(1, stageDevices) : new SubmeshShape(stageDevices / perHost, perHost);

    /// <summary>
    /// Marked-layer ranges of <paramref name="stages"/> stages with equal shares of the
    /// <paramref name="blocks"/> blocks (layers 1…blocks): the first stage also holds layer 0
    /// (embedding, stem), the last the head (layer blocks + 1).
    /// </summary>
    public static IReadOnlyList<(int First, int Last)> EqualStages(int blocks, int stages)
    {
        if (stages < 1 || stages > blocks)
            throw new InterOpException($"cannot split {blocks} blocks into {stages} equal stages; use 1 to {blocks} stages") { Field = "stages" };
        var cut = Enumerable.Range(0, stages + 1).Select(k => (int)Math.Round((double)k * blocks / stages)).ToArray();
        return [.. Enumerable.Range(0, stages).Select(k => (k == 0 ? 0 : cut[k] + 1, k == stages - 1 ? blocks + 1 : cut[k + 1]))];
    }
}
