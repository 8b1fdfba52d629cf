using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Planner.Sharding;
using Alpa.Silo.Execution.Spmd;
using Xunit.Abstractions;

namespace Alpa.Tests.Spmd;

/// <summary>Sharded training on one mesh equals single-device training (DESIGN §6: per-tensor relative norm).</summary>
public sealed class SpmdTrainingTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    [Theory]
    [InlineData("mlp", 1, 4)]
    [InlineData("mlp", 2, 2)]
    [InlineData("gpt-tiny", 1, 4)]
    [InlineData("gpt-tiny", 2, 2)]
    public void IlpPlanTrainsLikeOneDevice(string model, int n0, int n1)
    {
        var (m, t) = SpmdFixture.Build(model);
        Check(model, m, t, IntraOpPass.Run(t, SpmdFixture.Mesh(n0, n1)));
    }

    [Theory]
    [InlineData("mlp")]
    [InlineData("gpt-tiny")]
    public void DataParallelTrainsLikeOneDevice(string model)
    {
        var (m, t) = SpmdFixture.Build(model);
        var pins = SpmdFixture.Pins(t, n => n.Op switch
        {
            OpKind.Parameter => Replicated(n),
            OpKind.Input when n.Shape.Rank > 0 => BatchSplit(n, "S1"),
            _ => null,
        });
        var plan = IntraOpPass.Run(t, SpmdFixture.Mesh(1, 4), new IntraOptions { FixedSpecs = pins });
        Assert.All(plan.ParameterSpecs.Values, s => Assert.All(s, d => Assert.Equal("R", d)));
        var r = Check(model + "/data", m, t, plan);
        Assert.Contains(r.LastStep.Collectives, c => c.Kind == CollectiveKind.AllReduce && c.Source == "strategy");
    }

    [Theory]
    [InlineData("mlp", 1, 4)]
    [InlineData("gpt-tiny", 1, 4)]
    [InlineData("mlp", 2, 2)]
    [InlineData("gpt-tiny", 2, 2)]
    public void MegatronTensorParallelTrainsLikeOneDevice(string model, int n0, int n1)
    {
        // On (2, 2) the batch is split over axis 0 as well: data parallel × Megatron.
        var (m, t) = SpmdFixture.Build(model);
        var pins = SpmdFixture.Pins(t, n => n.Op switch
        {
            OpKind.Parameter => SpmdFixture.Megatron(n.Name) ?? Replicated(n),
            OpKind.Input when n.Shape.Rank > 0 => n0 > 1 ? BatchSplit(n, "S0") : Replicated(n),
            _ => null,
        });
        var plan = IntraOpPass.Run(t, SpmdFixture.Mesh(n0, n1), new IntraOptions { FixedSpecs = pins });
        Check($"{model}/megatron", m, t, plan);
    }

    [Theory]
    [InlineData(1, 4)]
    [InlineData(2, 2)]
    public void GradientClippingAndSgdTrainLikeOneDevice(int n0, int n1)
    {
        // The global gradient norm is a sum over sharded gradients: partial sums all-reduced.
        var m = Alpa.Planner.Models.ModelZoo.Get("gpt-tiny").Build();
        var t = Alpa.Planner.Training.TrainingGraph.Build(m, new Alpa.Planner.Training.TrainingOptions
        {
            Optimizer = new Alpa.Planner.Training.Sgd { Momentum = 0.9 },
            ClipNorm = 0.5,
        });
        Assert.Contains(t.Nodes, n => n.Op == OpKind.ClipCoefficient);
        var plan = IntraOpPass.Run(t, SpmdFixture.Mesh(n0, n1));
        var r = SpmdCheck.Run(m, t, plan, seed: 3, steps: 10, learningRate: 0.05f);
        output.WriteLine($"gpt-tiny/clip on ({n0}, {n1}): loss rel diff {r.MaxLossRelDiff:E2}, param rel diff {r.MaxParamRelDiff:E2} ({r.WorstParameter})");
        Assert.True(r.MaxLossRelDiff < Tolerance && r.MaxParamRelDiff < Tolerance, $"{r.MaxLossRelDiff} / {r.MaxParamRelDiff} at {r.WorstParameter}");
    }

    [Theory]
    [InlineData(1, 4)]
    [InlineData(2, 2)]
    public void VocabParallelEmbeddingAndLossTrainLikeOneDevice(int n0, int n1)
    {
        // Megatron's vocab-parallel embedding / LM head / cross-entropy: the tied table split by rows.
        var (m, t) = SpmdFixture.Build("gpt-tiny");
        var pins = new Dictionary<string, IReadOnlyList<string>>
        {
            ["wte"] = ["S1", "R"],
            ["lm_head"] = ["R", "R", "S1"],
        };
        var mesh = SpmdFixture.Mesh(n0, n1);
        var wholeTable = StrategyEnumerator.Enumerate(t["embed.tokens"], mesh).Where(x => x.Inputs[0][0] == DimSharding.R).Select(x => x.Id);
        var forbid = new Dictionary<string, IReadOnlySet<string>> { ["embed.tokens"] = wholeTable.ToHashSet() };
        var plan = IntraOpPass.Run(t, mesh, new IntraOptions { FixedSpecs = pins, ForbiddenStrategies = forbid });
        var loss = plan.NodeStrategies["loss"];
        var embed = plan.NodeStrategies["embed.tokens"];
        output.WriteLine($"loss: {loss.Id}; embed.tokens: {embed.Id}; grad table: {string.Join(", ", plan.NodeStrategies.Where(kv => t[kv.Key].Op == OpKind.EmbeddingGrad).Select(kv => kv.Value.Id))}");
        Assert.NotEqual(DimSharding.R, loss.Inputs[0][2]);
        Assert.NotEqual(DimSharding.R, embed.Inputs[0][0]);
        var r = Check("gpt-tiny/vocab", m, t, plan);
        Assert.Contains(r.LastStep.Collectives, c => c.Tensor == "loss" && c.Kind == CollectiveKind.AllReduce);
    }

    [Theory]
    [InlineData("mlp", 1, 4)]
    [InlineData("mlp", 2, 2)]
    [InlineData("gpt-tiny", 1, 4)]
    [InlineData("gpt-tiny", 2, 2)]
    public void StoredAndCommunicatedBytesEqualThePrediction(string model, int n0, int n1)
    {
        var (m, t) = SpmdFixture.Build(model);
        var plan = IntraOpPass.Run(t, SpmdFixture.Mesh(n0, n1));
        var r = SpmdCheck.Run(m, t, plan, seed: 3, steps: 1);
        var predicted = SpmdPrediction.PersistentBytes(t, plan);
        output.WriteLine($"parameter+state bytes per device: predicted {predicted}, stored [{string.Join(", ", r.PersistentBytes)}]");
        Assert.All(r.PersistentBytes, b => Assert.Equal(predicted, b));
        Assert.All(r.LastStep.PeakLiveBytes, b => Assert.True(b >= predicted));
        output.WriteLine($"peak live bytes per device: planner {plan.PeakMemoryBytes:F0}, measured [{string.Join(", ", r.LastStep.PeakLiveBytes)}]");
        var want = SpmdPrediction.Collectives(t, plan);
        var extra = r.LastStep.Collectives.Where(c => c.Source == "strategy-extra").Sum(c => (double)c.LogicalBytes);
        output.WriteLine($"  unpredicted statistics all-reduces (norm γ / input gradients recomputing statistics): {extra:F0} B");
        foreach (var kind in Enum.GetValues<CollectiveKind>())
        {
            var p = want.Where(c => c.Collective.Kind == kind).Sum(c => c.Collective.Bytes);
            var got = r.LastStep.Collectives.Where(c => c.Kind == kind && c.Source != "strategy-extra").Sum(c => (double)c.LogicalBytes);
            output.WriteLine($"  {kind}: predicted {p:F0} B, measured {got:F0} B");
            Assert.Equal(p, got);
        }
    }

    private SpmdCheckResult Check(string name, Graph m, Graph t, IntraResult plan)
    {
        foreach (var (node, id) in plan.Strategies) output.WriteLine($"  {node}: {id}");
        var r = SpmdCheck.Run(m, t, plan, seed: 3, steps: 10);
        output.WriteLine($"{name} on ({plan.Mesh.N0}, {plan.Mesh.N1}): loss rel diff {r.MaxLossRelDiff:E2}, param rel diff {r.MaxParamRelDiff:E2} ({r.WorstParameter})");
        output.WriteLine($"  losses {string.Join(" ", r.Losses.Select(l => l.ToString("F4")))}");
        Assert.True(r.MaxLossRelDiff < Tolerance, $"loss rel diff {r.MaxLossRelDiff}");
        Assert.True(r.MaxParamRelDiff < Tolerance, $"param rel diff {r.MaxParamRelDiff} at {r.WorstParameter}");
        Assert.True(r.Losses[^1] < r.Losses[0], "training must make progress");
        return r;
    }

    private static string[] Replicated(Node n) => [.. Enumerable.Repeat("R", n.Shape.Rank)];

    private static string[] BatchSplit(Node n, string axis) => [axis, .. Enumerable.Repeat("R", n.Shape.Rank - 1)];
}
