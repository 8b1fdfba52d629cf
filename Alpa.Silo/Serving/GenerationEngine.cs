using System.Diagnostics;
using System.Threading.Channels;
using Serilog;

namespace Alpa.Silo.Serving;

/// <summary>Options of the <see cref="GenerationEngine"/>.</summary>
public sealed record EngineOptions
{
    /// <summary>Requests waiting for a slot; one more is refused (HTTP 429).</summary>
    public int QueueCapacity { get; init; } = 64;
    /// <summary>
    /// True: continuous batching — waiting requests join free slots between any two steps and
    /// finished ones leave at once. False: one request at a time (the baseline of the load test).
    /// </summary>
    public bool ContinuousBatching { get; init; } = true;
}

/// <summary>
/// Runs generation: a bounded queue of jobs and one loop that, between steps, admits waiting jobs
/// into free batch slots, runs one model step for every busy slot (prefill chunks of new prompts
/// and one decode token of the others in the same step), samples, streams and frees finished or
/// expired slots. The model is touched only by the loop's thread.
/// </summary>
public sealed class GenerationEngine : IAsyncDisposable
{
    private readonly IGenerationModel _model;
    private readonly EngineOptions _options;
    private readonly Channel<GenerationJob> _queue;
    private readonly GenerationJob?[] _slots;
    private readonly Queue<GenerationJob> _retry = new();   // loop thread only
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly ILogger _log;
    private int _waiting;

