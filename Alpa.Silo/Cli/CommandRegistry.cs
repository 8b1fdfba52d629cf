namespace Alpa.Silo.Cli;

/// <summary>Every command of <c>alpa</c>, in the order <c>alpa --help</c> lists them. Add new commands here.</summary>
internal static class CommandRegistry
{
    public static IReadOnlyList<ICommand> All { get; } =
    [
        new ModelCommand(),
        new TrainCommand(),
        new CheckpointCommand(),
        new PlanCommand(),
        new SimulateCommand(),
        new ProfileCommand(),
        new BaselineCommand(),
        new BenchCommand(),
        new ServeCommand(),
        new SelftestCommand(),
        new SubmitCommand(),
        new StatusCommand(),
        new EventsCommand(),
        new JobsCommand(),
        new CancelCommand(),
        new HelpCommand(),
    ];

    /// <summary>
    /// Commands served by the silo host (Hosting/SiloCli, routed in Program.cs: they run async and
    /// parse their own options), listed here for <c>alpa --help</c>.
    /// </summary>
    public static IReadOnlyList<(string Name, string Summary)> Hosted { get; } =
    [
        ("silo", "starts a silo: alpa silo --listen ADDR:PORT --devices cpu:N [--membership …] (alpa silo --help)"),
        ("cluster", "lists the silos of a running cluster: alpa cluster --connect ADDR:PORT [--secret-file F] [--json]"),
    ];

    public static ICommand? Find(string name) => All.FirstOrDefault(c => c.Name == name);
}
