using Alpa.Planner.Plans;

namespace Alpa.Planner.Pipeline;

public static partial class PipelineSimulator
{
    /// <summary>The mutable state of one replay.</summary>
    private sealed partial class Replay
    {
        private readonly Plan _plan;
        private readonly IReadOnlyList<WorkerProgram> _programs;
        private readonly int[] _ip;
        private readonly double[] _time, _busy;
        private readonly Dictionary<BufferId, double> _arrival = [];
        private readonly Dictionary<(int, int), double> _channelFree = [];
        private readonly Dictionary<(int From, int To), double> _sendSeconds = [];
        private readonly Dictionary<BufferId, double>[] _sendDone;
        private readonly Dictionary<BufferId, long>[] _live;
        private readonly List<(double Time, long Delta, int Stash)>[] _memory;
        private readonly List<CollectiveTraffic> _collectives = [];
        private long _crossBytes;
        private double _lastArrival;

        public Replay(Plan plan, IReadOnlyList<WorkerProgram> programs)
        {
            _plan = plan;
            _programs = programs;
            var n = programs.Count;
            if (n != plan.Stages.Count) throw new PipelineException($"{n} instruction lists for {plan.Stages.Count} stages");
            _ip = new int[n];
            _time = new double[n];
            _busy = new double[n];
            _sendDone = Enumerable.Range(0, n).Select(_ => new Dictionary<BufferId, double>()).ToArray();
            _live = Enumerable.Range(0, n).Select(_ => new Dictionary<BufferId, long>()).ToArray();
            _memory = Enumerable.Range(0, n).Select(_ => new List<(double, long, int)>()).ToArray();
        }

        public void RunToEnd()
        {
            if (_plan.Cluster.SharedCores > 0) RunSharingCores();
            else RunGreedy();
            for (var w = 0; w < _programs.Count; w++)
                if (_live[w].Count > 0)
                    throw new PipelineException($"stage {w} ends the step with buffers never freed: {string.Join(", ", _live[w].Keys.Take(4))}");
        }

        /// <summary>
        /// Devices compute independently: each worker runs ahead as far as its arrivals allow (its clock
        /// depends only on its own work and the arrivals it waits for).
        /// </summary>
        private void RunGreedy()
        {
            while (true)
            {
                var progressed = false;
                var done = true;
                for (var w = 0; w < _programs.Count; w++)
                {
                    while (_ip[w] < _programs[w].Instructions.Count && Step(w, _programs[w].Instructions[_ip[w]]))
                    {
                        // The interpreter's own cost of every instruction (measured for local clusters, else 0).
                        Busy(w, _plan.Cluster.InstructionSeconds);
                        _ip[w]++;
                        progressed = true;
                    }
                    done &= _ip[w] == _programs[w].Instructions.Count;
                }
                if (done) break;
                if (!progressed) throw Deadlock();
            }
        }

        private bool Step(int w, Instruction instruction)
        {
            switch (instruction)
            {
                case Run run: DoRun(w, run); return true;
                case Send send: DoSend(w, send); return true;
                case Recv recv:
                    if (!_arrival.TryGetValue(recv.Tensor, out var at) || (_sharing && at > _now)) return false;
                    _time[w] = Math.Max(_time[w], at);
                    Allocate(w, recv.Tensor, PerDevice(w, recv.Bytes));
                    return true;
                case Free free:
                    foreach (var b in free.Buffers) Release(w, b);
                    return true;
                case Collective c:
                    Busy(w, _plan.Stages[w].Collectives[c.Index].Seconds);
                    _collectives.Add(new CollectiveTraffic(c.Stage, c.Kind, c.Axis, c.Bytes));
                    return true;
                case UpdateStage:
                    Busy(w, _plan.Stages[w].UpdateSeconds + _plan.Cluster.RunSeconds);
                    return true;
                default:
                    throw new PipelineException($"stage {w}: unknown instruction {instruction.GetType().Name}");
            }
        }

        private void DoRun(int w, Run run)
        {
            foreach (var input in run.Inputs)
                if (!_live[w].ContainsKey(input))
                    throw new PipelineException($"stage {w}: {run.Kind} of microbatch {run.Microbatch} reads {input}, which is not on the mesh (missing RECV or freed too early)");
            foreach (var output in run.Outputs)
                Allocate(w, output, output.Kind == BufferKind.Stash ? _plan.Stages[w].ActivationBytes : PerDevice(w, BoundaryBytes(output)));
            var st = _plan.Stages[w];
            Busy(w, (run.Kind == RunKind.Forward ? st.ForwardSeconds : st.BackwardSeconds) + _plan.Cluster.RunSeconds);
        }

        private void DoSend(int w, Send send)
        {
            if (!_live[w].ContainsKey(send.Tensor)) throw new PipelineException($"stage {w} sends {send.Tensor}, which it does not hold");
            var channel = (send.FromStage, send.ToStage);
            var start = Math.Max(_time[w], _channelFree.GetValueOrDefault(channel));
            var end = start + SendSeconds(send);
            _channelFree[channel] = end;
            if (!_arrival.TryAdd(send.Tensor, end)) throw new PipelineException($"stage {w} sends {send.Tensor} twice");
            _sendDone[w][send.Tensor] = end;
            _lastArrival = Math.Max(_lastArrival, end);
            _crossBytes += send.Bytes;
        }

