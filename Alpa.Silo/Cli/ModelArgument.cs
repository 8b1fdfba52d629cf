using Alpa.Planner;
using Alpa.Planner.Models;

namespace Alpa.Silo.Cli;

/// <summary>
/// Resolves a model argument <c>M</c> for any command: a built-in name, or the path of a JSON model
/// or graph file. Errors in a file are prefixed with its path.
/// </summary>
internal static class ModelArgument
{
    public static ModelSpec Load(string argument)
    {
        if (ModelZoo.TryGet(argument, out var builtIn)) return builtIn;
        if (File.Exists(argument))
        {
            var text = File.ReadAllText(argument);
            try
            {
                return ModelSpecJson.Parse(text);
            }
            catch (ModelSpecException e)
            {
                throw new ModelSpecException($"{argument}: {e.Message}", e) { Field = e.Field };
            }
        }
        if (argument.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || argument.Contains('/') || argument.Contains('\\'))
            throw new ModelSpecException($"model file '{argument}' does not exist") { Field = "model" };
        return ModelZoo.Get(argument);   // throws, listing the built-in names
    }
}
