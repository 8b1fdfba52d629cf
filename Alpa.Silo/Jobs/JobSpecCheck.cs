using Alpa.Client.Jobs;
using Alpa.Client.Transport;
using Alpa.Planner;
using Alpa.Planner.Models;

namespace Alpa.Silo.Jobs;

/// <summary>Checks of a <see cref="JobSpec"/> that hold for every runner; each failure names the field and what to write.</summary>
public static class JobSpecCheck
{
    public const int MaxSteps = 1_000_000;
    /// <summary>Longest wait for a replacement silo a job may ask for, seconds.</summary>
    public const int MaxWaitSeconds = 3600;
    /// <summary>Most recoveries a job may allow.</summary>
    public const int MaxRecoveries = 1000;

    /// <summary>Throws <see cref="JobException"/> (bad-request) for the first problem found.</summary>
    public static void Validate(JobSpec? spec)
    {
        if (spec is null)
        {
            throw new JobException(GrainErrorKind.BadRequest, "job spec: missing; send a JSON object such as {\"model\":\"mlp\",\"steps\":20}");
        }
        _ = ResolveModel(spec);
        if (spec.Steps is < 1 or > MaxSteps)
        {
            throw JobException.BadSpec("steps", $"is {spec.Steps}; use 1 … {MaxSteps}");
        }
        if (spec.Microbatches < 1)
        {
            throw JobException.BadSpec("microbatches", $"is {spec.Microbatches}; use 1 or more");
        }
        if (spec.Optimizer is not ("adam" or "sgd"))
        {
            throw JobException.BadSpec("optimizer", $"is '{spec.Optimizer}'; use adam or sgd");
        }
        if (spec.LearningRate is { } lr && (!double.IsFinite(lr) || lr <= 0))
        {
            throw JobException.BadSpec("learningRate", $"is {lr}; use a positive number such as 0.003");
        }
        if (spec.Batch is < 1)
        {
            throw JobException.BadSpec("batch", $"is {spec.Batch}; use a positive global batch, or leave it out for the model's own");
        }
        if (spec.Data != "synthetic")
        {
            throw JobException.BadSpec("data", $"is '{spec.Data}'; the data source available is synthetic");
        }
        if (spec.Cluster is null || spec.Cluster.Silos < ClusterRequest.AllSilos || spec.Cluster.Devices < 1)
        {
            throw JobException.BadSpec("cluster", "must ask for at least 1 silo (or \"all\") and 1 device per silo, e.g. {\"silos\":1,\"devices\":2}");
        }
        if (spec.Checkpoints is { } checkpoints) ValidateCheckpoints(checkpoints, spec.Cluster.Silos);
    }

    /// <summary>Checkpoint settings: an absolute directory, positive interval and retention, bounded waits and recoveries; only for jobs across silos.</summary>
    private static void ValidateCheckpoints(JobCheckpoints c, int silos)
    {
        if (silos == 1)
            throw JobException.BadSpec("checkpoints", "are for jobs across silos (one stage per silo); ask for 2 or more silos (cluster.silos) or \"all\", or leave checkpoints out");
        if (string.IsNullOrWhiteSpace(c.Directory))
            throw JobException.BadSpec("checkpoints.directory", "is missing; give an absolute path every silo of the job reaches, e.g. /mnt/shared/checkpoints/run1");
        if (!Path.IsPathFullyQualified(c.Directory))
            throw JobException.BadSpec("checkpoints.directory", $"is '{c.Directory}', a relative path; give an absolute path (the silos resolve it, not the client)");
        if (c.Every < 1)
            throw JobException.BadSpec("checkpoints.every", $"is {c.Every}; use 1 or more (steps between checkpoints)");
        if (c.Keep < 1)
            throw JobException.BadSpec("checkpoints.keep", $"is {c.Keep}; use 1 or more (committed checkpoints kept)");
        if (!double.IsFinite(c.WaitForReplacementSeconds) || c.WaitForReplacementSeconds is < 0 or > MaxWaitSeconds)
            throw JobException.BadSpec("checkpoints.waitForReplacementSeconds", $"is {c.WaitForReplacementSeconds}; use 0 … {MaxWaitSeconds} seconds");
        if (c.MaxRecoveries is < 0 or > MaxRecoveries)
            throw JobException.BadSpec("checkpoints.maxRecoveries", $"is {c.MaxRecoveries}; use 0 … {MaxRecoveries}");
    }

    /// <summary>The model the spec names, or a bad-request <see cref="JobException"/>.</summary>
    public static ModelSpec ResolveModel(JobSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (string.IsNullOrWhiteSpace(spec.Model) == string.IsNullOrWhiteSpace(spec.ModelJson))
        {
            throw JobException.BadSpec("model", "— give exactly one of model (a built-in name) and modelJson (a model or graph document)");
        }
        if (!string.IsNullOrWhiteSpace(spec.Model))
        {
            return ModelZoo.TryGet(spec.Model, out var builtIn) ? builtIn
                : throw JobException.BadSpec("model", $"'{spec.Model}' is not a built-in model; use one of {string.Join(", ", ModelZoo.Names)}");
        }
        try
        {
            return ModelSpecJson.Parse(spec.ModelJson!);
        }
        catch (AlpaException e)
        {
            throw JobException.BadSpec("modelJson", $"is not a model: {e.Message}");
        }
    }
}