        /// <summary>Time of a SEND on its channel; the same for every microbatch, so computed once per direction.</summary>
        private double SendSeconds(Send send)
        {
            var key = (send.FromStage, send.ToStage);
            if (_sendSeconds.TryGetValue(key, out var seconds)) return seconds;
            var backward = send.FromStage > send.ToStage;
            var (a, z) = backward ? (send.ToStage, send.FromStage) : (send.FromStage, send.ToStage);
            var transfer = _plan.Transfers.FirstOrDefault(t => t.FromStage == a && t.ToStage == z);
            seconds = transfer is null || transfer.Bytes != send.Bytes
                ? TransferSeconds(_plan.Cluster, _plan.Stages[send.FromStage].Devices, _plan.Stages[send.ToStage].Devices, send.Bytes)
                : TransferSeconds(_plan, transfer, backward);
            return _sendSeconds[key] = seconds;
        }

        private void Busy(int w, double seconds)
        {
            if (_sharing)
            {
                _work[w] += seconds; // done at the rate the shared cores allow (RunSharingCores)
                return;
            }
            _time[w] += seconds;
            _busy[w] += seconds;
        }

        private void Allocate(int w, BufferId id, long bytes)
        {
            if (!_live[w].TryAdd(id, bytes)) throw new PipelineException($"stage {w} creates {id} twice");
            _memory[w].Add((_time[w], bytes, id.Kind == BufferKind.Stash ? 1 : 0));
        }

        private void Release(int w, BufferId id)
        {
            if (!_live[w].Remove(id, out var bytes)) throw new PipelineException($"stage {w} frees {id}, which it does not hold");
            var at = Math.Max(_time[w], _sendDone[w].GetValueOrDefault(id));
            _memory[w].Add((at, -bytes, id.Kind == BufferKind.Stash ? -1 : 0));
        }

        private long BoundaryBytes(BufferId id)
        {
            var (from, to) = id.Kind == BufferKind.Gradient ? (id.To, id.From) : (id.From, id.To);
            return _plan.Transfers.Where(t => t.FromStage == from && t.ToStage == to).Sum(t => t.Bytes);
        }

        /// <summary>A boundary tensor's share on one device, assuming it is spread evenly over the mesh.</summary>
        private long PerDevice(int w, long bytes)
        {
            var d = _plan.Stages[w].DeviceCount;
            return (bytes + d - 1) / d;
        }

        private PipelineException Deadlock()
        {
            var blocked = Enumerable.Range(0, _programs.Count)
                .Where(w => _ip[w] < _programs[w].Instructions.Count)
                .Select(w => $"stage {w} at {_programs[w].Instructions[_ip[w]]}");
            return new PipelineException("the instruction lists deadlock: " + string.Join("; ", blocked));
        }

        public SimulationResult Result()
        {
            var step = Math.Max(_time.DefaultIfEmpty(0).Max(), _lastArrival);
            var stages = new StageSimulation[_programs.Count];
            double busyDeviceSeconds = 0;
            for (var w = 0; w < stages.Length; w++)
            {
                var (peakBytes, peakStash) = Peak(_memory[w]);
                stages[w] = new StageSimulation
                {
                    Stage = w, FinishSeconds = _time[w], BusySeconds = _busy[w],
                    PeakMemoryBytes = _plan.Stages[w].ParameterBytes + peakBytes, PeakLiveMicrobatches = peakStash,
                };
                busyDeviceSeconds += _busy[w] * _plan.Stages[w].DeviceCount;
            }
            var devices = _plan.Stages.Sum(s => s.DeviceCount);
            var flops = _plan.Microbatches * _plan.Stages.Sum(s => s.Flops);
            return new SimulationResult
            {
                StepSeconds = step,
                BubbleFraction = step > 0 ? 1 - busyDeviceSeconds / (devices * step) : 0,
                FlopsPerStep = flops,
                TflopsPerDevice = step > 0 ? flops / step / devices / 1e12 : 0,
                Stages = stages,
                Collectives = _collectives,
                CrossMeshBytes = _crossBytes,
            };
        }

        /// <summary>Peak of a memory timeline; at equal times frees count before allocations.</summary>
        private static (long Bytes, int Stash) Peak(List<(double Time, long Delta, int Stash)> events)
        {
            long bytes = 0, peakBytes = 0;
            int stash = 0, peakStash = 0;
            foreach (var e in events.OrderBy(e => e.Time).ThenBy(e => e.Delta))
            {
                bytes += e.Delta;
                stash += e.Stash;
                peakBytes = Math.Max(peakBytes, bytes);
                peakStash = Math.Max(peakStash, stash);
            }
            return (peakBytes, peakStash);
        }
    }
}
