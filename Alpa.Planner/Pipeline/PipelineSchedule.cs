namespace Alpa.Planner.Pipeline;

/// <summary>Pipeline schedules the planner emits.</summary>
public enum PipelineSchedule
{
    /// <summary>One-forward-one-backward (PipeDream-flush / Megatron): stage i keeps at most min(S − i, B) microbatches' activations.</summary>
    OneFOneB,
    /// <summary>GPipe: all forwards, then all backwards; every stage keeps all B microbatches' activations.</summary>
    GPipe,
}

/// <summary>Whether a RUN instruction computes the forward or the backward of a stage.</summary>
public enum RunKind
{
    Forward,
    Backward,
}

/// <summary>The order in which one stage runs its microbatches' forwards and backwards.</summary>
public static class ScheduleOrder
{
    /// <summary>JSON name of a schedule: <c>1f1b</c> or <c>gpipe</c>.</summary>
    public static string ToJsonName(this PipelineSchedule schedule) => schedule switch
    {
        PipelineSchedule.OneFOneB => "1f1b",
        PipelineSchedule.GPipe => "gpipe",
        _ => throw new ArgumentOutOfRangeException(nameof(schedule)),
    };

    public static bool TryParse(string? name, out PipelineSchedule schedule)
    {
        switch (name?.ToLowerInvariant())
        {
            case "1f1b": schedule = PipelineSchedule.OneFOneB; return true;
            case "gpipe": schedule = PipelineSchedule.GPipe; return true;
            default: schedule = PipelineSchedule.OneFOneB; return false;
        }
    }

    /// <summary>
    /// Microbatches whose activations stage <paramref name="stage"/> of <paramref name="stages"/> holds at
    /// most (Alpa eq. 5's s): min(S − stage, B) for 1F1B, B for GPipe.
    /// </summary>
    public static int LiveMicrobatches(PipelineSchedule schedule, int stage, int stages, int microbatches) =>
        schedule == PipelineSchedule.GPipe ? microbatches : Math.Min(stages - stage, microbatches);

    /// <summary>The (kind, microbatch) sequence stage <paramref name="stage"/> executes in one step.</summary>
    public static IReadOnlyList<(RunKind Kind, int Microbatch)> For(PipelineSchedule schedule, int stage, int stages, int microbatches)
    {
        var order = new List<(RunKind, int)>(2 * microbatches);
        if (schedule == PipelineSchedule.GPipe)
        {
            for (var m = 0; m < microbatches; m++) order.Add((RunKind.Forward, m));
            for (var m = 0; m < microbatches; m++) order.Add((RunKind.Backward, m));
            return order;
        }
        // 1F1B: warm-up forwards, then alternate one forward and one backward, then drain.
        var warmup = Math.Min(stages - stage - 1, microbatches);
        for (var m = 0; m < warmup; m++) order.Add((RunKind.Forward, m));
        for (var i = 0; i < microbatches - warmup; i++)
        {
            order.Add((RunKind.Forward, warmup + i));
            order.Add((RunKind.Backward, i));
        }
        for (var m = microbatches - warmup; m < microbatches; m++) order.Add((RunKind.Backward, m));
        return order;
    }
}
