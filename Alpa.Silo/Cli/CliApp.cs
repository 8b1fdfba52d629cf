namespace Alpa.Silo.Cli;

/// <summary>Entry point of the <c>alpa</c> command line.</summary>
internal static class CliApp
{
    public static int Run(string[] args)
    {
        Console.Error.WriteLine("alpa: no command yet");
        return args.Length == 0 ? 2 : 2;
    }
}
