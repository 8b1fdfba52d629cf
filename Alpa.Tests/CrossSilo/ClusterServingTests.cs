using System.Diagnostics;
using System.Net;
using Alpa.Client;
using Alpa.Client.Serving;
using Alpa.Silo.Serving;
using Alpa.Tests.Serving;
using Alpa.Tests.Silo;
using Xunit.Abstractions;

namespace Alpa.Tests.CrossSilo;

/// <summary>
/// <c>alpa serve --connect</c>'s model between real <c>alpa silo</c> processes: one forward stage per silo
/// (KV caches kept on the silos, hidden states over the data plane), the front end samples. Generation
/// matches one device; a SIGKILLed silo fails the running stream with 503 and the server re-plans.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class ClusterServingTests(ITestOutputHelper output)
{
    private static async Task<(TestCluster Cluster, AlpaClient Client, string[] Addresses)> StartAsync(int silos, int cpus)
    {
        var cluster = new TestCluster("static:" + TestCluster.NewAddress());
        var addresses = new[] { cluster.Membership["static:".Length..] }.Concat(Enumerable.Range(1, silos - 1).Select(_ => TestCluster.NewAddress())).ToArray();
        foreach (var a in addresses) await cluster.StartAsync(a, cpus);
        await cluster.WaitForAsync(addresses[0], l => l.Silos.Count(s => s.Status == "active") == silos, TimeSpan.FromSeconds(30));
        return (cluster, await cluster.ConnectAsync(addresses[0]), addresses);
    }

    private static Func<CancellationToken, Task<IReadOnlyList<string>>> Listed(AlpaClient client) => async ct =>
        [.. (await client.GetClusterAsync(ct)).Silos.Where(s => s.Status == "active").Select(s => s.Address).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task ATrainedCheckpointOnTwoSilosOfTwoDevices_GeneratesTheGreedyTokensOfOneDevice()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"alpa-serve-silos-{Guid.NewGuid():N}");
        var (cluster, client, addresses) = await StartAsync(2, 2);
        try
        {
            Assert.Equal(0, Cli.InProcessCli.Run("train", "--model", "gpt-tiny", "--steps", "12", "--checkpoint-dir", dir, "--checkpoint-every", "12").Code);
            var weights = new CheckpointWeights(dir).Load(GenerationModelTests.Tiny, TextWriter.Null, default)!;
            var options = new ClusterServingOptions { Spec = GenerationModelTests.Tiny, Slots = 2, PrefillChunk = 8, Weights = weights, Seed = 5 };
            using var remote = await ClusterGenerationModel.CreateAsync(client, Listed(client), options, new TestWriter(output));
            Assert.Equal(addresses.Order(StringComparer.Ordinal), remote.Stages.Select(s => s.Silo));
            Assert.All(remote.Stages, s => Assert.Equal(s.PredictedKvBytes, s.AllocatedKvBytes));
            Assert.All(remote.Stages, s => Assert.Contains("heads split", s.Describe, StringComparison.Ordinal));
            using var single = new GenerationModel(GenerationModelTests.Tiny, new GenerationLayout { Slots = 2, PrefillChunk = 8 }, seed: 5);
            single.Load(weights);

            var prompt = ByteTokenizer.Encode("ab ab ab");
            var (a, b) = (single.Step([new SlotWork(1, 0, prompt)])[0], remote.Step([new SlotWork(1, 0, prompt)])[0]);
            var worst = GenerationModelTests.RelativeError(b, a);
            var tokens = new List<int>();
            for (var pos = prompt.Length; pos < GenerationModelTests.Tiny.SeqLen; pos++)
            {
                var (ta, tb) = (Sampler.ArgMax(a), Sampler.ArgMax(b));
                Assert.Equal(ta, tb);
                tokens.Add(ta);
                (a, b) = (single.Step([new SlotWork(1, pos, [ta])])[0], remote.Step([new SlotWork(1, pos, [tb])])[0]);
                worst = Math.Max(worst, GenerationModelTests.RelativeError(b, a));
            }
            output.WriteLine($"{tokens.Count} greedy tokens equal ('{ByteTokenizer.Decode(tokens)}'); worst per-step logits error {worst:E2}");
            Assert.True(worst < 1e-4, $"largest per-step relative logits error {worst:E2}");
        }
        finally
        {
            client.Dispose();
            await cluster.DisposeAsync();
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task ASigkilledSiloFailsTheRunningStreamWith503_AndTheServerReplansAndKeepsServing()
    {
        var (cluster, client, addresses) = await StartAsync(3, 1);
        try
        {
            // A longer context than gpt-tiny's 32 positions, so that a stream is still running when the silo dies.
            var spec = GenerationModelTests.Tiny with { Name = "gpt-tiny-long", SeqLen = 512 };
            var options = new ClusterServingOptions { Spec = spec, Slots = 2, PrefillChunk = 8, Seed = 1 };
            using var remote = await ClusterGenerationModel.CreateAsync(client, Listed(client), options, new TestWriter(output));
            Assert.Equal(3, remote.Stages.Count);
            await using var engine = new GenerationEngine(remote);
            await using var server = await CompletionServer.StartAsync(engine, new ServerOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), ModelName = spec.Name });
            using var completions = new CompletionClient(server.Address);

            // The middle stage's silo, unless that is the front end's gateway (which must survive): then the last one.
            var victim = remote.Stages[1].Silo != addresses[0] ? remote.Stages[1].Silo : remote.Stages[2].Silo;
            var clock = new Stopwatch();
            var chunks = 0;
            Task<CompletionResponse>? sentAtTheKill = null;
            var error = await Assert.ThrowsAsync<CompletionException>(async () =>
            {
                await foreach (var _ in completions.StreamAsync(new CompletionRequest { Prompt = "kill", MaxTokens = 500, Temperature = 0 }))
                    if (++chunks == 1)
                    {
                        cluster.Silos.Single(s => s.Address == victim).Kill();
                        clock.Start();
                        // Queued or in its first (failing) step: no token out yet, so it starts again on the new plan.
                        sentAtTheKill = completions.GenerateAsync(new CompletionRequest { Prompt = "during", MaxTokens = 8, Temperature = 0 });
                    }
            }).WaitAsync(TimeSpan.FromSeconds(60));
            var failedAfter = clock.Elapsed;
            output.WriteLine($"stream failed {failedAfter.TotalMilliseconds:F0} ms after SIGKILL of {victim}, after {chunks} chunk(s): {error.Error.Type}: {error.Message}");
            Assert.Equal("unavailable", error.Error.Type);   // 503
            Assert.Contains(victim, error.Message, StringComparison.Ordinal);
            Assert.True(failedAfter < TimeSpan.FromSeconds(10), $"the stream failed {failedAfter.TotalSeconds:0.0} s after the kill");

            var during = await sentAtTheKill!.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(8, during.Usage!.CompletionTokens);
            var again = await completions.GenerateAsync(new CompletionRequest { Prompt = "after", MaxTokens = 8, Temperature = 0 });
            Assert.Equal("length", again.Choices[0].FinishReason);
            Assert.Equal(8, again.Usage!.CompletionTokens);
            Assert.Equal(1, engine.Metrics.Replans);
            Assert.Equal(2, remote.Stages.Count);
            Assert.DoesNotContain(victim, remote.Stages.Select(s => s.Silo));
            output.WriteLine($"after the re-plan: {string.Join("; ", remote.StageDescriptions)}");
        }
        finally
        {
            client.Dispose();
            await cluster.DisposeAsync();
        }
    }

    /// <summary>Lines the model logs, into the test output.</summary>
    private sealed class TestWriter(ITestOutputHelper output) : StringWriter
    {
        public override void WriteLine(string? value) => output.WriteLine(value ?? "");
    }
}
