using System.Diagnostics;

namespace Alpa.Silo.Execution.Pipeline;

/// <summary>
/// Starts each step's workers without waking sleeping threads: the driver's own thread starts worker 0, and workers
/// 1…n−1 have threads of their own. When a step ends the driver primes them: they wake while the driver prepares the next
/// step and stay awake for a moment (spinning, yielding to other threads), so the next step starts every worker within
/// microseconds; a sleeping pool thread took 0.25–2 ms to wake on a loaded virtual machine (the driver-wait figure of
/// <c>alpa bench pipeline</c>). With more workers than cores they do not spin (they would take the cores the driver
/// needs) and are woken instead. A thread only starts its worker: the worker's awaits continue on the thread pool.
/// </summary>
internal sealed class StepStarter : IDisposable
{
    /// <summary>How long a primed starter thread stays awake waiting for the next step.</summary>
    public static readonly TimeSpan Awake = TimeSpan.FromMilliseconds(2);

    private readonly Action?[] _work;
    // Per thread: 1 from the release that wakes it until it stops waiting awake, else 0 (asleep, or running a start).
    private readonly int[] _awake;
    private readonly SemaphoreSlim[] _wake;
    private readonly bool _spin;
    private volatile bool _stopped;

    /// <param name="workers">Workers of the job; worker 0 is started on the caller's thread.</param>
    public StepStarter(int workers, string name)
    {
        var threads = Math.Max(0, workers - 1);
        _work = new Action?[threads];
        _awake = new int[threads];
        _wake = [.. Enumerable.Range(0, threads).Select(_ => new SemaphoreSlim(0))];
        _spin = workers <= Environment.ProcessorCount;
        for (var i = 0; i < threads; i++)
        {
            var slot = i;
            new Thread(() => Loop(slot)) { IsBackground = true, Name = $"{name} starter {slot + 1}" }.Start();
        }
    }

    /// <summary>Starts <c>start(i)</c> for every worker i: 1…n−1 on their threads (handed over first), then 0 on this thread.</summary>
    public Task<T>[] StartAll<T>(Func<int, T> start)
    {
        ObjectDisposedException.ThrowIf(_stopped, this);
        var tasks = new Task<T>[_work.Length + 1];
        for (var slot = 0; slot < _work.Length; slot++)
        {
            var worker = slot + 1;
            var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
            void Work()
            {
                try
                {
                    done.SetResult(start(worker));
                }
                catch (Exception e)
                {
                    done.SetException(e);
                }
            }
            if (Interlocked.CompareExchange(ref _work[slot], Work, null) is not null)
                throw new InvalidOperationException($"worker {worker} is still being started");
            tasks[worker] = done.Task;
        }
        for (var slot = 0; slot < _work.Length; slot++) Wake(slot);
        try
        {
            tasks[0] = Task.FromResult(start(0));
        }
        catch (Exception e)
        {
            tasks[0] = Task.FromException<T>(e);
        }
        return tasks;
    }

    /// <summary>Wakes the sleeping starter threads to wait awake for the next step (call when a step ends).</summary>
    public void Prime()
    {
        if (!_spin) return;
        for (var i = 0; i < _wake.Length; i++) Wake(i);
    }

    /// <summary>Releases thread <paramref name="slot"/> unless it is awake or already released (one release per wake-up).</summary>
    private void Wake(int slot)
    {
        if (Interlocked.CompareExchange(ref _awake[slot], 1, 0) == 0) _wake[slot].Release();
    }

    private void Loop(int slot)
    {
        var awake = _spin ? (long)(Awake.TotalSeconds * Stopwatch.Frequency) : 0;
        while (true)
        {
            _wake[slot].Wait();
            if (_stopped) return;
            var until = Stopwatch.GetTimestamp() + awake;
            var spinner = new SpinWait();
            Action? work;
            while ((work = Interlocked.Exchange(ref _work[slot], null)) is null && !_stopped && Stopwatch.GetTimestamp() < until)
                spinner.SpinOnce(sleep1Threshold: -1);
            Volatile.Write(ref _awake[slot], 0);
            // Work handed over just as the waiting stopped is taken now (its StartAll may have seen the thread awake).
            work ??= Interlocked.Exchange(ref _work[slot], null);
            work?.Invoke();
        }
    }

    public void Dispose()
    {
        if (_stopped) return;
        _stopped = true;
        foreach (var s in _wake) s.Release();
    }
}
