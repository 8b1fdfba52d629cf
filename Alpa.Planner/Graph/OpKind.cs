namespace Alpa.Planner.Graph;

/// <summary>
/// Every operation of the IR. Semantics are fixed here; shapes are checked by
/// <see cref="GraphBuilder"/>. Layouts: images are NHWC, convolution weights [KH, KW, Cin, Cout],
/// dense weights [in, out].
/// </summary>
public enum OpKind
{
    // ── Leaves ────────────────────────────────────────────────────────────────────────────
    /// <summary>Trainable weight. Attrs: <see cref="OpAttrs.Init"/>, <see cref="OpAttrs.Value"/> (init scale).</summary>
    Parameter,
    /// <summary>Per-step data fed by the runtime: tokens, labels, images, scalars like the learning rate.</summary>
    Input,
    /// <summary>A tensor filled with <see cref="OpAttrs.Value"/>.</summary>
    Constant,
    /// <summary>Persistent non-trainable buffer (optimizer moments), zero at start.</summary>
    State,

    // ── Linear algebra ────────────────────────────────────────────────────────────────────
    /// <summary>
    /// Batched matmul (the einsum "...mk,...kn->...mn"): a [..., m, k] × b [..., k, n] → [..., m, n].
    /// <see cref="OpAttrs.TransA"/>/<see cref="OpAttrs.TransB"/> transpose the last two axes of an
    /// operand. b may be 2-D, shared by every batch of a.
    /// </summary>
    MatMul,

    // ── Element-wise binary, NumPy broadcasting ──────────────────────────────────────────
    Add,
    Sub,
    Mul,
    Div,

    // ── Element-wise unary ────────────────────────────────────────────────────────────────
    /// <summary>x · <see cref="OpAttrs.Value"/>.</summary>
    Scale,
    /// <summary>GELU, tanh approximation.</summary>
    Gelu,
    Relu,
    Tanh,
    Exp,
    Sqrt,
    /// <summary>Conversion to <see cref="OpAttrs.To"/>.</summary>
    Cast,
    /// <summary>Causal mask over the last two axes [..., q, k]: entries with k &gt; q become <see cref="OpAttrs.Value"/>.</summary>
    CausalMask,

    // ── Normalization ─────────────────────────────────────────────────────────────────────
    /// <summary>Softmax over the last axis.</summary>
    Softmax,
    /// <summary>LayerNorm(x, gamma, beta) over the last axis with <see cref="OpAttrs.Epsilon"/>.</summary>
    LayerNorm,
    /// <summary>BatchNorm(x [N,H,W,C], gamma [C], beta [C]) with batch statistics (training mode).</summary>
    BatchNorm,

    // ── Indexing and loss ─────────────────────────────────────────────────────────────────
    /// <summary>Embedding(table [V, H], ids i32 [...]) → [..., H].</summary>
    Embedding,
    /// <summary>CrossEntropy(logits [..., V], labels i32 [...]) → scalar f32, the mean over labels.</summary>
    CrossEntropy,

    // ── Shape ─────────────────────────────────────────────────────────────────────────────
    /// <summary>Same elements, new shape <see cref="OpAttrs.Shape"/>.</summary>
    Reshape,
    /// <summary>Permutes axes by <see cref="OpAttrs.Axes"/> (output axis i is input axis Axes[i]).</summary>
    Transpose,
    /// <summary>[Start, End) along <see cref="OpAttrs.Axis"/>.</summary>
    Slice,
    /// <summary>Concatenates the inputs along <see cref="OpAttrs.Axis"/>.</summary>
    Concat,
    /// <summary>NumPy-broadcasts the input to <see cref="OpAttrs.Shape"/>.</summary>
    Broadcast,

    // ── Reductions over <see cref="OpAttrs.Axes"/>, <see cref="OpAttrs.KeepDims"/> ──────────
    ReduceSum,
    ReduceMean,
    ReduceMax,

    // ── Mixture of experts, GShard style (G groups of S tokens, E experts, capacity C) ──────
    /// <summary>
    /// Top-2 gating: logits [G, S, E] → combine weights [G, S, E, C] (C = <see cref="OpAttrs.Capacity"/>).
    /// Softmax gates, the two best experts per token, weights renormalized over the two, slots
    /// given in token order; tokens past an expert's capacity are dropped.
    /// </summary>
    MoeGate,
    /// <summary>
    /// MoeDispatch(x [G, S, M], combine [G, S, E, C]) → [E, G, C, M]:
    /// out[e,g,c] = Σ_s w[g,s,e,c]·x[g,s], where w is the indicator combine ≠ 0 when
    /// <see cref="OpAttrs.Mask"/> is set, else combine itself.
    /// </summary>
    MoeDispatch,
    /// <summary>
    /// MoeCombine(y [E, G, C, M], combine [G, S, E, C]) → [G, S, M]:
    /// out[g,s] = Σ_{e,c} w[g,s,e,c]·y[e,g,c], w as for <see cref="MoeDispatch"/>.
    /// </summary>
    MoeCombine,

