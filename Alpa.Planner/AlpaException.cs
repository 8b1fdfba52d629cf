namespace Alpa.Planner;

/// <summary>
/// Base of every error the project reports to a user: the message says what is wrong and what to
/// change. The CLI prints <see cref="Exception.Message"/> on one line and exits non-zero; a stack
/// trace is shown only with <c>--verbose</c>.
/// </summary>
public class AlpaException : Exception
{
    public AlpaException(string message) : base(message) { }
    public AlpaException(string message, Exception inner) : base(message, inner) { }

    /// <summary>The offending field, node or option (e.g. <c>nodes[3].shape</c>), when one is known.</summary>
    public string? Field { get; init; }
}

/// <summary>A node was built with operands whose shapes, dtypes or attributes do not fit its op.</summary>
public sealed class ShapeException : AlpaException
{
    public ShapeException(string message) : base(message) { }
}

/// <summary>A model name, model file or graph file could not be understood.</summary>
public sealed class ModelSpecException : AlpaException
{
    public ModelSpecException(string message) : base(message) { }
    public ModelSpecException(string message, Exception inner) : base(message, inner) { }
}
