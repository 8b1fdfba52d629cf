using System.Globalization;
using System.Text.Json;
using Alpa.Client;
using Alpa.Client.Jobs;
using Alpa.Client.Transport;
using Alpa.Planner;

namespace Alpa.Silo.Cli;

/// <summary>What every job command shares: <c>--connect</c>, <c>--secret-file</c>, and how a job prints.</summary>
internal static class JobCli
{
    public static readonly CliOption Connect = new("connect", "ADDR:PORT", "any silo of the cluster (required)");
    public static readonly CliOption SecretFile = new("secret-file", "FILE", "file with the cluster secret (else ALPA_SECRET_FILE / ALPA_SECRET)");

    private static readonly JsonSerializerOptions Indented = new(AlpaJson.Options) { WriteIndented = true };

    public static AlpaClient ConnectFrom(CommandArgs args)
    {
        var endpoint = args.Value("connect") ?? throw new UsageException("--connect ADDR:PORT is required (any silo of the cluster)");
        return AlpaClient.ConnectAsync(endpoint, ClusterSecret.Resolve(args.Value("secret-file"))).GetAwaiter().GetResult();
    }

    public static void WriteJson<T>(CliContext context, T value) => context.Out.WriteLine(JsonSerializer.Serialize(value, Indented));

    public static void WriteText(TextWriter o, JobInfo job)
    {
        o.WriteLine($"job         {job.Id} ({job.Name})");
        o.WriteLine($"state       {job.State}{(job.Error is null ? "" : $": {job.Error}")}");
        o.WriteLine($"silo        {job.Silo} devices {string.Join(",", job.Devices)}");
        o.WriteLine($"progress    step {job.Step}/{job.Spec.Steps}{(job.LastLoss is { } l ? $", loss {l:F4}" : "")}" +
                    $"{(job.ItemsPerSecond is { } t ? $", {t:N0} {job.ItemUnit}/s" : "")}");
        o.WriteLine($"submitted   {job.SubmittedAt:u}{(job.FinishedAt is { } f ? $", finished {f:u}" : "")}");
    }

    public static string Row(JobInfo j) =>
        $"{j.Id,-14} {j.State,-10} {j.Step,6}/{j.Spec.Steps,-6} {(j.LastLoss is { } l ? l.ToString("F4", CultureInfo.InvariantCulture) : "-"),8}  {j.Silo,-21} {j.Name}";

    /// <summary>One event as a line: the plan's stages, a step's loss and throughput, or the kind and its message.</summary>
    public static string Line(JobEvent e) => e.Kind switch
    {
        JobEventKinds.Planned => $"planned: {e.Plan!.Method}, {e.Plan.Stages.Count} stage(s) on {string.Join(",", e.Plan.Stages.SelectMany(s => s.Devices))}",
        JobEventKinds.Step => $"step {e.Step}: loss {e.Loss:F4}, {e.ItemsPerSecond:N0}/s",
        _ => $"{e.Kind}{(e.Message is null ? "" : $": {e.Message}")}",
    };

    public static string JobId(CommandArgs args) =>
        args.Positionals.Count == 1 ? args.Positionals[0] : throw new UsageException("give one job id, e.g. alpa status job-3f9a1c2e --connect 127.0.0.1:7000");
}

