using System.Diagnostics;
using Alpa.Planner;
using Alpa.Planner.Autodiff;
using Alpa.Planner.Graph;
using Alpa.Planner.Training;
using Alpa.Tests.Reference;
using Xunit.Abstractions;

namespace Alpa.Tests.Autodiff;

public sealed class TrainingGraphTests(ITestOutputHelper output)
{
    private static Dictionary<string, RefTensor> TransformerLeaves(Graph g, int seed)
    {
        var rng = new Random(seed);
        var leaves = new Dictionary<string, RefTensor>();
        foreach (var n in g.Nodes.Where(n => n.Op is OpKind.Parameter or OpKind.Input))
            leaves[n.Name] = n.DType == DType.I32 ? RefTensor.Integers(n.Shape, rng, 11) : RefTensor.Uniform(n.Shape, rng, -0.8, 0.8);
        return leaves;
    }

    [Fact]
    public void TransformerGradientsMatchFiniteDifferencesWithAndWithoutRemat()
    {
        var model = TinyTransformer.Build(layers: 2, batch: 1, seq: 3, hidden: 4, heads: 2, vocab: 11);
        var leaves = TransformerLeaves(model, 3);
        GradCheck.Run(model, leaves);
        var (graph, _) = GradCheck.Run(model, leaves, remat: true);
        Assert.Contains(graph.Nodes, n => n.Phase == Phase.Recompute);
    }

    [Fact]
    public void RematGivesTheSameStepAndCountsItsRecomputation()
    {
        var model = TinyTransformer.Build(layers: 3, batch: 2, seq: 3, hidden: 4, heads: 2, vocab: 11);
        var options = new TrainingOptions { Optimizer = new Sgd { Momentum = 0.5 }, ClipNorm = 1.0 };
        var plain = TrainingGraph.Build(model, options);
        var remat = TrainingGraph.Build(model, options with { Remat = true });

        var leaves = TransformerLeaves(plain, 5);
        leaves[TrainingGraph.LearningRate] = RefTensor.Scalar(0.1);
        leaves[TrainingGraph.Step] = RefTensor.Scalar(1);
        var a = ReferenceEvaluator.Evaluate(plain, leaves);
        var b = ReferenceEvaluator.Evaluate(remat, leaves);
        Assert.Equal(plain.Updates.Count, remat.Updates.Count);
        for (var i = 0; i < plain.Updates.Count; i++)
        {
            Assert.Equal(plain.Updates[i].Target.Name, remat.Updates[i].Target.Name);
            Assert.Equal(a[plain.Updates[i].Value].Data, b[remat.Updates[i].Value].Data);
        }

        // Gradient nodes carry the layer of the forward node they differentiate (a fan-out sum,
        // "<name>.acc", belongs to the consumer whose rule adds the second term).
        foreach (var l in new[] { 0, 1, 2 })
            Assert.All(plain.Nodes.Where(n => n.Name.StartsWith($"grad/layers.{l}.", StringComparison.Ordinal) && !n.Name.Contains(".acc", StringComparison.Ordinal)),
                n => Assert.Equal((Phase.Backward, l), (n.Phase, n.Layer)));

        var recompute = remat.Nodes.Where(n => n.Phase == Phase.Recompute).ToList();
        Assert.NotEmpty(recompute);
        Assert.DoesNotContain(plain.Nodes, n => n.Phase == Phase.Recompute);
        foreach (var r in recompute)
        {
            Assert.InRange(r.Layer, 0, 3); // blocks 0-2 and the final LayerNorm + logits (layer 3)
            Assert.StartsWith("recompute/", r.Name, StringComparison.Ordinal);
            // Recomputed from the layer's inputs: leaves, other layers, or copies of this layer.
            Assert.All(r.Inputs, i => Assert.True(i.IsLeaf || i.Layer != r.Layer || i.Phase == Phase.Recompute, $"{r.Name} reads {i.Name}"));
        }
        // The backward of a layer reads no stored activation of that layer.
        foreach (var n in remat.Nodes.Where(n => n.Phase == Phase.Backward && n.Layer >= 0))
            Assert.All(n.Inputs, i => Assert.False(i.Phase == Phase.Forward && !i.IsLeaf && i.Layer == n.Layer, $"{n.Name} reads stored {i.Name}"));
        var extra = recompute.Sum(n => n.Flops);
        Assert.True(extra > 0);
        Assert.Equal(plain.Flops + extra, remat.Flops, 1e-6 * remat.Flops);
    }

