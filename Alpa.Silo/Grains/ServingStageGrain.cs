using System.Diagnostics;
using System.Runtime.InteropServices;
using Alpa.Client.Contracts;
using Alpa.Kernels;
using Alpa.Planner;
using Alpa.Planner.Pipeline;
using Alpa.Silo.Execution.Collectives;
using Alpa.Silo.Execution.Pipeline;
using Alpa.Silo.Hosting;
using Alpa.Silo.Serving;

namespace Alpa.Silo.Grains;

/// <summary>
/// The serving stages of this silo (see <see cref="IServingStageGrain"/>): each is an
/// <see cref="IStageProgram"/> on all of the silo's CPU devices (one device, or a (1, D) mesh with the
/// heads and KV caches split), the same programs the in-process server runs. Hidden states move between
/// stages over the data plane (<see cref="DataPlaneBoundaryTransport"/>, one buffer per step): the front
/// end sends each step's small token list to every stage at once, so a step costs one grain call per
/// stage in parallel plus one binary transfer per stage boundary, and only the logits travel back.
/// </summary>
public sealed class ServingStageGrain(SiloIdentity self, DataPlanePeers peers) : IServingStageGrain, IDisposable
{
    private readonly Dictionary<string, LoadedStage> _stages = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public Task<ServingStageInfo> LoadStageAsync(ServingStageLoad request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Stage < 0 || request.Stage >= request.SiloOfStage.Count || request.SiloOfStage[request.Stage] != self.Address)
            throw new AlpaException($"silo {self.Address} is not the silo of serving stage {request.Stage} of job {request.JobId}");
        Release(request.JobId);
        var devices = self.Devices.Count;
        var program = StagePrograms.Create(request.Spec, request.Slots, request.Chunk, (request.FirstLayer, request.LastLayer), devices, request.Seed);
        var transport = new DataPlaneBoundaryTransport(peers, request.SiloOfStage, request.Tag);
        lock (_lock) _stages[request.JobId] = new LoadedStage(request, program, transport);
        return Task.FromResult(new ServingStageInfo(self.Address, devices, program.KvCacheBytesPerDevice, $"{program.Describe} on silo {self.Address}"));
    }

    public Task LoadWeightsAsync(ServingWeights request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var stage = Get(request.JobId);
        var held = stage.Program.Parameters.ToHashSet(StringComparer.Ordinal);
        lock (stage.Gate)
            foreach (var t in request.Tensors.Where(t => held.Contains(t.Name)))
                stage.Program.Load(t.Name, HostTensor.FromFloats(MemoryMarshal.Cast<byte, float>(t.Data).ToArray(), t.Shape));
        return Task.CompletedTask;
    }

    public async Task<ServingStepReply> StepAsync(ServingStepRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var stage = Get(request.JobId);
        var (load, index) = (stage.Load, stage.Load.Stage);
        var started = Stopwatch.GetTimestamp();
        var work = request.Work.Select(w => new SlotWork(w.Slot, w.Start, w.Tokens)).ToList();
        var t = request.Prefill ? load.Chunk : 1;
        var inputs = StepInputs.Build(work, load.Slots, t, load.Spec.SeqLen);
        if (index > 0)
        {
            var message = await stage.Transport.ReceiveAsync(BufferId.Activation(index - 1, index, 0), cancellationToken).ConfigureAwait(false);
            inputs["hidden"] = message.Tiles[0].Data;
        }
        IReadOnlyDictionary<string, HostTensor> outputs;
        lock (stage.Gate) outputs = stage.Program.Run(request.Prefill, inputs);
        byte[]? logits = null;
        if (index < load.SiloOfStage.Count - 1)
        {
            var hidden = new BoundaryTile("hidden", 0, outputs["hidden_out"]);
            await stage.Transport.SendAsync(new BoundaryMessage(BufferId.Activation(index, index + 1, 0), [hidden]), cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var rows = StagePrograms.LogitsRows(outputs, work, t, load.Spec.Vocab);
            logits = MemoryMarshal.AsBytes(rows.SelectMany(r => r).ToArray().AsSpan()).ToArray();
        }
        return new ServingStepReply(request.JobId, request.Step, logits, Stopwatch.GetElapsedTime(started).TotalSeconds);
    }

    public Task ReleaseStageAsync(ServingStageRelease request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        Release(request.JobId);
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var s in _stages.Values) s.Program.Dispose();
            _stages.Clear();
        }
    }

    private LoadedStage Get(string jobId)
    {
        lock (_lock)
            return _stages.TryGetValue(jobId, out var stage)
                ? stage
                : throw new AlpaException($"silo {self.Address} has no serving stage of job {jobId}; load it first");
    }

    private void Release(string jobId)
    {
        LoadedStage? stage;
        lock (_lock) _stages.Remove(jobId, out stage);
        if (stage is null) return;
        lock (stage.Gate) stage.Program.Dispose();
        peers.DropUnclaimed(id => TransferIds.HasTag(id, stage.Load.Tag));   // hidden states of a step that failed half-way
    }

    private sealed record LoadedStage(ServingStageLoad Load, IStageProgram Program, DataPlaneBoundaryTransport Transport)
    {
        /// <summary>Steps and weight loads of one stage run one at a time (the grain is reentrant across jobs).</summary>
        public Lock Gate { get; } = new();
    }
}
