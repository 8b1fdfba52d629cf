using Alpa.Client.Contracts;
using Alpa.Client.Jobs;
using Alpa.Planner.Pipeline;
using Alpa.Silo.Execution.Pipeline;

namespace Alpa.Silo.Execution.Cluster;

/// <summary>
/// How a cluster job looks on the dashboard: device names that say which silo holds them, a worker's
/// instruction list as a short schedule string, and a worker's timed instructions as timeline events.
/// The mesh worker grains and the driver of a job both use these, so their pages agree.
/// </summary>
public static class ClusterJobView
{
    /// <summary>Name of the job's device <paramref name="device"/> (an index over silos × devices per silo): <c>SILO/cpu:I</c>.</summary>
    public static string DeviceName(string silo, int device, int devicesPerSilo) => $"{silo}/cpu:{device % Math.Max(1, devicesPerSilo)}";

    /// <summary>
    /// One token per instruction, FREE left out: <c>F3</c> / <c>B3</c> forward / backward of microbatch 3,
    /// <c>S3&gt;1</c> send to stage 1, <c>R3&lt;0</c> receive from stage 0, <c>C</c> collective, <c>U</c> update.
    /// </summary>
    public static string Schedule(WorkerProgram program)
    {
        ArgumentNullException.ThrowIfNull(program);
        return string.Join(' ', program.Instructions.Select(Token).OfType<string>());
    }

    /// <summary>The <see cref="Schedule"/> of every stage of <paramref name="job"/>, in stage order.</summary>
    public static IReadOnlyList<string> Schedules(ClusterJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        return [.. InstructionEmitter.Emit(Planner.Plans.PlanJson.Read(job.PlanJson)).Select(Schedule)];
    }

    /// <summary>Instructions of the list by kind (run, send, recv, free, collective, update).</summary>
    public static IReadOnlyDictionary<string, int> Counts(WorkerProgram program)
    {
        ArgumentNullException.ThrowIfNull(program);
        return program.Instructions.GroupBy(KindOf).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
    }

    /// <summary>Each executed instruction once per device of the stage, named as <see cref="DeviceName"/>.</summary>
    public static IReadOnlyList<TimelineEvent> Timeline(IReadOnlyList<PipelineEvent> events, IReadOnlyList<int> stageDevices, string silo, int devicesPerSilo)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(stageDevices);
        return [.. stageDevices.SelectMany(d => events.Select(e => new TimelineEvent(DeviceName(silo, d, devicesPerSilo), silo, e.Stage,
            e.Kind.ToString().ToLowerInvariant(), Math.Max(0, e.Microbatch), e.StartSeconds, e.EndSeconds)))];
    }

    /// <summary>
    /// A worker's events moved onto the driver's clock (seconds from when the driver started the step): each
    /// worker times from when it received the step, in its own process; its list is taken to end when its reply
    /// reached the driver (<paramref name="arrivedSeconds"/>), so the reply's own transit shows as idle time.
    /// </summary>
    public static StepReply OnDriverClock(StepReply reply, double arrivedSeconds)
    {
        ArgumentNullException.ThrowIfNull(reply);
        if (reply.Events is not { Count: > 0 } events) return reply;
        var shift = Math.Max(0, arrivedSeconds - events.Max(e => e.EndSeconds));
        return reply with { Events = [.. events.Select(e => e with { StartSeconds = e.StartSeconds + shift, EndSeconds = e.EndSeconds + shift })] };
    }

    private static string? Token(Instruction instruction) => instruction switch
    {
        Run r => (r.Kind == RunKind.Forward ? "F" : "B") + r.Microbatch,
        Send s => $"S{s.Microbatch}>{s.ToStage}",
        Recv r => $"R{r.Microbatch}<{r.FromStage}",
        Collective => "C",
        UpdateStage => "U",
        _ => null,
    };

    private static string KindOf(Instruction instruction) => instruction switch
    {
        Run => "run",
        Send => "send",
        Recv => "recv",
        Free => "free",
        Collective => "collective",
        UpdateStage => "update",
        _ => instruction.GetType().Name.ToLowerInvariant(),
    };
}