/// <summary><c>alpa submit --connect ADDR:PORT --model M [--steps N] … [--wait] [--json]</c>.</summary>
internal sealed class SubmitCommand : ICommand
{
    public string Name => "submit";
    public string Summary => "submits a training job to a running cluster; --wait follows it to the end";
    public string Usage => "alpa submit --connect ADDR:PORT (--model M | --spec FILE) [--silos N|all] [--devices N] [--steps N] [--optimizer adam|sgd] [--lr X] [--seed N] [--checkpoint-dir D [--checkpoint-every N] [--keep K] [--checkpoint-blocking] [--recover|--no-recover] [--wait-for-replacement S] [--max-recoveries N]] [--wait] [--json]";
    public IReadOnlyList<CliOption> Options { get; } =
    [
        JobCli.Connect, JobCli.SecretFile,
        new("model", "M", "built-in model name or JSON model/graph file"),
        new("spec", "FILE", "a whole job spec as JSON (the SDK's JobSpec); the other options override its fields"),
        new("name", "TEXT", "label shown in listings"),
        new("silos", "N|all", "silos the job spans (default 1; more, or all, runs one pipeline stage per silo)"),
        new("devices", "N", "devices per silo (default 1)"),
        new("steps", "N", "optimizer steps (default 20)"),
        new("microbatches", "N", "microbatches per step (default 1)"),
        new("optimizer", "NAME", "adam (default) or sgd"),
        new("lr", "X", "peak learning rate"),
        new("batch", "N", "global batch (default: the model's)"),
        new("seed", "N", "seed of initialization and data (default 0)"),
        new("data", "NAME", "data source (synthetic)"),
        new("checkpoint-dir", "D", "checkpoint the job into D, an absolute path every silo of the job reaches (jobs across silos); with recovery on, the job survives a silo's death"),
        new("checkpoint-every", "N", "with --checkpoint-dir: checkpoint every N steps (default 10)"),
        new("keep", "K", "with --checkpoint-dir: committed checkpoints kept (default 3)"),
        new("checkpoint-blocking", null, "with --checkpoint-dir: commit each checkpoint before the next step (a death loses at most --checkpoint-every steps; in the background, the default, up to twice that)"),
        new("recover", null, "with --checkpoint-dir: on a silo's death re-plan on the silos alive, restore the last checkpoint and continue (the default)"),
        new("no-recover", null, "with --checkpoint-dir: a silo's death fails the job"),
        new("wait-for-replacement", "S", "with --checkpoint-dir: seconds to wait for a replacement silo before re-planning on fewer (default 5)"),
        new("max-recoveries", "N", "with --checkpoint-dir: recoveries tolerated before the job fails (default 10)"),
        new("wait", null, "print progress and wait until the job ends; exit 1 if it fails"),
    ];
    public (int Min, int Max) Positionals => (0, 0);

    public int Run(CommandArgs args, CliContext context)
    {
        var spec = Spec(args);
        using var client = JobCli.ConnectFrom(args);
        var id = client.SubmitAsync(spec).GetAwaiter().GetResult();
        context.Err.WriteLine($"submitted {id} to {client.Gateway.Address}");
        if (args.Has("wait"))
        {
            WatchAsync(client, id, context.Err).GetAwaiter().GetResult();
        }
        var job = client.GetJobAsync(id).GetAwaiter().GetResult();
        if (context.Json) JobCli.WriteJson(context, job);
        else JobCli.WriteText(context.Out, job);
        return !args.Has("wait") || job.State == JobStates.Done ? CliApp.Ok
            : throw new AlpaException($"job {id} {job.State}: {job.Error}");
    }

    private static async Task WatchAsync(AlpaClient client, string id, TextWriter err)
    {
        await foreach (var e in client.WatchAsync(id).ConfigureAwait(false))
        {
            err.WriteLine(JobCli.Line(e));
        }
    }

