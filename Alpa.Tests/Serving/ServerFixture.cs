using System.Net;
using Alpa.Silo.Serving;

namespace Alpa.Tests.Serving;

/// <summary>A real Kestrel server on a loopback port over a gpt-tiny engine (trained weights, 4 slots).</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public GenerationModel Model { get; private set; } = null!;
    public GenerationEngine Engine { get; private set; } = null!;
    public CompletionServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Model = new GenerationModel(GenerationModelTests.Tiny, new GenerationLayout { Slots = 4, PrefillChunk = 8 }, seed: 5);
        Model.Load(GenerationModelTests.Trained.Value);
        Engine = new GenerationEngine(Model, new EngineOptions { QueueCapacity = 256 });
        Server = await CompletionServer.StartAsync(Engine, new ServerOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), ModelName = "gpt-tiny" });
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Engine.DisposeAsync();
        Model.Dispose();
    }

    /// <summary>Greedy tokens straight from the model, one request alone in slot 0.</summary>
    public static List<int> GreedyAlone(GenerationModel model, int[] prompt, int maxTokens)
    {
        float[] logits = [];
        for (var fed = 0; fed < prompt.Length; fed += model.Chunk)
            logits = model.Step([new SlotWork(0, fed, prompt[fed..Math.Min(prompt.Length, fed + model.Chunk)])])[0];
        var tokens = new List<int>();
        for (var pos = prompt.Length; tokens.Count < maxTokens; pos++)
        {
            tokens.Add(Sampler.ArgMax(logits));
            if (tokens.Count == maxTokens) break;
            logits = model.Step([new SlotWork(0, pos, [tokens[^1]])])[0];
        }
        return tokens;
    }
}
