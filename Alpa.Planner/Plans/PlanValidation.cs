namespace Alpa.Planner.Plans;

/// <summary>Consistency checks of a plan beyond its JSON shape: what the simulator and runtime rely on.</summary>
public static class PlanValidation
{
    /// <summary>Throws <see cref="PlanFormatException"/> naming the first inconsistent field.</summary>
    public static void Check(Plan plan)
    {
        if (plan.Stages.Count == 0) throw PlanJson.Bad("stages", "a plan needs at least one stage");
        var c = plan.Cluster;
        var seen = new HashSet<int>();
        var nextLayer = 0;
        for (var i = 0; i < plan.Stages.Count; i++)
        {
            var s = plan.Stages[i];
            var p = $"stages[{i}]";
            if (s.FirstLayer != nextLayer || s.LastLayer < s.FirstLayer)
                throw PlanJson.Bad(p + ".layers", $"[{s.FirstLayer}, {s.LastLayer}] does not continue the previous stage (expected to start at layer {nextLayer})");
            nextLayer = s.LastLayer + 1;
            if (s.Submesh.Hosts < 1 || s.Submesh.Devices < 1)
                throw PlanJson.Bad(p + ".submesh", "both sizes must be ≥ 1");
            if (s.LogicalMesh.N0 < 1 || s.LogicalMesh.N1 < 1 || s.LogicalMesh.Count != s.Submesh.Count)
                throw PlanJson.Bad(p + ".logical_mesh", $"{s.LogicalMesh} does not have the {s.Submesh.Count} devices of submesh {s.Submesh}");
            if (s.Devices.Count != s.Submesh.Count)
                throw PlanJson.Bad(p + ".devices", $"{s.Devices.Count} devices listed for a submesh of {s.Submesh.Count}");
            foreach (var d in s.Devices)
                if (d < 0 || d >= c.DeviceCount || !seen.Add(d))
                    throw PlanJson.Bad(p + ".devices", $"device {d} is out of range (0..{c.DeviceCount - 1}) or used by two stages");
        }
        var pairs = new HashSet<(int, int)>();
        for (var i = 0; i < plan.Transfers.Count; i++)
        {
            var t = plan.Transfers[i];
            if (t.FromStage < 0 || t.ToStage >= plan.Stages.Count || t.FromStage >= t.ToStage)
                throw PlanJson.Bad($"transfers[{i}]", $"stage {t.FromStage} → {t.ToStage} is not from an earlier to a later stage of the plan");
            if (!pairs.Add((t.FromStage, t.ToStage)))
                throw PlanJson.Bad($"transfers[{i}]", $"stage {t.FromStage} → {t.ToStage} is listed twice");
            CheckTensors(plan, t, $"transfers[{i}]");
        }
        for (var s = 0; s + 1 < plan.Stages.Count; s++)
            if (!pairs.Contains((s, s + 1)))
                throw PlanJson.Bad("transfers", $"no transfer from stage {s} to stage {s + 1}; consecutive stages need one (0 bytes is allowed)");
    }

    /// <summary>A listed boundary tensor needs a spec of its rank in both stages (the simulator and runtime reshard with them).</summary>
    private static void CheckTensors(Plan plan, PlanTransfer t, string p)
    {
        for (var k = 0; k < t.Tensors.Count; k++)
        {
            var tensor = t.Tensors[k];
            foreach (var stage in new[] { t.FromStage, t.ToStage })
            {
                if (!plan.Stages[stage].BoundarySpecs.TryGetValue(tensor.Name, out var spec))
                    throw PlanJson.Bad($"{p}.tensors[{k}]", $"'{tensor.Name}' has no entry in stages[{stage}].boundary_specs");
                if (spec.Count != tensor.Shape.Count)
                    throw PlanJson.Bad($"stages[{stage}].boundary_specs.{tensor.Name}", $"{spec.Count} dims for a tensor of {tensor.Shape.Count}");
            }
        }
    }
}
