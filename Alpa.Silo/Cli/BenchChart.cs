using System.Globalization;
using System.Security;
using System.Text;

namespace Alpa.Silo.Cli;

/// <summary>
/// The paper's weak-scaling chart (Figure 7) as SVG: one panel per model family, a group of bars per
/// GPU count, one bar per method (cluster PFLOPS); a method that does not fit memory is marked
/// "OOM" (red ×), one that does not apply "n/a".
/// </summary>
internal static class BenchChart
{
    private const int PanelWidth = 420, PanelHeight = 300, Left = 60, Top = 64, Bottom = 60, Gap = 70;
    private static readonly string[] Colors = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948"];

    public static string Svg(IReadOnlyList<BenchRow> rows, string title)
    {
        var families = rows.Select(r => r.Family).Distinct().ToArray();
        var methods = rows.Select(r => r.Method).Distinct().ToArray();
        var width = Left + families.Length * (PanelWidth + Gap);
        var perRow = Math.Max(1, (width - Left) / 140);
        var height = Top + PanelHeight + Bottom + 20 * ((methods.Length + perRow - 1) / perRow);
        var s = new StringBuilder();
        s.Append(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n"));
        s.Append(Inv($"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n"));
        s.Append(Inv($"<text x=\"{width / 2}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">{Esc(title)}</text>\n"));
        for (var f = 0; f < families.Length; f++)
            Panel(s, rows.Where(r => r.Family == families[f]).ToArray(), families[f], methods, Left + f * (PanelWidth + Gap));
        for (var m = 0; m < methods.Length; m++)
        {
            var x = Left + m % perRow * 140;
            var y = Top + PanelHeight + Bottom - 5 + m / perRow * 20;
            s.Append(Inv($"<rect x=\"{x}\" y=\"{y - 10}\" width=\"12\" height=\"12\" fill=\"{Colors[m % Colors.Length]}\"/>"));
            s.Append(Inv($"<text x=\"{x + 18}\" y=\"{y}\">{Esc(methods[m])}</text>\n"));
        }
        s.Append("</svg>\n");
        return s.ToString();
    }

    private static void Panel(StringBuilder s, BenchRow[] rows, string family, string[] methods, int x0)
    {
        var gpus = rows.Select(r => r.Gpus).Distinct().Order().ToArray();
        var max = Nice(Math.Max(1e-9, rows.Where(r => !r.Oom && r.Error.Length == 0).Select(r => r.Pflops).DefaultIfEmpty(0).Max()));
        var present = methods.Select((m, i) => (Name: m, Color: i)).Where(m => rows.Any(r => r.Method == m.Name)).ToArray();
        var y0 = Top + PanelHeight;
        s.Append(Inv($"<text x=\"{x0 + PanelWidth / 2}\" y=\"{Top - 12}\" text-anchor=\"middle\" font-size=\"13\">{Esc(family)}</text>\n"));
        s.Append(Inv($"<line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0 + PanelWidth}\" y2=\"{y0}\" stroke=\"black\"/>"));
        s.Append(Inv($"<line x1=\"{x0}\" y1=\"{Top}\" x2=\"{x0}\" y2=\"{y0}\" stroke=\"black\"/>\n"));
        for (var t = 0; t <= 4; t++)
        {
            var y = y0 - t * PanelHeight / 4.0;
            s.Append(Inv($"<line x1=\"{x0 - 4}\" y1=\"{y:F1}\" x2=\"{x0}\" y2=\"{y:F1}\" stroke=\"black\"/>"));
            s.Append(Inv($"<text x=\"{x0 - 6}\" y=\"{y + 4:F1}\" text-anchor=\"end\">{Tick(max * t / 4)}</text>\n"));
        }
        s.Append(Inv($"<text transform=\"translate({x0 - 45},{Top + PanelHeight / 2}) rotate(-90)\" text-anchor=\"middle\">PFLOPS</text>\n"));
        var group = PanelWidth / (double)Math.Max(1, gpus.Length);
        var bar = group * 0.8 / present.Length;
        for (var g = 0; g < gpus.Length; g++)
        {
            var gx = x0 + g * group + group * 0.1;
            s.Append(Inv($"<text x=\"{gx + group * 0.4:F1}\" y=\"{y0 + 16}\" text-anchor=\"middle\">{gpus[g]} GPU{(gpus[g] > 1 ? "s" : "")}</text>\n"));
            for (var m = 0; m < present.Length; m++)
            {
                var r = rows.FirstOrDefault(r => r.Gpus == gpus[g] && r.Method == present[m].Name);
                if (r is null) continue;
                var bx = gx + m * bar;
                if (r.Oom || r.Error.Length > 0)
                {
                    var mark = r.Oom ? "×" : "n/a";
                    s.Append(Inv($"<text x=\"{bx + bar / 2:F1}\" y=\"{y0 - 4}\" text-anchor=\"middle\" fill=\"{(r.Oom ? "red" : "gray")}\" font-size=\"{(r.Oom ? 14 : 8)}\">{mark}</text>\n"));
                    continue;
                }
                var h = r.Pflops / max * PanelHeight;
                s.Append(Inv($"<rect x=\"{bx:F1}\" y=\"{y0 - h:F1}\" width=\"{bar * 0.9:F1}\" height=\"{h:F1}\" fill=\"{Colors[present[m].Color % Colors.Length]}\"><title>{Esc($"{r.Model} {r.Method}: {r.TflopsPerDevice:F2} TFLOPS/dev, {r.Pflops:F3} PFLOPS {r.Config}")}</title></rect>\n"));
            }
        }
        s.Append(Inv($"<text x=\"{x0 + PanelWidth}\" y=\"{y0 + 34}\" text-anchor=\"end\" fill=\"red\">× = OOM</text>\n"));
    }

    /// <summary>The least of 1, 2, 4, 5 or 10 × a power of ten that is ≥ <paramref name="v"/>·1.05.</summary>
    private static double Nice(double v)
    {
        var p = Math.Pow(10, Math.Floor(Math.Log10(v * 1.05)));
        return new[] { 1, 2, 4, 5, 10 }.Select(k => k * p).First(x => x >= v * 1.05);
    }

    private static string Tick(double v) => v.ToString(v >= 10 ? "0" : v >= 1 ? "0.#" : "0.###", CultureInfo.InvariantCulture);

    private static string Esc(string text) => SecurityElement.Escape(text) ?? "";

    private static string Inv(FormattableString f) => f.ToString(CultureInfo.InvariantCulture);
}
