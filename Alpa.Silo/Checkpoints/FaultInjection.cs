using System.Diagnostics;
using System.Globalization;

namespace Alpa.Silo.Checkpoints;

/// <summary>
/// Crash injection for tests of a real process: <c>ALPA_CHECKPOINT_FAULT=after-shards:K@STEP</c>
/// (after K shard files of the checkpoint of step STEP are synced) or <c>before-rename@STEP</c>
/// (the manifest is synced under its temporary name) kills the process with SIGKILL right there.
/// </summary>
public static class FaultInjection
{
    public const string Variable = "ALPA_CHECKPOINT_FAULT";

    /// <summary>The hook the variable asks for, or null when it is unset.</summary>
    public static Action<CheckpointFault>? FromEnvironment(TextWriter log)
    {
        var text = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrWhiteSpace(text)) return null;
        var (point, files, step) = Parse(text);
        return fault =>
        {
            if (fault.Step != step || fault.Point != point || (point == CheckpointFaultPoint.AfterShardFile && fault.FilesWritten != files)) return;
            log.WriteLine($"alpa: {Variable}={text}: killing this process (SIGKILL) at step {step}, {fault.FilesWritten}/{fault.FilesTotal} shard files written");
            log.Flush();
            Process.GetCurrentProcess().Kill();
            Thread.Sleep(Timeout.Infinite);
        };
    }

    /// <summary>Parses <c>after-shards:K@STEP</c> or <c>before-rename@STEP</c>.</summary>
    public static (CheckpointFaultPoint Point, int Files, long Step) Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var at = text.Split('@');
        if (at.Length == 2 && long.TryParse(at[1], NumberStyles.None, CultureInfo.InvariantCulture, out var step))
        {
            if (at[0] == "before-rename") return (CheckpointFaultPoint.BeforeManifestRename, 0, step);
            var parts = at[0].Split(':');
            if (parts is ["after-shards", var k] && int.TryParse(k, NumberStyles.None, CultureInfo.InvariantCulture, out var files))
                return (CheckpointFaultPoint.AfterShardFile, files, step);
        }
        throw new CheckpointException($"{Variable}='{text}': use after-shards:K@STEP or before-rename@STEP");
    }
}
