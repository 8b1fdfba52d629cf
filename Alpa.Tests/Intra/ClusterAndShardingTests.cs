using Alpa.Planner;
using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Planner.Sharding;

namespace Alpa.Tests.Intra;

public sealed class ClusterAndShardingTests
{
    [Fact]
    public void ClusterNamesParseAndResolve()
    {
        var n = ClusterName.Parse("aws-p3.16xlarge:2x8");
        Assert.Equal(new ClusterName("aws-p3.16xlarge", 2, 8), n);
        var spec = BuiltInClusters.Resolve(n);
        Assert.Equal(16, spec.Devices);
        Assert.Equal(125e12, spec.Device.PeakHalfFlops);
        Assert.Equal(8, BuiltInClusters.Resolve(ClusterName.Parse("dgx-h100:1x8")).Devices);
        Assert.Throws<ClusterSpecException>(() => ClusterName.Parse("aws-p3.16xlarge"));
        Assert.Throws<ClusterSpecException>(() => ClusterName.Parse("local:0x2"));
        Assert.Throws<ClusterSpecException>(() => ClusterName.Parse("local:2by2"));
        Assert.Contains("unknown cluster", Assert.Throws<ClusterSpecException>(() => BuiltInClusters.Resolve(ClusterName.Parse("tpu:1x8"))).Message, StringComparison.Ordinal);
        Assert.Throws<ClusterSpecException>(() => BuiltInClusters.Resolve(ClusterName.Parse("local:1x2")));
        var local = BuiltInClusters.ForLocal(1, 2, 200e9, 10e9, 3e9, 4L << 30);
        Assert.Equal(2, local.Devices);
    }

    [Fact]
    public void ClusterJsonRoundTripsAndReportsBadFields()
    {
        var p3 = BuiltInClusters.P3(2, 8);
        var back = ClusterJson.Parse(ClusterJson.Write(p3));
        Assert.Equal(p3.Hosts, back.Hosts);
        Assert.Equal(p3.InterHostBytesPerSecond, back.InterHostBytesPerSecond, 1e-3);
        Assert.Equal(p3.Topology, back.Topology);
        Assert.Equal(p3.Calibration.IntraHostAlphaSeconds, back.Calibration.IntraHostAlphaSeconds, 1e-12);
        Assert.Throws<ClusterSpecException>(() => ClusterJson.Parse("{ not json"));
        var missing = Assert.Throws<ClusterSpecException>(() => ClusterJson.Parse(ClusterJson.Write(p3).Replace("\"hbm_gb_per_s\"", "\"hbm\"", StringComparison.Ordinal)));
        Assert.Equal("device.hbm_gb_per_s", missing.Field);
        var zeroHosts = Assert.Throws<ClusterSpecException>(() => ClusterJson.Parse(ClusterJson.Write(p3 with { Hosts = 0 })));
        Assert.Equal("hosts", zeroHosts.Field);
    }

    [Fact]
    public void MeshAxesModelSharedNicsSlowestHopsAndCubeMesh()
    {
        var p3 = BuiltInClusters.P3(2, 8);
        // (2, 8): axis 0 pairs device i of host 0 with device i of host 1: 8 rings share each NIC.
        var m = LogicalMesh.Create(p3, 2, 8);
        var nic = p3.InterHostBytesPerSecond * p3.Calibration.InterHostLinkEfficiency;
        Assert.True(m.Axis0.CrossesHosts);
        Assert.Equal(nic / 8, m.Axis0.BytesPerSecond, 1e-3);
        Assert.Equal(p3.Calibration.InterHostAlphaSeconds, m.Axis0.Alpha);
        Assert.Equal(150e9 * 0.8, m.Axis1.BytesPerSecond, 1e-3);   // all 8 GPUs: 6 lanes each
        // (4, 4): axis 1 groups of 4 GPUs stay in a host (quads: 4 lanes each); axis 0 groups mix
        // two intra-host hops with inter-host ones: the slowest hop, with the NIC shared 4 ways.
        var m44 = LogicalMesh.Create(p3, 4, 4);
        Assert.Equal(4 * 25e9 * 0.8, m44.Axis1.BytesPerSecond, 1e-3);
        Assert.Equal(nic / 4, m44.Axis0.BytesPerSecond, 1e-3);
        // Inside one p3 host, pairs get far less than the per-GPU aggregate.
        var m1 = LogicalMesh.Create(BuiltInClusters.P3(1, 8), 4, 2);
        Assert.Equal(25e9 * 0.8, m1.Axis1.BytesPerSecond, 1e-3);  // {0,1}: one lane
        Assert.True(m1.Axis1.BytesPerSecond < m.Axis1.BytesPerSecond / 5);
        // A switched host gives every group the full per-device bandwidth.
        var h = LogicalMesh.Create(BuiltInClusters.H100(1, 8), 4, 2);
        Assert.Equal(450e9 * 0.8, h.Axis1.BytesPerSecond, 1e-3);
        Assert.Equal(4, LogicalMesh.AllShapes(BuiltInClusters.P3(1, 8)).Count);
        Assert.Throws<ClusterSpecException>(() => LogicalMesh.Create(p3, 3, 5));
    }

