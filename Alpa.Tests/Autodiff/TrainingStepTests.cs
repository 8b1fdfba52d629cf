using Alpa.Planner.Graph;
using Alpa.Planner.Training;
using Alpa.Tests.Reference;

namespace Alpa.Tests.Autodiff;

/// <summary>
/// A whole training step of a tiny MLP (x·W1 + b1 → ReLU → ·W2 → cross-entropy), built by hand
/// with <see cref="GraphBuilder"/>, evaluated by the reference evaluator and compared with the
/// same step written out as plain loops (relative error ≤ 1e-12).
/// </summary>
public sealed class TrainingStepTests
{
    private const int N = 3, D = 4, H = 5, V = 3;
    private const double Lr = 0.05, Step = 3;

    [Theory]
    [InlineData("adam", 0.1)]
    [InlineData("adam", null)]
    [InlineData("sgd-momentum", 0.1)]
    [InlineData("sgd", null)]
    public void OneStepMatchesAHandComputation(string optimizer, double? clip)
    {
        Optimizer opt = optimizer switch
        {
            "adam" => new Adam { Beta1 = 0.8, Beta2 = 0.95, Epsilon = 1e-6, WeightDecay = 0.01 },
            "sgd-momentum" => new Sgd { Momentum = 0.9, WeightDecay = 0.1 },
            _ => new Sgd(),
        };
        var model = Mlp();
        var train = TrainingGraph.Build(model, new TrainingOptions { Optimizer = opt, ClipNorm = clip });
        var rng = new Random(7);
        var leaves = new Dictionary<string, RefTensor>
        {
            ["x"] = RefTensor.Uniform(new Shape(N, D), rng),
            ["labels"] = new(new Shape(N), [0, 2, 1]),
            ["w1"] = RefTensor.Uniform(new Shape(D, H), rng),
            ["b1"] = RefTensor.Uniform(new Shape(H), rng),
            ["w2"] = RefTensor.Uniform(new Shape(H, V), rng),
            [TrainingGraph.LearningRate] = RefTensor.Scalar(Lr),
            [TrainingGraph.Step] = RefTensor.Scalar(Step),
        };
        foreach (var s in train.Nodes.Where(n => n.Op == OpKind.State))
            leaves[s.Name] = RefTensor.Uniform(s.Shape, rng, 0.01, 0.5);

        var values = ReferenceEvaluator.Evaluate(train, leaves);
        var expected = HandStep(leaves, opt, clip);

        var targets = train.Updates.Select(u => u.Target.Name).ToList();
        Assert.Equal(targets.Count, targets.Distinct().Count());
        Assert.Equal(expected.Keys.Order(), targets.Order());
        foreach (var u in train.Updates)
        {
            var got = values[u.Value].Data;
            var want = expected[u.Target.Name];
            var err = GradCheck.Norm(got.Zip(want, (a, b) => a - b).ToArray()) / GradCheck.Norm(want);
            Assert.True(err <= 1e-12, $"update of '{u.Target.Name}': relative error {err:E2}");
        }
    }

