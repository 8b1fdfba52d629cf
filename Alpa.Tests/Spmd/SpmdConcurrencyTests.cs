using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Silo.Execution.Spmd;
using Alpa.Silo.Training;

namespace Alpa.Tests.Spmd;

/// <summary>The devices of a mesh run their kernels concurrently; results must not depend on the interleaving.</summary>
public sealed class SpmdConcurrencyTests
{
    [Theory]
    [InlineData("gpt-tiny", 1, 4)]
    [InlineData("gpt-tiny", 2, 2)]
    public void ConcurrentDevicesRerunBitIdentically(string model, int n0, int n1)
    {
        var (m, t) = SpmdFixture.Build(model);
        var plan = IntraOpPass.Run(t, SpmdFixture.Mesh(n0, n1));
        // The test means something only if some kernels do run concurrently on this plan.
        Assert.Contains(t.Nodes, n => n.Flops / (n0 * n1) >= SpmdExecutor.ConcurrentFlops);
        var first = Train(m, t, plan);
        var second = Train(m, t, plan);
        foreach (var (name, values) in first)
            Assert.True(values.AsSpan().SequenceEqual(second[name]), $"'{name}' differs between two identical runs");
    }

    private static Dictionary<string, float[]> Train(Graph model, Graph training, IntraResult plan)
    {
        var data = new SyntheticData(model, 0);
        using var runner = new SpmdStepRunner(model, training, plan, 7);
        for (var step = 0; step < 3; step++) runner.TrainStep(data.Batch(step), 1e-2f, step + 1);
        return training.Parameters.ToDictionary(p => p.Name, p => runner.Read(p.Name).Floats!, StringComparer.Ordinal);
    }
}