    [Fact]
    public void CollectiveCostsUseFullGroupTensorBytes()
    {
        var m = LogicalMesh.Create(BuiltInClusters.H100(1, 8), 2, 4);
        var a = m.Axis1;
        const double B = 1e9;
        Assert.Equal(a.Alpha + a.Beta * B * 2 * 3 / 4, Collectives.AllReduce(m, 2, B), 1e-12);
        Assert.Equal(a.Alpha + a.Beta * B * 3 / 4, Collectives.AllGather(m, 2, B), 1e-12);
        Assert.Equal(a.Alpha + a.Beta * B * 3 / 4, Collectives.ReduceScatter(m, 2, B), 1e-12);
        Assert.Equal(a.Alpha + a.Beta * B * 3 / 16 * (4 * 0.5), Collectives.AllToAll(m, 2, B), 1e-12);
        var mesh1 = LogicalMesh.Create(BuiltInClusters.H100(1, 8), 1, 8);
        Assert.Equal(0, Collectives.AllReduce(mesh1, 1, B)); // axis of size 1 is free
    }

    [Fact]
    public void ReshardingUsesGathersAllToAllsAndFreeSlices()
    {
        var m = LogicalMesh.Create(BuiltInClusters.H100(1, 8), 2, 4);
        ShardingSpec S(params string[] d) => ShardingSpec.Parse(d);
        Assert.Empty(Resharding.Plan(m, 1e6, S("R", "R"), S("S0", "S1")));            // slicing is free
        var gather = Assert.Single(Resharding.Plan(m, 1e6, S("S0", "R"), S("R", "R")));
        Assert.Equal(CollectiveKind.AllGather, gather.Kind);
        Assert.Equal(1e6, gather.Bytes);
        var move = Assert.Single(Resharding.Plan(m, 1e6, S("S1", "R"), S("R", "S1")));
        Assert.Equal(CollectiveKind.AllToAll, move.Kind);
        var two = Resharding.Plan(m, 1e6, S("S0", "S1"), S("S1", "R"));             // multi-step
        Assert.Equal([CollectiveKind.AllToAll, CollectiveKind.AllGather], two.Select(c => c.Kind));
        Assert.Equal(2, Resharding.Plan(m, 1e6, S("S01", "R"), S("S1", "R")).Count); // order mismatch: gather both
    }

    [Fact]
    public void BadInputGivesTypedErrors()
    {
        var mesh = LogicalMesh.Create(BuiltInClusters.P3(1, 4), 1, 4);
        Assert.Throws<IntraOpException>(() => IntraOpPass.Run(new GraphBuilder().Build([]), mesh));
        Assert.Throws<ClusterSpecException>(() => LogicalMesh.AllShapes(BuiltInClusters.P3(1, 4) with { Hosts = 0 }));
        Assert.Throws<ClusterSpecException>(() => LogicalMesh.Create(BuiltInClusters.P3(1, 4) with { DevicesPerHost = 0 }, 1, 1));
        // Unknown op kinds cannot enter the IR.
        var b = new GraphBuilder();
        var x = b.Input("x", new Shape(4, 4));
        Assert.Throws<ShapeException>(() => b.Op((OpKind)999, [x]));
        // Contradictory specs.
        Assert.Throws<ShardingSpecException>(() => ShardingSpec.Parse(["S0", "S0"]));
        Assert.Throws<ShardingSpecException>(() => ShardingSpec.Parse(["S01", "S1"]));
        Assert.Throws<ShardingSpecException>(() => ShardingSpec.Parse(["S2"]));
        var graph = BenchGraphs.Mlp(8, 16, 32);
        Assert.Throws<ShardingSpecException>(() => IntraOpPass.Run(graph, mesh,
            new IntraOptions { FixedSpecs = new Dictionary<string, IReadOnlyList<string>> { ["mlp.fc1.weight"] = ["S1", "S1"] } }));
        Assert.Throws<ShardingSpecException>(() => IntraOpPass.Run(graph, mesh,
            new IntraOptions { FixedSpecs = new Dictionary<string, IReadOnlyList<string>> { ["mlp.fc1.weight"] = ["R"] } }));
        Assert.Throws<IntraOpException>(() => IntraOpPass.Run(graph, mesh,
            new IntraOptions { FixedSpecs = new Dictionary<string, IReadOnlyList<string>> { ["mlp.gelu"] = ["R", "R"] } }));
        Assert.Throws<IntraOpException>(() => IntraOpPass.Run(graph, mesh, new IntraOptions { MemoryBudgetBytes = -1 }));
        var e = Assert.Throws<MemoryBudgetException>(() => IntraOpPass.Run(graph, mesh, new IntraOptions { MemoryBudgetBytes = 16 }));
        Assert.True(e.MinimumBytes > 16);
        Assert.IsAssignableFrom<AlpaException>(e);
    }

