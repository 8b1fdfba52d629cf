namespace Alpa.Silo.Cli;

/// <summary>
/// One subcommand of <c>alpa</c>. To add a command: implement this in its own class and list it in
/// <see cref="CommandRegistry.All"/>. <see cref="CliApp"/> parses the arguments against
/// <see cref="Options"/>, handles <c>--json</c>, <c>--verbose</c> and <c>--help</c>, and turns
/// exceptions into exit codes (see <see cref="CliApp"/>).
/// </summary>
internal interface ICommand
{
    /// <summary>The word after <c>alpa</c>.</summary>
    string Name { get; }

    /// <summary>One line for the command list.</summary>
    string Summary { get; }

    /// <summary>The synopsis, e.g. <c>alpa model M [--json]</c>.</summary>
    string Usage { get; }

    /// <summary>Options this command accepts besides the common ones.</summary>
    IReadOnlyList<CliOption> Options { get; }

    /// <summary>Positional arguments accepted: (minimum, maximum).</summary>
    (int Min, int Max) Positionals { get; }

    /// <summary>Runs the command; returns the exit code (0 on success).</summary>
    int Run(CommandArgs args, CliContext context);
}

/// <summary>An option of a command.</summary>
/// <param name="Name">Long name without dashes (<c>microbatches</c>).</param>
/// <param name="ValueName">Placeholder of its value (<c>N</c>); null for a flag that takes none.</param>
/// <param name="Help">One line of help.</param>
internal sealed record CliOption(string Name, string? ValueName, string Help)
{
    public bool IsFlag => ValueName is null;
}

/// <summary>Wrong command line (unknown command or flag, missing value): exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
