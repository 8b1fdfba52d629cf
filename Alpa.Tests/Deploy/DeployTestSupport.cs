using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Alpa.Tests.Deploy;

/// <summary>
/// Runs only as root with the named programs on PATH (the deploy tests create users, chown files
/// and network namespaces); otherwise skips, saying which condition failed. CI and this machine run
/// as root, and scripts/test.sh installs shellcheck.
/// </summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute(params string[] programs)
    {
        if (!Host.IsRoot)
        {
            Skip = "needs root (it installs into a temporary root, creates users or network namespaces); run the tests as root";
            return;
        }
        var missing = programs.Where(p => Host.Which(p) is null).ToList();
        if (missing.Count > 0)
        {
            Skip = $"{string.Join(", ", missing)} not found on PATH; install it (scripts/test.sh does: apt-get install shellcheck systemd iproute2)";
        }
    }

    /// <summary>Also needs PostgreSQL (ALPA_TEST_POSTGRES, set by scripts/postgres.sh).</summary>
    public bool NeedsPostgres
    {
        get => false;
        init
        {
            if (value && Skip is null && string.IsNullOrEmpty(Silo.PostgresFactAttribute.ConnectionString))
            {
                Skip = "ALPA_TEST_POSTGRES is not set: run `source scripts/postgres.sh` (installs and starts PostgreSQL) before the tests";
            }
        }
    }

    /// <summary>Also needs network namespaces (`ip netns add` works here; it does not in some containers).</summary>
    public bool NeedsNetworkNamespaces
    {
        get => false;
        init
        {
            if (value && Skip is null && !Host.CanCreateNetworkNamespace())
            {
                Skip = "`ip netns add` fails here (no CAP_SYS_ADMIN or no netns support); run on a machine or VM where root can create network namespaces";
            }
        }
    }
}

/// <summary>Facts about this machine and a way to run programs, for the deploy tests.</summary>
public static partial class Host
{
    public static bool IsRoot => geteuid() == 0;

    /// <summary>The repository root (the folder holding Alpa.sln above the test binaries).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string? Which(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin:/usr/sbin:/sbin").Split(':')
            .Append("/usr/sbin").Append("/sbin")
            .Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);

    /// <summary>Runs <paramref name="program"/> with <paramref name="args"/>; returns (exit code, stdout, stderr).</summary>
    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string program, IEnumerable<string> args,
        IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = RepoRoot,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', info.ArgumentList)} did not finish in time");
        }
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs a program that must succeed; throws with its output otherwise.</summary>
    public static async Task<string> CheckAsync(string program, params string[] args)
    {
        var (code, stdout, stderr) = await RunAsync(program, args);
        return code == 0 ? stdout : throw new InvalidOperationException($"{program} {string.Join(' ', args)} exited {code}: {stderr}{stdout}");
    }

    /// <summary>Creates and deletes a probe namespace.</summary>
    public static bool CanCreateNetworkNamespace()
    {
        var name = $"alpa-probe-{Environment.ProcessId}";
        using var add = Process.Start("ip", ["netns", "add", name]);
        add.WaitForExit();
        if (add.ExitCode != 0)
        {
            return false;
        }
        using var del = Process.Start("ip", ["netns", "del", name]);
        del.WaitForExit();
        return true;
    }

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Alpa.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new DirectoryNotFoundException("Alpa.sln not found above the test binaries");
    }

    [LibraryImport("libc")]
    private static partial uint geteuid();
}
