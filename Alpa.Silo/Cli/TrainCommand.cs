using System.Globalization;
using System.Text.Json;
using Alpa.Planner;
using Alpa.Planner.Graph;
using Alpa.Planner.Training;
using Alpa.Silo.Training;

namespace Alpa.Silo.Cli;

/// <summary>
/// <c>alpa train --model M [--steps N] …</c>: trains a model on synthetic data with a progress bar;
/// <c>--json</c> prints <c>{"losses":[…],"eval":[…],"tokens_per_second":x,"model_flops_per_second":y}</c>.
/// </summary>
internal sealed class TrainCommand : ICommand
{
    public string Name => "train";
    public string Summary => "trains a model on synthetic data (one CPU device)";
    public string Usage => "alpa train --model M [--steps N] [--lr X] [--optimizer adam|sgd] [--seed N] [--json]";
    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("model", "M", "built-in model name or JSON model file (required)"),
        new("cluster", "C", "where to train: local:1x1 (one CPU device, the default)"),
        new("steps", "N", "optimizer steps (default 100)"),
        new("batch", "N", "global batch (default: the model's)"),
        new("lr", "X", "peak learning rate (default 3e-3 for adam, 0.1 for sgd)"),
        new("warmup", "N", "linear warmup steps (default 10% of the steps)"),
        new("optimizer", "NAME", "adam (default) or sgd"),
        new("momentum", "X", "SGD momentum (default 0.9)"),
        new("weight-decay", "X", "decoupled weight decay (default 0)"),
        new("clip", "X", "clip gradients to this global norm (default: no clipping)"),
        new("remat", null, "recompute each layer's activations in the backward pass"),
        new("seed", "N", "seed of the initialization and the data (default 0)"),
        new("eval-every", "N", "evaluate on held-out batches every N steps (default steps/4)"),
        new("profile", null, "print the time per op kind of the last step"),
    ];
    public (int Min, int Max) Positionals => (0, 0);

    public int Run(CommandArgs args, CliContext context)
    {
        var modelName = args.Value("model") ?? throw new UsageException("--model is required (e.g. --model gpt-tiny)");
        CheckCluster(args.Value("cluster"));
        var spec = ModelArgument.Load(modelName);
        var steps = args.PositiveInt("steps", 100);
        var seed = args.Has("seed") ? args.PositiveInt("seed", 1) : 0;
        var optimizerName = args.Value("optimizer") ?? "adam";
        Optimizer optimizer = optimizerName switch
        {
            "adam" => new Adam { WeightDecay = Number(args, "weight-decay", 0) },
            "sgd" => new Sgd { Momentum = Number(args, "momentum", 0.9), WeightDecay = Number(args, "weight-decay", 0) },
            _ => throw new UsageException($"--optimizer must be adam or sgd, got '{optimizerName}'"),
        };
        var options = new TrainingOptions
        {
            Optimizer = optimizer,
            ClipNorm = args.Has("clip") ? Number(args, "clip", 1.0) : null,
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
                Peak = Number(args, "lr", optimizer is Adam ? 3e-3 : 0.1),
                WarmupSteps = args.Has("warmup") ? args.PositiveInt("warmup", 1) : Math.Max(1, steps / 10),
            },
            SamplesPerStep = samples,
            ItemsPerStep = tokens?.Shape.Elements ?? samples,
            FlopsPerStep = training.Flops,
        };
        context.Err.WriteLine($"training {spec.Name} on cpu:0 ({model.ParameterCount:N0} parameters, batch {samples}, {steps} steps, {optimizerName})");

        using var device = LocalStepRunner.CreateCpuDevice();
        using var runner = new LocalStepRunner(model, training, device, (ulong)seed, args.Has("profile"));
        using var bar = new ProgressBar(context.Err, tokens is null ? "samples/s" : "tok/s");
        var result = Trainer.Run(runner, data, trainer, bar);
        bar.Finish();

        if (context.Json) context.WriteJson(w => WriteJson(w, result, tokens is not null));
        else WriteText(context.Out, result, tokens is not null);
        if (args.Has("profile") && runner.LastStep is { } last) WriteProfile(context.Err, last);
        return CliApp.Ok;
    }

    private static void CheckCluster(string? cluster)
    {
        if (cluster is null or "local:1x1" or "local") return;
        throw new AlpaException($"--cluster {cluster}: this build trains on one local CPU device (local:1x1); " +
                                "multi-device training runs through plans (see 'alpa plan')") { Field = "cluster" };
    }

    private static double Number(CommandArgs args, string name, double fallback)
    {
        var text = args.Value(name);
        if (text is null) return fallback;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v) || v < 0)
            throw new UsageException($"--{name} expects a non-negative number, got '{text}'");
        return v;
    }

    private static void WriteJson(Utf8JsonWriter w, TrainingResult r, bool tokens)
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
        w.WriteEndObject();
    }

    private static void WriteText(TextWriter o, TrainingResult r, bool tokens)
    {
        o.WriteLine($"loss        {r.Losses[0]:F4} → {r.Losses[^1]:F4} over {r.Losses.Count} steps");
        foreach (var e in r.Eval) o.WriteLine($"eval        step {e.Step,5}: {e.Loss:F4}");
        o.WriteLine($"throughput  {r.ItemsPerSecond:N0} {(tokens ? "tokens" : "samples")}/s, {Units.Flops(r.ModelFlopsPerSecond)}/s, {r.Seconds:F1} s");
    }

    private static void WriteProfile(TextWriter o, Execution.StepResult step)
    {
        o.WriteLine($"last step: {step.StepSeconds * 1e3:F2} ms, peak live {Units.Bytes(step.PeakLiveBytes)}");
        foreach (var k in step.ByOpKind.Where(k => k.Seconds > 0).Take(12))
            o.WriteLine($"  {k.Op,-22} {k.Count,5} nodes {k.Seconds * 1e3,9:F3} ms {Units.Flops(k.Flops / Math.Max(k.Seconds, 1e-9)),14}/s");
    }
}
