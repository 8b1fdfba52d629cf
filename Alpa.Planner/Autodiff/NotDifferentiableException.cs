using Alpa.Planner.Graph;

namespace Alpa.Planner.Autodiff;

/// <summary>A gradient was requested through a gradient or optimizer op, which have no gradient rule.</summary>
public sealed class NotDifferentiableException : AlpaException
{
    public NotDifferentiableException(Node node)
        : base($"node '{node.Name}' is a {node.Op}, a gradient or optimizer op, which cannot be differentiated; " +
               "differentiate the forward graph (model + loss) instead")
    {
        Field = node.Name;
    }
}