    [Fact]
    public void HalfPrecisionKeepsFp32MasterWeightsAndScalesTheLoss()
    {
        var half = TinyTransformer.Build(layers: 1, batch: 1, seq: 3, hidden: 4, heads: 2, vocab: 11, DType.F16);
        var full = TinyTransformer.Build(layers: 1, batch: 1, seq: 3, hidden: 4, heads: 2, vocab: 11);
        var options = new TrainingOptions { Optimizer = new Adam { WeightDecay = 0.01 }, ClipNorm = 0.5 };
        var halfStep = TrainingGraph.Build(half, options with { Precision = PrecisionPolicy.F16 });
        var fullStep = TrainingGraph.Build(full, options);

        foreach (var p in half.Parameters)
        {
            foreach (var suffix in new[] { ".master", ".adam_m", ".adam_v" })
            {
                var s = halfStep[p.Name + suffix];
                Assert.Equal((OpKind.State, DType.F32, p.Shape), (s.Op, s.DType, s.Shape));
                Assert.Single(halfStep.Updates, u => u.Target == s);
            }
            var update = Assert.Single(halfStep.Updates, u => u.Target.Name == p.Name);
            Assert.Equal((OpKind.Cast, DType.F16), (update.Value.Op, update.Value.DType));
            Assert.Equal(DType.F32, halfStep[$"grad/{p.Name}.f32"].DType);
            Assert.Equal(1.0 / 1024, halfStep[$"grad/{p.Name}.unscaled"].Attrs.Value);
        }
        Assert.Equal(1024.0, halfStep["grad/loss.scaled"].Attrs.Value);
        Assert.DoesNotContain(fullStep.Nodes, n => n.Name.EndsWith(".master", StringComparison.Ordinal));

        // In exact arithmetic the scaled half-precision step equals the f32 step.
        var leaves = TransformerLeaves(fullStep, 9);
        leaves[TrainingGraph.LearningRate] = RefTensor.Scalar(0.01);
        leaves[TrainingGraph.Step] = RefTensor.Scalar(1);
        foreach (var p in full.Parameters) leaves[p.Name + ".master"] = leaves[p.Name];
        var h = ReferenceEvaluator.Evaluate(halfStep, leaves);
        var f = ReferenceEvaluator.Evaluate(fullStep, leaves);
        foreach (var u in fullStep.Updates)
        {
            var target = u.Target.Op == OpKind.Parameter ? u.Target.Name + ".master" : u.Target.Name;
            var got = h[halfStep.Updates.Single(x => x.Target.Name == target).Value].Data;
            var want = f[u.Value].Data;
            Assert.True(got.Zip(want).All(t => Math.Abs(t.First - t.Second) <= 1e-12 * (1 + Math.Abs(t.Second))), target);
        }
    }

    [Fact]
    public void MemoryAccountingFollowsThePrecisionPolicy()
    {
        Assert.Equal(16, PrecisionPolicy.F16.BytesPerParameter(new Adam()));
        Assert.Equal(16, PrecisionPolicy.BF16.BytesPerParameter(new Adam()));
        Assert.Equal(16, PrecisionPolicy.F32.BytesPerParameter(new Adam()));
        Assert.Equal(20, PrecisionPolicy.F16.BytesPerParameter(new Adam(), microbatching: true));
        Assert.Equal(12, PrecisionPolicy.F16.BytesPerParameter(new Sgd { Momentum = 0.9 }));
        Assert.Equal(12, PrecisionPolicy.F32.BytesPerParameter(new Sgd { Momentum = 0.9 }));
        Assert.Equal(8, PrecisionPolicy.F32.BytesPerParameter(new Sgd()));
        Assert.Equal((2, 4), (PrecisionPolicy.F16.ActivationBytesPerElement, PrecisionPolicy.F32.ActivationBytesPerElement));
        Assert.Equal((1024.0, 1.0, 1.0), (PrecisionPolicy.F16.LossScale, PrecisionPolicy.BF16.LossScale, PrecisionPolicy.F32.LossScale));
        Assert.Equal(8.0, new PrecisionPolicy(DType.F16, 8).LossScale);
    }

