using Alpa.Planner.Graph;

namespace Alpa.Silo.Selftest.Reference;

// Mixture of experts, GShard style: G groups of S tokens, E experts, capacity C.
public static partial class ReferenceEvaluator
{
    /// <summary>One token's routing: its two experts, their renormalized weights and slots (−1: dropped).</summary>
    private readonly record struct Route(int E1, int E2, double W1, double W2, long Slot1, long Slot2);

    /// <summary>
    /// The top-2 assignment of one group. Gates p = softmax(logits[g, s, :]); e1 = the first
    /// argmax, e2 = the first argmax among the others (none when E = 1); weights
    /// w1 = p1/(p1+p2), w2 = p2/(p1+p2). Slots are given in token order, for each token its first
    /// then its second choice: a choice gets slot count[e] when count[e] &lt; C, else it is dropped.
    /// </summary>
    private static Route[] Assign(RefTensor logits, long g, long capacity)
    {
        long s = logits.Shape[1], e = logits.Shape[2];
        var count = new long[e];
        var routes = new Route[s];
        for (long t = 0; t < s; t++)
        {
            var row = new double[e];
            Array.Copy(logits.Data, (g * s + t) * e, row, 0, e);
            var max = row.Max();
            var p = row.Select(v => Math.Exp(v - max)).ToArray();
            var sum = p.Sum();
            for (var i = 0; i < e; i++) p[i] /= sum;
            var e1 = 0;
            for (var i = 1; i < e; i++) if (p[i] > p[e1]) e1 = i;
            var e2 = -1;
            for (var i = 0; i < e; i++) if (i != e1 && (e2 < 0 || p[i] > p[e2])) e2 = i;
            var slot1 = count[e1] < capacity ? count[e1]++ : -1;
            if (e2 < 0)
            {
                routes[t] = new Route(e1, -1, 1.0, 0.0, slot1, -1);
                continue;
            }
            var slot2 = count[e2] < capacity ? count[e2]++ : -1;
            var norm = p[e1] + p[e2];
            routes[t] = new Route(e1, e2, p[e1] / norm, p[e2] / norm, slot1, slot2);
        }
        return routes;
    }

    private static RefTensor MoeGate(Node n, RefTensor logits)
    {
        long gCount = logits.Shape[0], s = logits.Shape[1], e = logits.Shape[2], c = n.Attrs.Capacity;
        var combine = RefTensor.Zeros(n.Shape);
        for (long g = 0; g < gCount; g++)
        {
            var routes = Assign(logits, g, c);
            for (long t = 0; t < s; t++)
            {
                var r = routes[t];
                if (r.Slot1 >= 0) combine.Data[((g * s + t) * e + r.E1) * c + r.Slot1] = r.W1;
                if (r.Slot2 >= 0) combine.Data[((g * s + t) * e + r.E2) * c + r.Slot2] = r.W2;
            }
        }
        return combine;
    }

    /// <summary>
    /// With the assignment fixed, w1 = σ(l1 − l2) and w2 = 1 − w1, so
    /// dl1 = w1·w2·(d1 − d2) = −dl2, where d_i is dcombine at choice i's slot (0 when dropped).
    /// </summary>
    private static RefTensor MoeGateGrad(Node n, RefTensor logits, RefTensor dcombine)
    {
        long gCount = logits.Shape[0], s = logits.Shape[1], e = logits.Shape[2], c = n.Attrs.Capacity;
        var dlogits = RefTensor.Zeros(n.Shape);
        for (long g = 0; g < gCount; g++)
        {
            var routes = Assign(logits, g, c);
            for (long t = 0; t < s; t++)
            {
                var r = routes[t];
                if (r.E2 < 0) continue;
                var d1 = r.Slot1 >= 0 ? dcombine.Data[((g * s + t) * e + r.E1) * c + r.Slot1] : 0.0;
                var d2 = r.Slot2 >= 0 ? dcombine.Data[((g * s + t) * e + r.E2) * c + r.Slot2] : 0.0;
                var dl1 = r.W1 * r.W2 * (d1 - d2);
                dlogits.Data[(g * s + t) * e + r.E1] = dl1;
                dlogits.Data[(g * s + t) * e + r.E2] = -dl1;
            }
        }
        return dlogits;
    }

    /// <summary>The dispatch/combine weight: the indicator combine ≠ 0 under Mask, else combine itself.</summary>
    private static double Weight(double combine, bool mask) => mask ? (combine != 0 ? 1.0 : 0.0) : combine;

    /// <summary>out[e,g,c,m] = Σ_s w[g,s,e,c]·x[g,s,m].</summary>
    private static RefTensor MoeDispatch(Node n, RefTensor x, RefTensor combine)
    {
        long gCount = x.Shape[0], s = x.Shape[1], m = x.Shape[2], e = combine.Shape[2], c = combine.Shape[3];
        var outT = RefTensor.Zeros(n.Shape);
        for (long g = 0; g < gCount; g++)
            for (long t = 0; t < s; t++)
                for (long ei = 0; ei < e; ei++)
                    for (long ci = 0; ci < c; ci++)
                    {
                        var w = Weight(combine.Data[((g * s + t) * e + ei) * c + ci], n.Attrs.Mask);
                        for (long mi = 0; mi < m; mi++)
                            outT.Data[((ei * gCount + g) * c + ci) * m + mi] += w * x.Data[(g * s + t) * m + mi];
                    }
        return outT;
    }

    /// <summary>out[g,s,m] = Σ_{e,c} w[g,s,e,c]·y[e,g,c,m].</summary>
    private static RefTensor MoeCombine(Node n, RefTensor y, RefTensor combine)
    {
        long gCount = combine.Shape[0], s = combine.Shape[1], e = combine.Shape[2], c = combine.Shape[3], m = y.Shape[3];
        var outT = RefTensor.Zeros(n.Shape);
        for (long g = 0; g < gCount; g++)
            for (long t = 0; t < s; t++)
                for (long ei = 0; ei < e; ei++)
                    for (long ci = 0; ci < c; ci++)
                    {
                        var w = Weight(combine.Data[((g * s + t) * e + ei) * c + ci], n.Attrs.Mask);
                        for (long mi = 0; mi < m; mi++)
                            outT.Data[(g * s + t) * m + mi] += w * y.Data[((ei * gCount + g) * c + ci) * m + mi];
                    }
        return outT;
    }

    /// <summary>dcombine[g,s,e,c] = Σ_m dout[g,s,m]·y[e,g,c,m].</summary>
    private static RefTensor MoeCombineGradWeights(Node n, RefTensor dout, RefTensor y)
    {
        long gCount = dout.Shape[0], s = dout.Shape[1], m = dout.Shape[2], e = y.Shape[0], c = y.Shape[2];
        var outT = RefTensor.Zeros(n.Shape);
        for (long g = 0; g < gCount; g++)
            for (long t = 0; t < s; t++)
                for (long ei = 0; ei < e; ei++)
                    for (long ci = 0; ci < c; ci++)
                    {
                        double sum = 0;
                        for (long mi = 0; mi < m; mi++) sum += dout.Data[(g * s + t) * m + mi] * y.Data[((ei * gCount + g) * c + ci) * m + mi];
                        outT.Data[((g * s + t) * e + ei) * c + ci] = sum;
                    }
        return outT;
    }
}
