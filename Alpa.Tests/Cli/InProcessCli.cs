using Alpa.Silo.Cli;

namespace Alpa.Tests.Cli;

/// <summary>Runs the <c>alpa</c> CLI in this process and captures what it prints.</summary>
internal static class InProcessCli
{
    /// <summary>Exit code, standard output and standard error of <c>alpa ARGS</c>.</summary>
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        using var o = new StringWriter();
        using var e = new StringWriter();
        var code = CliApp.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }
}
