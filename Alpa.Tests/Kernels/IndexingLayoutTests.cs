using Alpa.Kernels;
using Alpa.Kernels.Cpu.Kernels;

namespace Alpa.Tests.Kernels;

public sealed class IndexingLayoutTests
{
    [Fact]
    public void EmbeddingGatherAndScatterAdd()
    {
        var rng = new Random(11);
        int vocab = 9, hidden = 5, n = 20;
        var table = Ref.Randn(rng, vocab * hidden);
        var ids = Ref.Ints(rng, n, vocab);
        var y = new float[n * hidden];
        Indexing.Embedding(table, ids, y, vocab, hidden);
        for (var i = 0; i < n; i++) Assert.Equal(table.AsSpan(ids[i] * hidden, hidden).ToArray(), y.AsSpan(i * hidden, hidden).ToArray());
        var dy = Ref.Randn(rng, n * hidden);
        var dt = new float[vocab * hidden];
        Indexing.EmbeddingGrad(ids, dy, dt, vocab, hidden);
        var expected = new double[dt.Length];
        for (var i = 0; i < n; i++) for (var h = 0; h < hidden; h++) expected[ids[i] * hidden + h] += dy[i * hidden + h];
        Ref.Close(dt, expected, 1e-6, "scatter-add");
        ids[3] = vocab;
        var e = Assert.Throws<KernelException>(() => Indexing.Embedding(table, ids, y, vocab, hidden));
        Assert.Contains("outside [0, 9)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CrossEntropyAndItsGradientMatchFloat64()
    {
        var rng = new Random(12);
        int rows = 17, classes = 31;
        var logits = Ref.Randn(rng, rows * classes, 4);
        var labels = Ref.Ints(rng, rows, classes);
        double loss = 0;
        var grad = new double[logits.Length];
        const double dloss = 0.7;
        for (var r = 0; r < rows; r++)
        {
            var row = Enumerable.Range(r * classes, classes).ToArray();
            var m = row.Max(i => (double)logits[i]);
            var z = row.Sum(i => Math.Exp(logits[i] - m));
            loss += m + Math.Log(z) - logits[r * classes + labels[r]];
            foreach (var i in row) grad[i] = (Math.Exp(logits[i] - m) / z - (i - r * classes == labels[r] ? 1 : 0)) * dloss / rows;
        }
        var actual = Indexing.CrossEntropy(logits, labels, rows, classes);
        Assert.True(Math.Abs(actual - loss / rows) <= 1e-6 * Math.Abs(loss / rows), $"{actual} vs {loss / rows}");
        var dl = new float[logits.Length];
        Indexing.CrossEntropyGrad(logits, labels, (float)dloss, dl, rows, classes);
        Ref.Close(dl, grad, 1e-5, "ce grad");
    }

    [Fact]
    public void TransposeOfRandomPermutations()
    {
        var rng = new Random(13);
        for (var trial = 0; trial < 30; trial++)
        {
            var rank = rng.Next(1, 5);
            var shape = Ref.RandomShape(rng, rank);
            var perm = Enumerable.Range(0, rank).OrderBy(_ => rng.Next()).ToArray();
            var x = Ref.Randn(rng, Ref.Count(shape));
            var y = new float[x.Length];
            Layout.Transpose<float>(x, shape, perm, y);
            var yShape = perm.Select(p => shape[p]).ToArray();
            var st = Ref.Strides(shape);
            for (var i = 0; i < y.Length; i++)
            {
                var idx = Ref.Index(i, yShape);
                long src = 0;
                for (var d = 0; d < rank; d++) src += idx[d] * st[perm[d]];
                Assert.Equal(x[src], y[i]);
            }
        }
    }

    [Fact]
    public void SliceConcatAndSliceGradRoundTrip()
    {
        var rng = new Random(14);
        long outer = 3, size = 7, inner = 4;
        var x = Ref.Randn(rng, outer * size * inner);
        var a = new float[outer * 2 * inner];
        var b = new float[outer * 5 * inner];
        Layout.Slice<float>(x, a, outer, size, inner, 0, 2);
        Layout.Slice<float>(x, b, outer, size, inner, 2, 7);
        var y = new float[x.Length];
        Layout.ConcatPart<float>(a, y, outer, 2, size, inner, 0);
        Layout.ConcatPart<float>(b, y, outer, 5, size, inner, 2);
        Assert.Equal(x, y);
        var g = new float[x.Length];
        Layout.SliceGrad(b, g, outer, size, inner, 2, 7);
        for (var i = 0; i < x.Length; i++) Assert.Equal(i / inner % size >= 2 ? x[i] : 0f, g[i]);
    }
}
