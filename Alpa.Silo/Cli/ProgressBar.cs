using Alpa.Silo.Training;

namespace Alpa.Silo.Cli;

/// <summary>
/// Training progress on stderr: a bar redrawn in place on a terminal, otherwise a line every 10%.
/// </summary>
internal sealed class ProgressBar(TextWriter err, string unit) : IProgress<StepProgress>, IDisposable
{
    private const int Width = 30;
    private readonly bool _interactive = ReferenceEquals(err, Console.Error) && !Console.IsErrorRedirected;
    private bool _drawn;

    public void Report(StepProgress p)
    {
        var filled = (int)((long)Width * p.Step / Math.Max(1, p.Steps));
        var line = $"step {p.Step,5}/{p.Steps} [{new string('#', filled)}{new string('.', Width - filled)}] loss {p.Loss,8:F4}  {p.ItemsPerSecond,10:N0} {unit}";
        if (_interactive)
        {
            err.Write("\r" + line);
            _drawn = true;
        }
        else if (p.Step == p.Steps || p.Step % Math.Max(1, p.Steps / 10) == 0)
        {
            err.WriteLine(line);
        }
    }

    public void Finish()
    {
        if (_drawn) err.WriteLine();
        _drawn = false;
    }

    public void Dispose() => Finish();
}
