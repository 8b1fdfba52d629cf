using Alpa.Planner.Pipeline;

namespace Alpa.Planner.Inter;

public static partial class StageDp
{
    /// <summary>The cost table flattened to arrays of t_intra, per-step time and memory reach, plus the DP itself.</summary>
    private sealed class Prepared
    {
        private readonly int _layers, _submeshes, _devices, _maxMeshes;
        private readonly int[] _size;
        private readonly int[] _meshCount;
        private readonly double[] _t, _u;
        /// <summary>Largest s (stages from this one to the last) for which the candidate passes its memory check; 0: never.</summary>
        private readonly int[] _reach;

        private Prepared(StageCostTable table, StageDpInput input)
        {
            _layers = table.LayerCount;
            _submeshes = table.Submeshes.Count;
            _devices = input.Hosts * input.DevicesPerHost;
            _size = table.Submeshes.Select(s => s.Count).ToArray();
            _meshCount = table.Meshes.Select(m => m.Count).ToArray();
            _maxMeshes = _meshCount.Max();
            B = input.Microbatches;
            var n = _layers * _layers * _submeshes * _maxMeshes;
            _t = new double[n];
            _u = new double[n];
            _reach = new int[n];
            Report = Fill(table, input);
        }

        public int B { get; }
        public StageDpReport Report { get; }

        public static Prepared From(StageCostTable table, StageDpInput input)
        {
            if (input.Microbatches < 1) throw new InterOpException($"microbatches must be ≥ 1, got {input.Microbatches}") { Field = "microbatches" };
            return new Prepared(table, input);
        }

        public double T(StageChoice s) => _t[Idx(s.First, s.Last, s.Submesh, s.Mesh)];
        public double U(StageChoice s) => _u[Idx(s.First, s.Last, s.Submesh, s.Mesh)];

        private int Idx(int i, int j, int k, int c) => ((i * _layers + j) * _submeshes + k) * _maxMeshes + c;

        private StageDpReport Fill(StageCostTable table, StageDpInput input)
        {
            var (count, infeasible, over) = (0, 0, 0);
            for (var i = 0; i < _layers; i++)
                for (var j = i; j < _layers; j++)
                    for (var k = 0; k < _submeshes; k++)
                        for (var c = 0; c < _meshCount[k]; c++)
                        {
                            count++;
                            var cost = table[i, j, k, c];
                            var x = Idx(i, j, k, c);
                            _t[x] = cost.DpSeconds;
                            _u[x] = cost.StepSeconds;
                            if (!cost.IsFeasible) { infeasible++; continue; }
                            _reach[x] = Reach(cost, input);
                            if (_reach[x] == 0) over++;
                        }
            return new StageDpReport { Microbatches = input.Microbatches, Candidates = count, Infeasible = infeasible, OverMemory = over };
        }

        /// <summary>Alpa eq. (5): mem_stage + s·mem_act ≤ mem_device, s capped at B; GPipe keeps all B.</summary>
        private int Reach(StageCost cost, StageDpInput input)
        {
            double Need(int s) => cost.ParameterBytes + (double)Math.Min(s, B) * cost.ActivationBytes;
            var mem = (double)input.DeviceMemoryBytes;
            if (input.Schedule == PipelineSchedule.GPipe) return Need(B) <= mem ? _layers : 0;
            if (Need(_layers) <= mem) return _layers;
            if (Need(1) > mem) return 0;
            // Need(s) grows with s here (act > 0): the largest s that fits.
            var s = (int)Math.Floor((mem - cost.ParameterBytes) / cost.ActivationBytes);
            while (s > 0 && Need(s) > mem) s--;
            while (s + 1 < _layers && Need(s + 1) <= mem) s++;
            return Math.Clamp(s, 0, _layers);
        }

        public double[] DistinctT()
        {
            var set = new SortedSet<double>();
            for (var x = 0; x < _t.Length; x++)
                if (_reach[x] > 0) set.Add(_t[x]);
            return [.. set];
        }

