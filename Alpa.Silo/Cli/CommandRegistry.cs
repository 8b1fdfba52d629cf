namespace Alpa.Silo.Cli;

/// <summary>Every command of <c>alpa</c>, in the order <c>alpa --help</c> lists them. Add new commands here.</summary>
internal static class CommandRegistry
{
    public static IReadOnlyList<ICommand> All { get; } =
    [
        new ModelCommand(),
        new TrainCommand(),
        new PlanCommand(),
        new BaselineCommand(),
        new BenchCommand(),
        new SimulateCommand(),
        new HelpCommand(),
    ];

    public static ICommand? Find(string name) => All.FirstOrDefault(c => c.Name == name);
}
