using System.Diagnostics;
using Alpa.Planner.Pipeline;

namespace Alpa.Silo.Execution.Pipeline;

/// <summary>
/// Interprets one stage mesh's instruction list, exactly as emitted: RUN (forward / backward of a
/// microbatch on the stage runtime), SEND / RECV (boundary buffers through the transport), FREE,
/// COLLECTIVE (the deferred gradient reductions) and UPDATE. Buffers live in a table keyed by the
/// lists' buffer ids; every instruction is timed. A step that ends with buffers still held fails.
/// </summary>
public sealed class MeshWorker(int index, StageRuntime runtime, IBoundaryTransport transport, BoundaryRoutes routes) : IMeshWorker
{
    private readonly Dictionary<BufferId, ShardBundle> _buffers = [];
    private WorkerProgram? _program;
    private string? _job;

    public int Index => index;
    public StageRuntime Runtime => runtime;

    public Task LoadProgramAsync(WorkerLoad load, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(load);
        if (load.Program.Stage != runtime.Stage.Stage)
            throw new ExecutionException($"worker {index} holds stage {runtime.Stage.Stage}, not stage {load.Program.Stage}");
        (_job, _program) = (load.JobId, load.Program);
        return Task.CompletedTask;
    }

    public async Task<WorkerStepResult> RunStepAsync(WorkerStep step, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(step);
        var program = _program ?? throw new ExecutionException($"worker {index}: no program loaded");
        if (step.JobId != _job) throw new ExecutionException($"worker {index} runs job {_job}, not {step.JobId}");
        var begin = Stopwatch.GetTimestamp();
        foreach (var d in runtime.Devices) d.ResetPeak();
        runtime.Executor.Communicator.ClearLog(); // the log is per step (it grew without bound before)
        var state = new StepState(step, program);
        try
        {
            foreach (var instruction in program.Instructions)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var start = Stopwatch.GetTimestamp();
                var (kind, microbatch) = await ExecuteAsync(instruction, state, cancellationToken).ConfigureAwait(false);
                state.Events.Add(new PipelineEvent(index, program.Stage, kind, microbatch,
                    Seconds(step.StartTimestamp, start), Seconds(step.StartTimestamp, Stopwatch.GetTimestamp())));
            }
            if (_buffers.Count > 0)
                throw new ExecutionException($"stage {program.Stage} ends the step holding {string.Join(", ", _buffers.Keys.Take(4))}: the list does not free them");
        }
        catch
        {
            FreeAll();
            throw;
        }
        float? loss = state.Losses.Count > 0 ? state.Losses.Average() : null;
        return new WorkerStepResult(index, step.Step, loss, Seconds(begin, Stopwatch.GetTimestamp()), Seconds(step.StartTimestamp, begin),
            runtime.Devices.Max(d => d.Memory.PeakLiveBytes), state.PeakStash, state.Events);
    }

    private async ValueTask<(PipelineEventKind, int)> ExecuteAsync(Instruction instruction, StepState state, CancellationToken ct)
    {
        switch (instruction)
        {
            case Run { Kind: RunKind.Forward } run:
                Forward(run, state);
                return (PipelineEventKind.Forward, run.Microbatch);
            case Run run:
                Backward(run, state);
                return (PipelineEventKind.Backward, run.Microbatch);
            case Send send:
                await transport.SendAsync(new BoundaryMessage(send.Tensor, routes.Cut(send.FromStage, send.ToStage, Held(send.Tensor))), ct).ConfigureAwait(false);
                return (PipelineEventKind.Send, send.Microbatch);
            case Recv recv:
                var message = await transport.ReceiveAsync(recv.Tensor, ct).ConfigureAwait(false);
                Hold(recv.Tensor, routes.Join(recv.FromStage, recv.ToStage, message.Tiles));
                return (PipelineEventKind.Recv, recv.Microbatch);
            case Free free:
                foreach (var id in free.Buffers)
                {
                    if (!_buffers.Remove(id, out var bundle)) throw new ExecutionException($"stage {state.Program.Stage} frees {id}, which it does not hold");
                    if (id.Kind == BufferKind.Stash) state.LiveStash--;
                    bundle.Dispose();
                }
                return (PipelineEventKind.Free, free.Buffers.Count > 0 ? free.Buffers[0].Microbatch : -1);
            case Collective c:
                runtime.Collective(c.Index, state.Collectives);
                return (PipelineEventKind.Collective, -1);
            case UpdateStage:
                if (state.Collectives == 0) runtime.Collective(0, 1);
                runtime.Update(state.Step.LearningRate, (int)state.Step.Step);
                return (PipelineEventKind.Update, -1);
            default:
                throw new ExecutionException($"stage {state.Program.Stage}: unknown instruction {instruction.GetType().Name}");
        }
    }

    private void Forward(Run run, StepState state)
    {
        var data = state.Step.Microbatches[run.Microbatch];
        var outputs = runtime.Forward(data, run.Inputs.Select(Held).ToList());
        if (outputs.Loss is { } loss) state.Losses.Add(loss);
        foreach (var id in run.Outputs)
        {
            if (id.Kind == BufferKind.Stash)
            {
                Hold(id, outputs.Stash);
                state.PeakStash = Math.Max(state.PeakStash, ++state.LiveStash);
            }
            else Hold(id, outputs.Sent.GetValueOrDefault(id.To) ?? new ShardBundle([]));
        }
        Unlisted(run, outputs.Sent);
    }

    private void Backward(Run run, StepState state)
    {
        var data = state.Step.Microbatches[run.Microbatch];
        var grads = runtime.Backward(data, run.Inputs.Select(Held).ToList());
        foreach (var id in run.Outputs) Hold(id, grads.GetValueOrDefault(id.To) ?? new ShardBundle([]));
        Unlisted(run, grads);
    }

    /// <summary>A RUN computed tensors for a stage its list sends nothing to: the list and the program disagree.</summary>
    private static void Unlisted(Run run, IReadOnlyDictionary<int, ShardBundle> sent)
    {
        foreach (var (to, bundle) in sent)
            if (!run.Outputs.Any(o => o.Kind != BufferKind.Stash && o.To == to))
            {
                bundle.Dispose();
                throw new ExecutionException($"stage {run.Stage} computes tensors for stage {to} in its {run.Kind}, but its list sends none there");
            }
    }

    private ShardBundle Held(BufferId id) =>
        _buffers.TryGetValue(id, out var b) ? b : throw new ExecutionException($"worker {index} does not hold {id} (missing RECV or freed too early)");

    private void Hold(BufferId id, ShardBundle bundle)
    {
        if (!_buffers.TryAdd(id, bundle)) throw new ExecutionException($"worker {index} creates {id} twice");
    }

    private void FreeAll()
    {
        foreach (var b in _buffers.Values) b.Dispose();
        _buffers.Clear();
    }

    private static double Seconds(long from, long to) => (to - from) / (double)Stopwatch.Frequency;

    public Task ReleaseJobAsync(string jobId, CancellationToken cancellationToken = default)
    {
        FreeAll();
        _program = null;
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        FreeAll();
        runtime.Dispose();
    }

    private sealed class StepState(WorkerStep step, WorkerProgram program)
    {
        public WorkerStep Step => step;
        public WorkerProgram Program => program;
        public int Collectives { get; } = program.Instructions.Count(i => i is Collective);
        public List<PipelineEvent> Events { get; } = [];
        public List<float> Losses { get; } = [];
        public int LiveStash { get; set; }
        public int PeakStash { get; set; }
    }
}
