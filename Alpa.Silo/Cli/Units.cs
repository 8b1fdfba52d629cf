using System.Globalization;

namespace Alpa.Silo.Cli;

/// <summary>Human-readable numbers for text output.</summary>
internal static class Units
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>A count with K/M/B/T suffix: 1.31 B.</summary>
    public static string Count(double n) => Scaled(n, 1000, ["", " K", " M", " B", " T"]);

    /// <summary>FLOPs with SI prefixes: 2.51 PFLOP.</summary>
    public static string Flops(double n) => Scaled(n, 1000, [" FLOP", " KFLOP", " MFLOP", " GFLOP", " TFLOP", " PFLOP", " EFLOP"]);

    /// <summary>Bytes with binary prefixes: 19.6 GiB.</summary>
    public static string Bytes(double n) => Scaled(n, 1024, [" B", " KiB", " MiB", " GiB", " TiB", " PiB"]);

    private static string Scaled(double n, double step, string[] units)
    {
        var i = 0;
        while (Math.Abs(n) >= step && i < units.Length - 1)
        {
            n /= step;
            i++;
        }
        var digits = i == 0 ? "0" : Math.Abs(n) >= 100 ? "0" : Math.Abs(n) >= 10 ? "0.0" : "0.00";
        return n.ToString(digits, Inv) + units[i];
    }
}
