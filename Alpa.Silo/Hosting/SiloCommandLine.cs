using Alpa.Planner;

namespace Alpa.Silo.Hosting;

/// <summary>
/// Argument parsing of <c>alpa silo</c> and <c>alpa cluster</c>, kept in one place so the CLI
/// framework can take it over. Silo flags become configuration keys (flags win over environment
/// and appsettings.json).
/// </summary>
public static class SiloCommandLine
{
    public const string SiloUsage =
        "usage: alpa silo --listen ADDR:PORT --devices cpu:N|cuda [--membership memory|static:ADDR:PORT[,ADDR:PORT...]|postgres:CONNSTR] " +
        "[--cluster-id ID] [--secret-file FILE] [--dashboard ADDR:PORT|off] [--advertise ADDR:PORT] [--data-port PORT] [--log-dir DIR]";

    public const string ClusterUsage = "usage: alpa cluster --connect ADDR:PORT [--secret-file FILE] [--tls-ca FILE] [--json]";

    private static readonly Dictionary<string, string> SiloFlags = new(StringComparer.Ordinal)
    {
        ["--listen"] = "Silo:Listen",
        ["--devices"] = "Silo:Devices",
        ["--membership"] = "Silo:Membership",
        ["--cluster-id"] = "Silo:ClusterId",
        ["--secret-file"] = "Silo:SecretFile",
        ["--dashboard"] = "Silo:Dashboard",
        ["--advertise"] = "Silo:Advertise",
        ["--data-port"] = "Silo:DataPort",
        ["--log-dir"] = "Silo:LogDirectory",
        ["--log-level"] = "Silo:LogLevel",
    };

    /// <summary>Turns <c>alpa silo</c> flags (after the verb) into configuration key/values.</summary>
    public static Dictionary<string, string?> ParseSilo(IReadOnlyList<string> args)
    {
        var settings = new Dictionary<string, string?>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var (flag, value, consumed) = FlagValue(args, i);
            if (!SiloFlags.TryGetValue(flag, out var key))
            {
                throw new AlpaException($"unknown option '{flag}' of alpa silo; {SiloUsage}") { Field = flag };
            }
            settings[key] = value;
            i += consumed;
        }
        return settings;
    }

    /// <summary>Options of <c>alpa cluster</c>.</summary>
    /// <param name="Connect">Any silo of the cluster, <c>ADDR:PORT</c>.</param>
    /// <param name="SecretFile">Cluster secret file (else ALPA_SECRET_FILE / ALPA_SECRET).</param>
    /// <param name="TlsCa">CA certificate of the cluster's TLS certificates (else ALPA_TLS_CA); null: h2c.</param>
    /// <param name="Json">One JSON document on stdout.</param>
    public sealed record ClusterCommand(string Connect, string? SecretFile, string? TlsCa, bool Json);

    public static ClusterCommand ParseCluster(IReadOnlyList<string> args)
    {
        string? connect = null, secretFile = null, tlsCa = Environment.GetEnvironmentVariable("ALPA_TLS_CA");
        var json = false;
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i] == "--json")
            {
                json = true;
                continue;
            }
            var (flag, value, consumed) = FlagValue(args, i);
            switch (flag)
            {
                case "--connect": connect = value; break;
                case "--secret-file": secretFile = value; break;
                case "--tls-ca": tlsCa = value; break;
                default: throw new AlpaException($"unknown option '{flag}' of alpa cluster; {ClusterUsage}") { Field = flag };
            }
            i += consumed;
        }
        return connect is null
            ? throw new AlpaException($"alpa cluster needs --connect ADDR:PORT (any silo of the cluster); {ClusterUsage}") { Field = "--connect" }
            : new ClusterCommand(connect, secretFile, string.IsNullOrEmpty(tlsCa) ? null : tlsCa, json);
    }

    /// <summary>Reads <c>--flag value</c> or <c>--flag=value</c> at <paramref name="i"/>.</summary>
    private static (string Flag, string Value, int Consumed) FlagValue(IReadOnlyList<string> args, int i)
    {
        var arg = args[i];
        if (!arg.StartsWith("--", StringComparison.Ordinal))
        {
            throw new AlpaException($"unexpected argument '{arg}'; options look like --name VALUE") { Field = arg };
        }
        var eq = arg.IndexOf('=', StringComparison.Ordinal);
        if (eq > 0)
        {
            return (arg[..eq], arg[(eq + 1)..], 0);
        }
        if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
        {
            throw new AlpaException($"option {arg} needs a value") { Field = arg };
        }
        return (arg, args[i + 1], 1);
    }
}
