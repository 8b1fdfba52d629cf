using Alpa.Client.Jobs;

namespace Alpa.Silo.Jobs;

/// <summary>
/// The events of a job that is no longer in memory, rebuilt from its stored record (same numbering as live for a job
/// that did not recover; after a recovery the redone steps appear once, so the numbers differ from the live ones).
/// </summary>
public static class JobEvents
{
    public static IReadOnlyList<JobEvent> Replay(JobInfo info, JobMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(info);
        ArgumentNullException.ThrowIfNull(metrics);
        var events = new List<JobEvent> { new() { Sequence = 1, Kind = JobEventKinds.Queued, JobId = info.Id } };
        if (metrics.Plan is not null)
        {
            events.Add(new JobEvent { Sequence = 0, Kind = JobEventKinds.Planned, JobId = info.Id, Plan = metrics.Plan });
        }
        var steps = metrics.Steps.Select(s => new JobEvent
        {
            Sequence = 0, Kind = JobEventKinds.Step, JobId = info.Id, Step = s.Step, Loss = s.Loss, ItemsPerSecond = s.ItemsPerSecond,
        });
        // Notes (checkpoints, recoveries) after the steps they follow; the steps are the final trajectory, so redone ones appear once.
        events.AddRange(steps.Select((e, i) => (e, Order: (e.Step ?? 0) * 2.0, i))
            .Concat(metrics.Notes.Select((e, i) => (e, Order: ((e.Step ?? 0) * 2.0) + 1, i)))
            .OrderBy(x => x.Order).ThenBy(x => x.i).Select(x => x.e));
        if (JobStates.IsFinal(info.State))
        {
            var kind = info.State switch
            {
                JobStates.Done => JobEventKinds.Finished,
                JobStates.Cancelled => JobEventKinds.Cancelled,
                _ => JobEventKinds.Failed,
            };
            events.Add(new JobEvent
            {
                Sequence = 0, Kind = kind, JobId = info.Id, Step = info.Step, Loss = info.LastLoss, ItemsPerSecond = info.ItemsPerSecond, Message = info.Error,
            });
        }
        return [.. events.Select((e, i) => e with { Sequence = i + 1 })];
    }
}
