using Alpa.Client.Contracts;
using Alpa.Planner;
using Alpa.Silo.Checkpoints;
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
/// returns this silo's parameter blocks; <c>SaveShards</c>/<c>AwaitShards</c>/<c>RestoreShards</c> checkpoint this silo's
/// stages or parts of stage meshes (MeshWorkerGrain.Checkpoints.cs);
/// <c>Release</c> frees the job. Each job holds its own stages, so jobs do not share buffers.
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
        using var lease = loaded.Enter(cancellationToken);
        var (job, stages) = (loaded.Job, loaded.Stages);
        var microbatches = job.Microbatches(loaded.Data, stages.Plan.Microbatches, request.Step);
        var result = await stages.RunStepAsync(request.Step, microbatches, job.LearningRate(request.Step), lease.Token).ConfigureAwait(false);
        var events = result.Workers.SelectMany(w => ClusterJobView.Timeline(w.Events, stages.DevicesOn(w.Worker, self.Address), self.Address, job.DevicesPerSilo)).ToList();
        Remember(request.JobId, result.Workers[^1] with { Loss = result.Loss, Seconds = result.Seconds, PeakMemoryBytes = result.PeakMemoryBytes }, events);
        return new StepReply(request.JobId, request.Step, result.Loss ?? double.NaN, result.Seconds, result.PeakMemoryBytes, events);
    }

    public Task<ParametersReply> ReadParametersAsync(ReadParametersRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var loaded = Loaded(request.JobId);
        using var lease = loaded.Enter(cancellationToken);
        return Task.FromResult(new ParametersReply(request.JobId, loaded.Stages.ReadParameters()));
    }

    public Task ReleaseJobAsync(ReleaseJobRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        LoadedJob? loaded;
        lock (_lock)
            if (_jobs.Remove(request.JobId, out loaded)) { }
        if (loaded is not null) Retire(request.JobId, loaded);
        loaded?.Release();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var j in _jobs.Values) j.Release();
            _jobs.Clear();
        }
    }

    private LoadedJob Loaded(string jobId)
    {
        LoadedJob? loaded;
        lock (_lock) _jobs.TryGetValue(jobId, out loaded);
        return loaded ?? throw new AlpaException($"silo {self.Address} has no program of job {jobId}; load it first");
    }

    /// <summary>
    /// A loaded job. Calls on it hold a lease; releasing the job cancels the calls in flight (a step stuck on a
    /// dead peer stops at once instead of at its deadline) and frees its stages when the last lease ends.
    /// </summary>
    private sealed class LoadedJob(ClusterJob job, ClusterStages stages, SyntheticData data)
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly System.Collections.Concurrent.ConcurrentDictionary<long, Task<SaveShardsReply>> _saves = new();
        private int _leases;
        private bool _released;

        public ClusterJob Job => job;
        public ClusterStages Stages => stages;
        public SyntheticData Data => data;
        /// <summary>Background checkpoint writes in flight, by step (each holds a lease until it ends).</summary>
        public System.Collections.Concurrent.ConcurrentDictionary<long, Task<SaveShardsReply>> Saves => _saves;

        public Lease Enter(CancellationToken cancellationToken)
        {
            lock (_stop)
            {
                if (_released) throw new AlpaException($"job {job.JobId} was released on this silo");
                _leases++;
            }
            return new Lease(this, CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token));
        }

        public void Release()
        {
            lock (_stop)
            {
                if (_released) return;
                _released = true;
            }
            _stop.Cancel();
            Exit(0);
        }

        private void Exit(int leases)
        {
            bool free;
            lock (_stop)
            {
                _leases -= leases;
                free = _released && _leases == 0;
            }
            if (!free) return;
            stages.Dispose();
            _stop.Dispose();
        }

        /// <summary>One call's hold on the job; <see cref="Token"/> is cancelled when the job is released.</summary>
        public sealed class Lease(LoadedJob job, CancellationTokenSource linked) : IDisposable
        {
            public CancellationToken Token => linked.Token;

            public void Dispose()
            {
                linked.Dispose();
                job.Exit(1);
            }
        }
    }
}
