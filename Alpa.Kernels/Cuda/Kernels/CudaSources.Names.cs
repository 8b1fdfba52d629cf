using System.Text.RegularExpressions;

namespace Alpa.Kernels.Cuda.Kernels;

public static partial class CudaSources
{
    private static readonly Lazy<HashSet<string>> s_names = new(() =>
        [.. KernelPattern().Matches(All).Select(m => m.Groups[1].Value)]);

    /// <summary>The names of every <c>extern "C" __global__</c> kernel of <see cref="All"/>.</summary>
    public static IReadOnlySet<string> KernelNames => s_names.Value;

    [GeneratedRegex("""extern "C" __global__ void (\w+)\(""")]
    private static partial Regex KernelPattern();
}