    internal static Graph Mlp()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", new Shape(N, D));
        var labels = b.Input("labels", new Shape(N), DType.I32);
        var w1 = b.Parameter("w1", new Shape(D, H));
        var b1 = b.Parameter("b1", new Shape(H));
        var w2 = b.Parameter("w2", new Shape(H, V));
        var z = b.Add(b.MatMul(x, w1, name: "fc1"), b1, "fc1.bias");
        var logits = b.MatMul(b.Relu(z, "relu"), w2, name: "fc2");
        var loss = b.CrossEntropy(logits, labels, "loss");
        return b.Build([logits], loss);
    }

    /// <summary>The expected new value of every parameter and state.</summary>
    private static Dictionary<string, double[]> HandStep(Dictionary<string, RefTensor> v, Optimizer opt, double? clip)
    {
        double[] x = v["x"].Data, w1 = v["w1"].Data, b1 = v["b1"].Data, w2 = v["w2"].Data, labels = v["labels"].Data;
        // Forward.
        var z = new double[N * H];
        for (var n = 0; n < N; n++)
            for (var j = 0; j < H; j++)
            {
                z[n * H + j] = b1[j];
                for (var i = 0; i < D; i++) z[n * H + j] += x[n * D + i] * w1[i * H + j];
            }
        var h = z.Select(t => Math.Max(t, 0)).ToArray();
        var dlogits = new double[N * V];
        for (var n = 0; n < N; n++)
        {
            var logits = new double[V];
            for (var k = 0; k < V; k++)
                for (var j = 0; j < H; j++) logits[k] += h[n * H + j] * w2[j * V + k];
            var sum = logits.Sum(Math.Exp);
            for (var k = 0; k < V; k++) dlogits[n * V + k] = (Math.Exp(logits[k]) / sum - (k == labels[n] ? 1 : 0)) / N;
        }
        // Backward.
        var dw2 = new double[H * V];
        var dz = new double[N * H];
        for (var n = 0; n < N; n++)
            for (var j = 0; j < H; j++)
                for (var k = 0; k < V; k++)
                {
                    dw2[j * V + k] += h[n * H + j] * dlogits[n * V + k];
                    if (z[n * H + j] > 0) dz[n * H + j] += dlogits[n * V + k] * w2[j * V + k];
                }
        var dw1 = new double[D * H];
        var db1 = new double[H];
        for (var n = 0; n < N; n++)
            for (var j = 0; j < H; j++)
            {
                db1[j] += dz[n * H + j];
                for (var i = 0; i < D; i++) dw1[i * H + j] += x[n * D + i] * dz[n * H + j];
            }
        var grads = new Dictionary<string, double[]> { ["w1"] = dw1, ["b1"] = db1, ["w2"] = dw2 };
        if (clip is { } c)
        {
            var norm = Math.Sqrt(grads.Values.Sum(g => g.Sum(t => t * t)));
            Assert.True(norm > c, "the test must exercise clipping");
            var coef = Math.Min(1, c / (norm + 1e-6));
            foreach (var g in grads.Values)
                for (var i = 0; i < g.Length; i++) g[i] *= coef;
        }
        var result = new Dictionary<string, double[]>();
        foreach (var (name, g) in grads) Apply(name, v[name].Data, g, v, opt, result);
        return result;
    }

    private static void Apply(string name, double[] p, double[] g, Dictionary<string, RefTensor> v, Optimizer opt, Dictionary<string, double[]> result)
    {
        var updated = new double[p.Length];
        if (opt is Adam a)
        {
            var m = v[name + ".adam_m"].Data.Select((mi, i) => a.Beta1 * mi + (1 - a.Beta1) * g[i]).ToArray();
            var s = v[name + ".adam_v"].Data.Select((vi, i) => a.Beta2 * vi + (1 - a.Beta2) * g[i] * g[i]).ToArray();
            for (var i = 0; i < p.Length; i++)
            {
                var mHat = m[i] / (1 - Math.Pow(a.Beta1, Step));
                var vHat = s[i] / (1 - Math.Pow(a.Beta2, Step));
                updated[i] = p[i] - Lr * (mHat / (Math.Sqrt(vHat) + a.Epsilon) + a.WeightDecay * p[i]);
            }
            result[name + ".adam_m"] = m;
            result[name + ".adam_v"] = s;
        }
        else if (opt is Sgd sgd)
        {
            var d = g;
            if (sgd.Momentum != 0)
            {
                d = v[name + ".momentum"].Data.Select((bi, i) => sgd.Momentum * bi + g[i]).ToArray();
                result[name + ".momentum"] = d;
            }
            for (var i = 0; i < p.Length; i++) updated[i] = p[i] - Lr * (d[i] + sgd.WeightDecay * p[i]);
        }
        result[name] = updated;
    }
}
