using System.Diagnostics;
using Alpa.Kernels;
using Alpa.Planner;
using Alpa.Planner.Pipeline;
using Serilog;

namespace Alpa.Silo.Execution.Pipeline;

/// <summary>A worker failed or timed out; the message names it and its stage.</summary>
public sealed class PipelineWorkerException : AlpaException
{
    public PipelineWorkerException(string message) : base(message) { }
    public PipelineWorkerException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>What the driver collected from one step.</summary>
/// <param name="Loss">Mean loss over the step's microbatches (from the last stage).</param>
/// <param name="Seconds">Wall time of the step as the driver saw it.</param>
/// <param name="Workers">Each worker's reply, in worker order.</param>
public sealed record PipelineStepResult(float Loss, double Seconds, IReadOnlyList<WorkerStepResult> Workers)
{
    /// <summary>Every event of the step, by worker then time.</summary>
    public IEnumerable<PipelineEvent> Events => Workers.SelectMany(w => w.Events);
}

/// <summary>Options of the driver.</summary>
public sealed record PipelineDriverOptions
{
    /// <summary>Job id the workers are loaded under.</summary>
    public string JobId { get; init; } = "local";
    /// <summary>A step not finished by every worker within this time fails, naming the workers still running.</summary>
    public TimeSpan StepTimeout { get; init; } = TimeSpan.FromMinutes(10);
}

/// <summary>
/// Drives a pipeline job (DESIGN §5, DriverGrain): places stage s on worker s, ships each worker
/// its instruction list once, then per step sends one message to every worker and collects the
/// loss. A worker that fails cancels the step on every other worker (their RECVs stop waiting) and
/// fails the job with its name; a step past the timeout fails the same way.
/// </summary>
public sealed class PipelineDriver(IReadOnlyList<IMeshWorker> workers, IReadOnlyList<WorkerProgram> programs, PipelineDriverOptions? options = null) : IDisposable
{
    private readonly PipelineDriverOptions _options = options ?? new PipelineDriverOptions();
    private readonly StepStarter _starter = new(workers.Count, $"job {options?.JobId ?? "local"}");
    private bool _loaded;

    public async Task LoadAsync(CancellationToken cancellationToken = default)
    {
        if (workers.Count != programs.Count) throw new ExecutionException($"{workers.Count} workers for {programs.Count} stage programs");
        for (var w = 0; w < workers.Count; w++)
            await workers[w].LoadProgramAsync(new WorkerLoad(_options.JobId, w, programs[w]), cancellationToken).ConfigureAwait(false);
        _loaded = true;
    }

    public async Task<PipelineStepResult> RunStepAsync(long step, IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> microbatches,
                                                       float learningRate, CancellationToken cancellationToken = default)
    {
        if (!_loaded) await LoadAsync(cancellationToken).ConfigureAwait(false);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(_options.StepTimeout);
        var start = Stopwatch.GetTimestamp();
        var message = new WorkerStep(_options.JobId, step, microbatches, learningRate, start);
        var tasks = _starter.StartAll(i => Guard(i, workers[i].RunStepAsync(message, cts.Token), cts)).Select(t => t.Unwrap()).ToArray();
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            throw Failure(tasks, step, timedOut: !tasks.Any(t => t.IsFaulted && t.Exception?.InnerException is not OperationCanceledException));
        }
        _starter.Prime(); // the next step's start waits for awake threads, not sleeping ones
        var replies = tasks.Select(t => t.Result).ToArray();
        var loss = replies.LastOrDefault(r => r.Loss is not null)?.Loss ?? throw new ExecutionException("no stage reported a loss");
        return new PipelineStepResult(loss, Stopwatch.GetElapsedTime(start).TotalSeconds, replies);
    }

    /// <summary>Cancels the other workers as soon as one fails.</summary>
    private static async Task<WorkerStepResult> Guard(int worker, Task<WorkerStepResult> run, CancellationTokenSource cts)
    {
        try
        {
            return await run.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.Warning(e, "Mesh worker {Worker} failed; cancelling the step on the others", worker);
            await cts.CancelAsync().ConfigureAwait(false);
            throw;
        }
    }

    private PipelineWorkerException Failure(Task<WorkerStepResult>[] tasks, long step, bool timedOut)
    {
        if (timedOut)
        {
            var running = Enumerable.Range(0, tasks.Length).Where(i => !tasks[i].IsCompletedSuccessfully).Select(Name);
            return new PipelineWorkerException($"step {step} did not finish within {_options.StepTimeout.TotalSeconds:0.#} s; still running: {string.Join(", ", running)}");
        }
        var failed = Enumerable.Range(0, tasks.Length).First(i => tasks[i].IsFaulted && tasks[i].Exception!.InnerException is not OperationCanceledException);
        var inner = tasks[failed].Exception!.InnerException!;
        return new PipelineWorkerException($"{Name(failed)} failed at step {step}: {inner.Message}", inner);
    }

    private string Name(int worker) => $"worker {worker} (stage {programs[worker].Stage}, devices {string.Join(",", programs[worker].Devices)})";

    public async Task ReleaseAsync(CancellationToken cancellationToken = default)
    {
        foreach (var w in workers) await w.ReleaseJobAsync(_options.JobId, cancellationToken).ConfigureAwait(false);
        _loaded = false;
    }

    /// <summary>Stops the threads that start the workers' steps.</summary>
    public void Dispose() => _starter.Dispose();
}