    private static JobSpec Spec(CommandArgs args)
    {
        var spec = args.Value("spec") is { } file ? ReadSpec(file) : new JobSpec();
        if (args.Value("model") is { } model)
        {
            spec = File.Exists(model) || model.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
                ? spec with { Model = null, ModelJson = File.Exists(model) ? File.ReadAllText(model) : throw new AlpaException($"model file '{model}' does not exist") { Field = "model" } }
                : spec with { Model = model, ModelJson = null };
        }
        if (spec.Model is null && spec.ModelJson is null)
        {
            throw new UsageException("give --model M (a built-in name or a JSON file) or --spec FILE");
        }
        return spec with
        {
            Name = args.Value("name") ?? spec.Name,
            Cluster = new ClusterRequest(args.Value("silos") == "all" ? ClusterRequest.AllSilos : args.PositiveInt("silos", spec.Cluster.Silos),
                args.PositiveInt("devices", spec.Cluster.Devices)),
            Steps = args.PositiveInt("steps", spec.Steps),
            Microbatches = args.PositiveInt("microbatches", spec.Microbatches),
            Optimizer = args.Value("optimizer") ?? spec.Optimizer,
            LearningRate = args.Has("lr") ? args.Number("lr", 0, positive: true, example: "0.003") : spec.LearningRate,
            Batch = args.Has("batch") ? args.PositiveInt("batch", 1) : spec.Batch,
            Seed = args.Has("seed") ? args.PositiveInt("seed", 1) : spec.Seed,
            Data = args.Value("data") ?? spec.Data,
            Checkpoints = Checkpoints(args, spec.Checkpoints),
        };
    }

    /// <summary>The spec's checkpoint settings with the flags applied; null without <c>--checkpoint-dir</c> (or checkpoints in <c>--spec</c>).</summary>
    private static JobCheckpoints? Checkpoints(CommandArgs args, JobCheckpoints? given)
    {
        string[] flags = ["checkpoint-every", "checkpoint-blocking", "keep", "recover", "no-recover", "wait-for-replacement", "max-recoveries"];
        if (given is null && !args.Has("checkpoint-dir"))
        {
            return flags.FirstOrDefault(args.Has) is { } stray ? throw new UsageException($"--{stray} needs --checkpoint-dir D (the job's checkpoints)") : null;
        }
        if (args.Has("recover") && args.Has("no-recover")) throw new UsageException("give --recover or --no-recover, not both");
        var c = given ?? new JobCheckpoints();
        return c with
        {
            Directory = args.Value("checkpoint-dir") ?? c.Directory,
            Every = args.PositiveInt("checkpoint-every", c.Every),
            Keep = args.PositiveInt("keep", c.Keep),
            Blocking = args.Has("checkpoint-blocking") || c.Blocking,
            Recover = !args.Has("no-recover") && (args.Has("recover") || c.Recover),
            WaitForReplacementSeconds = args.Number("wait-for-replacement", c.WaitForReplacementSeconds, example: " of seconds, e.g. 10"),
            MaxRecoveries = args.Has("max-recoveries") ? args.PositiveInt("max-recoveries", c.MaxRecoveries) : c.MaxRecoveries,
        };
    }

    private static JobSpec ReadSpec(string file)
    {
        if (!File.Exists(file)) throw new AlpaException($"job spec file '{file}' does not exist") { Field = "spec" };
        try
        {
            return JsonSerializer.Deserialize<JobSpec>(File.ReadAllText(file), AlpaJson.Options)
                   ?? throw new AlpaException($"{file}: the job spec is null; write a JSON object such as {{\"model\":\"mlp\",\"steps\":20}}");
        }
        catch (JsonException e)
        {
            throw new AlpaException($"{file}: malformed job spec at line {e.LineNumber + 1}: {e.Message.Split(". ")[0]}") { Field = "spec" };
        }
    }
}

/// <summary><c>alpa status JOB --connect ADDR:PORT [--json]</c>.</summary>
internal sealed class StatusCommand : ICommand
{
    public string Name => "status";
    public string Summary => "shows one job of a running cluster: state, step, loss, throughput";
    public string Usage => "alpa status JOB --connect ADDR:PORT [--secret-file F] [--json]";
    public IReadOnlyList<CliOption> Options { get; } = [JobCli.Connect, JobCli.SecretFile];
    public (int Min, int Max) Positionals => (1, 1);

