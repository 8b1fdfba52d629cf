using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Alpa.Planner;

namespace Alpa.Silo.Hosting.Bench;

/// <summary>
/// A real <c>alpa silo</c> process (<c>dotnet alpa.dll silo …</c>), started and waited for until it
/// prints its ready line; used by the transport benchmark and the cluster tests.
/// </summary>
public sealed partial class SiloProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _log = new();
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private SiloProcess(Process process, string address)
    {
        _process = process;
        Address = address;
    }

    /// <summary>The silo's control-plane address.</summary>
    public string Address { get; }
    /// <summary>Epoch printed in the ready line.</summary>
    public long Epoch { get; private set; }
    public int ProcessId => _process.Id;
    public bool HasExited => _process.HasExited;
    /// <summary>Everything the silo wrote to stderr so far (its console log).</summary>
    public string Log => string.Join('\n', _log);

    /// <summary>
    /// Starts <c>alpa silo --listen <paramref name="address"/> …</c> and waits for it to join.
    /// <paramref name="launcher"/> runs it through another command that execs it, e.g. <c>ip netns exec NS</c>.
    /// </summary>
    public static async Task<SiloProcess> StartAsync(string address, IEnumerable<string> arguments, string workDirectory,
        IReadOnlyDictionary<string, string>? environment = null, TimeSpan? readyTimeout = null, IReadOnlyList<string>? launcher = null)
    {
        Directory.CreateDirectory(workDirectory);
        var info = new ProcessStartInfo(launcher is { Count: > 0 } ? launcher[0] : DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workDirectory,
        };
        if (launcher is { Count: > 0 })
        {
            foreach (var word in launcher.Skip(1).Append(DotnetHost()))
            {
                info.ArgumentList.Add(word);
            }
        }
        info.ArgumentList.Add(typeof(SiloProcess).Assembly.Location);
        info.ArgumentList.Add("silo");
        info.ArgumentList.Add("--listen");
        info.ArgumentList.Add(address);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        if (!info.ArgumentList.Contains("--dashboard"))
        {
            info.ArgumentList.Add("--dashboard"); // test and bench silos leave the default port 8080 alone
            info.ArgumentList.Add("off");
        }
        info.Environment["ALPA_Silo__LogDirectory"] = Path.Combine(workDirectory, "logs");
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }
        var process = Process.Start(info) ?? throw new AlpaException($"could not start {info.FileName}");
        var silo = new SiloProcess(process, address);
        process.OutputDataReceived += (_, e) => silo.OnOutput(e.Data);
        process.ErrorDataReceived += (_, e) => silo.OnError(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await silo.WaitReadyAsync(readyTimeout ?? TimeSpan.FromSeconds(60)).ConfigureAwait(false);
        return silo;
    }

    private async Task WaitReadyAsync(TimeSpan timeout)
    {
        var exited = _process.WaitForExitAsync();
        var first = await Task.WhenAny(_ready.Task, exited, Task.Delay(timeout)).ConfigureAwait(false);
        if (first != _ready.Task)
        {
            var why = first == exited ? $"exited with code {_process.ExitCode}" : $"was not ready after {timeout.TotalSeconds:F0} s";
            if (!_process.HasExited)
            {
                _process.Kill();
            }
            throw new AlpaException($"silo {Address} {why}; its log:\n{Log}");
        }
        var line = await _ready.Task.ConfigureAwait(false);
        var epoch = line.Split(' ').First(p => p.StartsWith("epoch=", StringComparison.Ordinal));
        Epoch = long.Parse(epoch["epoch=".Length..], System.Globalization.CultureInfo.InvariantCulture);
    }

    private void OnOutput(string? line)
    {
        if (line is not null && line.StartsWith("alpa silo ready", StringComparison.Ordinal))
        {
            _ready.TrySetResult(line);
        }
    }

    private void OnError(string? line)
    {
        if (line is not null)
        {
            _log.Enqueue(line);
        }
    }

    /// <summary>SIGKILL: the silo gets no chance to leave the cluster. Returns once the process is gone.</summary>
    public void Kill()
    {
        _process.Kill();
        _process.WaitForExit(5000);
    }

    /// <summary>SIGTERM, then waits for a clean exit; returns the exit code.</summary>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        if (!_process.HasExited)
        {
            _ = kill(_process.Id, 15);
            using var cts = new CancellationTokenSource(timeout);
            await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }
        _process.Dispose();
    }

    private static int _nextPort = 20_000 + Random.Shared.Next(0, 10_000);

    /// <summary>
    /// A TCP port that was free a moment ago on 127.0.0.1, taken from below the kernel's ephemeral range
    /// (32768 and up on Linux): a silo's data plane and every outgoing connection bind ephemeral ports, so a
    /// port handed out from that range could be taken again before the silo it was meant for binds it.
    /// Successive calls in one process never return the same port.
    /// </summary>
    public static int FreePort()
    {
        for (var attempt = 0; attempt < 2_000; attempt++)
        {
            var port = 20_000 + (Interlocked.Increment(ref _nextPort) - 20_000) % 12_000;
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // in use: try the next one
            }
        }
        throw new AlpaException("no free TCP port on 127.0.0.1 between 20000 and 31999");
    }

    /// <summary>The <c>dotnet</c> executable running this process, or the one on PATH.</summary>
    public static string DotnetHost()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(fromEnvironment) && File.Exists(fromEnvironment))
        {
            return fromEnvironment;
        }
        var current = Environment.ProcessPath;
        return current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet" ? current : "dotnet";
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
