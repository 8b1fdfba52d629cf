using Alpa.Client.Contracts;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Plans;

namespace Alpa.Silo.Execution.Cluster;

/// <summary>
/// What the driver of a cluster job reports on the dashboard's grain page: the job, the silo and
/// schedule (<see cref="ClusterJobView.Schedule"/>) of every stage, the current step and the last
/// step's per-stage seconds and peak memory. The step loop updates it; readers take a snapshot.
/// </summary>
public sealed class ClusterDriverState(ClusterJob job, Plan plan)
{
    private readonly Lock _lock = new();
    private readonly IReadOnlyList<string> _schedules = [.. InstructionEmitter.Emit(plan).Select(ClusterJobView.Schedule)];
    private string _phase = "loading";
    private long _step;
    private double _lastLoss = double.NaN;
    private double _lastSeconds;
    private IReadOnlyList<StepReply> _last = [];

    public string JobId => job.JobId;

    /// <summary>Sets what the driver does now: <c>loading</c>, <c>running</c>, <c>done</c>, <c>failed</c> or <c>cancelled</c>.</summary>
    public void Phase(string phase)
    {
        lock (_lock) _phase = phase;
    }

    /// <summary>Step <paramref name="step"/> (1-based) is done with these replies (stage order).</summary>
    public void StepDone(long step, double loss, double seconds, IReadOnlyList<StepReply> replies)
    {
        lock (_lock) (_step, _lastLoss, _lastSeconds, _last) = (step, loss, seconds, replies);
    }

    public object Describe()
    {
        lock (_lock)
        {
            return new
            {
                job = job.JobId,
                model = job.Model,
                phase = _phase,
                step = _step,
                steps = job.Steps,
                microbatches = plan.Microbatches,
                schedule = plan.Schedule.ToString(),
                lastLoss = double.IsFinite(_lastLoss) ? _lastLoss : (double?)null,
                lastStepSeconds = _lastSeconds,
                stages = Enumerable.Range(0, job.SiloOfStage.Count).Select(s => new
                {
                    stage = s,
                    silo = job.SiloOfStage[s],
                    layers = new[] { plan.Stages[s].FirstLayer, plan.Stages[s].LastLayer },
                    schedule = _schedules[s],
                    lastSeconds = s < _last.Count ? _last[s].Seconds : (double?)null,
                    peakMemoryBytes = s < _last.Count ? _last[s].PeakMemoryBytes : (long?)null,
                }).ToList(),
            };
        }
    }
}
