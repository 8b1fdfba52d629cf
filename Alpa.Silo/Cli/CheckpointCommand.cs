using System.Text.Json;
using Alpa.Silo.Checkpoints;

namespace Alpa.Silo.Cli;

/// <summary>
/// <c>alpa checkpoint inspect D</c>: the committed checkpoints of D (each verified block by block),
/// partial directories, and the newest usable one's tensors and layouts;
/// <c>alpa checkpoint export D --out F</c>: its parameters as one safetensors file;
/// <c>alpa checkpoint import F --out D</c>: a safetensors file as a parameters-only checkpoint
/// that <c>alpa train --resume D</c> starts from.
/// </summary>
internal sealed class CheckpointCommand : ICommand
{
    public string Name => "checkpoint";
    public string Summary => "inspects checkpoints; exports and imports parameters as safetensors files";
    public string Usage => "alpa checkpoint inspect D [--json] | export D --out F.safetensors [--states] | import F.safetensors --out D [--step N]";
    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("out", "PATH", "export: the safetensors file to write; import: the checkpoint directory to write"),
        new("states", null, "export: include optimizer states (default: parameters only)"),
        new("step", "N", "import: the step the imported checkpoint claims (default 0: training starts from the beginning)"),
    ];
    public (int Min, int Max) Positionals => (2, 2);

    public int Run(CommandArgs args, CliContext context)
    {
        var (verb, path) = (args.Positionals[0], args.Positionals[1]);
        return verb switch
        {
            "inspect" => Inspect(path, context),
            "export" => Export(path, args.Value("out") ?? throw new UsageException("export needs --out F.safetensors"), args.Has("states"), context),
            "import" => Import(path, args.Value("out") ?? throw new UsageException("import needs --out D (a checkpoint directory)"),
                               args.Has("step") ? args.PositiveInt("step", 1) : 0, context),
            _ => throw new UsageException($"unknown action '{verb}': use inspect, export or import"),
        };
    }

    private static int Inspect(string directory, CliContext context)
    {
        if (!Directory.Exists(directory)) throw new CheckpointException($"checkpoint directory {directory} does not exist");
        var rows = new List<(long Step, string Status, Checkpoint? Checkpoint)>();
        foreach (var (step, path) in CheckpointStore.StepDirectories(directory))
        {
            if (!File.Exists(Path.Combine(path, CheckpointManifest.FileName))) rows.Add((step, "partial (no manifest: never loaded)", null));
            else
            {
                try
                {
                    rows.Add((step, "ok", Checkpoint.Open(path)));
                }
                catch (Exception e) when (e is CheckpointException or IOException)
                {
                    rows.Add((step, "unusable: " + e.Message, null));
                }
            }
        }
        var latest = rows.FirstOrDefault(r => r.Checkpoint is not null).Checkpoint;
        if (context.Json) context.WriteJson(w => InspectJson(w, directory, rows, latest));
        else InspectText(context.Out, directory, rows, latest);
        return CliApp.Ok;
    }

    private static void InspectText(TextWriter o, string directory, List<(long Step, string Status, Checkpoint? Checkpoint)> rows, Checkpoint? latest)
    {
        o.WriteLine($"{directory}: {rows.Count(r => r.Checkpoint is not null)} usable checkpoint(s)");
        foreach (var (step, status, _) in rows) o.WriteLine($"  step {step,9}  {status}");
        if (latest is null)
        {
            o.WriteLine("no usable checkpoint");
            return;
        }
        var m = latest.Manifest;
        o.WriteLine($"newest usable: step {m.Step}, data position {m.DataPosition}, seed {m.RngSeed}, {m.CreatedUtc}, {m.Files.Count} shard file(s), {Units.Bytes(m.Files.Sum(f => f.Bytes))}");
        foreach (var (k, v) in m.Metadata) o.WriteLine($"  {k,-12} {v}");
        foreach (var t in m.Tensors)
            o.WriteLine($"  {t.Name,-36} {t.Kind,-9} {t.Dtype}[{string.Join(", ", t.Shape)}] spec [{string.Join(", ", t.Spec)}] on ({t.Mesh[0]}, {t.Mesh[1]}), {t.Tiles.Count} tile(s)");
    }

    private static void InspectJson(Utf8JsonWriter w, string directory, List<(long Step, string Status, Checkpoint? Checkpoint)> rows, Checkpoint? latest)
    {
        w.WriteStartObject();
        w.WriteString("directory", directory);
        w.WriteStartArray("steps");
        foreach (var (step, status, _) in rows)
        {
            w.WriteStartObject();
            w.WriteNumber("step", step);
            w.WriteString("status", status);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WritePropertyName("latest");
        if (latest is null) w.WriteNullValue();
        else JsonSerializer.Serialize(w, latest.Manifest, CheckpointJson.Default.CheckpointManifest);
        w.WriteEndObject();
    }

    private static int Export(string directory, string output, bool states, CliContext context)
    {
        var (checkpoint, skipped) = CheckpointStore.OpenLatest(directory);
        foreach (var s in skipped) context.Err.WriteLine($"checkpoint step {s.Step} skipped: {s.Reason}");
        var tensors = checkpoint.Manifest.Tensors.Where(t => states || t.Kind == "parameter")
            .Select(t => new SafeTensor(t.Name, Safetensors.DtypeOf(Checkpoint.ElementTypeOf(t.Dtype)), checkpoint.ReadFull(t.Name))).ToList();
        var metadata = checkpoint.Manifest.Metadata.ToDictionary(kv => "alpa." + kv.Key, kv => kv.Value, StringComparer.Ordinal);
        metadata["alpa.step"] = TrainingCheckpointer.Format(checkpoint.Step);
        Safetensors.Write(output, tensors, metadata);
        context.Err.WriteLine($"exported {tensors.Count} tensors of step {checkpoint.Step} to {output} ({Units.Bytes(new FileInfo(output).Length)})");
        return CliApp.Ok;
    }

    private static int Import(string file, string directory, int step, CliContext context)
    {
        var (tensors, metadata) = Safetensors.Read(file);
        var snapshot = new CheckpointSnapshot
        {
            Step = step,
            DataPosition = step,
            RngSeed = ulong.TryParse(metadata.GetValueOrDefault("alpa.seed"), out var seed) ? seed : 0,
            Metadata = metadata.Where(kv => kv.Key.StartsWith("alpa.", StringComparison.Ordinal) && kv.Key != "alpa.step")
                               .ToDictionary(kv => kv.Key["alpa.".Length..], kv => kv.Value, StringComparer.Ordinal),
            Tensors = [.. tensors.Select(t => new SnapshotTensor(t.Name, "parameter", Checkpoint.DtypeName(t.Value.Type),
                                                                  TensorLayout.Whole(t.Value.Shape), [t.Value]))],
        };
        using var writer = new CheckpointWriter(new CheckpointOptions { Directory = directory, Keep = int.MaxValue });
        var report = writer.Save(snapshot);
        context.Err.WriteLine($"imported {tensors.Count} tensors from {file} into {report.Path} (step {step}); 'alpa train --resume {directory}' starts from them");
        return CliApp.Ok;
    }
}
