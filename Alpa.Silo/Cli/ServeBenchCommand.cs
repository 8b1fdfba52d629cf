using Alpa.Silo.Benchmarks;

namespace Alpa.Silo.Cli;

/// <summary><c>alpa bench serve</c>: runs <see cref="ServeBench"/>'s cases and writes bench/results/serve.md.</summary>
internal static class ServeBenchCommand
{
    public static int Run(CommandArgs args, CliContext context)
    {
        var options = new ServeBenchOptions { Clients = args.PositiveInt("clients", 8), Requests = args.PositiveInt("requests", 32) };
        var repeat = args.PositiveInt("repeat", 3);
        var loadBefore = BenchMachine.LoadAverage();
        var rows = new List<ServeBenchRow>();
        foreach (var c in ServeBench.DefaultCases)
        {
            context.Err.WriteLine($"case: {c.Name} …");
            var runs = new List<ServeBenchRow>();
            for (var r = 0; r < repeat; r++)
            {
                var run = ServeBench.RunCase(c, options, r == 0 ? context.Err : TextWriter.Null).GetAwaiter().GetResult();
                context.Err.WriteLine($"  run {r + 1}: {run.Completed} requests, {run.Tokens} tokens in {run.Seconds:F2} s = {run.TokensPerSecond:F1} tokens/s");
                runs.Add(run);
            }
            rows.Add(runs.OrderBy(x => x.TokensPerSecond).ElementAt(runs.Count / 2) with { Runs = [.. runs.Select(x => x.TokensPerSecond)] });
        }
        var command = "./alpa bench " + string.Join(' ', Environment.GetCommandLineArgs().Skip(2));
        var markdown = ServeBench.Markdown(rows, options, command, loadBefore, BenchMachine.LoadAverage(), Uptime());
        var path = Path.Combine(BenchMachine.ResultsFolder(), "serve.md");
        File.WriteAllText(path, markdown + "\n![serving load test](serve.svg)\n");
        File.WriteAllText(Path.ChangeExtension(path, ".svg"), ServeBenchChart.Svg(rows, $"{BenchMachine.Date()} · {BenchMachine.Describe()} · load {BenchMachine.LoadAverage()}"));
        context.Out.Write(markdown);
        context.Err.WriteLine($"written to {path}");
        return CliApp.Ok;
    }

    private static string Uptime()
    {
        try
        {
            using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("uptime") { RedirectStandardOutput = true });
            var text = p!.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return text;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unavailable";
        }
    }
}
