using Alpa.Client.Jobs;
using Alpa.Planner.Pipeline;
using Alpa.Silo.Execution.Cluster;
using Alpa.Silo.Execution.Pipeline;
using Alpa.Silo.Hosting;

namespace Alpa.Silo.Grains;

/// <summary>
/// The mesh worker's page on the dashboard (<see cref="IGrainStateReporter"/>): each loaded job with its
/// stage, instruction list (counts and schedule), the live and peak bytes of its devices and the last
/// step's timed instructions; and the last few released jobs with their last step.
/// </summary>
public sealed partial class MeshWorkerGrain : IGrainStateReporter
{
    private const int RetiredKept = 8;
    private readonly Dictionary<string, StepRecord> _steps = new(StringComparer.Ordinal);
    private readonly List<object> _retired = [];

    public object DescribeState()
    {
        lock (_lock)
        {
            return new
            {
                silo = self.Address,
                devices = self.Devices,
                jobs = _jobs.Select(p => Describe(p.Key, p.Value, _steps.GetValueOrDefault(p.Key))).ToList(),
                released = _retired.ToList(),
            };
        }
    }

    private void Remember(string jobId, WorkerStepResult result, IReadOnlyList<TimelineEvent> events)
    {
        lock (_lock)
        {
            var steps = _steps.GetValueOrDefault(jobId)?.Steps ?? 0;
            _steps[jobId] = new StepRecord(steps + 1, result, events);
        }
    }

    /// <summary>Moves a released job to the short history shown under <c>released</c>.</summary>
    private void Retire(string jobId, LoadedJob loaded)
    {
        lock (_lock)
        {
            _steps.Remove(jobId, out var record);
            _retired.Insert(0, new
            {
                job = jobId,
                model = loaded.Job.Model,
                stage = loaded.Stages.Stages[0],
                localStages = loaded.Stages.Stages,
                stepsRun = record?.Steps ?? 0,
                lastStep = record is null ? null : Summary(record.Last),
                releasedAt = DateTimeOffset.UtcNow,
            });
            if (_retired.Count > RetiredKept) _retired.RemoveAt(_retired.Count - 1);
        }
    }

    private object Describe(string jobId, LoadedJob loaded, StepRecord? record)
    {
        var (job, local) = (loaded.Job, loaded.Stages);
        var stage = local.Stages[0];
        var program = InstructionEmitter.Emit(local.Plan)[stage];
        var stageDevices = local.DevicesOn(stage, self.Address);
        var devices = local.Runtime(stage).Devices;
        return new
        {
            job = jobId,
            model = job.Model,
            stage,
            localStages = local.Stages,
            stages = local.Plan.Stages.Count,
            silosOfStage = Enumerable.Range(0, local.Plan.Stages.Count).Select(s => string.Join("+", job.SilosOfStage(s))).ToList(),
            microbatches = local.Plan.Microbatches,
            instructions = new
            {
                total = program.Instructions.Count,
                byKind = ClusterJobView.Counts(program),
                schedule = ClusterJobView.Schedule(program),
            },
            devices = devices.Select((d, i) => new
            {
                device = i < stageDevices.Count ? ClusterJobView.DeviceName(self.Address, stageDevices[i], job.DevicesPerSilo) : d.Name,
                liveBytes = d.Memory.LiveBytes,
                peakLiveBytes = d.Memory.PeakLiveBytes,
                reservedBytes = d.Memory.ReservedBytes,
            }).ToList(),
            stepsRun = record?.Steps ?? 0,
            lastStep = record is null ? null : new { summary = Summary(record.Last), events = record.Events.Where(e => e.Device == record.Events[0].Device).ToList() },
        };
    }

    private static object Summary(WorkerStepResult r) => new
    {
        step = r.Step,
        loss = r.Loss,
        seconds = r.Seconds,
        waitSeconds = r.WaitSeconds,
        peakMemoryBytes = r.PeakMemoryBytes,
        peakLiveMicrobatches = r.PeakLiveMicrobatches,
    };

    /// <summary>Steps run of a loaded job and its last step (result and timeline).</summary>
    private sealed record StepRecord(int Steps, WorkerStepResult Last, IReadOnlyList<TimelineEvent> Events);
}
