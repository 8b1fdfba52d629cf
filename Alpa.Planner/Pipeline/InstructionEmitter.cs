using Alpa.Planner.Plans;

namespace Alpa.Planner.Pipeline;

/// <summary>
/// Compiles a plan into one instruction list per stage mesh for its schedule: before each RUN the
/// RECVs of its inputs, after it the SENDs of its outputs (each followed by a FREE that takes effect
/// when the transfer completes); after a backward, FREE of the stash and boundary buffers; after
/// the last backward, the per-step collectives and the UPDATE.
/// </summary>
public static class InstructionEmitter
{
    public static IReadOnlyList<WorkerProgram> Emit(Plan plan)
    {
        var stages = plan.Stages.Count;
        var programs = new WorkerProgram[stages];
        for (var s = 0; s < stages; s++)
        {
            var st = plan.Stages[s];
            var hosts = st.Devices.Select(d => d / plan.Cluster.DevicesPerHost).Distinct().Order().ToArray();
            programs[s] = new WorkerProgram(s, st.Devices, hosts, EmitStage(plan, s));
        }
        return programs;
    }

    private static List<Instruction> EmitStage(Plan plan, int s)
    {
        var incoming = plan.Transfers.Where(t => t.ToStage == s).ToArray();
        var outgoing = plan.Transfers.Where(t => t.FromStage == s).ToArray();
        var list = new List<Instruction>();
        foreach (var (kind, m) in ScheduleOrder.For(plan.Schedule, s, plan.Stages.Count, plan.Microbatches))
        {
            if (kind == RunKind.Forward) EmitForward(list, s, m, incoming, outgoing);
            else EmitBackward(list, s, m, incoming, outgoing);
        }
        var collectives = plan.Stages[s].Collectives;
        for (var c = 0; c < collectives.Count; c++)
            list.Add(new Collective(s, collectives[c].Kind, collectives[c].Axis, collectives[c].Bytes, c));
        list.Add(new UpdateStage(s));
        return list;
    }

    private static void EmitForward(List<Instruction> list, int s, int m, PlanTransfer[] incoming, PlanTransfer[] outgoing)
    {
        var inputs = incoming.Select(t => BufferId.Activation(t.FromStage, s, m)).ToArray();
        for (var i = 0; i < incoming.Length; i++)
            list.Add(new Recv(inputs[i], incoming[i].FromStage, s, m, incoming[i].Bytes));
        var outputs = outgoing.Select(t => BufferId.Activation(s, t.ToStage, m)).ToArray();
        list.Add(new Run(s, m, RunKind.Forward, inputs, [BufferId.Stash(s, m), .. outputs]));
        for (var o = 0; o < outgoing.Length; o++)
        {
            list.Add(new Send(outputs[o], s, outgoing[o].ToStage, m, outgoing[o].Bytes));
            list.Add(new Free([outputs[o]]));
        }
    }

    private static void EmitBackward(List<Instruction> list, int s, int m, PlanTransfer[] incoming, PlanTransfer[] outgoing)
    {
        var grads = outgoing.Select(t => BufferId.Gradient(t.ToStage, s, m)).ToArray();
        for (var i = 0; i < outgoing.Length; i++)
            list.Add(new Recv(grads[i], outgoing[i].ToStage, s, m, outgoing[i].Bytes));
        var acts = incoming.Select(t => BufferId.Activation(t.FromStage, s, m)).ToArray();
        var outputs = incoming.Select(t => BufferId.Gradient(s, t.FromStage, m)).ToArray();
        BufferId[] inputs = [BufferId.Stash(s, m), .. acts, .. grads];
        list.Add(new Run(s, m, RunKind.Backward, inputs, outputs));
        list.Add(new Free(inputs));
        for (var o = 0; o < incoming.Length; o++)
        {
            list.Add(new Send(outputs[o], s, incoming[o].FromStage, m, incoming[o].Bytes));
            list.Add(new Free([outputs[o]]));
        }
    }
}