    [Fact]
    public void OnlyNodesOnAPathToTheLossGetGradients()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", new Shape(2, 3));
        var used = b.Parameter("used", new Shape(3, 3));
        var unused = b.Parameter("unused", new Shape(3, 3));
        var side = b.MatMul(x, unused, name: "side");
        var h = b.MatMul(x, used, name: "h");
        var twice = b.Mul(h, h, "twice");
        var constant = b.ReduceSum(b.Exp(x, "branch.exp"), name: "branch.sum");
        var loss = b.Add(b.ReduceSum(twice, name: "s"), constant, "loss");
        var model = b.Build([side], loss);

        var (graph, grads) = Backprop.Differentiate(model);
        Assert.True(grads.ContainsKey(used));
        Assert.False(grads.ContainsKey(unused));
        Assert.DoesNotContain(graph.Nodes, n => n.Name.StartsWith("grad/branch", StringComparison.Ordinal) || n.Name.StartsWith("grad/side", StringComparison.Ordinal));
        Assert.Contains(graph.Nodes, n => n.Op == OpKind.Add && n.Name == "grad/h.acc");
        Assert.All(graph.Nodes.Skip(model.Nodes.Count), n => Assert.Equal(Phase.Backward, n.Phase));

        // The training graph still updates a parameter the loss ignores (with a zero gradient).
        var step = TrainingGraph.Build(model, new TrainingOptions());
        Assert.Contains(step.Updates, u => u.Target == step["unused"]);
    }

    [Fact]
    public void GradientOpsAreNotDifferentiable()
    {
        var b = new GraphBuilder();
        var p = b.Parameter("p", new Shape(3));
        var g = b.Op(OpKind.ReluGrad, [p, p], null, "relu_grad");
        var model = b.Build([g], b.ReduceSum(g, name: "loss"));
        var e = Assert.Throws<NotDifferentiableException>(() => Backprop.Differentiate(model));
        Assert.Contains("relu_grad", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BadModelsAndOptionsAreRefusedWithTheFieldToFix()
    {
        var mlp = TrainingStepTests.Mlp();
        Assert.Equal("w1", Assert.Throws<AlpaException>(() => TrainingGraph.Build(mlp, new TrainingOptions { Precision = PrecisionPolicy.F16 })).Field);
        Assert.Equal("clip_norm", Assert.Throws<AlpaException>(() => TrainingGraph.Build(mlp, new TrainingOptions { ClipNorm = -1 })).Field);
        Assert.Equal("optimizer.beta2", Assert.Throws<AlpaException>(() => TrainingGraph.Build(mlp, new TrainingOptions { Optimizer = new Adam { Beta2 = 1 } })).Field);
        Assert.Equal("optimizer.momentum", Assert.Throws<AlpaException>(() => TrainingGraph.Build(mlp, new TrainingOptions { Optimizer = new Sgd { Momentum = -0.1 } })).Field);
        var b = new GraphBuilder();
        var p = b.Parameter("p", new Shape(2));
        Assert.Throws<AlpaException>(() => TrainingGraph.Build(b.Build([p]), new TrainingOptions()));
        var step = TrainingGraph.Build(mlp, new TrainingOptions());
        Assert.Throws<AlpaException>(() => TrainingGraph.Build(step, new TrainingOptions()));
    }

    [Fact]
    public void A48LayerGptTrainingGraphBuildsQuickly()
    {
        // GPT-3 39B-like dimensions, symbolic: no tensor is allocated.
        var model = TinyTransformer.Build(layers: 48, batch: 1024, seq: 1024, hidden: 8192, heads: 64, vocab: 51200, DType.F16);
        var options = new TrainingOptions { Optimizer = new Adam(), ClipNorm = 1.0, Remat = true, Precision = PrecisionPolicy.F16 };
        TrainingGraph.Build(TinyTransformer.Build(2, 2, 2, 4, 2, 8), options with { Precision = null }); // warm up the JIT
        var clock = Stopwatch.StartNew();
        var step = TrainingGraph.Build(model, options);
        clock.Stop();
        output.WriteLine($"48-layer GPT training graph: {model.Nodes.Count} forward nodes, {step.Nodes.Count} in all, built in {clock.Elapsed.TotalMilliseconds:F0} ms");
        Assert.True(step.Nodes.Count > 10_000, $"{step.Nodes.Count} nodes");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"building {step.Nodes.Count} nodes took {clock.Elapsed.TotalSeconds:F2} s");
        Assert.Equal(3 * model.Parameters.Count() + model.Parameters.Count(), step.Updates.Count);
    }
}
