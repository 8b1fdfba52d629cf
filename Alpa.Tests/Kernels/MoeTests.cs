using Alpa.Kernels.Cpu.Kernels;

namespace Alpa.Tests.Kernels;

public sealed class MoeTests
{
    [Fact]
    public void GateAssignsTopTwoInTokenOrderAndDropsPastCapacity()
    {
        // One group, 3 tokens, 3 experts, capacity 1. Token 0 prefers e0 then e1; token 1 too; token 2 prefers e2 then e0.
        float[] logits = [2, 1, 0, 2, 1, 0, 0, 1, 3];
        var combine = new float[3 * 3 * 1];
        Moe.Gate(logits, combine, 1, 3, 3, 1);
        double W(float a, float b) => Math.Exp(a) / (Math.Exp(a) + Math.Exp(b));
        Assert.Equal(W(2, 1), combine[0], 6);      // token 0 → e0 slot 0
        Assert.Equal(W(1, 2), combine[1], 6);      // token 0 → e1 slot 0
        Assert.Equal(0f, combine[3]);              // token 1 dropped from e0 (full)
        Assert.Equal(0f, combine[4]);              // and from e1 (full)
        Assert.Equal(W(3, 1), combine[8], 6);      // token 2 → e2; its second choice e1 is full
        Assert.Equal(0f, combine[6] + combine[7]);
    }

    [Fact]
    public void GateGradientMatchesFiniteDifferences()
    {
        var rng = new Random(30);
        int groups = 2, tokens = 6, experts = 4, capacity = 3;
        var logits = Ref.Randn(rng, groups * tokens * experts, 2);
        var dcombine = Ref.Randn(rng, groups * tokens * experts * capacity);
        var grad = new float[logits.Length];
        Moe.GateGrad(logits, dcombine, grad, groups, tokens, experts, capacity);
        var expected = new double[logits.Length];
        var c = new float[dcombine.Length];
        for (var i = 0; i < logits.Length; i++)
        {
            var saved = logits[i];
            const float h = 1e-3f;
            logits[i] = saved + h; Moe.Gate(logits, c, groups, tokens, experts, capacity);
            var up = c.Select((v, j) => (double)v * dcombine[j]).Sum();
            logits[i] = saved - h; Moe.Gate(logits, c, groups, tokens, experts, capacity);
            var down = c.Select((v, j) => (double)v * dcombine[j]).Sum();
            logits[i] = saved;
            expected[i] = (up - down) / (2 * h);
        }
        Ref.Close(grad, expected, 2e-3, "gate grad vs finite differences");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DispatchCombineAndWeightGradientMatchFloat64(bool mask)
    {
        var rng = new Random(mask ? 31 : 32);
        int G = 2, S = 5, E = 3, C = 2, M = 4;
        var logits = Ref.Randn(rng, G * S * E);
        var combine = new float[G * S * E * C];
        Moe.Gate(logits, combine, G, S, E, C);
        var x = Ref.Randn(rng, G * S * M);
        var yExp = Ref.Randn(rng, E * G * C * M);
        var dout = Ref.Randn(rng, G * S * M);
        var disp = new double[E * G * C * M]; var comb = new double[G * S * M]; var dc = new double[combine.Length];
        for (var g = 0; g < G; g++)
            for (var s = 0; s < S; s++)
                for (var e = 0; e < E; e++)
                    for (var c = 0; c < C; c++)
                    {
                        var ci = ((g * S + s) * E + e) * C + c;
                        double w = mask ? (combine[ci] != 0 ? 1 : 0) : combine[ci];
                        for (var m = 0; m < M; m++)
                        {
                            var yi = ((e * G + g) * C + c) * M + m;
                            disp[yi] += w * x[(g * S + s) * M + m];
                            comb[(g * S + s) * M + m] += w * yExp[yi];
                            dc[ci] += (double)dout[(g * S + s) * M + m] * yExp[yi];
                        }
                    }
        var a = new float[disp.Length]; var b = new float[comb.Length]; var d = new float[dc.Length];
        Moe.Dispatch(x, combine, a, G, S, E, C, M, mask);
        Moe.Combine(yExp, combine, b, G, S, E, C, M, mask);
        Moe.CombineGradWeights(dout, yExp, d, G, S, E, C, M);
        Ref.Close(a, disp, 1e-6, "dispatch");
        Ref.Close(b, comb, 1e-6, "combine");
        Ref.Close(d, dc, 1e-5, "combine grad weights");
    }
}
