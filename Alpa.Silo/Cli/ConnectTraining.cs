using System.Text.Json;
using Alpa.Client;
using Alpa.Client.Contracts;
using Alpa.Client.Transport;
using Alpa.Planner;
using Alpa.Silo.Execution.Cluster;

namespace Alpa.Silo.Cli;

/// <summary>
/// <c>alpa train --connect ADDR:PORT [--secret-file F] [--tls-ca FILE] --model M --steps N [--microbatches B] [--stages N | --plan FILE] [--check] [--json]</c>:
/// asks the PlannerGrain for a plan for the active silos (device d on silo d / D in address order; on the cluster spec
/// the silos profile): one pipeline stage per silo, N stages on groups of whole silos (a stage mesh may span silos),
/// or a given plan; starts the job's DriverGrain (on the silo this client connected to) and prints the steps it
/// reports; the step loop runs in the cluster, not here. <c>--check</c> compares losses and final parameters with one device.
/// </summary>
internal static class ConnectTraining
{
    public static int Run(CommandArgs args, CliContext context)
    {
        var endpoint = args.Value("connect") ?? throw new UsageException("--connect needs ADDR:PORT");
        if (args.Has("checkpoint-dir") || args.Has("resume"))
        {
            if (args.Has("plan"))
                throw new UsageException("--plan does not go with --checkpoint-dir/--resume: a recovering job plans again on the silos alive (use --stages N)");
            return ConnectRecovery.Run(endpoint, args, context);
        }
        if (args.Has("recover")) throw new UsageException("--recover needs --checkpoint-dir D (recovery restores the job's last checkpoint)");
        var model = args.Value("model") ?? throw new UsageException("--model is required (e.g. --model gpt-tiny)");
        var steps = args.PositiveInt("steps", 10);
        var microbatches = args.PositiveInt("microbatches", 2);
        var seed = args.Has("seed") ? args.PositiveInt("seed", 1) : 0;
        var (stages, planFile) = Layout(args);
        using var client = AlpaClient.ConnectAsync(endpoint, Transport(args)).GetAwaiter().GetResult();
        var silos = client.GetClusterAsync().GetAwaiter().GetResult().Silos.Where(s => s.Status == "active").Select(s => s.Address).Distinct().ToList();
        if (silos.Count == 0) throw new AlpaException($"the cluster at {endpoint} lists no active silo");
        silos.Sort(StringComparer.Ordinal);
        context.Err.WriteLine(planFile is null ? $"planning {model} for {silos.Count} silo(s) (the silos profile their devices and links) …" : $"checking the plan for {silos.Count} silo(s) …");
        var plan = client.GetGrain<IPlannerGrain>("default").PlanAsync(new PlanRequest(model, silos, microbatches, Stages: stages, PlanJson: planFile)).GetAwaiter().GetResult();
        foreach (var line in plan.Profile) context.Err.WriteLine($"  {line}");
        var job = ClusterJob.FromPlan($"train-{Guid.NewGuid():N}"[..18], model, plan.PlanJson, plan.Silos, plan.DevicesPerSilo, steps, seed,
            planFile is null ? plan.ClusterJson : null);
        var stagesOfPlan = job.ReadPlan().Stages;
        context.Err.WriteLine($"job {job.JobId}: {model} in {stagesOfPlan.Count} stage(s), {job.ReadPlan().Microbatches} microbatches, {plan.DevicesPerSilo} device(s) per silo; " +
                              $"predicted step {plan.PredictedStepSeconds * 1e3:F1} ms{(plan.FromCache ? " (cached plan)" : "")}");
        for (var s = 0; s < stagesOfPlan.Count; s++)
            context.Err.WriteLine($"  stage {s}: mesh ({stagesOfPlan[s].LogicalMesh.N0}, {stagesOfPlan[s].LogicalMesh.N1}) on silo(s) {string.Join(" + ", job.SilosOfStage(s))}");
        var result = Drive(client, job, context.Err, args.Has("check"));
        var losses = result.Steps.Select(s => s.Loss).ToList();
        var check = result.Parameters is { } parameters ? ConnectCheck.Run(job, losses, parameters, context.Err) : null;
        Write(context, job, result, plan.PredictedStepSeconds, check);
        return CliApp.Ok;
    }

