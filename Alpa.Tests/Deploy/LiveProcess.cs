using System.Diagnostics;
using System.Text;

namespace Alpa.Tests.Deploy;

/// <summary>A process whose standard error is read line by line while it runs (to act when it reports progress).</summary>
internal sealed class LiveProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private readonly Lock _lock = new();
    private TaskCompletionSource _line = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private LiveProcess(Process process) => _process = process;

    /// <summary>Starts <paramref name="command"/>[0] with the rest as arguments, in the repository root.</summary>
    public static LiveProcess Start(IReadOnlyList<string> command)
    {
        var info = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = Host.RepoRoot,
        };
        foreach (var arg in command.Skip(1)) info.ArgumentList.Add(arg);
        var live = new LiveProcess(Process.Start(info)!);
        live._process.ErrorDataReceived += (_, e) => live.Append(e.Data);
        live._process.OutputDataReceived += (_, _) => { };
        live._process.BeginErrorReadLine();
        live._process.BeginOutputReadLine();
        return live;
    }

    /// <summary>Standard error so far.</summary>
    public string Stderr
    {
        get
        {
            lock (_lock) return _stderr.ToString();
        }
    }

    /// <summary>Waits until a line of standard error matches; fails with the output when the process exits or the time runs out first.</summary>
    public async Task WaitForLineAsync(Func<string, bool> match, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            Task next;
            lock (_lock)
            {
                if (_stderr.ToString().Split('\n').Any(l => match(l.TrimEnd('\r')))) return;
                next = _line.Task;
            }
            if (_process.HasExited) throw new InvalidOperationException($"the process exited {_process.ExitCode} first:\n{Stderr}");
            if (clock.Elapsed > timeout) throw new TimeoutException($"no matching line within {timeout.TotalSeconds:F0} s:\n{Stderr}");
            await Task.WhenAny(next, Task.Delay(500));
        }
    }

    /// <summary>Waits for the exit; returns the exit code and standard error.</summary>
    public async Task<(int Code, string Stderr)> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"the process did not exit within {timeout.TotalSeconds:F0} s:\n{Stderr}");
        }
        return (_process.ExitCode, Stderr);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_lock)
        {
            _stderr.Append(line).Append('\n');
            _line.TrySetResult();
            _line = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }
}
