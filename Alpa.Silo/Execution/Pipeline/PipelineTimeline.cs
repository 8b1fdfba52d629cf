using System.Globalization;
using System.Text;
using System.Text.Json;
using Alpa.Planner.Plans;

namespace Alpa.Silo.Execution.Pipeline;

/// <summary>
/// A step's events as a document: <c>{"step_seconds":…,"predicted_step_seconds":…,"events":[{"worker","stage","kind",
/// "microbatch","start_seconds","end_seconds"}…]}</c>, and the same events as an SVG Gantt chart (one row per worker).
/// </summary>
public static class PipelineTimeline
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    /// <summary>Writes <paramref name="path"/> (JSON) and the same name with <c>.svg</c>.</summary>
    public static void Write(string path, PipelineStepResult step, Plan plan)
    {
        ArgumentNullException.ThrowIfNull(step);
        ArgumentNullException.ThrowIfNull(plan);
        var doc = new { StepSeconds = step.Seconds, PredictedStepSeconds = plan.StepSeconds, Events = step.Events.ToArray() };
        File.WriteAllText(path, JsonSerializer.Serialize(doc, Options));
        File.WriteAllText(Path.ChangeExtension(path, ".svg"), Svg(step));
    }

    /// <summary>Gantt chart: forward blue, backward green, collectives and update orange, transfers grey.</summary>
    public static string Svg(PipelineStepResult step)
    {
        ArgumentNullException.ThrowIfNull(step);
        const int Left = 90, Width = 900, Row = 28;
        var end = Math.Max(1e-9, step.Events.Select(e => e.EndSeconds).DefaultIfEmpty(0).Max());
        var workers = step.Workers.Count;
        var svg = new StringBuilder();
        var h = Row * workers + 50;
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Left + Width + 20}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left}\" y=\"14\">one training step: {end * 1e3:F1} ms; forward blue, backward green, collective/update orange, send/recv grey</text>\n");
        for (var w = 0; w < workers; w++)
        {
            var y = 24 + w * Row;
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"4\" y=\"{y + 16}\">worker {w}</text>\n");
            foreach (var e in step.Workers[w].Events)
            {
                var x = Left + e.StartSeconds / end * Width;
                var width = Math.Max(0.5, (e.EndSeconds - e.StartSeconds) / end * Width);
                var (color, label) = Style(e);
                svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x:F2}\" y=\"{y}\" width=\"{width:F2}\" height=\"{Row - 6}\" fill=\"{color}\"><title>{e.Kind} mb {e.Microbatch}: {e.StartSeconds * 1e3:F2}–{e.EndSeconds * 1e3:F2} ms</title></rect>\n");
                if (label && width > 12)
                    svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{x + 2:F2}\" y=\"{y + 15}\" fill=\"white\">{e.Microbatch}</text>\n");
            }
        }
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left}\" y=\"{h - 6}\">0 ms</text><text x=\"{Left + Width - 40}\" y=\"{h - 6}\">{end * 1e3:F1} ms</text>\n</svg>\n");
        return svg.ToString();
    }

    private static (string Color, bool Label) Style(PipelineEvent e) => e.Kind switch
    {
        PipelineEventKind.Forward => ("#3b6fd8", true),
        PipelineEventKind.Backward => ("#2e9b4f", true),
        PipelineEventKind.Collective or PipelineEventKind.Update => ("#e08a1e", false),
        PipelineEventKind.Free => ("#dddddd", false),
        _ => ("#999999", false),
    };
}
