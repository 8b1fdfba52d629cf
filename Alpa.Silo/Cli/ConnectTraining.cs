using System.Text.Json;
using Alpa.Client;
using Alpa.Client.Contracts;
using Alpa.Client.Transport;
using Alpa.Planner;
using Alpa.Silo.Execution.Cluster;

namespace Alpa.Silo.Cli;

/// <summary>
/// <c>alpa train --connect ADDR:PORT [--secret-file F] [--tls-ca FILE] --model M --steps N [--microbatches B] [--check] [--json]</c>:
/// asks the PlannerGrain for a plan with one pipeline stage per active silo (on the cluster spec the
/// silos profile), starts the job's DriverGrain (on the silo this client connected to) and prints the
/// steps it reports; the step loop runs in the cluster, not here.
/// </summary>
internal static class ConnectTraining
{
    public static int Run(CommandArgs args, CliContext context)
    {
        var endpoint = args.Value("connect") ?? throw new UsageException("--connect needs ADDR:PORT");
        if (args.Has("checkpoint-dir") || args.Has("resume")) return ConnectRecovery.Run(endpoint, args, context);
        if (args.Has("recover")) throw new UsageException("--recover needs --checkpoint-dir D (recovery restores the job's last checkpoint)");
        var model = args.Value("model") ?? throw new UsageException("--model is required (e.g. --model gpt-tiny)");
        var steps = args.PositiveInt("steps", 10);
        var microbatches = args.PositiveInt("microbatches", 2);
        var seed = args.Has("seed") ? args.PositiveInt("seed", 1) : 0;
        var transport = new TransportOptions
        {
            Secret = ClusterSecret.Resolve(args.Value("secret-file")), UseTls = args.Has("tls-ca"), TrustedCertificatePath = args.Value("tls-ca"),
            // As `alpa cluster`: a TLS handshake with a busy silo can take seconds; planning (with profiling) may take longer than a small call.
            ConnectTimeout = TimeSpan.FromSeconds(15), DefaultTimeout = TimeSpan.FromMinutes(3),
        };
        using var client = AlpaClient.ConnectAsync(endpoint, transport).GetAwaiter().GetResult();
        var silos = client.GetClusterAsync().GetAwaiter().GetResult().Silos.Where(s => s.Status == "active").Select(s => s.Address).Distinct().ToList();
        if (silos.Count == 0) throw new AlpaException($"the cluster at {endpoint} lists no active silo");
        context.Err.WriteLine($"planning {model} for {silos.Count} silo(s) (the silos profile their devices and links) …");
        var plan = client.GetGrain<IPlannerGrain>("default").PlanAsync(new PlanRequest(model, silos, microbatches)).GetAwaiter().GetResult();
        foreach (var line in plan.Profile) context.Err.WriteLine($"  {line}");
        var job = ClusterJob.FromPlan($"train-{Guid.NewGuid():N}"[..18], model, plan.PlanJson, plan.SiloOfStage, plan.DevicesPerSilo, steps, seed, plan.ClusterJson);
        context.Err.WriteLine($"job {job.JobId}: {model} in {silos.Count} stage(s), {microbatches} microbatches, {plan.DevicesPerSilo} device(s) per silo; " +
                              $"predicted step {plan.PredictedStepSeconds * 1e3:F1} ms{(plan.FromCache ? " (cached plan)" : "")}");
        for (var s = 0; s < silos.Count; s++) context.Err.WriteLine($"  stage {s} on silo {job.SiloOfStage[s]}");
        var result = Drive(client, job, context.Err);
        var losses = result.Steps.Select(s => s.Loss).ToList();
        double? check = null;
        if (args.Has("check"))
        {
            context.Err.WriteLine("check: training the same model on one device …");
            var reference = job.ReferenceLosses();
            check = losses.Zip(reference, (a, b) => Math.Abs(a - b) / Math.Max(Math.Abs(b), 1e-30)).Max();
        }
        Write(context, job, result, plan.PredictedStepSeconds, check);
        return CliApp.Ok;
    }

    /// <summary>Starts the job's DriverGrain and prints its steps as they finish.</summary>
    private static DriverRunResult Drive(AlpaClient client, ClusterJob job, TextWriter err)
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
                interrupt.Token).GetAwaiter().GetResult();
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

    private static void Write(CliContext context, ClusterJob job, DriverRunResult result, double predicted, double? check)
    {
        var losses = result.Steps.Select(s => s.Loss).ToList();
        var measured = MeanStepSeconds(result.Steps);
        var items = result.Steps.Skip(result.Steps.Count > 1 ? 1 : 0).Average(s => s.ItemsPerSecond);
        if (!context.Json)
        {
            context.Out.WriteLine($"final loss {losses[^1]:F6} after {losses.Count} steps on {job.SiloOfStage.Count} silo(s)");
            context.Out.WriteLine($"step time {measured * 1e3:F1} ms measured (mean after the first) vs {predicted * 1e3:F1} ms predicted; {items:N0} items/s");
            if (check is { } c) context.Out.WriteLine($"check: max relative loss difference vs one device {c:E2}");
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
            w.WriteStartArray("silo_of_stage");
            foreach (var s in job.SiloOfStage) w.WriteStringValue(s);
            w.WriteEndArray();
            w.WriteNumber("step_seconds", measured);
            w.WriteNumber("predicted_step_seconds", predicted);
            w.WriteNumber("items_per_second", Math.Round(items, 1));
            if (check is { } c) w.WriteNumber("max_loss_rel_diff", c);
            w.WriteEndObject();
        });
    }
}
