using System.Text.Json;
using Alpa.Kernels;
using Alpa.Silo.Execution.Cluster;

namespace Alpa.Silo.Cli;

/// <summary>
/// <c>alpa train --connect … --check</c> (with or without <c>--checkpoint-dir</c>): the run's losses and final parameters
/// against the same training on one device (same seed, data and schedule), per tensor ‖a − b‖ / ‖b‖ (DESIGN §6).
/// </summary>
/// <param name="Loss">Largest relative loss difference over the steps compared.</param>
/// <param name="Parameters">How the final parameters compare.</param>
internal sealed record ConnectCheck(double Loss, ParameterCheck Parameters)
{
    /// <summary>Trains <paramref name="job"/> on one device and compares; <paramref name="losses"/>[i] is step i + 1's, compared from step <paramref name="firstStep"/> (0-based) on.</summary>
    public static ConnectCheck Run(ClusterJob job, IReadOnlyList<double> losses, IReadOnlyDictionary<string, HostTensor> parameters, TextWriter err, long firstStep = 0)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(losses);
        ArgumentNullException.ThrowIfNull(err);
        err.WriteLine("check: training the same model on one device …");
        var reference = job.Reference();
        var loss = losses.Zip(reference.Losses, (a, b) => Math.Abs(a - b) / Math.Max(Math.Abs(b), 1e-30)).Skip((int)firstStep).DefaultIfEmpty(0).Max();
        return new ConnectCheck(loss, ClusterChecks.Compare(parameters, reference.Parameters));
    }

    public void WriteText(TextWriter o)
    {
        ArgumentNullException.ThrowIfNull(o);
        o.WriteLine($"check: max relative loss difference vs one device {Loss:E2}; parameters: worst ‖a−b‖/‖b‖ {Parameters.WorstRelative:E2} ({Parameters.WorstTensor}), max |a−b| {Parameters.MaxAbs:E2} over {Parameters.Tensors} tensors");
    }

    public void WriteJson(Utf8JsonWriter w)
    {
        ArgumentNullException.ThrowIfNull(w);
        w.WriteNumber("max_loss_rel_diff", Loss);
        w.WriteNumber("max_param_rel_diff", Parameters.WorstRelative);
        w.WriteString("worst_param", Parameters.WorstTensor);
        w.WriteNumber("max_param_abs_diff", Parameters.MaxAbs);
    }
}
