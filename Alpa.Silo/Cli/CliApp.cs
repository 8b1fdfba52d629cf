using Alpa.Planner;

namespace Alpa.Silo.Cli;

/// <summary>
/// Entry point of the <c>alpa</c> command line: <c>alpa COMMAND [ARGS] [--json] [--verbose] [--help]</c>.
/// Exit codes: 0 success; 1 an <see cref="AlpaException"/> (bad model, plan, cluster…) or an I/O
/// error, printed as one line <c>alpa: message</c>; 2 bad usage (unknown command or flag, missing
/// value), one line with a hint; 70 an internal error. Stack traces only with <c>--verbose</c>.
/// </summary>
internal static class CliApp
{
    public const int Ok = 0, Failed = 1, BadUsage = 2, InternalError = 70;

    public static int Run(string[] args) => Run(args, Console.Out, Console.Error);

    public static int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr)
    {
        var words = args.TakeWhile(a => a != "--").ToList();
        var rest = args.Skip(words.Count).ToList();
        var json = words.Remove("--json");
        var verbose = words.Remove("--verbose");
        var help = words.RemoveAll(a => a is "--help" or "-h") > 0;
        words.AddRange(rest);
        var context = new CliContext(stdout, stderr, json, verbose);
        try
        {
            return Dispatch(words, help, context);
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"alpa: {e.Message}");
            return BadUsage;
        }
        catch (AlpaException e)
        {
            return Fail(context, e, e.Message, Failed);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Fail(context, e, e.Message, Failed);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return Fail(context, e, $"internal error: {e.GetType().Name}: {e.Message} (run with --verbose for the stack trace)", InternalError);
        }
    }

    private static int Dispatch(List<string> words, bool help, CliContext context)
    {
        if (words.Count == 0)
        {
            if (help)
            {
                HelpCommand.WriteOverview(context.Out);
                return Ok;
            }
            HelpCommand.WriteOverview(context.Err);
            return BadUsage;
        }
        var command = CommandRegistry.Find(words[0])
            ?? throw new UsageException($"unknown command '{words[0]}' (see 'alpa --help'; commands: {string.Join(", ", CommandRegistry.All.Select(c => c.Name))})");
        if (help)
        {
            HelpCommand.WriteCommand(context.Out, command);
            return Ok;
        }
        var parsed = CommandArgs.Parse(command, words.Skip(1).ToList());
        return command.Run(parsed, context);
    }

    private static int Fail(CliContext context, Exception e, string message, int code)
    {
        context.Err.WriteLine($"alpa: {OneLine(message)}");
        if (context.Verbose) context.Err.WriteLine(e.ToString());
        return code;
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