    public int Run(CommandArgs args, CliContext context)
    {
        using var client = JobCli.ConnectFrom(args);
        var job = client.GetJobAsync(JobCli.JobId(args)).GetAwaiter().GetResult();
        if (context.Json)
        {
            JobCli.WriteJson(context, job);
            return CliApp.Ok;
        }
        JobCli.WriteText(context.Out, job);
        // What a job with checkpoints went through (a silo's death, the restore, the resume); `alpa events` lists everything.
        var notes = client.GetMetricsAsync(job.Id).GetAwaiter().GetResult().Notes;
        foreach (var n in notes.Where(n => n.Kind != JobEventKinds.Checkpoint)) context.Out.WriteLine($"recovery    {n.Kind}: {n.Message}");
        if (notes.LastOrDefault(n => n.Kind == JobEventKinds.Checkpoint) is { } last) context.Out.WriteLine($"checkpoint  {last.Message}");
        return CliApp.Ok;
    }
}

/// <summary><c>alpa events JOB --connect ADDR:PORT [--json]</c>: what the job did so far, one event a line.</summary>
internal sealed class EventsCommand : ICommand
{
    public string Name => "events";
    public string Summary => "lists a job's events: planned, steps, checkpoints, a silo's death, waiting, restored, resumed, the end";
    public string Usage => "alpa events JOB --connect ADDR:PORT [--secret-file F] [--json]";
    public IReadOnlyList<CliOption> Options { get; } = [JobCli.Connect, JobCli.SecretFile];
    public (int Min, int Max) Positionals => (1, 1);

    public int Run(CommandArgs args, CliContext context)
    {
        using var client = JobCli.ConnectFrom(args);
        var events = client.GetEventsAsync(JobCli.JobId(args)).GetAwaiter().GetResult();
        if (context.Json)
        {
            JobCli.WriteJson(context, events);
            return CliApp.Ok;
        }
        foreach (var e in events) context.Out.WriteLine($"{e.Sequence,5}  {JobCli.Line(e)}");
        return CliApp.Ok;
    }
}

/// <summary><c>alpa jobs --connect ADDR:PORT [--json]</c>.</summary>
internal sealed class JobsCommand : ICommand
{
    public string Name => "jobs";
    public string Summary => "lists the jobs of a running cluster, newest first";
    public string Usage => "alpa jobs --connect ADDR:PORT [--secret-file F] [--json]";
    public IReadOnlyList<CliOption> Options { get; } = [JobCli.Connect, JobCli.SecretFile];
    public (int Min, int Max) Positionals => (0, 0);

    public int Run(CommandArgs args, CliContext context)
    {
        using var client = JobCli.ConnectFrom(args);
        var jobs = client.ListJobsAsync().GetAwaiter().GetResult();
        if (context.Json)
        {
            JobCli.WriteJson(context, new JobList(jobs));
            return CliApp.Ok;
        }
        context.Out.WriteLine($"{"JOB",-14} {"STATE",-10} {"STEP",13} {"LOSS",8}  {"SILO",-21} NAME");
        foreach (var j in jobs) context.Out.WriteLine(JobCli.Row(j));
        return CliApp.Ok;
    }
}

/// <summary><c>alpa cancel JOB --connect ADDR:PORT [--json]</c>.</summary>
internal sealed class CancelCommand : ICommand
{
    public string Name => "cancel";
    public string Summary => "cancels a queued or running job (it stops after its current step)";
    public string Usage => "alpa cancel JOB --connect ADDR:PORT [--secret-file F] [--json]";
    public IReadOnlyList<CliOption> Options { get; } = [JobCli.Connect, JobCli.SecretFile];
    public (int Min, int Max) Positionals => (1, 1);

    public int Run(CommandArgs args, CliContext context)
    {
        using var client = JobCli.ConnectFrom(args);
        var job = client.CancelAsync(JobCli.JobId(args)).GetAwaiter().GetResult();
        if (context.Json) JobCli.WriteJson(context, job);
        else JobCli.WriteText(context.Out, job);
        return CliApp.Ok;
    }
}
