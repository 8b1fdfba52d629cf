using Alpa.Planner.Autodiff;
using Alpa.Planner.Graph;

namespace Alpa.Planner.Training;

using Graph = Alpa.Planner.Graph.Graph;

/// <summary>
/// One training step as a graph: forward + loss + backward + optimizer update, in the same IR.
/// The result's <see cref="Graph.Updates"/> give every parameter's and optimizer state's new
/// value. The runtime feeds <see cref="LearningRate"/> and <see cref="Step"/> (f32 scalars),
/// starts optimizer states at zero, and starts each <see cref="MasterSuffix"/> state as a fp32
/// copy of its parameter.
/// </summary>
public static class TrainingGraph
{
    /// <summary>Scalar f32 input: the learning rate of this step.</summary>
    public const string LearningRate = "optimizer.lr";
    /// <summary>Scalar f32 input: the 1-based number of this step (Adam's bias correction).</summary>
    public const string Step = "optimizer.step";
    /// <summary>State suffixes: <c>&lt;param&gt;.adam_m</c> and so on.</summary>
    public const string AdamMSuffix = ".adam_m", AdamVSuffix = ".adam_v", MomentumSuffix = ".momentum", MasterSuffix = ".master";

    public static Graph Build(Graph model, TrainingOptions options)
    {
        options.Validate();
        var loss = model.Loss ?? throw new AlpaException("the model has no loss; a training graph needs a scalar loss") { Field = "loss" };
        if (model.Updates.Count > 0) throw new AlpaException("the graph already has updates: it is a training graph, build from the model");
        var parameters = model.Parameters.ToList();
        if (parameters.Count == 0) throw new AlpaException("the model has no parameters to train");
        var precision = options.Precision ?? new PrecisionPolicy(parameters[0].DType);
        foreach (var p in parameters.Where(p => p.DType != precision.Compute))
            throw new AlpaException($"parameter '{p.Name}' is {p.DType.ToJsonName()} but the precision policy computes in " +
                                    $"{precision.Compute.ToJsonName()}; build the model with its parameters in the compute dtype") { Field = p.Name };

        var b = GraphBuilder.Extend(model);
        var grads = Backward(b, loss, parameters, precision, options.Remat);
        b.Phase = Phase.Update;
        b.Layer = -1;
        var lr = b.Input(LearningRate, Shape.Scalar);
        var step = b.Input(Step, Shape.Scalar);
        var g32 = parameters.Select(p => Fp32Gradient(b, p, grads, precision)).ToList();
        if (options.ClipNorm is { } maxNorm) g32 = ClipByGlobalNorm(b, parameters, g32, maxNorm);

        var updates = new List<Update>();
        for (var i = 0; i < parameters.Count; i++)
        {
            var p = parameters[i];
            b.Layer = p.Layer;
            var weight = precision.MasterWeights ? b.State(p.Name + MasterSuffix, p.Shape) : p;
            var updated = options.Optimizer switch
            {
                Adam adam => AdamStep(b, p.Name, weight, g32[i], adam, lr, step, updates),
                Sgd sgd => SgdStep(b, p.Name, weight, g32[i], sgd, lr, updates),
                _ => throw new AlpaException($"unknown optimizer {options.Optimizer.GetType().Name}"),
            };
            if (precision.MasterWeights)
            {
                updates.Add(new Update(weight, updated));
                updated = b.Cast(updated, p.DType, $"update/{p.Name}");
            }
            updates.Add(new Update(p, updated));
        }
        return b.Build(model.Outputs, loss, updates);
    }

