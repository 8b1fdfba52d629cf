namespace Alpa.Planner.Graph;

// Typed helpers over GraphBuilder.Op: what model code calls.
public sealed partial class GraphBuilder
{
    public Node Parameter(string name, Shape shape, DType dtype = DType.F32, InitKind init = InitKind.Normal, double std = 0.02) =>
        Leaf(OpKind.Parameter, name, shape, dtype, new OpAttrs { Init = init, Value = std });

    public Node Input(string name, Shape shape, DType dtype = DType.F32) => Leaf(OpKind.Input, name, shape, dtype);

    public Node Constant(string name, Shape shape, double value, DType dtype = DType.F32) =>
        Leaf(OpKind.Constant, name, shape, dtype, new OpAttrs { Value = value });

    public Node State(string name, Shape shape, DType dtype = DType.F32) => Leaf(OpKind.State, name, shape, dtype);

    public Node MatMul(Node a, Node b, bool transA = false, bool transB = false, string? name = null) =>
        Op(OpKind.MatMul, [a, b], new OpAttrs { TransA = transA, TransB = transB }, name);

    public Node Add(Node a, Node b, string? name = null) => Op(OpKind.Add, [a, b], null, name);
    public Node Sub(Node a, Node b, string? name = null) => Op(OpKind.Sub, [a, b], null, name);
    public Node Mul(Node a, Node b, string? name = null) => Op(OpKind.Mul, [a, b], null, name);
    public Node Div(Node a, Node b, string? name = null) => Op(OpKind.Div, [a, b], null, name);

    public Node Scale(Node x, double factor, string? name = null) => Op(OpKind.Scale, [x], new OpAttrs { Value = factor }, name);
    public Node Gelu(Node x, string? name = null) => Op(OpKind.Gelu, [x], null, name);
    public Node Relu(Node x, string? name = null) => Op(OpKind.Relu, [x], null, name);
    public Node Tanh(Node x, string? name = null) => Op(OpKind.Tanh, [x], null, name);
    public Node Exp(Node x, string? name = null) => Op(OpKind.Exp, [x], null, name);
    public Node Sqrt(Node x, string? name = null) => Op(OpKind.Sqrt, [x], null, name);
    public Node Cast(Node x, DType to, string? name = null) => Op(OpKind.Cast, [x], new OpAttrs { To = to }, name);
    public Node CausalMask(Node x, double fill = -1e9, string? name = null) => Op(OpKind.CausalMask, [x], new OpAttrs { Value = fill }, name);

    public Node Softmax(Node x, string? name = null) => Op(OpKind.Softmax, [x], null, name);
    public Node LayerNorm(Node x, Node gamma, Node beta, double eps = 1e-5, string? name = null) =>
        Op(OpKind.LayerNorm, [x, gamma, beta], new OpAttrs { Epsilon = eps }, name);
    public Node BatchNorm(Node x, Node gamma, Node beta, double eps = 1e-5, string? name = null) =>
        Op(OpKind.BatchNorm, [x, gamma, beta], new OpAttrs { Epsilon = eps }, name);

    public Node Embedding(Node table, Node ids, string? name = null) => Op(OpKind.Embedding, [table, ids], null, name);
    public Node CrossEntropy(Node logits, Node labels, string? name = null) => Op(OpKind.CrossEntropy, [logits, labels], null, name);

    public Node Reshape(Node x, params long[] shape) => Op(OpKind.Reshape, [x], new OpAttrs { Shape = shape }, null);
    public Node Reshape(Node x, Shape shape, string? name) => Op(OpKind.Reshape, [x], new OpAttrs { Shape = shape.ToArray() }, name);
    public Node Transpose(Node x, params int[] perm) => Op(OpKind.Transpose, [x], new OpAttrs { Axes = perm }, null);
    public Node Slice(Node x, int axis, long start, long end, string? name = null) =>
        Op(OpKind.Slice, [x], new OpAttrs { Axis = axis, Start = start, End = end }, name);
    public Node Concat(IReadOnlyList<Node> xs, int axis, string? name = null) => Op(OpKind.Concat, xs, new OpAttrs { Axis = axis }, name);
    public Node Broadcast(Node x, Shape shape, string? name = null) => Op(OpKind.Broadcast, [x], new OpAttrs { Shape = shape.ToArray() }, name);

    public Node ReduceSum(Node x, int[]? axes = null, bool keepDims = false, string? name = null) =>
        Op(OpKind.ReduceSum, [x], new OpAttrs { Axes = axes, KeepDims = keepDims }, name);
    public Node ReduceMean(Node x, int[]? axes = null, bool keepDims = false, string? name = null) =>
        Op(OpKind.ReduceMean, [x], new OpAttrs { Axes = axes, KeepDims = keepDims }, name);
    public Node ReduceMax(Node x, int[]? axes = null, bool keepDims = false, string? name = null) =>
        Op(OpKind.ReduceMax, [x], new OpAttrs { Axes = axes, KeepDims = keepDims }, name);

    public Node MoeGate(Node logits, int capacity, string? name = null) => Op(OpKind.MoeGate, [logits], new OpAttrs { Capacity = capacity }, name);
    public Node MoeDispatch(Node x, Node combine, bool mask = true, string? name = null) =>
        Op(OpKind.MoeDispatch, [x, combine], new OpAttrs { Mask = mask }, name);
    public Node MoeCombine(Node y, Node combine, bool mask = false, string? name = null) =>
        Op(OpKind.MoeCombine, [y, combine], new OpAttrs { Mask = mask }, name);

    public Node Conv2d(Node x, Node w, int stride = 1, int padding = 0, string? name = null) =>
        Op(OpKind.Conv2d, [x, w], new OpAttrs { Stride = stride, Padding = padding }, name);
    public Node MaxPool(Node x, int kernel, int stride, int padding = 0, string? name = null) =>
        Op(OpKind.MaxPool, [x], new OpAttrs { Kernel = kernel, Stride = stride, Padding = padding }, name);
    public Node AvgPool(Node x, int kernel, int stride, int padding = 0, string? name = null) =>
        Op(OpKind.AvgPool, [x], new OpAttrs { Kernel = kernel, Stride = stride, Padding = padding }, name);
}