    /// <summary>How a <c>--connect</c> client talks to the cluster: <c>--secret-file</c>, <c>--tls-ca</c> (TLS when given) and patient timeouts.</summary>
    internal static TransportOptions Transport(CommandArgs args) => new()
    {
        Secret = ClusterSecret.Resolve(args.Value("secret-file")), UseTls = args.Has("tls-ca"), TrustedCertificatePath = args.Value("tls-ca"),
        // As `alpa cluster`: a TLS handshake with a busy silo can take seconds; planning (with profiling) may take longer than a small call.
        ConnectTimeout = TimeSpan.FromSeconds(15), DefaultTimeout = TimeSpan.FromMinutes(3),
    };

    /// <summary><c>--stages N</c> and <c>--plan FILE</c> (its text, read and parsed here so a bad file fails before the cluster is asked); both null: one stage per silo.</summary>
    private static (int? Stages, string? PlanJson) Layout(CommandArgs args)
    {
        if (args.Value("plan") is { } file)
        {
            if (args.Has("stages")) throw new UsageException("give --plan or --stages, not both");
            if (!File.Exists(file)) throw new AlpaException($"--plan {file}: no such file") { Field = "plan" };
            var text = File.ReadAllText(file);
            Planner.Plans.PlanJson.Read(text);
            return (null, text);
        }
        return (args.Has("stages") ? args.PositiveInt("stages", 1) : null, null);
    }

    /// <summary>Starts the job's DriverGrain and prints its steps as they finish.</summary>
    private static DriverRunResult Drive(AlpaClient client, ClusterJob job, TextWriter err, bool readParameters)
    {
        using var interrupt = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            err.WriteLine("cancelling after the current step …");
            interrupt.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var result = DriverClient.RunAsync(client, job, step => err.WriteLine(
                    $"step {step.Step}/{job.Steps}: loss {step.Loss:F6}, {step.Seconds * 1e3:F0} ms, {step.ItemsPerSecond:N0} items/s"),
                interrupt.Token, readParameters).GetAwaiter().GetResult();
            if (result.Status.State == "cancelled") throw new AlpaException($"job {job.JobId} was cancelled after step {result.Status.Step}");
            return result;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>Mean seconds of the steps after the first (the first includes warm-up), or of the only step.</summary>
    private static double MeanStepSeconds(IReadOnlyList<DriverStep> steps) => steps.Skip(steps.Count > 1 ? 1 : 0).Average(s => s.Seconds);

    private static void Write(CliContext context, ClusterJob job, DriverRunResult result, double predicted, ConnectCheck? check)
    {
        var losses = result.Steps.Select(s => s.Loss).ToList();
        var measured = MeanStepSeconds(result.Steps);
        var items = result.Steps.Skip(result.Steps.Count > 1 ? 1 : 0).Average(s => s.ItemsPerSecond);
        if (!context.Json)
        {
            context.Out.WriteLine($"final loss {losses[^1]:F6} after {losses.Count} steps on {job.WorkerSilos.Count} silo(s)");
            context.Out.WriteLine($"step time {measured * 1e3:F1} ms measured (mean after the first) vs {predicted * 1e3:F1} ms predicted; {items:N0} items/s");
            check?.WriteText(context.Out);
            return;
        }
        context.WriteJson(w =>
        {
            w.WriteStartObject();
            w.WriteString("job", job.JobId);
            w.WriteString("driver_silo", result.Status.DriverSilo);
            w.WriteStartArray("losses");
            foreach (var l in losses) w.WriteNumberValue(Math.Round(l, 6));
            w.WriteEndArray();
            w.WriteStartArray("silos_of_stage");
            for (var s = 0; s < job.ReadPlan().Stages.Count; s++)
            {
                w.WriteStartArray();
                foreach (var silo in job.SilosOfStage(s)) w.WriteStringValue(silo);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteNumber("step_seconds", measured);
            w.WriteNumber("predicted_step_seconds", predicted);
            w.WriteNumber("items_per_second", Math.Round(items, 1));
            check?.WriteJson(w);
            w.WriteEndObject();
        });
    }
}
