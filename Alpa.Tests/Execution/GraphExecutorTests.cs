using Alpa.Kernels;
using Alpa.Kernels.Cpu;
using Alpa.Planner.Graph;
using Alpa.Silo.Execution;

namespace Alpa.Tests.Execution;

public sealed class GraphExecutorTests
{
    /// <summary>A two-layer MLP with a hand-written backward pass and SGD update: y = relu(x·w1 + b1)·w2, CE loss.</summary>
    private static (Graph Graph, Node W1, Node W2) Mlp(int batch = 8, int inDim = 6, int hidden = 16, int classes = 5)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", new Shape(batch, inDim));
        var labels = b.Input("labels", new Shape(batch), DType.I32);
        var lr = b.Input("lr", Shape.Scalar);
        var w1 = b.Parameter("w1", new Shape(inDim, hidden), std: 0.5);
        var b1 = b.Parameter("b1", new Shape(hidden), init: InitKind.Zeros);
        var w2 = b.Parameter("w2", new Shape(hidden, classes), std: 0.5);
        var h = b.Add(b.MatMul(x, w1), b1, "h");
        var a = b.Relu(h, "a");
        var logits = b.MatMul(a, w2, name: "logits");
        var loss = b.CrossEntropy(logits, labels, "loss");
        var one = b.Constant("one", Shape.Scalar, 1.0);
        var dlogits = b.Op(OpKind.CrossEntropyGrad, [logits, labels, one], name: "dlogits");
        var dw2 = b.MatMul(a, dlogits, transA: true, name: "dw2");
        var da = b.MatMul(dlogits, w2, transB: true, name: "da");
        var dh = b.Op(OpKind.ReluGrad, [h, da], name: "dh");
        var dw1 = b.MatMul(x, dh, transA: true, name: "dw1");
        var db1 = b.ReduceSum(dh, [0], name: "db1");
        Node Sgd(Node p, Node g) => b.Op(OpKind.SgdUpdate, [p, g, lr], name: p.Name + ".new");
        var graph = b.Build([logits], loss, [new Update(w1, Sgd(w1, dw1)), new Update(b1, Sgd(b1, db1)), new Update(w2, Sgd(w2, dw2))]);
        return (graph, w1, w2);
    }

    private static Dictionary<string, HostTensor> Batch(int seed, int batch = 8, int inDim = 6, int classes = 5)
    {
        var rng = new Random(seed);
        return new Dictionary<string, HostTensor>
        {
            ["x"] = HostTensor.FromFloats([.. Enumerable.Range(0, batch * inDim).Select(_ => (float)rng.NextDouble() - 0.5f)], batch, inDim),
            ["labels"] = HostTensor.FromInts([.. Enumerable.Range(0, batch).Select(_ => rng.Next(classes))], batch),
            ["lr"] = HostTensor.Scalar(0.5f),
        };
    }

    [Fact]
    public void TrainingStepsLowerTheLossAndApplyUpdates()
    {
        var (graph, _, _) = Mlp();
        using var device = new CpuDevice();
        using var exec = new GraphExecutor(graph, device, new ExecutorOptions { Seed = 7 });
        var before = exec.Read("w1").Floats!.ToArray();
        var inputs = Batch(1);
        var first = exec.Run(inputs).Loss!.Value;
        Assert.NotEqual(before, exec.Read("w1").Floats);
        float last = first;
        for (var i = 0; i < 30; i++) last = exec.Run(inputs).Loss!.Value;
        Assert.True(last < 0.5 * first, $"loss {first} → {last}");
    }

    [Fact]
    public void SameSeedAndInputsGiveBitIdenticalResults()
    {
        var (graph, _, _) = Mlp();
        float[] RunTwice()
        {
            using var device = new CpuDevice();
            using var exec = new GraphExecutor(graph, device, new ExecutorOptions { Seed = 11 });
            exec.Run(Batch(2));
            var r = exec.Run(Batch(3));
            return [r.Loss!.Value, .. r.Outputs["logits"].Floats!, .. exec.Read("w1").Floats!];
        }
        Assert.Equal(RunTwice(), RunTwice());
        using var d = new CpuDevice();
        using var other = new GraphExecutor(graph, d, new ExecutorOptions { Seed = 12 });
        using var same = new GraphExecutor(graph, d, new ExecutorOptions { Seed = 11 });
        Assert.NotEqual(other.Read("w1").Floats, same.Read("w1").Floats);
    }

    [Fact]
    public void BuffersAreFreedAfterTheirLastUse()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", new Shape(64, 64));
        var y = x;
        for (var i = 0; i < 12; i++) y = b.Tanh(b.Scale(y, 0.9), $"t{i}");
        var graph = b.Build([y]);
        using var device = new CpuDevice();
        using var exec = new GraphExecutor(graph, device);
        var input = HostTensor.FromFloats([.. Enumerable.Range(0, 64 * 64).Select(i => i / 4096f)], 64, 64);
        var r = exec.Run(new Dictionary<string, HostTensor> { ["x"] = input });
        var tensor = 64 * 64 * 4;
        Assert.Equal(25L * tensor, r.TotalTensorBytes);
        Assert.True(r.PeakLiveBytes <= 2 * tensor, $"peak {r.PeakLiveBytes} bytes, expected ≤ {2 * tensor}");
        Assert.Equal(0, device.Memory.LiveBytes);
        var expected = input.Floats!.Select(v => (double)v).ToArray();
        for (var i = 0; i < 12; i++) expected = [.. expected.Select(v => Math.Tanh((double)(float)(v * 0.9f)))];
        Kernels.Ref.Close(r.Outputs[y.Name].Floats!, expected, 1e-5, "chain");
        exec.Run(new Dictionary<string, HostTensor> { ["x"] = input });
        Assert.True(device.Memory.Reuses > 0);
    }

    [Fact]
    public void ProfilesEveryNodeAndAggregatesByOpKind()
    {
        var (graph, _, _) = Mlp();
        using var device = new CpuDevice();
        using var exec = new GraphExecutor(graph, device);
        var r = exec.Run(Batch(4));
        Assert.Equal(graph.Nodes.Count, r.NodeSeconds.Length);
        var matmul = r.ByOpKind.Single(k => k.Op == OpKind.MatMul);
        Assert.Equal(graph.Nodes.Count(n => n.Op == OpKind.MatMul), matmul.Count);
        Assert.True(matmul.Seconds > 0 && matmul.Flops > 0);
    }

    [Fact]
    public void MissingOrMisshapedInputsSayWhatToGive()
    {
        var (graph, _, _) = Mlp();
        using var device = new CpuDevice();
        using var exec = new GraphExecutor(graph, device);
        var inputs = Batch(5);
        inputs.Remove("labels");
        var e = Assert.Throws<ExecutionException>(() => exec.Run(inputs));
        Assert.Contains("'labels'", e.Message, StringComparison.Ordinal);
        inputs["labels"] = HostTensor.FromInts([1, 2], 2);
        e = Assert.Throws<ExecutionException>(() => exec.Run(inputs));
        Assert.Contains("i32[8]", e.Message, StringComparison.Ordinal);
        Assert.Equal(PersistentBytes(graph), device.Memory.LiveBytes);
    }

    private static long PersistentBytes(Graph g) =>
        g.Nodes.Where(n => n.Op is OpKind.Parameter or OpKind.State).Sum(n => (n.OutputBytes + 63) / 64 * 64);

    [Fact]
    public void SeveralDevicesRunInOneProcessConcurrently()
    {
        var (graph, _, _) = Mlp();
        var losses = new float[4];
        Parallel.For(0, 4, i =>
        {
            using var device = new CpuDevice(i);
            using var exec = new GraphExecutor(graph, device, new ExecutorOptions { Seed = 3 });
            for (var s = 0; s < 5; s++) losses[i] = exec.Run(Batch(9)).Loss!.Value;
        });
        Assert.All(losses, l => Assert.Equal(losses[0], l));
    }
}
