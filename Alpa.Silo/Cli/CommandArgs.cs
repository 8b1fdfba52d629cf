using System.Globalization;

namespace Alpa.Silo.Cli;

/// <summary>Parsed arguments of one command: positionals, option values and flags.</summary>
internal sealed class CommandArgs
{
    private readonly Dictionary<string, string?> _options;
    private readonly string _command;

    private CommandArgs(string command, List<string> positionals, Dictionary<string, string?> options)
    {
        _command = command;
        Positionals = positionals;
        _options = options;
    }

    public IReadOnlyList<string> Positionals { get; }

    /// <summary>Whether the flag (or option) was given.</summary>
    public bool Has(string name) => _options.ContainsKey(name);

    /// <summary>The option's value, or null when it was not given.</summary>
    public string? Value(string name) => _options.GetValueOrDefault(name);

    /// <summary>The option as a positive integer, or <paramref name="fallback"/> when absent.</summary>
    public int PositiveInt(string name, int fallback)
    {
        var text = Value(name);
        if (text is null) return fallback;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v <= 0)
            throw new UsageException($"--{name} expects a positive integer, got '{text}' (see 'alpa {_command} --help')");
        return v;
    }

    /// <summary>
    /// The option as a finite number ≥ 0 (&gt; 0 when <paramref name="positive"/>), or
    /// <paramref name="fallback"/> when absent. <paramref name="example"/> shows a valid value.
    /// </summary>
    public double Number(string name, double fallback, bool positive = false, string example = "")
    {
        var text = Value(name);
        if (text is null) return fallback;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v) || v < 0 || (positive && v == 0))
            throw new UsageException($"--{name} expects a {(positive ? "positive" : "non-negative")} number{example}, got '{text}'");
        return v;
    }

    /// <summary>
    /// Parses <paramref name="args"/> (the words after the command name, common flags removed)
    /// against <paramref name="command"/>'s options. Accepts <c>--name value</c>, <c>--name=value</c>
    /// and <c>--</c> to end options.
    /// </summary>
    public static CommandArgs Parse(ICommand command, IReadOnlyList<string> args)
    {
        var positionals = new List<string>();
        var options = new Dictionary<string, string?>(StringComparer.Ordinal);
        var hint = $"see 'alpa {command.Name} --help'";
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            if (a == "--")
            {
                positionals.AddRange(args.Skip(i + 1));
                break;
            }
            if (!a.StartsWith("--", StringComparison.Ordinal) || a.Length == 2)
            {
                if (a.StartsWith('-') && a.Length > 1) throw new UsageException($"unknown flag '{a}' for '{command.Name}' ({hint})");
                positionals.Add(a);
                continue;
            }
            var eq = a.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? a[2..] : a[2..eq];
            var option = command.Options.FirstOrDefault(o => o.Name == name)
                ?? throw new UsageException($"unknown flag '--{name}' for '{command.Name}' ({hint})");
            if (option.IsFlag)
            {
                if (eq >= 0) throw new UsageException($"--{name} takes no value ({hint})");
                options[name] = null;
            }
            else if (eq >= 0) options[name] = a[(eq + 1)..];
            else if (i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal)) options[name] = args[++i];
            else throw new UsageException($"--{name} needs a value {option.ValueName} ({hint})");
        }
        var (min, max) = command.Positionals;
        if (positionals.Count < min) throw new UsageException($"missing argument: usage: {command.Usage}");
        if (positionals.Count > max) throw new UsageException($"unexpected argument '{positionals[max]}': usage: {command.Usage}");
        return new CommandArgs(command.Name, positionals, options);
    }
}
