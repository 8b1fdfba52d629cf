using System.Diagnostics;
using Alpa.Planner.Inter;

namespace Alpa.Silo.Cli;

/// <summary>
/// Where planning time goes, measured around the stage cost provider: building the microbatch
/// training graphs, evaluating stage candidates (the intra-op ILPs, in parallel: wall time from
/// the first evaluation to the last) and the stage DP that follows each batch of candidates.
/// </summary>
public sealed class PlanTiming
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly object _gate = new();
    private double _firstEval = -1, _lastEval = -1;

    public double GraphSeconds { get; private set; }
    public double CandidateSeconds { get; private set; }
    public double DpSeconds { get; private set; }

    public IStageCostProvider Wrap(IStageCostProvider inner) => new Provider(this, inner);

    public void Finish()
    {
        lock (_gate) CloseBatch(Now);
    }

    public string Describe(double totalSeconds) =>
        $"graphs {GraphSeconds:F2} s, stage candidates (intra-op ILPs) {CandidateSeconds:F2} s, stage DP {DpSeconds:F2} s, " +
        $"other (clustering, simulation) {Math.Max(0, totalSeconds - GraphSeconds - CandidateSeconds - DpSeconds):F2} s";

    private double Now => _clock.Elapsed.TotalSeconds;

    private void CloseBatch(double now)
    {
        if (_lastEval < 0) return;
        CandidateSeconds += _lastEval - _firstEval;
        DpSeconds += now - _lastEval;
        _firstEval = _lastEval = -1;
    }

    private sealed class Provider(PlanTiming timing, IStageCostProvider inner) : IStageCostProvider
    {
        public IStageCostModel ForMicrobatches(int microbatches)
        {
            var start = timing.Now;
            lock (timing._gate) timing.CloseBatch(start);
            var model = inner.ForMicrobatches(microbatches);
            lock (timing._gate) timing.GraphSeconds += timing.Now - start;
            return new Model(timing, model);
        }
    }

    private sealed class Model(PlanTiming timing, IStageCostModel inner) : IStageCostModel
    {
        public int LayerCount => inner.LayerCount;
        public long TransferBytes(int producer, int consumer) => inner.TransferBytes(producer, consumer);
        public IReadOnlyList<Alpa.Planner.Plans.PlanTensor> TransferTensors(int producer, int consumer) => inner.TransferTensors(producer, consumer);

        public StageCost Evaluate(StageKey key)
        {
            var start = timing.Now;
            lock (timing._gate) if (timing._firstEval < 0) timing._firstEval = start;
            var cost = inner.Evaluate(key);
            var end = timing.Now;
            lock (timing._gate) timing._lastEval = Math.Max(timing._lastEval, end);
            return cost;
        }
    }
}
