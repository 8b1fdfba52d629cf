using System.Net;
using Alpa.Planner;
using Alpa.Planner.Inference;
using Alpa.Planner.Models;
using Alpa.Silo.Serving;
using Serilog;

namespace Alpa.Silo.Cli;

/// <summary>
/// <c>alpa serve --model M (--random-init | --train-steps N | --checkpoint D) [--cluster local:1xD] --listen ADDR:PORT</c>:
/// OpenAI-style completions over HTTP with continuous batching, until Ctrl+C.
/// </summary>
internal sealed class ServeCommand : ICommand
{
    public string Name => "serve";
    public string Summary => "serves text generation (/v1/completions, /health, /metrics) with a KV cache, continuous batching and forward stages on local CPU devices or one per silo (--connect)";
    public string Usage => "alpa serve --model gpt-tiny (--random-init | --train-steps N | --checkpoint D) [--cluster local:1xD [--stages N] | --connect ADDR:PORT [--secret-file F]] --listen ADDR:PORT";
    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("model", "M", "a GPT model: built-in name or JSON model file (required; the vocabulary must hold 256 byte tokens)"),
        new("random-init", null, "serve the seeded random initialization"),
        new("train-steps", "N", "train the model N steps on the synthetic language first (no checkpoint needed)"),
        new("checkpoint", "D", "load the parameters of the latest checkpoint in D (alpa train --checkpoint-dir D), whatever mesh saved them"),
        new("cluster", "C", "local:1xD: D CPU devices in this process (default local:1x1); across silo processes use --connect"),
        new("connect", "ADDR:PORT", "serve across the silos of a running cluster: one forward stage per live silo, re-planned on the rest when one dies"),
        new("secret-file", "F", "the cluster secret (with --connect; or ALPA_SECRET / ALPA_SECRET_FILE)"),
        new("stages", "N", "exact number of forward stages (default: the DP chooses)"),
        new("objective", "NAME", "throughput (default: minimize the largest stage latency) or latency (minimize their sum)"),
        new("listen", "ADDR:PORT", "address to serve on, e.g. 127.0.0.1:8080 (required)"),
        new("slots", "N", "sequences decoded together (default 4)"),
        new("prefill-chunk", "N", "prompt tokens per prefill step (default 16)"),
        new("queue", "N", "requests that may wait for a slot; more get 429 (default 64)"),
        new("deadline", "SECONDS", "per-request deadline, queue wait included (default 60)"),
        new("one-at-a-time", null, "no continuous batching: one request at a time (baseline)"),
        new("seed", "N", "seed of the random initialization and training (default 0)"),
    ];
    public (int Min, int Max) Positionals => (0, 0);

    public int Run(CommandArgs args, CliContext context)
    {
        var options = SetupOptions(args);
        var listen = Listen(args.Value("listen") ?? throw new UsageException("--listen ADDR:PORT is required (e.g. --listen 127.0.0.1:8080)"));
        using var log = new LoggerConfiguration().WriteTo.Console(standardErrorFromLevel: Serilog.Events.LogEventLevel.Verbose).MinimumLevel.Warning().CreateLogger();
        if (args.Value("connect") is { } endpoint)
        {
            if (args.Has("cluster") || args.Has("stages"))
                throw new UsageException("--connect serves one stage per live silo: leave out --cluster and --stages");
            using var client = Client.AlpaClient.ConnectAsync(endpoint, Client.Transport.ClusterSecret.Resolve(args.Value("secret-file"))).GetAwaiter().GetResult();
            using var remote = ServingSetup.CreateOnClusterAsync(options, client, ct => LiveSilos(client, ct), context.Err).GetAwaiter().GetResult();
            return RunAsync(remote, EngineFrom(args), ServerFrom(args, options, listen), log, context).GetAwaiter().GetResult();
        }
        var cluster = options.Devices > 1 ? LocalClusterProbe.Measure(1, options.Devices)
            : GenerationModel.NominalCpu(1) with { Device = GenerationModel.NominalCpu(1).Device with { MemoryBytes = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes } };
        using var model = ServingSetup.Create(options, cluster, context.Err);
        return RunAsync(model, EngineFrom(args), ServerFrom(args, options, listen), log, context).GetAwaiter().GetResult();
    }

    /// <summary>Silos the membership lists as active, in address order.</summary>
    private static async Task<IReadOnlyList<string>> LiveSilos(Client.AlpaClient client, CancellationToken cancellationToken)
    {
        var listing = await client.GetClusterAsync(cancellationToken).ConfigureAwait(false);
        return [.. listing.Silos.Where(s => s.Status == "active").Select(s => s.Address).Distinct().Order(StringComparer.Ordinal)];
    }

    private static EngineOptions EngineFrom(CommandArgs args) =>
        new() { QueueCapacity = args.PositiveInt("queue", 64), ContinuousBatching = !args.Has("one-at-a-time") };

    private static ServerOptions ServerFrom(CommandArgs args, ServingSetupOptions options, IPEndPoint listen) => new()
    {
        Listen = listen,
        ModelName = options.Spec.Name,
        Deadline = TimeSpan.FromSeconds(args.Number("deadline", 60, positive: true, example: "30")),
    };

    private static async Task<int> RunAsync(IGenerationModel model, EngineOptions engineOptions, ServerOptions serverOptions, ILogger log, CliContext context)
    {
        await using var engine = new GenerationEngine(model, engineOptions, log);
        await using var server = await CompletionServer.StartAsync(engine, serverOptions, log).ConfigureAwait(false);
        context.Err.WriteLine($"serving {serverOptions.ModelName} on {server.Address} ({model.Slots} slots, context {model.Context} tokens, " +
                              $"{(engineOptions.ContinuousBatching ? "continuous batching" : "one request at a time")}); Ctrl+C stops");
        await server.WaitForShutdownAsync().ConfigureAwait(false);
        return 0;
    }

    internal static ServingSetupOptions SetupOptions(CommandArgs args)
    {
        var modelName = args.Value("model") ?? throw new UsageException("--model is required (e.g. --model gpt-tiny)");
        if (ModelArgument.Load(modelName) is not GptSpec spec)
            throw new AlpaException($"--model {modelName}: serving generates text with GPT models (gpt-tiny, gpt-350m, … or a gpt model file)") { Field = "model" };
        var sources = new[] { "random-init", "train-steps", "checkpoint" }.Count(args.Has);
        if (sources != 1) throw new UsageException("give exactly one of --random-init, --train-steps N or --checkpoint DIR");
        var seed = args.Has("seed") ? args.PositiveInt("seed", 1) : 0;
        IWeightSource weights = args.Has("checkpoint") ? new CheckpointWeights(args.Value("checkpoint")!)
            : args.Has("train-steps") ? new TrainedWeights(args.PositiveInt("train-steps", 100), seed) : new RandomWeights();
        var objective = args.Value("objective") switch
        {
            null or "throughput" => InferenceObjective.Throughput,
            "latency" => InferenceObjective.Latency,
            var other => throw new UsageException($"--objective must be throughput or latency, got '{other}'"),
        };
        return new ServingSetupOptions
        {
            Spec = spec,
            Devices = Devices(args.Value("cluster")),
            Stages = args.Has("stages") ? args.PositiveInt("stages", 1) : null,
            Objective = objective,
            Layout = new GenerationLayout { Slots = args.PositiveInt("slots", 4), PrefillChunk = args.PositiveInt("prefill-chunk", 16) },
            Weights = weights,
            Seed = (ulong)seed,
        };
    }

    private static int Devices(string? cluster)
    {
        if (cluster is null or "local") return 1;
        var name = Planner.Cluster.ClusterName.Parse(cluster);
        if (name.Name != Planner.Cluster.BuiltInClusters.Local)
            throw new AlpaException($"--cluster {cluster}: serving runs on local:1xD (CPU devices of this process)") { Field = "cluster" };
        if (name.Hosts != 1)
            throw new AlpaException($"--cluster {cluster}: serving in this process runs on local:1xD; to serve across silo processes start them ('alpa silo') and give --connect ADDR:PORT") { Field = "cluster" };
        return name.DevicesPerHost;
    }

    private static IPEndPoint Listen(string text) =>
        IPEndPoint.TryParse(text, out var ep) && text.Contains(':', StringComparison.Ordinal)
            ? ep
            : throw new UsageException($"--listen expects ADDR:PORT such as 127.0.0.1:8080, got '{text}'");
}
