using System.Text.Json;
using Alpa.Client;
using Alpa.Client.Contracts;
using Alpa.Client.Transport;
using Alpa.Planner;
using Alpa.Silo.Execution.Cluster;

namespace Alpa.Silo.Cli;

/// <summary>
/// <c>alpa train --connect ADDR:PORT [--secret-file F] --model M --steps N [--microbatches B] [--check] [--json]</c>:
/// plans one pipeline stage per active silo of a running cluster (local cluster spec from the silos'
/// device counts), ships the job to their mesh worker grains and drives the steps from this process.
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
        using var client = AlpaClient.ConnectAsync(endpoint, ClusterSecret.Resolve(args.Value("secret-file"))).GetAwaiter().GetResult();
        var silos = client.GetClusterAsync().GetAwaiter().GetResult().Silos.Where(s => s.Status == "active").Select(s => s.Address).Distinct().ToList();
        var infos = silos.Select(s => client.GetGrain<IMeshWorkerGrain>(s).GetInfoAsync().GetAwaiter().GetResult()).ToList();
        var devices = infos.Select(i => i.Devices.Count).Distinct().ToList();
        if (devices.Count != 1) throw new AlpaException($"the silos have different device counts ({string.Join(", ", infos.Select(i => $"{i.Silo}: {i.Devices.Count}"))}); 'train --connect' needs equal ones");
        var job = ClusterJob.Create($"train-{Guid.NewGuid():N}"[..18], model, silos, devices[0], steps, microbatches, seed);
        context.Err.WriteLine($"job {job.JobId}: {model} in {silos.Count} stage(s), {microbatches} microbatches, {devices[0]} device(s) per silo");
        for (var s = 0; s < silos.Count; s++) context.Err.WriteLine($"  stage {s} on silo {job.SiloOfStage[s]}");
        var losses = Drive(client, job, context.Err);
        double? check = null;
        if (args.Has("check"))
        {
            context.Err.WriteLine("check: training the same model on one device …");
            var reference = job.ReferenceLosses();
            check = losses.Zip(reference, (a, b) => Math.Abs(a - b) / Math.Max(Math.Abs(b), 1e-30)).Max();
        }
        Write(context, job, losses, check);
        return CliApp.Ok;
    }

    private static List<double> Drive(AlpaClient client, ClusterJob job, TextWriter err)
    {
        var driver = new ClusterJobDriver(client, job);
        var losses = new List<double>();
        try
        {
            driver.LoadAsync().GetAwaiter().GetResult();
            for (var step = 0; step < job.Steps; step++)
            {
                losses.Add(driver.RunStepAsync(step).GetAwaiter().GetResult());
                err.WriteLine($"step {step + 1}/{job.Steps}: loss {losses[^1]:F6}");
            }
        }
        finally
        {
            driver.ReleaseAsync().GetAwaiter().GetResult();
        }
        return losses;
    }

    private static void Write(CliContext context, ClusterJob job, List<double> losses, double? check)
    {
        if (!context.Json)
        {
            context.Out.WriteLine($"final loss {losses[^1]:F6} after {losses.Count} steps on {job.SiloOfStage.Count} silo(s)");
            if (check is { } c) context.Out.WriteLine($"check: max relative loss difference vs one device {c:E2}");
            return;
        }
        context.WriteJson(w =>
        {
            w.WriteStartObject();
            w.WriteString("job", job.JobId);
            w.WriteStartArray("losses");
            foreach (var l in losses) w.WriteNumberValue(Math.Round(l, 6));
            w.WriteEndArray();
            w.WriteStartArray("silo_of_stage");
            foreach (var s in job.SiloOfStage) w.WriteStringValue(s);
            w.WriteEndArray();
            if (check is { } c) w.WriteNumber("max_loss_rel_diff", c);
            w.WriteEndObject();
        });
    }
}
