using System.Globalization;
using System.Text;

namespace Alpa.Silo.Serving;

/// <summary>Counters of the server, written in the Prometheus text format at <c>/metrics</c>.</summary>
public sealed class ServingMetrics
{
    private readonly Lock _gate = new();
    private long _accepted, _rejected, _completed, _failed, _tokens, _steps, _prefillSteps, _slotSteps, _firstTokens, _replans;
    private double _stepSeconds, _ttftSeconds;

    internal void Accepted() { lock (_gate) _accepted++; }
    internal void Rejected() { lock (_gate) _rejected++; }
    internal void Token() { lock (_gate) _tokens++; }
    internal void Replanned() { lock (_gate) _replans++; }

    internal void Finished(bool ok)
    {
        lock (_gate)
        {
            if (ok) _completed++;
            else _failed++;
        }
    }

    internal void Step(int busySlots, bool prefill, double seconds)
    {
        lock (_gate)
        {
            _steps++;
            if (prefill) _prefillSteps++;
            _slotSteps += busySlots;
            _stepSeconds += seconds;
        }
    }

    internal void FirstToken(double seconds)
    {
        lock (_gate)
        {
            _firstTokens++;
            _ttftSeconds += seconds;
        }
    }

    /// <summary>Generated tokens so far.</summary>
    public long Tokens { get { lock (_gate) return _tokens; } }

    /// <summary>Requests that failed, timed out or were cancelled by their client.</summary>
    public long FailedRequests { get { lock (_gate) return _failed; } }

    /// <summary>Times the model was re-planned after a stage's silo failed.</summary>
    public long Replans { get { lock (_gate) return _replans; } }

    /// <summary>Requests refused because the queue was full.</summary>
    public long RejectedRequests { get { lock (_gate) return _rejected; } }

    /// <summary>The counters in the Prometheus text exposition format, plus the current queue and slot gauges.</summary>
    public string Prometheus(int waiting, int busy, int slots)
    {
        var sb = new StringBuilder();
        void Metric(string name, string type, string help, double value)
        {
            sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            sb.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
            sb.Append(name).Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        }
        lock (_gate)
        {
            Metric("alpa_serve_requests_accepted_total", "counter", "Requests queued.", _accepted);
            Metric("alpa_serve_requests_rejected_total", "counter", "Requests refused with 429 (queue full).", _rejected);
            Metric("alpa_serve_requests_completed_total", "counter", "Requests that finished (stop or length).", _completed);
            Metric("alpa_serve_requests_failed_total", "counter", "Requests that failed, timed out or were cancelled.", _failed);
            Metric("alpa_serve_generated_tokens_total", "counter", "Tokens generated.", _tokens);
            Metric("alpa_serve_steps_total", "counter", "Model steps (prefill and decode).", _steps);
            Metric("alpa_serve_prefill_steps_total", "counter", "Steps that ran the prefill program.", _prefillSteps);
            Metric("alpa_serve_step_seconds_total", "counter", "Time spent in model steps.", _stepSeconds);
            Metric("alpa_serve_replans_total", "counter", "Re-plans after a stage's silo failed.", _replans);
            Metric("alpa_serve_batch_slots_busy_mean", "gauge", "Mean busy slots per step.", _steps == 0 ? 0 : (double)_slotSteps / _steps);
            Metric("alpa_serve_time_to_first_token_seconds_mean", "gauge", "Mean time from queueing to the first token.", _firstTokens == 0 ? 0 : _ttftSeconds / _firstTokens);
        }
        Metric("alpa_serve_queue_waiting", "gauge", "Requests waiting for a slot.", waiting);
        Metric("alpa_serve_slots_busy", "gauge", "Slots generating now.", busy);
        Metric("alpa_serve_slots", "gauge", "Batch slots.", slots);
        return sb.ToString();
    }
}
