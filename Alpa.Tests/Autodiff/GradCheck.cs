using Alpa.Planner.Autodiff;
using Alpa.Planner.Graph;
using Alpa.Tests.Reference;

namespace Alpa.Tests.Autodiff;

/// <summary>
/// Compares symbolic gradients, evaluated by the float64 reference evaluator, with central finite
/// differences of the forward graph: (L(p + h·e_i) − L(p − h·e_i)) / 2h with h = 1e-5, for every
/// element of every parameter. Passes when ‖analytic − numeric‖ / ‖numeric‖ ≤ 1e-6 per parameter.
/// </summary>
internal static class GradCheck
{
    public const double H = 1e-5;
    public const double Tolerance = 1e-6;

    /// <summary>Runs the check; returns the differentiated graph and gradients for further asserts.</summary>
    public static (Graph Graph, IReadOnlyDictionary<Node, Node> Grads) Run(
        Graph model, Dictionary<string, RefTensor> leaves, bool remat = false)
    {
        var (graph, grads) = Backprop.Differentiate(model, remat: remat);
        var values = ReferenceEvaluator.Evaluate(graph, leaves);
        foreach (var p in model.Parameters)
        {
            Assert.True(grads.TryGetValue(p, out var g), $"no gradient for '{p.Name}'");
            Assert.Equal(p.Shape, g!.Shape);
            Assert.Equal(p.DType, g.DType);
            var analytic = values[g].Data;
            var numeric = FiniteDifference(model, leaves, p);
            var scale = Norm(numeric);
            Assert.True(scale > 1e-8, $"'{p.Name}': the loss does not depend on it; the test graph is degenerate");
            var err = Norm(analytic.Zip(numeric, (a, n) => a - n).ToArray()) / scale;
            Assert.True(err <= Tolerance, $"'{p.Name}': relative gradient error {err:E2} > {Tolerance:E0}\nanalytic {string.Join(", ", analytic.Take(6))}\nnumeric  {string.Join(", ", numeric.Take(6))}");
        }
        return (graph, grads);
    }

    public static double[] FiniteDifference(Graph model, Dictionary<string, RefTensor> leaves, Node p)
    {
        var loss = model.Loss!;
        var original = leaves[p.Name];
        var probe = original.Clone();
        var local = new Dictionary<string, RefTensor>(leaves) { [p.Name] = probe };
        var grad = new double[probe.Data.Length];
        for (var i = 0; i < grad.Length; i++)
        {
            var x = original.Data[i];
            probe.Data[i] = x + H;
            var up = ReferenceEvaluator.Evaluate(model, local)[loss].Value;
            probe.Data[i] = x - H;
            var down = ReferenceEvaluator.Evaluate(model, local)[loss].Value;
            probe.Data[i] = x;
            grad[i] = (up - down) / (2 * H);
        }
        return grad;
    }

    public static double Norm(double[] v) => Math.Sqrt(v.Sum(x => x * x));
}

/// <summary>Small graphs whose loss is Σ y·r for a random probe r, so every element of y matters.</summary>
internal sealed class TestGraph
{
    private readonly Random _rng;

    public TestGraph(int seed = 1)
    {
        _rng = new Random(seed);
    }

    public GraphBuilder B { get; } = new();
    public Dictionary<string, RefTensor> Leaves { get; } = [];

    /// <summary>A parameter with values uniform in [lo, hi).</summary>
    public Node Param(string name, Shape shape, double lo = -1, double hi = 1, DType dtype = DType.F32)
    {
        Leaves[name] = RefTensor.Uniform(shape, _rng, lo, hi);
        return B.Parameter(name, shape, dtype);
    }

    /// <summary>A parameter whose values keep |v| ≥ 0.1 (away from ReLU's kink).</summary>
    public Node ParamAwayFromZero(string name, Shape shape)
    {
        var t = RefTensor.Uniform(shape, _rng, 0.1, 1);
        for (var i = 0; i < t.Data.Length; i++) if (_rng.Next(2) == 0) t.Data[i] = -t.Data[i];
        Leaves[name] = t;
        return B.Parameter(name, shape);
    }

    /// <summary>A parameter holding a shuffled ladder of values spaced by <paramref name="step"/> (no ties, no near-ties).</summary>
    public Node ParamDistinct(string name, Shape shape, double step = 0.3)
    {
        var order = Enumerable.Range(0, (int)shape.Elements).OrderBy(_ => _rng.Next()).ToArray();
        Leaves[name] = new RefTensor(shape, [.. order.Select(k => (k - order.Length / 2.0) * step)]);
        return B.Parameter(name, shape);
    }

    public Node Input(string name, Shape shape, double lo = -1, double hi = 1)
    {
        Leaves[name] = RefTensor.Uniform(shape, _rng, lo, hi);
        return B.Input(name, shape);
    }

    public Node Ints(string name, Shape shape, int bound)
    {
        Leaves[name] = RefTensor.Integers(shape, _rng, bound);
        return B.Input(name, shape, DType.I32);
    }

    /// <summary>The graph with loss Σ y·r (y cast to f32 first when it is half precision).</summary>
    public Graph WithProbeLoss(Node y)
    {
        if (y.DType != DType.F32) y = B.Cast(y, DType.F32, "y.f32");
        var r = Input("probe", y.Shape);
        var loss = B.ReduceSum(B.Mul(y, r, "weighted"), name: "loss");
        return B.Build([y], loss);
    }

    /// <summary>Gradient-checks Σ y·r.</summary>
    public (Graph Graph, IReadOnlyDictionary<Node, Node> Grads) Check(Node y, bool remat = false) =>
        GradCheck.Run(WithProbeLoss(y), Leaves, remat);
}
