using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Alpa.Silo.Hosting;

namespace Alpa.Tests.Deploy;

/// <summary>
/// deploy/install.sh into a temporary root: a second run changes nothing (every path's content,
/// mode, owner and link target checksummed), the installed systemd unit passes
/// <c>systemd-analyze verify</c>, and every deploy script passes shellcheck.
/// </summary>
public sealed class InstallScriptTests
{
    /// <summary>Generous: each file costs a few processes, and the machine may be loaded.</summary>
    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(5);

    private static string Deploy(string path) => Path.Combine(Host.RepoRoot, "deploy", path);

    /// <summary>The built `alpa` (framework-dependent here; a real bundle is self-contained): Alpa.Silo's output, else the test folder.</summary>
    private static string Bundle()
    {
        var silo = Path.Combine(Host.RepoRoot, "Alpa.Silo", "bin", "Release", "net10.0");
        return File.Exists(Path.Combine(silo, "alpa")) ? silo : Path.GetDirectoryName(typeof(SiloHost).Assembly.Location)!;
    }

    [RootFact("shellcheck")]
    public async Task EveryDeployScript_PassesShellcheck()
    {
        var scripts = Directory.GetFiles(Path.Combine(Host.RepoRoot, "deploy"), "*.sh", SearchOption.AllDirectories).Order().ToList();
        Assert.Contains(scripts, s => s.EndsWith("install.sh", StringComparison.Ordinal));
        Assert.Contains(scripts, s => s.EndsWith("local-cluster.sh", StringComparison.Ordinal));
        var (code, stdout, stderr) = await Host.RunAsync("shellcheck", ["-x", .. scripts]);
        Assert.True(code == 0, $"shellcheck found problems:\n{stdout}{stderr}");
    }

