using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Silo.Checkpoints;
using Alpa.Silo.Execution.Spmd;
using Alpa.Silo.Training;
using Alpa.Tests.Spmd;
using Xunit.Abstractions;

namespace Alpa.Tests.Checkpoints;

/// <summary>
/// Stop a run, resume it from its checkpoint on the same or another layout, and compare with a run
/// that was never interrupted (DESIGN §6: per tensor ‖a − b‖ / ‖b‖; exact ≤ 1e-6 on the same
/// layout, ≤ 1e-4 across layouts). The checkpoint of step 4 is written in the background while
/// steps 5 and 6 run and overwrite the parameters; the run then stops at step 6.
/// </summary>
public sealed class ResumeTests(ITestOutputHelper output) : IDisposable
{
    private readonly List<IDisposable> _devices = [];

    private const int Steps = 8;
    private const int Every = 4;
    private const int StopAt = 6;
    private const ulong Seed = 3;

    [Theory]
    [InlineData("1x1")]
    [InlineData("2x2-megatron")]
    public void ResumingOnTheSameLayoutIsExact(string layout)
    {
        var (m, t) = SpmdFixture.Build("gpt-tiny");
        using var f = new CheckpointFixture();
        var (refLosses, refParams) = Uninterrupted(m, t, layout);
        Interrupt(m, t, layout, f.Directory);
        var (losses, parameters) = Resume(m, t, layout, f.Directory);
        Compare($"{layout} → {layout}", refLosses, refParams, losses, parameters, 1e-6);
    }

    [Theory]
    [InlineData("1x1")]
    [InlineData("2x2-ilp")]
    [InlineData("1x2-ilp")]
    public void ACheckpointOfOneLayoutLoadsOnOthers(string target)
    {
        var (m, t) = SpmdFixture.Build("gpt-tiny");
        using var f = new CheckpointFixture();
        var (refLosses, refParams) = Uninterrupted(m, t, "1x1");
        Interrupt(m, t, "1x4-megatron", f.Directory);
        var saved = CheckpointStore.OpenLatest(f.Directory).Checkpoint;
        Assert.Equal(Every, saved.Step);
        Assert.Contains(saved.Manifest.Tensors, e => e.Spec.Contains("S1") && e.Mesh[1] == 4);
        var (losses, parameters) = Resume(m, t, target, f.Directory);
        Compare($"1x4-megatron → {target}", refLosses, refParams, losses, parameters, 1e-4);
    }

    private (IReadOnlyList<float> Losses, Dictionary<string, Alpa.Kernels.HostTensor> Params) Uninterrupted(Graph m, Graph t, string layout)
    {
        using var runner = Runner(m, t, layout);
        var r = Trainer.Run(runner, new SyntheticData(m, (int)Seed), Options());
        return (r.Losses, m.Parameters.ToDictionary(p => p.Name, p => runner.Read(p.Name)));
    }

    /// <summary>Trains with a checkpoint every 4 steps and stops (cancels) after step 6.</summary>
    private void Interrupt(Graph m, Graph t, string layout, string directory)
    {
        using var runner = Runner(m, t, layout);
        using var stop = new CancellationTokenSource();
        using var checkpointer = new TrainingCheckpointer((ICheckpointable)runner, new CheckpointOptions { Directory = directory }, Every, Steps, Seed,
                                                          new Dictionary<string, string> { ["model"] = "gpt-tiny" });
        void After(int done)
        {
            checkpointer.AfterStep(done);
            if (done == StopAt) stop.Cancel();
        }
        Assert.Throws<OperationCanceledException>(() => Trainer.Run(runner, new SyntheticData(m, (int)Seed), Options() with { AfterStep = After }, cancel: stop.Token));
        checkpointer.Finish();
        Assert.Equal([(long)Every], checkpointer.Saved.Select(s => s.Step));
    }

    private (IReadOnlyList<float> Losses, Dictionary<string, Alpa.Kernels.HostTensor> Params) Resume(Graph m, Graph t, string layout, string directory)
    {
        using var runner = Runner(m, t, layout);
        var point = TrainingCheckpointer.Resume(directory, (ICheckpointable)runner, new Dictionary<string, string> { ["model"] = "gpt-tiny" });
        Assert.Equal(Every, point.Step);
        Assert.Empty(point.ZeroStates);
        var r = Trainer.Run(runner, new SyntheticData(m, (int)Seed), Options() with { StartStep = (int)point.Step });
        return (r.Losses, m.Parameters.ToDictionary(p => p.Name, p => runner.Read(p.Name)));
    }

    private void Compare(string what, IReadOnlyList<float> refLosses, Dictionary<string, Alpa.Kernels.HostTensor> refParams,
                         IReadOnlyList<float> losses, Dictionary<string, Alpa.Kernels.HostTensor> parameters, double tolerance)
    {
        Assert.Equal(Steps - Every, losses.Count);
        var lossDiff = losses.Select((l, i) => Math.Abs(l - refLosses[Every + i]) / Math.Abs(refLosses[Every + i])).Max();
        var (worst, paramDiff) = refParams.Select(kv => (kv.Key, SpmdCheck.RelativeDiff(parameters[kv.Key], kv.Value))).MaxBy(x => x.Item2);
        output.WriteLine($"{what}: losses {string.Join(" ", losses.Select(l => l.ToString("F5")))}; max loss rel diff {lossDiff:E2}, max param rel diff {paramDiff:E2} ({worst})");
        Assert.True(lossDiff <= tolerance, $"loss rel diff {lossDiff}");
        Assert.True(paramDiff <= tolerance, $"param rel diff {paramDiff} at {worst}");
    }

    private static TrainerOptions Options() => new()
    {
        Steps = Steps,
        EvalEvery = 0,
        Schedule = new LearningRateSchedule { Peak = 3e-3, WarmupSteps = 2 },
    };

    private IStepRunner Runner(Graph m, Graph t, string layout)
    {
        if (layout == "1x1")
        {
            var device = LocalStepRunner.CreateCpuDevice();
            _devices.Add(device);
            return new LocalStepRunner(m, t, device, Seed);
        }
        var (shape, how) = (layout.Split('-')[0].Split('x'), layout.Split('-')[1]);
        var mesh = SpmdFixture.Mesh(int.Parse(shape[0]), int.Parse(shape[1]));
        var options = how == "megatron"
            ? new IntraOptions { FixedSpecs = SpmdFixture.Pins(t, n => n.Op == OpKind.Parameter ? SpmdFixture.Megatron(n.Name) : null) }
            : new IntraOptions();
        return new SpmdStepRunner(m, t, IntraOpPass.Run(t, mesh, options), Seed);
    }

    public void Dispose()
    {
        foreach (var d in _devices) d.Dispose();
    }
}
