using System.Runtime.InteropServices;
using Alpa.Client.Contracts;
using Alpa.Client.Transport;
using Alpa.Kernels;
using Alpa.Planner.Inference;
using Alpa.Planner.Models;
using Alpa.Silo.Execution.Cluster;

namespace Alpa.Silo.Serving;

/// <summary>How to serve on a cluster of silos.</summary>
public sealed record ClusterServingOptions
{
    public required GptSpec Spec { get; init; }
    /// <summary>Sequences decoded together (continuous batching fills and frees them).</summary>
    public int Slots { get; init; } = 4;
    /// <summary>Prompt tokens a slot feeds per prefill step.</summary>
    public int PrefillChunk { get; init; } = 16;
    /// <summary>What the stage DP minimizes when it cuts the layers into one stage per silo.</summary>
    public InferenceObjective Objective { get; init; } = InferenceObjective.Throughput;
    /// <summary>Parameters by name, shipped to the stages that hold them; null keeps the seeded random initialization.</summary>
    public IReadOnlyDictionary<string, HostTensor>? Weights { get; init; }
    /// <summary>Seed of the random initialization on the silos.</summary>
    public ulong Seed { get; init; }
    /// <summary>Memory of one device for the KV-cache check; null = the least free memory the silos report.</summary>
    public long? DeviceMemoryBytes { get; init; }
    /// <summary>Longest a step may take on the stages before it counts as a failure (re-plan).</summary>
    public TimeSpan StepTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Longest a silo may take to answer the liveness probe of a re-plan.</summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromSeconds(3);
}

/// <summary>A stage placed on a silo: where, which layers, and the KV-cache bytes predicted and allocated per device.</summary>
public sealed record PlacedStage(string Silo, int First, int Last, int Devices, long PredictedKvBytes, long AllocatedKvBytes, string Describe);

/// <summary>
/// The front end's view of a model served across silo processes: plans one forward stage per live silo
/// (<see cref="InferencePlanner.PlanAcrossHosts"/>, with the KV-cache memory check), builds each stage in
/// the silo's <see cref="IServingStageGrain"/>, ships its weights, and runs each step as one call per
/// stage in parallel (hidden states cross silos on the data plane; logits come back from the last stage
/// and are sampled here). A failed or silent stage throws <see cref="StageFailedException"/>;
/// <see cref="Recover"/> then probes the silos and re-plans on those that answer.
/// </summary>
public sealed class ClusterGenerationModel : IGenerationModel
{
    private readonly IGrainFactory _grains;
    private readonly Func<CancellationToken, Task<IReadOnlyList<string>>> _liveSilos;
    private readonly ClusterServingOptions _options;
    private readonly TextWriter _log;
    private List<PlacedStage> _stages = [];
    private string _job = "";
    private long _step;

    private ClusterGenerationModel(IGrainFactory grains, Func<CancellationToken, Task<IReadOnlyList<string>>> liveSilos, ClusterServingOptions options, TextWriter log)
    {
        (_grains, _liveSilos, _options, _log) = (grains, liveSilos, options, log);
        Chunk = Math.Min(options.PrefillChunk, options.Spec.SeqLen);
    }

