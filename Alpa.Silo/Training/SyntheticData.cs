using Alpa.Kernels;
using Alpa.Planner;
using Alpa.Planner.Graph;

namespace Alpa.Silo.Training;

/// <summary>Which stream a batch comes from: training batches or held-out evaluation batches.</summary>
public enum DataSplit
{
    Train = 1,
    Eval = 2,
}

/// <summary>
/// Deterministic synthetic datasets with learnable structure, chosen from a graph's inputs:
/// <list type="bullet">
/// <item><c>tokens</c> + <c>labels</c> [B, s]: a fixed bigram language — every token has two
/// successors, taken with probability 3/4 and 1/4; labels are the next tokens. The best possible
/// loss is the chain's entropy (≈ 0.56 nats) against ln V at start.</item>
/// <item><c>x</c> [B, H] + <c>labels</c> [B]: Gaussian vectors labelled by a fixed random linear teacher (argmax).</item>
/// <item><c>images</c> [B, H, W, C] + <c>labels</c> [B]: one fixed random template per class plus noise.</item>
/// </list>
/// A batch is a pure function of (seed, split, step, batch size): any step can be reproduced.
/// </summary>
public sealed class SyntheticData
{
    private const double SuccessorBias = 0.75;
    private readonly int _seed;
    private readonly Node[] _inputs;
    private readonly int _vocab;
    private readonly int _classes;
    private readonly int[,]? _successors;
    private readonly float[]? _teacher;
    private readonly float[]? _templates;

    public SyntheticData(Graph graph, int seed)
    {
        _seed = seed;
        _inputs = graph.Inputs.Where(n => !n.Name.StartsWith("optimizer.", StringComparison.Ordinal)).ToArray();
        _vocab = VocabOf(graph);
        _classes = ClassesOf(graph);
        var rng = new DeterministicRandom((ulong)seed, 0xDA7A);
        if (_inputs.Any(n => n.Name == "tokens"))
        {
            _successors = new int[_vocab, 2];
            for (var t = 0; t < _vocab; t++)
            {
                _successors[t, 0] = rng.NextInt(_vocab);
                _successors[t, 1] = rng.NextInt(_vocab);
            }
        }
        if (Find("x") is { } x)
        {
            var h = (int)x.Shape[-1];
            _teacher = new float[h * _classes];
            for (var i = 0; i < _teacher.Length; i++) _teacher[i] = (float)rng.NextNormal();
        }
        if (Find("images") is { } img)
        {
            var per = (int)(img.Shape.Elements / img.Shape[0]);
            _templates = new float[per * _classes];
            for (var i = 0; i < _templates.Length; i++) _templates[i] = (float)rng.NextNormal();
        }
    }

    /// <summary>The batch of step <paramref name="step"/>, keyed by input name.</summary>
    public IReadOnlyDictionary<string, HostTensor> Batch(long step, DataSplit split = DataSplit.Train)
    {
        var rng = new DeterministicRandom((ulong)_seed, (ulong)split, (ulong)step);
        var batch = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        if (Find("tokens") is { } tokens)
        {
            var (t, l) = Language(tokens.Shape, ref rng);
            batch["tokens"] = t;
            if (Find("labels") is not null) batch["labels"] = l;
        }
        else if (Find("x") is { } x)
        {
            Classification(x, _teacher!, noise: 0.0, ref rng, batch);
        }
        else if (Find("images") is { } images)
        {
            Classification(images, _templates!, noise: 1.0, ref rng, batch);
        }
        foreach (var input in _inputs)
        {
            if (!batch.ContainsKey(input.Name))
                throw new AlpaException($"synthetic data has no generator for input '{input.Name}' {input.Shape}; the model's inputs must be tokens/labels, x/labels or images/labels");
        }
        return batch;
    }

    private (HostTensor Tokens, HostTensor Labels) Language(Shape shape, ref DeterministicRandom rng)
    {
        var (b, s) = ((int)shape[0], (int)shape[1]);
        var tokens = new int[b * s];
        var labels = new int[b * s];
        for (var r = 0; r < b; r++)
        {
            var cur = rng.NextInt(_vocab);
            for (var i = 0; i < s; i++)
            {
                var next = _successors![cur, rng.NextDouble() < SuccessorBias ? 0 : 1];
                tokens[r * s + i] = cur;
                labels[r * s + i] = next;
                cur = next;
            }
        }
        return (HostTensor.FromInts(tokens, b, s), HostTensor.FromInts(labels, b, s));
    }

    /// <summary>
    /// x = N(0, 1) vectors labelled by argmax(x · teacher) when <paramref name="noise"/> is 0;
    /// otherwise x = template[label] + noise · N(0, 1) with uniform labels.
    /// </summary>
    private void Classification(Node input, float[] table, double noise, ref DeterministicRandom rng, Dictionary<string, HostTensor> batch)
    {
        var b = (int)input.Shape[0];
        var per = (int)(input.Shape.Elements / b);
        var values = new float[b * per];
        var labels = new int[b];
        for (var r = 0; r < b; r++)
        {
            var row = values.AsSpan(r * per, per);
            if (noise == 0.0)
            {
                for (var i = 0; i < per; i++) row[i] = (float)rng.NextNormal();
                labels[r] = ArgMaxProjection(row, table);
            }
            else
            {
                var c = rng.NextInt(_classes);
                labels[r] = c;
                var template = table.AsSpan(c * per, per);
                for (var i = 0; i < per; i++) row[i] = template[i] + (float)(noise * rng.NextNormal());
            }
        }
        batch[input.Name] = HostTensor.FromFloats(values, input.Shape.ToArray());
        if (Find("labels") is not null) batch["labels"] = HostTensor.FromInts(labels, b);
    }

    private int ArgMaxProjection(ReadOnlySpan<float> x, float[] teacher)
    {
        var best = 0;
        var bestScore = double.NegativeInfinity;
        for (var c = 0; c < _classes; c++)
        {
            double score = 0;
            for (var i = 0; i < x.Length; i++) score += x[i] * teacher[i * _classes + c];
            if (score > bestScore) (best, bestScore) = (c, score);
        }
        return best;
    }

    private Node? Find(string name) => _inputs.FirstOrDefault(n => n.Name == name);

    private static int VocabOf(Graph graph)
    {
        var embed = graph.Nodes.FirstOrDefault(n => n.Op == OpKind.Embedding && n.Inputs[1].Name == "tokens");
        return embed is null ? 0 : (int)embed.Inputs[0].Shape[0];
    }

    private static int ClassesOf(Graph graph)
    {
        var ce = graph.Nodes.FirstOrDefault(n => n.Op == OpKind.CrossEntropy && n.Inputs[1].Name == "labels");
        return ce is null ? 0 : (int)ce.Inputs[0].Shape[-1];
    }
}
