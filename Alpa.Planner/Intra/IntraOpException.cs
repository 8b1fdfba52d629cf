namespace Alpa.Planner.Intra;

/// <summary>The intra-operator pass cannot plan this graph on this mesh; the message says what to change.</summary>
public class IntraOpException : AlpaException
{
    public IntraOpException(string message) : base(message) { }
}

/// <summary>No plan fits the per-device memory budget.</summary>
public sealed class MemoryBudgetException : IntraOpException
{
    public MemoryBudgetException(string message, double budgetBytes, double minimumBytes, double fastestPlanBytes) : base(message)
    {
        BudgetBytes = budgetBytes;
        MinimumBytes = minimumBytes;
        FastestPlanBytes = fastestPlanBytes;
    }

    /// <summary>The budget that was asked for.</summary>
    public double BudgetBytes { get; }
    /// <summary>The smallest peak per-device memory any plan reaches.</summary>
    public double MinimumBytes { get; }
    /// <summary>Peak per-device memory of the fastest plan without a budget.</summary>
    public double FastestPlanBytes { get; }
}