    /// <summary>Plans and loads the stages on the silos <paramref name="liveSilos"/> lists (asked again at every re-plan).</summary>
    public static async Task<ClusterGenerationModel> CreateAsync(IGrainFactory grains, Func<CancellationToken, Task<IReadOnlyList<string>>> liveSilos,
                                                                 ClusterServingOptions options, TextWriter log, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentNullException.ThrowIfNull(liveSilos);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        if (options.Spec.Vocab < ByteTokenizer.VocabSize)
            throw new ServingException($"model {options.Spec.Name}: vocabulary {options.Spec.Vocab} is smaller than the byte tokenizer's {ByteTokenizer.VocabSize}");
        var model = new ClusterGenerationModel(grains, liveSilos, options, log);
        await model.PlaceAsync(await liveSilos(cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        return model;
    }

    public GptSpec Spec => _options.Spec;
    public int Slots => _options.Slots;
    public int Chunk { get; }
    public int Context => Spec.SeqLen;
    /// <summary>The stages of the current plan.</summary>
    public IReadOnlyList<PlacedStage> Stages => _stages;
    public IReadOnlyList<string> StageDescriptions => [.. _stages.Select(s => s.Describe)];

    public float[][] Step(IReadOnlyList<SlotWork> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        return StepAsync(work).GetAwaiter().GetResult();
    }

    private async Task<float[][]> StepAsync(IReadOnlyList<SlotWork> work)
    {
        var prefill = work.Any(w => w.Tokens.Length > 1);
        var request = new ServingStepRequest(_job, _step++, prefill, [.. work.Select(w => new ServingSlotWork(w.Slot, w.Start, w.Tokens))]);
        using var cts = new CancellationTokenSource(_options.StepTimeout);
        var calls = _stages.Select((s, i) => Stage(s.Silo).StepAsync(request, cts.Token)).ToList();
        var pending = calls.ToList();
        while (pending.Count > 0)
        {
            var done = await Task.WhenAny(pending).ConfigureAwait(false);
            pending.Remove(done);
            if (done.IsCompletedSuccessfully) continue;
            await cts.CancelAsync().ConfigureAwait(false);
            var stage = calls.IndexOf(done);
            var reason = done.Exception?.InnerException?.Message ?? $"no answer within {_options.StepTimeout.TotalSeconds:0.#} s";
            throw new StageFailedException($"serving stage {stage} on silo {_stages[stage].Silo} failed at step {request.Step}: {reason}",
                [.. _stages.Select(s => s.Silo)], done.Exception?.InnerException);
        }
        var bytes = calls[^1].Result.Logits ?? throw new ServingException($"the last stage on {_stages[^1].Silo} returned no logits");
        var logits = MemoryMarshal.Cast<byte, float>(bytes).ToArray();
        return [.. work.Select((_, i) => logits.AsSpan(i * Spec.Vocab, Spec.Vocab).ToArray())];
    }

    public void Recover(StageFailedException failure, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(failure);
        RecoverAsync(cancellationToken).GetAwaiter().GetResult();
    }

    /// <summary>Probes the listed silos and places a new plan on those that answer; a silo failing during the placement is probed away in the next of 3 attempts.</summary>
    private async Task RecoverAsync(CancellationToken cancellationToken)
    {
        var (oldSilos, oldJob) = (_stages.Select(s => s.Silo).ToList(), _job);
        for (var attempt = 1; ; attempt++)
        {
            var listed = await _liveSilos(cancellationToken).ConfigureAwait(false);
            var answers = await Task.WhenAll(listed.Select(s => AnswersAsync(s, cancellationToken))).ConfigureAwait(false);
            var alive = listed.Where((_, i) => answers[i]).ToList();
            _log.WriteLine($"re-planning: {alive.Count} of {listed.Count} listed silo(s) answer ({string.Join(", ", alive)})");
            if (attempt == 1) await ReleaseAsync(oldSilos.Intersect(alive), oldJob).ConfigureAwait(false);
            try
            {
                await PlaceAsync(alive, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (attempt < 3 && e is not (ServingException or InferenceMemoryException or OperationCanceledException))
            {
                _log.WriteLine($"re-plan attempt {attempt} failed: {e.Message}");
            }
        }
    }

    private async Task<bool> AnswersAsync(string silo, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(_options.ProbeTimeout);
        try
        {
            await _grains.GetGrain<IMeshWorkerGrain>(silo).GetInfoAsync(cts.Token).WaitAsync(cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException && !cancellationToken.IsCancellationRequested)
        {
            _log.WriteLine($"silo {silo} does not answer: {e.Message}");
            return false;
        }
    }

    /// <summary>Plans one stage per silo, builds the stages and ships the weights; the new job replaces the old.</summary>
    private async Task PlaceAsync(IReadOnlyList<string> silos, CancellationToken cancellationToken)
    {
        if (silos.Count == 0) throw new ServingException("no live silo is left to serve on; start silos and restart 'alpa serve'");
        silos = [.. silos.Take(Spec.LayerCount)];
        var infos = await Task.WhenAll(silos.Select(s => _grains.GetGrain<IMeshWorkerGrain>(s).GetInfoAsync(cancellationToken))).ConfigureAwait(false);
        var devices = infos.Select(i => i.Devices.Count).Distinct().ToList();
        if (devices.Count != 1)
            throw new ServingException($"the silos have different device counts ({string.Join(", ", infos.Select(i => $"{i.Silo}: {i.Devices.Count}"))}); serving needs equal ones");
        var memory = _options.DeviceMemoryBytes ?? infos.Min(i => i.FreeMemoryBytes.Min());
        var cluster = ClusterJob.Cluster(silos.Count, devices[0]);
        cluster = cluster with { Device = cluster.Device with { MemoryBytes = memory } };
        var plan = InferencePlanner.PlanAcrossHosts(Spec, cluster, Slots, _options.Objective);
        var job = $"serve-{Guid.NewGuid():N}"[..18];
        var tag = 1 + (int)((uint)job.GetHashCode(StringComparison.Ordinal) % 65534);
        var loads = plan.Stages.Select((s, i) => new ServingStageLoad(job, i, silos, Spec, s.First, s.Last, Slots, Chunk, _options.Seed, tag)).ToList();
        var built = await Task.WhenAll(loads.Select(l => Stage(silos[l.Stage]).LoadStageAsync(l, cancellationToken))).ConfigureAwait(false);
        for (var i = 0; i < loads.Count; i++)
            await ShipWeightsAsync(silos[i], job, loads[i], cancellationToken).ConfigureAwait(false);
        _stages = [.. plan.Stages.Select((s, i) => new PlacedStage(silos[i], s.First, s.Last, devices[0],
            InferenceMemory.KvCacheBytesPerDevice(Spec, Slots, s.First, s.Last, devices[0]), built[i].KvCacheBytesPerDevice, built[i].Describe))];
        (_job, _step) = (job, 0);
        _log.WriteLine($"serving plan ({_options.Objective.ToString().ToLowerInvariant()}): {plan.Stages.Count} stage(s) over {silos.Count} silo(s), objective {plan.ObjectiveSeconds * 1e3:F3} ms per decode step");
        foreach (var s in _stages) _log.WriteLine($"  stage: {s.Describe}; KV cache {s.AllocatedKvBytes} B per device (predicted {s.PredictedKvBytes} B)");
    }

    private async Task ShipWeightsAsync(string silo, string job, ServingStageLoad load, CancellationToken cancellationToken)
    {
        if (_options.Weights is not { } weights) return;
        var names = GptGeneration.Build(Spec, new GenerationShape { Slots = 1, Chunk = 1, FirstLayer = load.FirstLayer, LastLayer = load.LastLayer })
            .Parameters.Select(p => p.Name);
        var batch = new List<ServingTensor>();
        long bytes = 0;
        foreach (var name in names)
        {
            if (!weights.TryGetValue(name, out var value)) continue;
            var data = MemoryMarshal.AsBytes(value.Floats!.AsSpan()).ToArray();
            batch.Add(new ServingTensor(name, value.Shape, data));
            bytes += data.Length;
            if (bytes < (16L << 20)) continue;
            await Stage(silo).LoadWeightsAsync(new ServingWeights(job, batch), cancellationToken).ConfigureAwait(false);
            (batch, bytes) = ([], 0);
        }
        if (batch.Count > 0) await Stage(silo).LoadWeightsAsync(new ServingWeights(job, batch), cancellationToken).ConfigureAwait(false);
    }

    private IServingStageGrain Stage(string silo) => _grains.GetGrain<IServingStageGrain>(silo);

    /// <summary>Frees a job's stages on the silos that still answer (2 s at most); failures are not reported.</summary>
    private async Task ReleaseAsync(IEnumerable<string> silos, string job)
    {
        if (job.Length == 0) return;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await Task.WhenAll(silos.Select(s => Stage(s).ReleaseStageAsync(new ServingStageRelease(job), cts.Token))).WaitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Serilog.Log.Debug(e, "releasing serving job {Job} failed on some silo", job);
        }
    }

    public void Dispose() => ReleaseAsync(_stages.Select(s => s.Silo), _job).GetAwaiter().GetResult();
}