    /// <summary>Gradients of the (scaled) loss; a parameter that does not reach the loss gets zeros.</summary>
    private static IReadOnlyDictionary<Node, Node> Backward(GraphBuilder b, Node loss, List<Node> parameters, PrecisionPolicy precision, bool remat)
    {
        b.Phase = Phase.Backward;
        b.Layer = loss.Layer;
        // Loss scaling: the backward pass starts from d(scale·loss)/dloss = scale.
        var seed = precision.LossScale == 1 ? null : b.Constant($"grad/{loss.Name}.scaled", Shape.Scalar, precision.LossScale, loss.DType);
        var grads = new Dictionary<Node, Node>(Backprop.Gradients(b, loss, parameters, seed, remat));
        foreach (var p in parameters.Where(p => !grads.ContainsKey(p)))
        {
            b.Layer = p.Layer;
            grads[p] = b.Constant($"grad/{p.Name}.zero", p.Shape, 0.0, p.DType);
        }
        return grads;
    }

    /// <summary>The gradient in fp32, divided by the loss scale.</summary>
    private static Node Fp32Gradient(GraphBuilder b, Node p, IReadOnlyDictionary<Node, Node> grads, PrecisionPolicy precision)
    {
        b.Layer = p.Layer;
        var g = grads[p];
        if (g.DType != DType.F32) g = b.Cast(g, DType.F32, $"grad/{p.Name}.f32");
        if (precision.LossScale != 1) g = b.Scale(g, 1.0 / precision.LossScale, $"grad/{p.Name}.unscaled");
        return g;
    }

    /// <summary>g ← g · min(1, maxNorm / (√Σ‖g‖² + 1e-6)) with one coefficient for all parameters.</summary>
    private static List<Node> ClipByGlobalNorm(GraphBuilder b, List<Node> parameters, List<Node> grads, double maxNorm)
    {
        Node? total = null;
        for (var i = 0; i < grads.Count; i++)
        {
            b.Layer = parameters[i].Layer;
            var name = parameters[i].Name;
            var sq = b.ReduceSum(b.Mul(grads[i], grads[i], $"clip/{name}.sq"), name: $"clip/{name}.sumsq");
            b.Layer = -1;
            total = total is null ? sq : b.Add(total, sq, $"clip/sumsq.{i}");
        }
        b.Layer = -1;
        var coef = b.Op(OpKind.ClipCoefficient, [total!], new OpAttrs { Value = maxNorm }, "clip/coefficient");
        var clipped = new List<Node>(grads.Count);
        for (var i = 0; i < grads.Count; i++)
        {
            b.Layer = parameters[i].Layer;
            clipped.Add(b.Mul(grads[i], coef, $"clip/{parameters[i].Name}"));
        }
        return clipped;
    }

    private static Node AdamStep(GraphBuilder b, string name, Node w, Node g, Adam adam, Node lr, Node step, List<Update> updates)
    {
        var m = b.State(name + AdamMSuffix, w.Shape);
        var v = b.State(name + AdamVSuffix, w.Shape);
        var m1 = b.Op(OpKind.AdamMoment, [m, g], new OpAttrs { Beta = adam.Beta1 }, $"update/{name}{AdamMSuffix}");
        var v1 = b.Op(OpKind.AdamMoment, [v, g], new OpAttrs { Beta = adam.Beta2, Square = true }, $"update/{name}{AdamVSuffix}");
        updates.Add(new Update(m, m1));
        updates.Add(new Update(v, v1));
        var attrs = new OpAttrs { Beta = adam.Beta1, Beta2 = adam.Beta2, Epsilon = adam.Epsilon, WeightDecay = adam.WeightDecay };
        return b.Op(OpKind.AdamUpdate, [w, m1, v1, lr, step], attrs, $"update/{w.Name}");
    }

    private static Node SgdStep(GraphBuilder b, string name, Node w, Node g, Sgd sgd, Node lr, List<Update> updates)
    {
        var direction = g;
        if (sgd.Momentum != 0)
        {
            var buf = b.State(name + MomentumSuffix, w.Shape);
            direction = b.Op(OpKind.SgdMomentum, [buf, g], new OpAttrs { Momentum = sgd.Momentum }, $"update/{name}{MomentumSuffix}");
            updates.Add(new Update(buf, direction));
        }
        return b.Op(OpKind.SgdUpdate, [w, direction, lr], new OpAttrs { WeightDecay = sgd.WeightDecay }, $"update/{w.Name}");
    }
}