    [Fact]
    public void StrategiesCoverEveryOpKindAndExcludeNonDividingSplits()
    {
        var mesh = LogicalMesh.Create(BuiltInClusters.P3(1, 8), 2, 4);
        var b = new GraphBuilder();
        var x = b.Input("x", new Shape(6, 10));                 // 6 and 10: not divisible by 4
        var w = b.Parameter("w", new Shape(10, 8));
        var mm = b.MatMul(x, w, name: "mm");
        var s = StrategyEnumerator.Enumerate(mm, mesh);
        Assert.NotEmpty(s);
        Assert.All(s, st => Assert.True(st.Output.Fits(mm.Shape, mesh) && st.Inputs[0].Fits(x.Shape, mesh)));
        // Replicated heavy ops are charged their full compute.
        var big = new GraphBuilder();
        var a = big.Input("a", new Shape(4096, 4096), DType.F16);
        var m2 = big.MatMul(a, big.Parameter("w", new Shape(4096, 4096), DType.F16), name: "mm");
        var all = StrategyEnumerator.Enumerate(m2, mesh);
        var rep = all.Single(t => t.Output.UsedAxes == 0 && t.Collectives.Count == 0);
        Assert.True(rep.ComputeSeconds > 7 * all.Min(t => t.ComputeSeconds));
    }

    [Fact]
    public void EveryOpKindHasStrategiesAndAGraphOfAllKindsPlans()
    {
        var graph = AllKinds();
        var missing = Enum.GetValues<OpKind>().Except(graph.Nodes.Select(n => n.Op)).ToList();
        Assert.Empty(missing);
        var mesh = LogicalMesh.Create(BuiltInClusters.P3(1, 4), 2, 2);
        foreach (var n in graph.Nodes) Assert.NotEmpty(StrategyEnumerator.Enumerate(n, mesh));
        var dispatch = StrategyEnumerator.Enumerate(graph["dispatch"], mesh);
        Assert.Contains(dispatch, st => st.Collectives.Any(c => c.Kind == CollectiveKind.AllToAll));
        var bn = StrategyEnumerator.Enumerate(graph["bn"], mesh);
        Assert.Contains(bn, st => st.Inputs[0][0] != DimSharding.R && st.Collectives.Any(c => c.Kind == CollectiveKind.AllReduce));
        var r = IntraOpPass.Run(graph, mesh);
        Assert.True(r.Stats.ProvenOptimal);
    }

