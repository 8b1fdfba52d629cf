using System.Globalization;
using Alpa.Client;
using Alpa.Client.Transport;
using Alpa.Silo.Execution.Cluster;

namespace Alpa.Silo.Cli;

/// <summary>
/// <c>alpa train --connect ADDR:PORT [--secret-file F] [--tls-ca FILE] --model M --checkpoint-dir D [--checkpoint-every N] [--keep K] [--checkpoint-blocking] [--resume D]
/// [--recover [--wait-for-replacement S]] [--check]</c>: a job across silos that checkpoints into D (a path every silo
/// reaches) and, with <c>--recover</c>, survives the death of a silo (<see cref="RecoveringTrainingLoop"/>, run in this client).
/// Prints what happened (died, waiting, planned, restored, resumed) on stderr. <c>--check</c> compares the losses and the
/// final parameters with one device, as the plain <c>--connect</c> path does.
/// </summary>
internal static class ConnectRecovery
{
    public static int Run(string endpoint, CommandArgs args, CliContext context)
    {
        var model = args.Value("model") ?? throw new UsageException("--model is required (e.g. --model gpt-tiny)");
        var resume = args.Value("resume");
        var directory = args.Value("checkpoint-dir") ?? resume!;
        if (resume is not null && args.Has("checkpoint-dir") && Path.GetFullPath(resume) != Path.GetFullPath(directory))
            throw new UsageException("with --connect, --resume D and --checkpoint-dir D must name the same directory");
        var steps = args.PositiveInt("steps", 10);
        var options = new RecoveringTrainingOptions
        {
            JobId = $"train-{Guid.NewGuid():N}"[..18], Model = model, Steps = steps,
            Microbatches = args.PositiveInt("microbatches", 2), Seed = args.Has("seed") ? args.PositiveInt("seed", 1) : 0,
            Checkpoints = new ClusterCheckpointOptions
            {
                Directory = Path.GetFullPath(directory), Every = args.PositiveInt("checkpoint-every", Math.Max(1, steps / 4)), Keep = args.PositiveInt("keep", 3),
                Background = !args.Has("checkpoint-blocking"),
            },
            Recover = args.Has("recover"), Resume = resume is not null, Stages = args.Has("stages") ? args.PositiveInt("stages", 1) : null,
            WaitForReplacement = TimeSpan.FromSeconds(args.Number("wait-for-replacement", 5, example: " of seconds, e.g. 10")),
            ReadParameters = args.Has("check"),
        };
        using var client = AlpaClient.ConnectAsync(endpoint, ConnectTraining.Transport(args)).GetAwaiter().GetResult();
        var loop = new RecoveringTrainingLoop(client, ct => RecoveringTrainingLoop.ActiveSilosAsync(client, ct), options, e => Print(context.Err, e));
        var result = loop.RunAsync().GetAwaiter().GetResult();
        var check = result.Parameters is { } blocks
            ? ConnectCheck.Run(result.FinalJob, result.Losses, ClusterChecks.Assemble(blocks), context.Err, result.StartStep)
            : null;
        Write(context, options, result, check);
        return CliApp.Ok;
    }

    private static void Print(TextWriter err, TrainingEvent e)
    {
        if (e.Kind is "step" or "planned" or "restored" or "checkpoint") err.WriteLine(e.Message);
        else err.WriteLine($"{e.Kind}: {e.Message}");
    }

    private static void Write(CliContext context, RecoveringTrainingOptions options, RecoveringTrainingResult result, ConnectCheck? check)
    {
        var job = result.FinalJob;
        if (!context.Json)
        {
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"final loss {result.Losses[^1]:F6} after {options.Steps} steps on {job.WorkerSilos.Count} silo(s); {result.Recoveries.Count} recovery(ies), " +
                $"{result.Recoveries.Sum(r => r.LostSteps)} step(s) redone; last checkpoint {result.Checkpoints.LastOrDefault()?.Path ?? "none"}"));
            check?.WriteText(context.Out);
            return;
        }
        context.WriteJson(w =>
        {
            w.WriteStartObject();
            w.WriteString("job", options.JobId);
            w.WriteNumber("start_step", result.StartStep);
            w.WriteStartArray("losses");
            foreach (var l in result.Losses.Skip((int)result.StartStep)) w.WriteNumberValue(Math.Round(l, 6));
            w.WriteEndArray();
            w.WriteStartArray("silos_of_stage");
            for (var s = 0; s < job.ReadPlan().Stages.Count; s++)
            {
                w.WriteStartArray();
                foreach (var silo in job.SilosOfStage(s)) w.WriteStringValue(silo);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteStartArray("recoveries");
            foreach (var r in result.Recoveries)
            {
                w.WriteStartObject();
                w.WriteString("dead", string.Join(",", r.DeadSilos));
                w.WriteNumber("failed_at_step", r.FailedAtStep);
                w.WriteNumber("restored_step", r.RestoredStep);
                w.WriteNumber("silos", r.Silos.Count);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNumber("checkpoints", result.Checkpoints.Count);
            check?.WriteJson(w);
            w.WriteEndObject();
        });
    }
}