        /// <summary>Distinct per-step times of usable candidates with t ≤ t_max, ascending.</summary>
        public double[] DistinctU(double tMax)
        {
            var set = new SortedSet<double>();
            for (var x = 0; x < _t.Length; x++)
                if (_reach[x] > 0 && _t[x] <= tMax) set.Add(_u[x]);
            return [.. set];
        }

        /// <summary>
        /// One DP run: F(s, k, d) = min over j ≥ k and submesh q of F(s − 1, j + 1, d − |q|) + t(k..j, q, s),
        /// where t(…, s) is the fastest logical mesh under the bounds that passes the memory check with s.
        /// Returns the stages of min_s F(s, 0, N·M), or null when no slicing fits.
        /// </summary>
        public StageChoice[]? Run(double tMax, double uMax)
        {
            var (bestT, bestC) = BestPerStageCount(tMax, uMax);
            int L = _layers, K = _submeshes, D = _devices;
            var f = new double[(L + 1) * (L + 1) * (D + 1)];
            var choice = new int[f.Length];
            Array.Fill(f, double.PositiveInfinity);
            f[F(0, L, 0)] = 0;
            // s stages need ≥ s layers and ≥ s devices; the first of them takes layers k..j and leaves
            // ≥ s − 1 layers and devices to the others.
            for (var s = 1; s <= Math.Min(L, D); s++)
                for (var k = L - s; k >= 0; k--)
                    for (var d = s; d <= D; d++)
                    {
                        var at = F(s, k, d);
                        var best = double.PositiveInfinity;
                        var pick = 0;
                        for (var j = k; j <= L - s; j++)
                        {
                            var row = BIdx(k, j, 0, s);
                            var next = F(s - 1, j + 1, 0);
                            for (var q = 0; q < K; q++)
                            {
                                var rest = d - _size[q];
                                if (rest < s - 1) continue;
                                var t = bestT[row + q * (L + 1)];
                                if (double.IsPositiveInfinity(t)) continue;
                                var v = f[next + rest] + t;
                                if (v < best) { best = v; pick = j * K + q; }
                            }
                        }
                        f[at] = best;
                        choice[at] = pick;
                    }
            var bestS = 0;
            for (var s = 1; s <= Math.Min(L, D); s++)
                if (f[F(s, 0, D)] < (bestS == 0 ? double.PositiveInfinity : f[F(bestS, 0, D)])) bestS = s;
            if (bestS == 0) return null;

            var stages = new StageChoice[bestS];
            for (int s = bestS, k = 0, d = D, n = 0; s > 0; s--, n++)
            {
                var pick = choice[F(s, k, d)];
                int j = pick / K, q = pick % K;
                stages[n] = new StageChoice(k, j, q, bestC[BIdx(k, j, q, s)]);
                k = j + 1;
                d -= _size[q];
            }
            return stages;
        }

        private int F(int s, int k, int d) => (s * (_layers + 1) + k) * (_devices + 1) + d;

        /// <summary>Index of (range i..j, submesh k, stage count s) in the per-run best tables; submeshes are (L + 1) apart.</summary>
        private int BIdx(int i, int j, int k, int s) => ((i * _layers + j) * _submeshes + k) * (_layers + 1) + s;

        /// <summary>For each (range, submesh, s): the least t over logical meshes within the bounds that fit with s.</summary>
        private (double[] T, int[] C) BestPerStageCount(double tMax, double uMax)
        {
            var n = _layers * _layers * _submeshes * (_layers + 1);
            var bestT = new double[n];
            var bestC = new int[n];
            Array.Fill(bestT, double.PositiveInfinity);
            for (var i = 0; i < _layers; i++)
                for (var j = i; j < _layers; j++)
                    for (var k = 0; k < _submeshes; k++)
                        for (var c = 0; c < _meshCount[k]; c++)
                        {
                            var x = Idx(i, j, k, c);
                            if (_reach[x] == 0 || _t[x] > tMax || _u[x] > uMax) continue;
                            for (var s = 1; s <= _reach[x]; s++)
                            {
                                var b = BIdx(i, j, k, s);
                                if (_t[x] < bestT[b]) { bestT[b] = _t[x]; bestC[b] = c; }
                            }
                        }
            return (bestT, bestC);
        }
    }
}