    private static Graph AllKinds()
    {
        var b = new GraphBuilder();
        OpAttrs Sh(params long[] s) => new() { Shape = s };
        var img = b.Input("img", new Shape(4, 8, 8, 4));
        var w = b.Parameter("conv.w", new Shape(3, 3, 4, 8));
        var y = b.Conv2d(img, w, padding: 1, name: "conv");
        var g = b.Parameter("bn.g", new Shape(8), init: InitKind.Ones);
        var bt = b.Parameter("bn.b", new Shape(8), init: InitKind.Zeros);
        var bn = b.BatchNorm(y, g, bt, name: "bn");
        var relu = b.Relu(bn);
        var mp = b.MaxPool(relu, 2, 2);
        var ap = b.AvgPool(relu, 2, 2);
        var dy = b.Constant("dy", new Shape(4, 8, 8, 8), 1);
        b.Op(OpKind.Conv2dGradInput, [dy, w], Sh(4, 8, 8, 4) with { Padding = 1 });
        b.Op(OpKind.Conv2dGradWeight, [img, dy], Sh(3, 3, 4, 8) with { Padding = 1 });
        b.Op(OpKind.BatchNormGradInput, [y, g, dy]);
        b.Op(OpKind.BatchNormGradGamma, [y, dy]);
        b.Op(OpKind.ReluGrad, [bn, dy]);
        b.Op(OpKind.MaxPoolGrad, [relu, dy]);
        b.Op(OpKind.AvgPoolGrad, [b.Add(mp, ap)], Sh(4, 8, 8, 8) with { Kernel = 2, Stride = 2 });
        var table = b.Parameter("emb", new Shape(16, 8));
        var ids = b.Input("ids", new Shape(4, 4), DType.I32);
        var e = b.Embedding(table, ids);
        b.Op(OpKind.EmbeddingGrad, [ids, e], Sh(16, 8));
        var logits = b.MatMul(e, b.Parameter("head", new Shape(8, 16)));
        var ce = b.CrossEntropy(logits, ids);
        b.Op(OpKind.CrossEntropyGrad, [logits, ids, ce]);
        var gl = b.Input("gate_logits", new Shape(2, 4, 4));
        var comb = b.MoeGate(gl, 2);
        b.Op(OpKind.MoeGateGrad, [gl, comb], new OpAttrs { Capacity = 2 });
        var tok = b.Input("tokens", new Shape(2, 4, 8));
        var disp = b.MoeDispatch(tok, comb, name: "dispatch");
        var back = b.MoeCombine(disp, comb);
        b.Op(OpKind.MoeCombineGradWeights, [back, disp]);
        var h = b.Input("h", new Shape(4, 8));
        var t = b.Tanh(b.Exp(b.Sqrt(b.Div(b.Sub(h, h), b.Scale(h, 2)))));
        b.Op(OpKind.TanhGrad, [t, h]);
        b.Op(OpKind.GeluGrad, [h, b.Gelu(h)]);
        var sm = b.Softmax(b.CausalMask(b.Reshape(h, 4, 2, 4)));
        b.Op(OpKind.SoftmaxGrad, [sm, sm]);
        var gamma = b.Parameter("ln.g", new Shape(8));
        b.LayerNorm(h, gamma, gamma);
        b.Op(OpKind.LayerNormGradInput, [h, gamma, h]);
        b.Op(OpKind.LayerNormGradGamma, [h, h]);
        var mx = b.ReduceMax(h, [1]);
        b.ReduceMean(h, [0]);
        b.Op(OpKind.ReduceMaxGrad, [h, mx], new OpAttrs { Axes = [1] });
        var sl = b.Slice(h, 1, 0, 4);
        b.Op(OpKind.SliceGrad, [sl], Sh(4, 8) with { Axis = 1, Start = 0, End = 4 });
        b.Concat([sl, sl], 1);
        b.Broadcast(b.Cast(b.Transpose(h, 1, 0), DType.F16), new Shape(2, 8, 4));
        var norm = b.ReduceSum(b.Mul(h, h));
        var clip = b.Op(OpKind.ClipCoefficient, [norm], new OpAttrs { Value = 1 });
        var p = b.Parameter("p", new Shape(4, 8));
        var buf = b.State("p.buf", new Shape(4, 8));
        var mom = b.Op(OpKind.SgdMomentum, [buf, b.Mul(h, clip)], new OpAttrs { Momentum = 0.9 });
        var lr = b.Input("lr", Shape.Scalar);
        var p2 = b.Op(OpKind.SgdUpdate, [p, mom, lr]);
        var q = b.Parameter("q", new Shape(4, 8));
        var m = b.State("q.m", new Shape(4, 8));
        var v = b.State("q.v", new Shape(4, 8));
        var m2 = b.Op(OpKind.AdamMoment, [m, h], new OpAttrs { Beta = 0.9 });
        var v2 = b.Op(OpKind.AdamMoment, [v, h], new OpAttrs { Beta = 0.99, Square = true });
        var q2 = b.Op(OpKind.AdamUpdate, [q, m2, v2, lr, lr], new OpAttrs { Epsilon = 1e-8 });
        return b.Build([ce, p2, q2], null, [new Update(p, p2), new Update(buf, mom), new Update(q, q2), new Update(m, m2), new Update(v, v2)]);
    }
}
