using Alpa.Client.Jobs;
using Alpa.Planner.Graph;

namespace Alpa.Silo.Jobs;

/// <summary>
/// Turns the measured per-node times of one step into <see cref="TimelineEvent"/>s: nodes run in
/// graph order, so each node's interval starts where the previous one ended; runs of nodes of the
/// same phase (forward, backward, update; a recomputed forward counts as forward) and the time
/// inside collectives become one event each.
/// </summary>
internal static class StepTimeline
{
    /// <summary>Intervals shorter than this are folded into their neighbour (keeps the picture readable).</summary>
    private const double MinSeconds = 20e-6;

    /// <param name="graph">The training graph that ran.</param>
    /// <param name="nodeSeconds">Per node id: its wall seconds and, of those, seconds inside collectives.</param>
    /// <param name="devices">The devices that ran the step (in lockstep when there are several).</param>
    /// <param name="worker">The silo that owns the devices.</param>
    public static IReadOnlyList<TimelineEvent> Build(Graph graph, IReadOnlyList<(double Seconds, double CollectiveSeconds)> nodeSeconds,
        IReadOnlyList<string> devices, string worker)
    {
        var segments = Segments(graph, nodeSeconds);
        var events = new List<TimelineEvent>(segments.Count * devices.Count);
        foreach (var device in devices)
        {
            events.AddRange(segments.Select(s => new TimelineEvent(device, worker, 0, s.Kind, 0, s.Start, s.End)));
        }
        return events;
    }

    private static List<(string Kind, double Start, double End)> Segments(Graph graph, IReadOnlyList<(double Seconds, double CollectiveSeconds)> nodeSeconds)
    {
        var segments = new List<(string Kind, double Start, double End)>();
        var clock = 0.0;
        foreach (var node in graph.Nodes)
        {
            var (seconds, collective) = nodeSeconds[node.Id];
            var compute = Math.Max(0, seconds - collective);
            Append(segments, KindOf(node.Phase), clock, clock + compute);
            clock += compute;
            Append(segments, "collective", clock, clock + collective);
            clock += collective;
        }
        return segments;
    }

    private static void Append(List<(string Kind, double Start, double End)> segments, string kind, double start, double end)
    {
        if (end <= start)
        {
            return;
        }
        if (segments.Count > 0)
        {
            var last = segments[^1];
            if (last.Kind == kind || end - start < MinSeconds)
            {
                segments[^1] = (last.Kind, last.Start, end);
                return;
            }
            if (last.End - last.Start < MinSeconds && (segments.Count == 1 || segments[^2].Kind == kind))
            {
                segments.RemoveAt(segments.Count - 1);
                if (segments.Count > 0)
                {
                    segments[^1] = (kind, segments[^1].Start, end);
                    return;
                }
            }
        }
        segments.Add((kind, start, end));
    }

    private static string KindOf(Phase phase) => phase switch
    {
        Phase.Backward => "backward",
        Phase.Update => "update",
        _ => "forward",
    };
}