    [RootFact("systemd-analyze", "useradd", "openssl")]
    public async Task Install_TwiceChangesNothing_AndTheUnitVerifies()
    {
        var work = Directory.CreateTempSubdirectory("alpa-install-").FullName;
        try
        {
            var root = PrepareRoot(work);
            var certs = Path.Combine(work, "certs");
            await Host.CheckAsync(Deploy("tls/make-certs.sh"), certs, "ca");
            await Host.CheckAsync(Deploy("tls/make-certs.sh"), certs, "silo", "vm1", "10.0.0.2");
            var secret = Path.Combine(work, "secret");
            await File.WriteAllTextAsync(secret, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) + "\n");
            string[] args = [Deploy("install.sh"), "--root", root, "--bundle", Bundle(),
                "--advertise", "10.0.0.2:7000", "--cluster-id", "prod", "--membership", "postgres:Host=10.0.0.5;Password=p&q|r;Database=alpa",
                "--secret-file", secret, "--tls-cert", Path.Combine(certs, "vm1.crt"), "--tls-key", Path.Combine(certs, "vm1.key"),
                "--tls-ca", Path.Combine(certs, "ca.crt")];

            var first = await Host.RunAsync("bash", args, timeout: InstallTimeout);
            Assert.True(first.Code == 0, first.Stderr);
            var before = await SnapshotAsync(root);
            var second = await Host.RunAsync("bash", args, timeout: InstallTimeout);
            Assert.True(second.Code == 0, second.Stderr);
            Assert.Contains("install: nothing changed", second.Stderr);
            Assert.Equal(before, await SnapshotAsync(root));

            var env = await File.ReadAllTextAsync(Path.Combine(root, "etc/alpa/alpa.env"));
            Assert.Contains("ALPA_Silo__Membership=\"postgres:Host=10.0.0.5;Password=p&q|r;Database=alpa\"", env);
            Assert.Contains("\nALPA_Silo__Tls__CertificatePath=/etc/alpa/tls/silo.crt", env);
            Assert.Equal(await File.ReadAllTextAsync(secret), await File.ReadAllTextAsync(Path.Combine(root, "etc/alpa/secret")));
            Assert.Contains("alpa:x:", await File.ReadAllTextAsync(Path.Combine(root, "etc/passwd")));

            var verify = await Host.RunAsync("systemd-analyze", ["--root=" + root, "verify", "alpa-silo.service"]);
            Assert.True(verify.Code == 0 && verify.Stderr.Trim().Length == 0 && verify.Stdout.Trim().Length == 0,
                $"systemd-analyze verify: exit {verify.Code}\n{verify.Stdout}{verify.Stderr}");
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [RootFact("cloud-init")]
    public async Task CloudInitExample_IsValidCloudConfig_AndUsesOnlyInstallOptions()
    {
        var example = Deploy("cloud-init/gpu-vm.yaml");
        var (code, stdout, stderr) = await Host.RunAsync("cloud-init", ["schema", "--config-file", example]);
        Assert.True(code == 0, $"cloud-init schema: {stdout}{stderr}");
        var install = await File.ReadAllTextAsync(Deploy("install.sh"));
        var text = await File.ReadAllTextAsync(example);
        var call = text[text.IndexOf("deploy/install.sh ", StringComparison.Ordinal)..(text.IndexOf("--start", StringComparison.Ordinal) + 7)];
        var used = System.Text.RegularExpressions.Regex.Matches(call, @"--[a-z]+(?:-[a-z]+)*").Select(m => m.Value).Distinct().ToList();
        Assert.True(used.Count >= 8, $"the install.sh call in the example has only {used.Count} options");
        Assert.All(used, option => Assert.Contains($"    {option})", install));
    }

    [Fact]
    public void ConfigTemplate_DocumentsEverySiloOption()
    {
        var template = File.ReadAllLines(Deploy("config/alpa.env"));
        var keys = Keys(typeof(SiloOptions), "ALPA_Silo__").ToList();
        Assert.True(keys.Count > 20, $"only {keys.Count} options found");
        foreach (var key in keys)
        {
            var line = Array.FindIndex(template, l => Uncommented(l).StartsWith(key + "=", StringComparison.Ordinal));
            Assert.True(line > 0, $"deploy/config/alpa.env does not set or show {key}");
            Assert.True(template[line - 1].StartsWith("# ", StringComparison.Ordinal), $"{key} has no comment above it in deploy/config/alpa.env");
        }
    }

    /// <summary>A template line without its comment mark or the TLS placeholder install.sh replaces.</summary>
    private static string Uncommented(string line) => line.StartsWith("@TLS@", StringComparison.Ordinal) ? line[5..] : line.TrimStart('#');

    /// <summary>ALPA_ environment keys of every settable option, TLS nested as <c>Tls__X</c>.</summary>
    private static IEnumerable<string> Keys(Type options, string prefix) =>
        options.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).SelectMany(p =>
            p.PropertyType == typeof(TlsOptions) ? Keys(typeof(TlsOptions), prefix + p.Name + "__") : [prefix + p.Name]);

    /// <summary>A root holding copies of this machine's user databases and systemd's units (systemd-analyze needs them).</summary>
    private static string PrepareRoot(string work)
    {
        var root = Path.Combine(work, "root");
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        foreach (var file in new[] { "passwd", "group", "shadow", "gshadow" })
        {
            if (File.Exists("/etc/" + file))
            {
                File.Copy("/etc/" + file, Path.Combine(root, "etc", file));
            }
        }
        var units = Directory.Exists("/usr/lib/systemd/system") ? "/usr/lib/systemd/system" : "/lib/systemd/system";
        CopyTree(units, Path.Combine(root, "usr/lib/systemd/system"));
        return root;
    }

    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var entry in new DirectoryInfo(from).EnumerateFileSystemInfos())
        {
            var target = Path.Combine(to, entry.Name);
            if (entry.LinkTarget is { } link)
            {
                File.CreateSymbolicLink(target, link);
            }
            else if (entry is DirectoryInfo dir)
            {
                CopyTree(dir.FullName, target);
            }
            else
            {
                File.Copy(entry.FullName, target);
            }
        }
    }

    /// <summary>One line per path under <paramref name="root"/>: type, owner, mode and link target (find), then content hashes.</summary>
    private static async Task<string> SnapshotAsync(string root)
    {
        var metadata = await Host.CheckAsync("find", root, "-printf", "%P %y %U:%G %m %l\n");
        var text = new StringBuilder(string.Join('\n', metadata.Split('\n').Order(StringComparer.Ordinal)));
        foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            if (new FileInfo(file).LinkTarget is null)
            {
                text.Append('\n').Append(file[root.Length..]).Append(' ').Append(Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file))));
            }
        }
        return text.ToString();
    }
}
