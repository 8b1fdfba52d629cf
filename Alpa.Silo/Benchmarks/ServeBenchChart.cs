using System.Globalization;
using System.Security;
using System.Text;

namespace Alpa.Silo.Benchmarks;

/// <summary>The serving load test as an SVG: per case, throughput bars and TTFT / inter-token p50–p99 ranges.</summary>
public static class ServeBenchChart
{
    private const int RowHeight = 46, Label = 300, Panel = 260, Gap = 40;

    public static string Svg(IReadOnlyList<ServeBenchRow> rows, string subtitle)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var ci = CultureInfo.InvariantCulture;
        var width = Label + (3 * (Panel + Gap));
        var height = 70 + (rows.Count * RowHeight) + 30;
        var sb = new StringBuilder();
        sb.AppendLine(ci, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">");
        sb.AppendLine(ci, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>");
        sb.AppendLine(ci, $"<text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">alpa serve — gpt-tiny loopback load test</text>");
        sb.AppendLine(ci, $"<text x=\"10\" y=\"38\" fill=\"#555\">{SecurityElement.Escape(subtitle)}</text>");
        PanelOf(sb, rows, 0, "throughput (tokens/s)", r => (0, r.TokensPerSecond), "#3b7dd8");
        PanelOf(sb, rows, 1, "time to first token, p50–p99 (ms)", r => (r.TtftP50 * 1e3, r.TtftP99 * 1e3), "#e08a1e");
        PanelOf(sb, rows, 2, "inter-token latency, p50–p99 (ms)", r => (r.ItlP50 * 1e3, r.ItlP99 * 1e3), "#2a9d5c");
        for (var i = 0; i < rows.Count; i++)
            sb.AppendLine(ci, $"<text x=\"10\" y=\"{78 + (i * RowHeight) + 14}\">{SecurityElement.Escape(rows[i].Case.Name)}</text>");
        sb.AppendLine("</svg>");
        return sb.ToString();
    }

    /// <summary>One panel: a bar from 0 (or a p50 tick) to the value, labelled.</summary>
    private static void PanelOf(StringBuilder sb, IReadOnlyList<ServeBenchRow> rows, int index, string title, Func<ServeBenchRow, (double Low, double High)> value, string color)
    {
        var ci = CultureInfo.InvariantCulture;
        var x0 = Label + (index * (Panel + Gap));
        var max = rows.Max(r => value(r).High is var h && double.IsFinite(h) ? h : 0);
        var scale = max > 0 ? Panel / max : 0;
        sb.AppendLine(ci, $"<text x=\"{x0}\" y=\"64\" font-weight=\"bold\">{SecurityElement.Escape(title)}</text>");
        sb.AppendLine(ci, $"<line x1=\"{x0}\" y1=\"70\" x2=\"{x0}\" y2=\"{70 + (rows.Count * RowHeight)}\" stroke=\"#999\"/>");
        for (var i = 0; i < rows.Count; i++)
        {
            var (low, high) = value(rows[i]);
            if (!double.IsFinite(high)) continue;
            var y = 78 + (i * RowHeight);
            sb.AppendLine(ci, $"<rect x=\"{x0}\" y=\"{y}\" width=\"{high * scale:F1}\" height=\"20\" fill=\"{color}\" opacity=\"{(low > 0 ? 0.35 : 0.9)}\"/>");
            if (low > 0) sb.AppendLine(ci, $"<rect x=\"{x0}\" y=\"{y}\" width=\"{low * scale:F1}\" height=\"20\" fill=\"{color}\"/>");
            var label = low > 0 ? $"{low:F1} – {high:F1}" : $"{high:F1}";
            sb.AppendLine(ci, $"<text x=\"{x0 + 4}\" y=\"{y + 34}\" fill=\"#333\">{label}</text>");
        }
    }
}
