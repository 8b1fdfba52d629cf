namespace Alpa.Planner.Plans;

/// <summary>A plan file is not valid JSON or a field is missing or has the wrong type or value; <see cref="AlpaException.Field"/> names it.</summary>
public sealed class PlanFormatException : AlpaException
{
    public PlanFormatException(string message) : base(message) { }
    public PlanFormatException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A plan was written in a format version this program does not read.</summary>
public sealed class PlanVersionException : AlpaException
{
    public PlanVersionException(string message) : base(message) { }
}

/// <summary>A plan was made for another graph or cluster than the one it is used with.</summary>
public sealed class PlanMismatchException : AlpaException
{
    public PlanMismatchException(string message) : base(message) { }
}
