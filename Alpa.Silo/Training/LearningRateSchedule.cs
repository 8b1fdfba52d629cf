namespace Alpa.Silo.Training;

/// <summary>Linear warmup to <see cref="Peak"/>, then cosine decay to <see cref="Peak"/>·<see cref="FloorRatio"/>.</summary>
public sealed record LearningRateSchedule
{
    /// <summary>The learning rate at the end of warmup.</summary>
    public double Peak { get; init; } = 1e-3;
    /// <summary>Steps of linear warmup from Peak/WarmupSteps; 0 disables warmup.</summary>
    public int WarmupSteps { get; init; } = 10;
    /// <summary>Total steps of the run: the cosine reaches its floor here.</summary>
    public int TotalSteps { get; init; } = 100;
    /// <summary>Final learning rate as a fraction of the peak.</summary>
    public double FloorRatio { get; init; } = 0.1;

    /// <summary>The learning rate of step <paramref name="step"/> (0-based).</summary>
    public double At(int step)
    {
        if (step < WarmupSteps) return Peak * (step + 1) / WarmupSteps;
        var span = Math.Max(1, TotalSteps - WarmupSteps);
        var progress = Math.Clamp((double)(step - WarmupSteps) / span, 0.0, 1.0);
        var cosine = 0.5 * (1.0 + Math.Cos(Math.PI * progress));
        return Peak * (FloorRatio + (1.0 - FloorRatio) * cosine);
    }
}
