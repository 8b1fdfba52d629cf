using Alpa.Client.Contracts;
using Alpa.Planner;
using Alpa.Silo.Execution.Cluster;
using Alpa.Silo.Execution.Collectives;
using Alpa.Silo.Hosting;
using Alpa.Silo.Training;

namespace Alpa.Silo.Grains;

/// <summary>
/// The mesh worker of this silo (see <see cref="IMeshWorkerGrain"/>): <c>LoadProgram</c> lowers this
/// silo's stages of the shipped <see cref="ClusterJob"/> (a whole stage, or this silo's ranks of a stage
/// mesh spanning silos) and installs their instruction lists; <c>RunStep</c> runs them once, boundary
/// tensors and the collectives of spanning meshes crossing silos over the data plane; <c>ReadParameters</c>
/// returns this silo's parameter blocks; <c>Release</c> frees the job. Each job holds its own stages, so
/// jobs do not share buffers.
/// </summary>
public sealed class MeshWorkerGrain(SiloIdentity self, DataPlanePeers peers) : IMeshWorkerGrain, IDisposable
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
        var workers = job.WorkerSilos;
        if (request.WorkerIndex < 0 || request.WorkerIndex >= workers.Count || workers[request.WorkerIndex] != self.Address)
            throw new AlpaException($"silo {self.Address} is not worker {request.WorkerIndex} of job {request.JobId}");
        await ReleaseJobAsync(new ReleaseJobRequest(request.JobId), cancellationToken).ConfigureAwait(false);
        var stages = await Task.Run(() => new ClusterStages(job, peers), cancellationToken).ConfigureAwait(false);
        var data = new SyntheticData(Planner.Models.ModelZoo.Get(job.Model).Build(), job.Seed);
        lock (_lock) _jobs[request.JobId] = new LoadedJob(job, stages, data);
    }

    public async Task<StepReply> RunStepAsync(StepRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var loaded = Loaded(request.JobId);
        var microbatches = loaded.Job.Microbatches(loaded.Data, loaded.Stages.Plan.Microbatches, request.Step);
        var result = await loaded.Stages.RunStepAsync(request.Step, microbatches, loaded.Job.LearningRate(request.Step), cancellationToken).ConfigureAwait(false);
        return new StepReply(request.JobId, request.Step, result.Loss ?? double.NaN, result.Seconds, result.PeakMemoryBytes);
    }

    public Task<ParametersReply> ReadParametersAsync(ReadParametersRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Task.FromResult(new ParametersReply(request.JobId, Loaded(request.JobId).Stages.ReadParameters()));
    }

    public Task ReleaseJobAsync(ReleaseJobRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        LoadedJob? loaded;
        lock (_lock)
            if (_jobs.Remove(request.JobId, out loaded)) { }
        loaded?.Stages.Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var j in _jobs.Values) j.Stages.Dispose();
            _jobs.Clear();
        }
    }

    private LoadedJob Loaded(string jobId)
    {
        LoadedJob? loaded;
        lock (_lock) _jobs.TryGetValue(jobId, out loaded);
        return loaded ?? throw new AlpaException($"silo {self.Address} has no program of job {jobId}; load it first");
    }

    private sealed record LoadedJob(ClusterJob Job, ClusterStages Stages, SyntheticData Data);
}
