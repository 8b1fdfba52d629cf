using System.Text.Json;
using Alpa.Client;
using Alpa.Client.Contracts;
using Alpa.Client.Transport;
using Alpa.Planner;
using Alpa.Silo.Execution.Cluster;

namespace Alpa.Silo.Cli;

/// <summary>
/// <c>alpa train --connect ADDR:PORT [--secret-file F] --model M --steps N [--microbatches B] [--stages N | --plan FILE] [--check] [--json]</c>:
/// plans for the active silos of a running cluster (local cluster spec of silos × their device count; device d on
/// silo d / D in address order): the automatic plan, N stages on groups of whole silos (a stage mesh may span
/// silos), or a given plan; ships the job to their mesh worker grains and drives the steps from this process.
/// <c>--check</c> compares losses and final parameters with one device.
/// </summary>
internal static class ConnectTraining
{
    public static int Run(CommandArgs args, CliContext context)
    {
        var endpoint = args.Value("connect") ?? throw new UsageException("--connect needs ADDR:PORT");
        var model = args.Value("model") ?? throw new UsageException("--model is required (e.g. --model gpt-tiny)");
        var steps = args.PositiveInt("steps", 10);
        var microbatches = args.PositiveInt("microbatches", 2);
        var seed = args.Has("seed") ? args.PositiveInt("seed", 1) : 0;
        using var client = AlpaClient.ConnectAsync(endpoint, ClusterSecret.Resolve(args.Value("secret-file"))).GetAwaiter().GetResult();
        var silos = client.GetClusterAsync().GetAwaiter().GetResult().Silos.Where(s => s.Status == "active").Select(s => s.Address).Distinct().ToList();
        var infos = silos.Select(s => client.GetGrain<IMeshWorkerGrain>(s).GetInfoAsync().GetAwaiter().GetResult()).ToList();
        var devices = infos.Select(i => i.Devices.Count).Distinct().ToList();
        if (devices.Count != 1) throw new AlpaException($"the silos have different device counts ({string.Join(", ", infos.Select(i => $"{i.Silo}: {i.Devices.Count}"))}); 'train --connect' needs equal ones");
        silos.Sort(StringComparer.Ordinal);
        var job = ClusterJob.Create($"train-{Guid.NewGuid():N}"[..18], model, silos, devices[0], steps, microbatches, seed, Layout(args));
        var plan = job.ReadPlan();
        context.Err.WriteLine($"job {job.JobId}: {model} in {plan.Stages.Count} stage(s), {plan.Microbatches} microbatches, {devices[0]} device(s) per silo");
        for (var s = 0; s < plan.Stages.Count; s++)
            context.Err.WriteLine($"  stage {s}: mesh ({plan.Stages[s].LogicalMesh.N0}, {plan.Stages[s].LogicalMesh.N1}) on silo(s) {string.Join(" + ", job.SilosOfStage(s))}");
        var (losses, parameters) = Drive(client, job, context.Err, args.Has("check"));
        (double Loss, ParameterCheck Parameters)? check = null;
        if (parameters is not null)
        {
            context.Err.WriteLine("check: training the same model on one device …");
            var reference = job.Reference();
            check = (losses.Zip(reference.Losses, (a, b) => Math.Abs(a - b) / Math.Max(Math.Abs(b), 1e-30)).Max(), ClusterChecks.Compare(parameters, reference.Parameters));
        }
        Write(context, job, losses, check);
        return CliApp.Ok;
    }

    /// <summary><c>--plan FILE</c>, <c>--stages N</c>, or null for the automatic plan.</summary>
    private static ClusterLayout? Layout(CommandArgs args)
    {
        if (args.Value("plan") is { } file)
        {
            if (args.Has("stages")) throw new UsageException("give --plan or --stages, not both");
            if (!File.Exists(file)) throw new AlpaException($"--plan {file}: no such file") { Field = "plan" };
            return new ClusterLayout { Plan = Planner.Plans.PlanJson.Read(File.ReadAllText(file)) };
        }
        return args.Has("stages") ? new ClusterLayout { Stages = args.PositiveInt("stages", 1) } : null;
    }

    private static (List<double> Losses, IReadOnlyDictionary<string, Kernels.HostTensor>? Parameters) Drive(AlpaClient client, ClusterJob job, TextWriter err, bool readParameters)
    {
        var driver = new ClusterJobDriver(client, job);
        var losses = new List<double>();
        IReadOnlyDictionary<string, Kernels.HostTensor>? parameters = null;
        try
        {
            driver.LoadAsync().GetAwaiter().GetResult();
            for (var step = 0; step < job.Steps; step++)
            {
                losses.Add(driver.RunStepAsync(step).GetAwaiter().GetResult());
                err.WriteLine($"step {step + 1}/{job.Steps}: loss {losses[^1]:F6}");
            }
            if (readParameters) parameters = driver.ReadParametersAsync().GetAwaiter().GetResult();
        }
        finally
        {
            driver.ReleaseAsync().GetAwaiter().GetResult();
        }
        return (losses, parameters);
    }

    private static void Write(CliContext context, ClusterJob job, List<double> losses, (double Loss, ParameterCheck Parameters)? check)
    {
        if (!context.Json)
        {
            context.Out.WriteLine($"final loss {losses[^1]:F6} after {losses.Count} steps on {job.WorkerSilos.Count} silo(s)");
            if (check is { } c)
                context.Out.WriteLine($"check: max relative loss difference vs one device {c.Loss:E2}; parameters: worst ‖a−b‖/‖b‖ {c.Parameters.WorstRelative:E2} ({c.Parameters.WorstTensor}), max |a−b| {c.Parameters.MaxAbs:E2} over {c.Parameters.Tensors} tensors");
            return;
        }
        context.WriteJson(w =>
        {
            w.WriteStartObject();
            w.WriteString("job", job.JobId);
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
            if (check is { } c)
            {
                w.WriteNumber("max_loss_rel_diff", c.Loss);
                w.WriteNumber("max_param_rel_diff", c.Parameters.WorstRelative);
                w.WriteString("worst_param", c.Parameters.WorstTensor);
                w.WriteNumber("max_param_abs_diff", c.Parameters.MaxAbs);
            }
            w.WriteEndObject();
        });
    }
}