    public GenerationEngine(IGenerationModel model, EngineOptions? options = null, ILogger? log = null)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        _options = options ?? new EngineOptions();
        _log = log ?? Serilog.Core.Logger.None;
        _queue = Channel.CreateBounded<GenerationJob>(new BoundedChannelOptions(_options.QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        _slots = new GenerationJob?[_options.ContinuousBatching ? model.Slots : 1];
        _loop = Task.Factory.StartNew(Loop, TaskCreationOptions.LongRunning);
    }

    public IGenerationModel Model => _model;
    public ServingMetrics Metrics { get; } = new();
    /// <summary>Jobs waiting for a slot.</summary>
    public int Waiting => Volatile.Read(ref _waiting);
    /// <summary>Slots generating now.</summary>
    public int Busy => _slots.Count(s => s is not null);
    /// <summary>The loop's failure, if it stopped on one.</summary>
    public Exception? Fault => _loop.Exception?.InnerException;

    /// <summary>Queues a job; false when the queue is full (the caller answers 429).</summary>
    public bool TryEnqueue(GenerationJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (_loop.IsCompleted || !_queue.Writer.TryWrite(job))
        {
            Metrics.Rejected();
            return false;
        }
        Interlocked.Increment(ref _waiting);
        Metrics.Accepted();
        return true;
    }

    private void Loop()
    {
        var token = _stop.Token;
        try
        {
            while (!token.IsCancellationRequested)
            {
                Admit();
                Expire();
                var work = Work();
                if (work.Count == 0)
                {
                    _queue.Reader.WaitToReadAsync(token).AsTask().Wait(token);
                    continue;
                }
                var started = Stopwatch.GetTimestamp();
                if (Step(work, token) is not { } logits) continue;
                Metrics.Step(work.Count, work.Any(w => w.Work.Tokens.Length > 1), Stopwatch.GetElapsedTime(started).TotalSeconds);
                for (var i = 0; i < work.Count; i++) Advance(work[i].Job, work[i].Work, logits[i]);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            _log.Error(e, "generation loop failed");
            FailAll(e is ServingException or StageFailedException
                ? new ServingError(503, "unavailable", $"the model cannot serve: {e.Message}")
                : new ServingError(500, "server_error", $"generation failed: {e.Message}"));
            throw;
        }
    }

    /// <summary>
    /// One model step; null when a stage failed: the busy slots' requests that already produced tokens
    /// fail at once with 503 (their caches are gone, their text is out), the others start again from
    /// their prompt; the model re-plans on what is left, and waiting requests run on the new plan.
    /// </summary>
    private float[][]? Step(List<(GenerationJob Job, SlotWork Work)> work, CancellationToken token)
    {
        try
        {
            return _model.Step([.. work.Select(w => w.Work)]);
        }
        catch (StageFailedException e)
        {
            _log.Warning("a stage failed ({Reason}); failing {Busy} in-flight request(s) and re-planning", e.Message, work.Count);
            for (var s = 0; s < _slots.Length; s++)
            {
                if (_slots[s] is not { } job) continue;
                if (job.Generated.Count > 0 || job.Cancelled)
                {
                    Free(s, new ServingError(503, "unavailable", $"{e.Message}; the server re-plans on the remaining devices: retry the request"));
                    continue;
                }
                _slots[s] = null;
                job.Restart();
                _retry.Enqueue(job);
                Interlocked.Increment(ref _waiting);
            }
            _model.Recover(e, token);
            Metrics.Replanned();
            _log.Warning("re-planned: {Stages}", string.Join("; ", _model.StageDescriptions));
            return null;
        }
    }

    private void Admit()
    {
        for (var s = 0; s < _slots.Length; s++)
        {
            if (_slots[s] is not null) continue;
            if (!_options.ContinuousBatching && _slots.Any(j => j is not null)) return;
            if (!_retry.TryDequeue(out var job) && !_queue.Reader.TryRead(out job)) return;
            Interlocked.Decrement(ref _waiting);
            _slots[s] = job;
        }
    }

    private void Expire()
    {
        var now = DateTimeOffset.UtcNow;
        for (var s = 0; s < _slots.Length; s++)
        {
            if (_slots[s] is not { } job) continue;
            if (job.Cancelled) Free(s, null);
            else if (now > job.Request.Deadline)
                Free(s, new ServingError(504, "timeout", $"the request's deadline passed after {job.Generated.Count} generated token(s)"));
        }
    }

    private List<(GenerationJob Job, SlotWork Work)> Work()
    {
        var work = new List<(GenerationJob, SlotWork)>();
        for (var s = 0; s < _slots.Length; s++)
        {
            if (_slots[s] is not { } job) continue;
            if (job.Fed < job.Request.Prompt.Length)
            {
                var n = Math.Min(_model.Chunk, job.Request.Prompt.Length - job.Fed);
                work.Add((job, new SlotWork(s, job.Fed, job.Request.Prompt[job.Fed..(job.Fed + n)])));
            }
            else work.Add((job, new SlotWork(s, job.Length, [job.LastToken!.Value])));
        }
        return work;
    }

    private void Advance(GenerationJob job, SlotWork work, float[] logits)
    {
        job.Length = work.Start + work.Tokens.Length;
        if (job.Fed < job.Request.Prompt.Length)
        {
            job.Fed += work.Tokens.Length;
            if (job.Fed < job.Request.Prompt.Length) return;
        }
        var next = job.Sampler.Next(logits);
        if (job.Generated.Count == 0) Metrics.FirstToken(Stopwatch.GetElapsedTime(job.EnqueuedAt).TotalSeconds);
        Metrics.Token();
        job.LastToken = next;
        if (job.Accept(next, _model.Context)) Free(work.Slot, null, finished: true);
    }

    private void Free(int slot, ServingError? error, bool finished = false)
    {
        var job = _slots[slot]!;
        _slots[slot] = null;
        if (error is not null) job.Fail(error);
        else if (!finished && !job.Done) job.Fail(new ServingError(499, "cancelled", "the client went away"));
        Metrics.Finished(error is null && finished);
    }

    private void FailAll(ServingError error)
    {
        for (var s = 0; s < _slots.Length; s++)
            if (_slots[s] is not null) Free(s, error);
        while (_retry.TryDequeue(out var waiting)) waiting.Fail(error);
        while (_queue.Reader.TryRead(out var job)) job.Fail(error);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _queue.Writer.TryComplete();
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (Exception) when (_loop.IsFaulted)
        {
            // Already logged and reported to every job by the loop.
        }
        FailAll(new ServingError(503, "unavailable", "the server is shutting down"));
        _stop.Dispose();
    }
}
