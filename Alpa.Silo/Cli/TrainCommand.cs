using System.Text.Json;
using Alpa.Planner;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Silo.Execution.Pipeline;
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
    public string Summary => "trains a model on synthetic data: one CPU device, or local CPU devices under an automatic (pipeline and sharding) plan";
    public string Usage => "alpa train --model M [--cluster local:HxD [--method auto|intra-only|inter-only | --plan FILE] [--microbatches B] [--schedule 1f1b|gpipe] [--check] [--timeline FILE]] [--steps N] [--lr X] [--optimizer adam|sgd] [--seed N] [--checkpoint-dir D [--checkpoint-every N] [--keep K] [--checkpoint-blocking]] [--resume D] [--json]";
    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("model", "M", "built-in model name or JSON model file (required)"),
        new("cluster", "C", "local:1x1 (one CPU device, the default), local:HxD (H·D CPU devices of this process; H 'hosts' of D) or a cluster file from 'alpa profile --out'"),
        new("method", "NAME", "auto (default: stages, meshes and shardings planned together, run by mesh workers and a driver), inter-only, or intra-only (on local:1xD: one mesh, one whole-graph ILP)"),
        new("plan", "FILE", "train under a plan written by 'alpa plan --out' (refused when made for another model or cluster)"),
        new("microbatches", "B", "microbatches per step for the planner (default: its choice)"),
        new("schedule", "NAME", "pipeline schedule: 1f1b (default) or gpipe"),
        new("timeline", "FILE", "write the last step's per-instruction events as JSON to FILE and a Gantt chart to FILE with .svg"),
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
        new("connect", "ADDR:PORT", "train on a running cluster: planned by the PlannerGrain on the profiled silos (device d on silo d/D in address order; default one pipeline stage per silo, a stage mesh may span silos), driven by a DriverGrain (alpa train --connect ADDR:PORT [--secret-file F] [--tls-ca FILE] --model M --steps N [--microbatches B] [--stages N | --plan FILE] [--check] [--json])"),
        new("stages", "N", "with --connect: N pipeline stages on contiguous groups of whole silos, each a mesh (silos, devices per silo) (default: one per silo)"),
        new("secret-file", "F", "cluster secret for --connect"),
        new("recover", null, "with --connect and --checkpoint-dir: when a silo dies, re-plan on the silos alive, restore the last checkpoint and continue"),
        new("wait-for-replacement", "S", "with --recover: seconds to wait for a replacement silo before re-planning on fewer (default 5)"),
        new("tls-ca", "FILE", "CA certificate that signed the silos' TLS certificates, for --connect to a TLS cluster"),
    ];
    public (int Min, int Max) Positionals => (0, 0);

    public int Run(CommandArgs args, CliContext context)
    {
        if (args.Has("connect")) return ConnectTraining.Run(args, context);
        var modelName = args.Value("model") ?? throw new UsageException("--model is required (e.g. --model gpt-tiny)");
        var mode = Mode(args);
        var spec = ModelArgument.Load(modelName);
        if (args.Has("batch")) spec = spec with { Batch = args.PositiveInt("batch", spec.Batch) };
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

        var model = spec.Build();
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
        PipelineJob? job = null;
        if (mode == TrainMode.Pipeline) job = PipelineTraining.Prepare(args, context, spec, model, options, (ulong)seed);
        if (mode is TrainMode.Mesh(var devices, var measured))
        {
            var cluster = measured ?? LocalClusterProbe.Measure(1, devices);
            plan = IntraOpPass.RunAllShapes(training, cluster).Best;
            context.Err.WriteLine($"intra-op plan on mesh ({plan.Mesh.N0}, {plan.Mesh.N1}) of {devices} CPU devices: " +
                                  $"{plan.Stats.IlpVariables} ILP columns, predicted {plan.ObjectiveSeconds * 1e3:F2} ms per step");
            foreach (var (name, specDims) in plan.ParameterSpecs.Where(p => p.Key.EndsWith(".weight", StringComparison.Ordinal)).Take(6))
                context.Err.WriteLine($"  {name,-32} [{string.Join(", ", specDims)}]");
        }
        var where = job is not null ? $"{job.Plan.Stages.Sum(s => s.DeviceCount)} CPU devices in {job.Plan.Stages.Count} stage(s)" : plan is null ? "cpu:0" : $"{plan.Mesh.Devices} CPU devices";
        context.Err.WriteLine($"training {spec.Name} on {where} ({model.ParameterCount:N0} parameters, batch {samples}, {steps} steps, {optimizerName})");

        TrainingResult result;
        CheckResult? check = null;
        using var checkpoints = new TrainCheckpoints(args, steps, (ulong)seed, RunFacts(spec.Name, seed, steps, optimizerName, where), context.Err);
        IReadOnlyList<SaveReport> saved;
        using (var device = LocalStepRunner.CreateCpuDevice())
        using (IStepRunner runner = job is not null ? job.Runner : plan is null
                   ? new LocalStepRunner(model, training, device, (ulong)seed, args.Has("profile"))
                   : new SpmdStepRunner(model, training, plan, (ulong)seed))
        {
            trainer = trainer with { StartStep = checkpoints.Resume(runner, steps), AfterStep = checkpoints.Attach(runner, steps) };
            using (var bar = new ProgressBar(context.Err, tokens is null ? "samples/s" : "tok/s"))
                result = Trainer.Run(runner, data, trainer, bar);
            saved = checkpoints.Finish();
            if (args.Has("check"))
            {
                context.Err.WriteLine("check: training the same model on one device …");
                using var refDevice = LocalStepRunner.CreateCpuDevice();
                using IStepRunner reference = job is not null && PipelineChecks.NeedsMicrobatchedReference(model, job.Plan)
                    ? PipelineChecks.MicrobatchedReference(context.Err, spec, model, options, job, (ulong)seed)
                    : new LocalStepRunner(model, training, refDevice, (ulong)seed);
                var refResult = Trainer.Run(reference, data, trainer with { EvalEvery = 0, StartStep = 0, AfterStep = null });
                refResult = refResult with { Losses = [.. refResult.Losses.Skip(trainer.StartStep)] };
                check = Compare(model, result, refResult, runner, reference);
            }
            if (job?.Runner.LastStep is { } lastStep && args.Value("timeline") is { } timeline)
            {
                PipelineTimeline.Write(timeline, lastStep, job.Plan);
                context.Err.WriteLine($"timeline of the last step written to {timeline} and {Path.ChangeExtension(timeline, ".svg")}");
            }
            if (args.Has("profile") && runner is LocalStepRunner { LastStep: { } last }) WriteProfile(context.Err, last);
        }

        if (context.Json) context.WriteJson(w => WriteJson(w, result, tokens is not null, check, job, trainer.StartStep, saved));
        else WriteText(context.Out, result, tokens is not null, check);
        return CliApp.Ok;
    }

    /// <summary>How a run trains: one device, one mesh under a whole-graph ILP, or a pipeline plan.</summary>
    private abstract record TrainMode
    {
        public static readonly TrainMode Single = new SingleDevice(), Pipeline = new PipelinePlan();
        public sealed record SingleDevice : TrainMode;
        /// <summary>One mesh of <paramref name="Devices"/> devices; <paramref name="Cluster"/> is the spec read from <c>alpa profile --out</c>'s file, or null to measure now.</summary>
        public sealed record Mesh(int Devices, Planner.Cluster.ClusterSpec? Cluster = null) : TrainMode;
        public sealed record PipelinePlan : TrainMode;
    }

    private static TrainMode Mode(CommandArgs args)
    {
        var (cluster, method) = (args.Value("cluster"), args.Value("method"));
        if (method is not (null or "auto" or "intra-only" or "inter-only"))
            throw new UsageException($"--method must be auto, intra-only or inter-only, got '{method}'");
        if (args.Has("plan")) return TrainMode.Pipeline;
        if (cluster is not null && File.Exists(cluster))
        {
            var spec = ClusterArgument.Load(cluster, TextWriter.Null);
            return method == "intra-only" && spec.Hosts == 1 && spec.DevicesPerHost > 1 ? new TrainMode.Mesh(spec.DevicesPerHost, spec) : TrainMode.Pipeline;
        }
        if (cluster is null or "local") return TrainMode.Single;
        var name = Planner.Cluster.ClusterName.Parse(cluster);
        if (name.Name != Planner.Cluster.BuiltInClusters.Local)
            throw new AlpaException($"--cluster {cluster}: training runs on local CPU devices (local:HxD); other clusters are for 'alpa plan'") { Field = "cluster" };
        if (name.Hosts * name.DevicesPerHost == 1) return TrainMode.Single;
        return method == "intra-only" && name.Hosts == 1 ? new TrainMode.Mesh(name.DevicesPerHost) : TrainMode.Pipeline;
    }

    /// <summary>Losses step by step and every parameter at the end, as ‖a − b‖ / ‖b‖ per tensor.</summary>
    private static CheckResult Compare(Graph model, TrainingResult run, TrainingResult reference, IStepRunner runner, IStepRunner single)
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
    private static Dictionary<string, string> RunFacts(string model, int seed, int steps, string optimizer, string devices) => new(StringComparer.Ordinal)
    {
        ["model"] = model,
        ["seed"] = TrainingCheckpointer.Format(seed),
        ["optimizer"] = optimizer,
        ["steps"] = TrainingCheckpointer.Format(steps),
        ["devices"] = devices,
    };

    private static void WriteJson(Utf8JsonWriter w, TrainingResult r, bool tokens, CheckResult? check, PipelineJob? job, int startStep, IReadOnlyList<SaveReport> saved)
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
        if (job is not null) PipelineChecks.WriteJson(w, job);
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
