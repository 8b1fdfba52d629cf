using System.Text.Json;
using Alpa.Planner;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Silo.Execution.Spmd;
using Alpa.Planner.Training;
using Alpa.Silo.Checkpoints;
using Alpa.Silo.Training;

namespace Alpa.Silo.Cli;

/// <summary>
/// <c>alpa train --model M [--steps N] …</c>: trains a model on synthetic data with a progress bar;
/// <c>--json</c> prints <c>{"losses":[…],"eval":[…],"tokens_per_second":x,"model_flops_per_second":y}</c>.
/// </summary>
internal sealed class TrainCommand : ICommand
{
    public string Name => "train";
    public string Summary => "trains a model on synthetic data: one CPU device, or a mesh of local CPU devices with an automatic sharding plan";
    public string Usage => "alpa train --model M [--cluster local:1xD [--method intra-only] [--check]] [--steps N] [--lr X] [--optimizer adam|sgd] [--seed N] [--checkpoint-dir D [--checkpoint-every N] [--keep K]] [--resume D] [--json]";
    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("model", "M", "built-in model name or JSON model file (required)"),
        new("cluster", "C", "local:1x1 (one CPU device, the default) or local:1xD: D CPU devices of this process as one mesh, sharded by the intra-op plan"),
        new("method", "NAME", "intra-only (the default on one host): the ILP's sharding plan on one mesh"),
        new("check", null, "also train on one device with the same seed and data and report the relative differences (DESIGN: per-tensor ‖a − b‖ / ‖b‖)"),
        new("steps", "N", "optimizer steps (default 100)"),
        new("batch", "N", "global batch (default: the model's)"),
        new("lr", "X", "peak learning rate (default 3e-3 for adam, 0.1 for sgd)"),
        new("warmup", "N", "linear warmup steps (default 10% of the steps)"),
        new("optimizer", "NAME", "adam (default) or sgd"),
        new("momentum", "X", "SGD momentum (default 0.9)"),
        new("weight-decay", "X", "decoupled weight decay (default 0)"),
        new("adam-eps", "X", "Adam's ε (default 1e-8; --check comparisons of parameters whose gradient is exactly zero want 1e-6)"),
        new("clip", "X", "clip gradients to this global norm (default: no clipping)"),
        new("remat", null, "recompute each layer's activations in the backward pass"),
        new("seed", "N", "seed of the initialization and the data (default 0)"),
        new("eval-every", "N", "evaluate on held-out batches every N steps (default steps/4)"),
        new("profile", null, "print the time per op kind of the last step"),
        .. TrainCheckpoints.Options,
    ];
    public (int Min, int Max) Positionals => (0, 0);

    public int Run(CommandArgs args, CliContext context)
    {
        var modelName = args.Value("model") ?? throw new UsageException("--model is required (e.g. --model gpt-tiny)");
        var devices = MeshDevices(args.Value("cluster"), args.Value("method"));
        var spec = ModelArgument.Load(modelName);
        var steps = args.PositiveInt("steps", 100);
        var seed = args.Has("seed") ? args.PositiveInt("seed", 1) : 0;
        var optimizerName = args.Value("optimizer") ?? "adam";
        Optimizer optimizer = optimizerName switch
        {
            "adam" => new Adam { WeightDecay = args.Number("weight-decay", 0), Epsilon = args.Number("adam-eps", 1e-8) },
            "sgd" => new Sgd { Momentum = args.Number("momentum", 0.9), WeightDecay = args.Number("weight-decay", 0) },
            _ => throw new UsageException($"--optimizer must be adam or sgd, got '{optimizerName}'"),
        };
        var options = new TrainingOptions
        {
            Optimizer = optimizer,
            ClipNorm = args.Has("clip") ? args.Number("clip", 1.0) : null,
            Remat = args.Has("remat"),
        };

        var model = spec.Build(args.Has("batch") ? args.PositiveInt("batch", spec.Batch) : null);
        var training = TrainingGraph.Build(model, options);
        var data = new SyntheticData(model, seed);
        var tokens = model.Inputs.FirstOrDefault(n => n.Name == "tokens");
        var samples = model.Inputs.First().Shape[0];
        var trainer = new TrainerOptions
        {
            Steps = steps,
            EvalEvery = args.PositiveInt("eval-every", Math.Max(1, steps / 4)),
            Schedule = new LearningRateSchedule
            {
                Peak = args.Number("lr", optimizer is Adam ? 3e-3 : 0.1),
                WarmupSteps = args.Has("warmup") ? args.PositiveInt("warmup", 1) : Math.Max(1, steps / 10),
            },
            SamplesPerStep = samples,
            ItemsPerStep = tokens?.Shape.Elements ?? samples,
            FlopsPerStep = training.Flops,
        };
        IntraResult? plan = null;
        if (devices > 1)
        {
            var cluster = LocalClusterProbe.Measure(1, devices);
            plan = IntraOpPass.RunAllShapes(training, cluster).Best;
            context.Err.WriteLine($"intra-op plan on mesh ({plan.Mesh.N0}, {plan.Mesh.N1}) of {devices} CPU devices: " +
                                  $"{plan.Stats.IlpVariables} ILP columns, predicted {plan.ObjectiveSeconds * 1e3:F2} ms per step");
            foreach (var (name, specDims) in plan.ParameterSpecs.Where(p => p.Key.EndsWith(".weight", StringComparison.Ordinal)).Take(6))
                context.Err.WriteLine($"  {name,-32} [{string.Join(", ", specDims)}]");
        }
        context.Err.WriteLine($"training {spec.Name} on {(plan is null ? "cpu:0" : $"{devices} CPU devices")} ({model.ParameterCount:N0} parameters, batch {samples}, {steps} steps, {optimizerName})");

        TrainingResult result;
        CheckResult? check = null;
        using var checkpoints = new TrainCheckpoints(args, steps, (ulong)seed, RunFacts(spec.Name, seed, steps, optimizerName, devices), context.Err);
        IReadOnlyList<SaveReport> saved;
        using (var device = LocalStepRunner.CreateCpuDevice())
        using (IStepRunner runner = plan is null
                   ? new LocalStepRunner(model, training, device, (ulong)seed, args.Has("profile"))
                   : new SpmdStepRunner(model, training, plan, (ulong)seed))
        {
            var checkpointable = (ICheckpointable)runner;
            trainer = trainer with { StartStep = checkpoints.Resume(checkpointable, steps), AfterStep = checkpoints.Attach(checkpointable, steps) };
            using (var bar = new ProgressBar(context.Err, tokens is null ? "samples/s" : "tok/s"))
                result = Trainer.Run(runner, data, trainer, bar);
            saved = checkpoints.Finish();
            if (args.Has("check"))
            {
                context.Err.WriteLine("check: training the same model on one device …");
                using var refDevice = LocalStepRunner.CreateCpuDevice();
                using var reference = new LocalStepRunner(model, training, refDevice, (ulong)seed);
                var refResult = Trainer.Run(reference, data, trainer with { EvalEvery = 0, StartStep = 0, AfterStep = null });
                refResult = refResult with { Losses = [.. refResult.Losses.Skip(trainer.StartStep)] };
                check = Compare(model, result, refResult, runner, reference);
            }
            if (args.Has("profile") && runner is LocalStepRunner { LastStep: { } last }) WriteProfile(context.Err, last);
        }

        if (context.Json) context.WriteJson(w => WriteJson(w, result, tokens is not null, check, trainer.StartStep, saved));
        else WriteText(context.Out, result, tokens is not null, check);
        return CliApp.Ok;
    }

    /// <summary>Devices of the one local mesh to train on (1: a single device).</summary>
    private static int MeshDevices(string? cluster, string? method)
    {
        if (method is not (null or "intra-only"))
            throw new AlpaException($"--method {method}: in one process this build trains with the intra-op plan of one mesh (--method intra-only); " +
                                    "pipeline plans run on the driver and mesh workers of a silo cluster") { Field = "method" };
        if (cluster is null or "local") return 1;
        var name = Planner.Cluster.ClusterName.Parse(cluster);
        if (name.Name != Planner.Cluster.BuiltInClusters.Local || name.Hosts != 1)
            throw new AlpaException($"--cluster {cluster}: training runs on local:1xD (D CPU devices in this process); " +
                                    "other clusters are for 'alpa plan', multi-host training runs on silos") { Field = "cluster" };
        return name.DevicesPerHost;
    }

    /// <summary>Losses step by step and every parameter at the end, as ‖a − b‖ / ‖b‖ per tensor.</summary>
    private static CheckResult Compare(Graph model, TrainingResult run, TrainingResult reference, IStepRunner runner, LocalStepRunner single)
    {
        var loss = run.Losses.Zip(reference.Losses, (a, b) => Math.Abs(a - b) / Math.Max(Math.Abs(b), 1e-30)).Max();
        var worst = ("", 0.0);
        foreach (var p in model.Parameters)
        {
            var d = SpmdCheck.RelativeDiff(runner.Read(p.Name), single.Read(p.Name));
            if (d >= worst.Item2) worst = (p.Name, d);
        }
        return new CheckResult(loss, worst.Item2, worst.Item1);
    }

    private sealed record CheckResult(double MaxLossRelDiff, double MaxParamRelDiff, string WorstParameter);

    /// <summary>Facts written into checkpoint manifests (model, seed and optimizer must match on resume).</summary>
    private static Dictionary<string, string> RunFacts(string model, int seed, int steps, string optimizer, int devices) => new(StringComparer.Ordinal)
    {
        ["model"] = model,
        ["seed"] = TrainingCheckpointer.Format(seed),
        ["optimizer"] = optimizer,
        ["steps"] = TrainingCheckpointer.Format(steps),
        ["devices"] = TrainingCheckpointer.Format(devices),
    };

    private static void WriteJson(Utf8JsonWriter w, TrainingResult r, bool tokens, CheckResult? check, int startStep, IReadOnlyList<SaveReport> saved)
    {
        w.WriteStartObject();
        w.WriteStartArray("losses");
        foreach (var l in r.Losses) w.WriteNumberValue(Math.Round(l, 6));
        w.WriteEndArray();
        w.WriteStartArray("eval");
        foreach (var e in r.Eval)
        {
            w.WriteStartObject();
            w.WriteNumber("step", e.Step);
            w.WriteNumber("loss", Math.Round(e.Loss, 6));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNumber(tokens ? "tokens_per_second" : "samples_per_second", Math.Round(r.ItemsPerSecond, 1));
        w.WriteNumber("model_flops_per_second", Math.Round(r.ModelFlopsPerSecond));
        w.WriteNumber("seconds", Math.Round(r.Seconds, 3));
        TrainCheckpoints.WriteJson(w, startStep, saved);
        if (check is not null)
        {
            w.WriteStartObject("check");
            w.WriteNumber("max_loss_rel_diff", check.MaxLossRelDiff);
            w.WriteNumber("max_param_rel_diff", check.MaxParamRelDiff);
            w.WriteString("worst_parameter", check.WorstParameter);
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    private static void WriteText(TextWriter o, TrainingResult r, bool tokens, CheckResult? check)
    {
        o.WriteLine($"loss        {r.Losses[0]:F4} → {r.Losses[^1]:F4} over {r.Losses.Count} steps");
        foreach (var e in r.Eval) o.WriteLine($"eval        step {e.Step,5}: {e.Loss:F4}");
        o.WriteLine($"throughput  {r.ItemsPerSecond:N0} {(tokens ? "tokens" : "samples")}/s, {Units.Flops(r.ModelFlopsPerSecond)}/s, {r.Seconds:F1} s");
        if (check is not null)
            o.WriteLine($"check       vs one device: max loss rel diff {check.MaxLossRelDiff:G3}, max param rel diff {check.MaxParamRelDiff:G3} ({check.WorstParameter})");
    }

    private static void WriteProfile(TextWriter o, Execution.StepResult step)
    {
        o.WriteLine($"last step: {step.StepSeconds * 1e3:F2} ms, peak live {Units.Bytes(step.PeakLiveBytes)}");
        foreach (var k in step.ByOpKind.Where(k => k.Seconds > 0).Take(12))
            o.WriteLine($"  {k.Op,-22} {k.Count,5} nodes {k.Seconds * 1e3,9:F3} ms {Units.Flops(k.Flops / Math.Max(k.Seconds, 1e-9)),14}/s");
    }
}
