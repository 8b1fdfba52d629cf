using System.Diagnostics;
using Alpa.Client.Contracts;
using Alpa.Planner;
using Alpa.Planner.Pipeline;
using Alpa.Silo.Execution.Cluster;
using Alpa.Silo.Execution.Collectives;
using Alpa.Silo.Execution.Pipeline;
using Alpa.Silo.Hosting;
using Alpa.Silo.Training;

namespace Alpa.Silo.Grains;

/// <summary>
/// The mesh worker of this silo (see <see cref="IMeshWorkerGrain"/>): <c>LoadProgram</c> lowers the
/// shipped <see cref="ClusterJob"/>'s plan and installs the instruction list of the stage the request
/// names; <c>RunStep</c> runs that list once, its boundary tensors crossing silos over the data plane;
/// <c>Release</c> frees the job. Each job holds its own runner, so jobs do not share buffers.
/// </summary>
public sealed partial class MeshWorkerGrain(SiloIdentity self, DataPlanePeers peers) : IMeshWorkerGrain, IDisposable
{
    private readonly Dictionary<string, LoadedJob> _jobs = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public Task<MeshWorkerInfo> GetInfoAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult(new MeshWorkerInfo(self.Address, self.Devices,
            [.. self.Devices.Select(_ => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / Math.Max(1, self.Devices.Count))]));

    public async Task LoadProgramAsync(LoadProgramRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var job = ClusterJob.FromJson(request.ProgramJson);
        var stage = request.WorkerIndex;
        if (stage < 0 || stage >= job.SiloOfStage.Count || job.SiloOfStage[stage] != self.Address)
            throw new AlpaException($"silo {self.Address} is not the silo of stage {stage} of job {request.JobId}");
        await ReleaseJobAsync(new ReleaseJobRequest(request.JobId), cancellationToken).ConfigureAwait(false);
        var runner = job.CreateRunner(_ => new DataPlaneBoundaryTransport(peers, job.SiloOfStage, job.Tag));
        try
        {
            var program = InstructionEmitter.Emit(runner.Plan)[stage];
            await runner.Workers[stage].LoadProgramAsync(new WorkerLoad(request.JobId, stage, program), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            runner.Dispose();
            throw;
        }
        var data = new SyntheticData(ModelZoo(job), job.Seed);
        lock (_lock) _jobs[request.JobId] = new LoadedJob(job, stage, runner, data);
    }

    public async Task<StepReply> RunStepAsync(StepRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        LoadedJob? loaded;
        lock (_lock) _jobs.TryGetValue(request.JobId, out loaded);
        if (loaded is null) throw new AlpaException($"silo {self.Address} has no program of job {request.JobId}; load it first");
        var (job, stage, runner) = (loaded.Job, loaded.Stage, loaded.Runner);
        var microbatches = job.Microbatches(loaded.Data, runner.Plan.Microbatches, request.Step);
        var step = new WorkerStep(request.JobId, request.Step + 1, microbatches, job.LearningRate(request.Step), Stopwatch.GetTimestamp());
        var result = await runner.Workers[stage].RunStepAsync(step, cancellationToken).ConfigureAwait(false);
        var events = ClusterJobView.Timeline(result.Events, runner.Plan.Stages[stage].Devices, self.Address, job.DevicesPerSilo);
        Remember(request.JobId, result, events);
        return new StepReply(request.JobId, request.Step, result.Loss ?? double.NaN, result.Seconds, result.PeakMemoryBytes, events);
    }

    public Task ReleaseJobAsync(ReleaseJobRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        LoadedJob? loaded;
        lock (_lock)
            if (_jobs.Remove(request.JobId, out loaded)) { }
        if (loaded is not null) Retire(request.JobId, loaded);
        loaded?.Runner.Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var j in _jobs.Values) j.Runner.Dispose();
            _jobs.Clear();
        }
    }

    private static Planner.Graph.Graph ModelZoo(ClusterJob job) => Planner.Models.ModelZoo.Get(job.Model).Build();

    private sealed record LoadedJob(ClusterJob Job, int Stage, PipelineStepRunner Runner, SyntheticData Data);
}
