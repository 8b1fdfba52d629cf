namespace Alpa.Planner.Pipeline;

public static partial class PipelineSimulator
{
    private sealed partial class Replay
    {
        private bool _sharing;
        private double _now;
        private double[] _work = [];

        /// <summary>
        /// Devices share <see cref="Inter.InterOpCluster.SharedCores"/> cores (local CPU devices): the
        /// replay advances one clock for all workers, event by event. A worker's RUN, UPDATE, collective
        /// and instruction costs are work at one device's rate; while more devices are busy than there are
        /// cores, every busy device progresses at cores / busy of that rate (processor sharing). A stage
        /// mesh of d devices keeps d devices busy, or one core when the runtime runs a stage's devices on its
        /// one thread (<see cref="Inter.InterOpCluster.StageThreads"/>). With no more busy devices than cores
        /// this is the greedy replay's timeline.
        /// </summary>
        private void RunSharingCores()
        {
            var n = _programs.Count;
            _sharing = true;
            _work = new double[n];
            while (true)
            {
                var done = AdvanceIdle();
                if (done) break;
                var busyDevices = 0;
                for (var w = 0; w < n; w++)
                    if (_work[w] > 0) busyDevices += _plan.Cluster.StageThreads ? 1 : _plan.Stages[w].DeviceCount;
                var arrival = NextArrival();
                if (busyDevices == 0)
                {
                    if (arrival is not { } next) throw Deadlock();
                    _now = next;
                    continue;
                }
                var speed = Math.Min(1.0, (double)_plan.Cluster.SharedCores / busyDevices);
                var dt = double.PositiveInfinity;
                for (var w = 0; w < n; w++)
                    if (_work[w] > 0) dt = Math.Min(dt, _work[w] / speed);
                var byArrival = arrival is { } a && a < _now + dt;
                var until = byArrival ? arrival!.Value : _now + dt;
                var elapsed = until - _now;
                for (var w = 0; w < n; w++)
                {
                    if (_work[w] <= 0) continue;
                    _busy[w] += elapsed;
                    // The earliest finishers end exactly now (subtracting could leave a residue too small
                    // to advance the clock by); the others lose what they did meanwhile.
                    _work[w] = !byArrival && _work[w] / speed <= dt ? 0 : Math.Max(0, _work[w] - elapsed * speed);
                    if (_work[w] == 0) _time[w] = until;
                }
                _now = until;
            }
        }

        /// <summary>Runs every worker that is not computing through its instructions at the current time; true when all lists are done.</summary>
        private bool AdvanceIdle()
        {
            var done = true;
            for (var w = 0; w < _programs.Count; w++)
            {
                var list = _programs[w].Instructions;
                if (_work[w] > 0) { done = false; continue; }
                if (_ip[w] < list.Count) _time[w] = _now;
                while (_work[w] == 0 && _ip[w] < list.Count && Step(w, list[_ip[w]]))
                {
                    Busy(w, _plan.Cluster.InstructionSeconds);
                    _ip[w]++;
                }
                done &= _ip[w] == list.Count && _work[w] == 0;
            }
            return done;
        }

        /// <summary>The earliest SEND arrival after the current time, or null.</summary>
        private double? NextArrival()
        {
            double? next = null;
            foreach (var at in _arrival.Values)
                if (at > _now && (next is null || at < next)) next = at;
            return next;
        }
    }
}
