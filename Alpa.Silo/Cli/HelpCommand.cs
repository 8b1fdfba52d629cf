namespace Alpa.Silo.Cli;

/// <summary><c>alpa help [COMMAND]</c>: the command list, or one command's usage and options.</summary>
internal sealed class HelpCommand : ICommand
{
    public string Name => "help";
    public string Summary => "show the commands, or the usage of one command";
    public string Usage => "alpa help [COMMAND]";
    public IReadOnlyList<CliOption> Options => [];
    public (int Min, int Max) Positionals => (0, 1);

    public int Run(CommandArgs args, CliContext context)
    {
        if (args.Positionals.Count == 0)
        {
            WriteOverview(context.Out);
            return CliApp.Ok;
        }
        var command = CommandRegistry.Find(args.Positionals[0])
            ?? throw new UsageException($"unknown command '{args.Positionals[0]}' (see 'alpa --help')");
        WriteCommand(context.Out, command);
        return CliApp.Ok;
    }

    public static void WriteOverview(TextWriter w)
    {
        w.WriteLine("usage: alpa COMMAND [ARGS] [--json] [--verbose] [--help]");
        w.WriteLine();
        w.WriteLine("commands:");
        var width = CommandRegistry.All.Select(c => c.Name).Concat(CommandRegistry.Hosted.Select(h => h.Name)).Max(n => n.Length);
        foreach (var c in CommandRegistry.All) w.WriteLine($"  {c.Name.PadRight(width)}  {c.Summary}");
        foreach (var (name, summary) in CommandRegistry.Hosted) w.WriteLine($"  {name.PadRight(width)}  {summary}");
        w.WriteLine();
        WriteCommon(w);
    }

    public static void WriteCommand(TextWriter w, ICommand command)
    {
        w.WriteLine($"usage: {command.Usage}");
        w.WriteLine();
        w.WriteLine(command.Summary);
        if (command.Options.Count > 0)
        {
            w.WriteLine();
            w.WriteLine("options:");
            var labels = command.Options.Select(o => o.IsFlag ? $"--{o.Name}" : $"--{o.Name} {o.ValueName}").ToList();
            var width = labels.Max(l => l.Length);
            for (var i = 0; i < labels.Count; i++) w.WriteLine($"  {labels[i].PadRight(width)}  {command.Options[i].Help}");
        }
        w.WriteLine();
        WriteCommon(w);
    }

    private static void WriteCommon(TextWriter w)
    {
        w.WriteLine("common flags:");
        w.WriteLine("  --json     one JSON document on stdout (logs go to stderr)");
        w.WriteLine("  --verbose  more logging; stack traces on errors");
        w.WriteLine("  --help     show usage");
    }
}