    // ── Convolutional networks (NHWC) ─────────────────────────────────────────────────────
    /// <summary>Conv2d(x [N,H,W,Cin], w [KH,KW,Cin,Cout]) with <see cref="OpAttrs.Stride"/>, <see cref="OpAttrs.Padding"/>.</summary>
    Conv2d,
    /// <summary>Max pooling, window <see cref="OpAttrs.Kernel"/>, <see cref="OpAttrs.Stride"/>, <see cref="OpAttrs.Padding"/>.</summary>
    MaxPool,
    /// <summary>Average pooling (padding counted as zeros, divisor Kernel²).</summary>
    AvgPool,

    // ── Gradient kernels (produced by autodiff) ───────────────────────────────────────────
    /// <summary>GeluGrad(x, dy) → dx.</summary>
    GeluGrad,
    /// <summary>ReluGrad(x, dy) → dx.</summary>
    ReluGrad,
    /// <summary>TanhGrad(y, dy) → dy·(1 − y²), y the tanh output.</summary>
    TanhGrad,
    /// <summary>SoftmaxGrad(y, dy) → y·(dy − Σ dy·y) over the last axis.</summary>
    SoftmaxGrad,
    /// <summary>LayerNormGradInput(x, gamma, dy) → dx.</summary>
    LayerNormGradInput,
    /// <summary>LayerNormGradGamma(x, dy) → dgamma [H], summed over all leading axes.</summary>
    LayerNormGradGamma,
    /// <summary>BatchNormGradInput(x, gamma, dy) → dx.</summary>
    BatchNormGradInput,
    /// <summary>BatchNormGradGamma(x, dy) → dgamma [C].</summary>
    BatchNormGradGamma,
    /// <summary>EmbeddingGrad(ids, dy [..., H]) → dtable [V, H] (V = <see cref="OpAttrs.Shape"/>[0]), a scatter-add.</summary>
    EmbeddingGrad,
    /// <summary>CrossEntropyGrad(logits, labels, dloss scalar) → dlogits.</summary>
    CrossEntropyGrad,
    /// <summary>SliceGrad(dy) → zeros of <see cref="OpAttrs.Shape"/> with dy placed at [Start, End) of Axis.</summary>
    SliceGrad,
    /// <summary>ReduceMaxGrad(x, dy) → dy routed to the (first) maximum along Axes.</summary>
    ReduceMaxGrad,
    /// <summary>MoeGateGrad(logits, dcombine) → dlogits, the assignment recomputed from the logits.</summary>
    MoeGateGrad,
    /// <summary>MoeCombineGradWeights(dout [G,S,M], y [E,G,C,M]) → dcombine [G,S,E,C].</summary>
    MoeCombineGradWeights,
    /// <summary>Conv2dGradInput(dy, w) → dx of shape <see cref="OpAttrs.Shape"/>.</summary>
    Conv2dGradInput,
    /// <summary>Conv2dGradWeight(x, dy) → dw of shape <see cref="OpAttrs.Shape"/>.</summary>
    Conv2dGradWeight,
    /// <summary>MaxPoolGrad(x, dy) → dx.</summary>
    MaxPoolGrad,
    /// <summary>AvgPoolGrad(dy) → dx of shape <see cref="OpAttrs.Shape"/>.</summary>
    AvgPoolGrad,

    // ── Optimizer ─────────────────────────────────────────────────────────────────────────
    /// <summary>ClipCoefficient(sum of squares, scalar) → min(1, MaxNorm / (√s + 1e-6)); <see cref="OpAttrs.Value"/> is MaxNorm.</summary>
    ClipCoefficient,
    /// <summary>SgdMomentum(buf, g) → Momentum·buf + g.</summary>
    SgdMomentum,
    /// <summary>SgdUpdate(p, step direction, lr scalar) → p − lr·(d + WeightDecay·p).</summary>
    SgdUpdate,
    /// <summary>AdamMoment(m, g) → Beta·m + (1 − Beta)·g (g² when <see cref="OpAttrs.Square"/>).</summary>
    AdamMoment,
    /// <summary>
    /// AdamUpdate(p, m, v, lr scalar, step scalar) → p − lr·(m̂ / (√v̂ + Epsilon) + WeightDecay·p),
    /// m̂ = m / (1 − Beta1^step), v̂ = v / (1 − Beta2^step) (AdamW: decoupled decay).
    /// </summary>
    AdamUpdate,
}

/// <summary>Where a node sits in a training step.</summary>
public enum Phase
{
    Forward,
    /// <summary>A forward node recomputed during the backward pass (activation rematerialization).</summary>
    Recompute,
    Backward,
    Update,
}

/// <summary>How a parameter is initialized.</summary>
public enum InitKind
{
    /// <summary>Normal(0, Value).</summary>
    Normal,
    Zeros,
    Ones,
}
