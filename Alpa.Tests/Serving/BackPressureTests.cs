using System.Net;
using Alpa.Client.Serving;
using Alpa.Silo.Serving;

namespace Alpa.Tests.Serving;

public sealed class BackPressureTests
{
    private static async Task<(GenerationModel, GenerationEngine, CompletionServer)> Start(EngineOptions engine, TimeSpan deadline)
    {
        var model = new GenerationModel(GenerationModelTests.Tiny, new GenerationLayout { Slots = 2, PrefillChunk = 8 }, seed: 5);
        var e = new GenerationEngine(model, engine);
        var s = await CompletionServer.StartAsync(e, new ServerOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), ModelName = "gpt-tiny", Deadline = deadline });
        return (model, e, s);
    }

    [Fact]
    public async Task AFullQueueAnswers429AndTheRestComplete()
    {
        var (model, engine, server) = await Start(new EngineOptions { QueueCapacity = 1, ContinuousBatching = false }, TimeSpan.FromMinutes(1));
        try
        {
            using var client = new CompletionClient(server.Address);
            var calls = Enumerable.Range(0, 10).Select(async i =>
            {
                try
                {
                    await client.GenerateAsync(new CompletionRequest { Prompt = $"p{i}", MaxTokens = 29, Temperature = 0 });
                    return 200;
                }
                catch (CompletionException e)
                {
                    Assert.Contains("the server is busy", e.Error.Message, StringComparison.Ordinal);
                    return e.Status;
                }
            });
            var statuses = await Task.WhenAll(calls);
            Assert.Contains(429, statuses);
            Assert.Contains(200, statuses);
            Assert.All(statuses, s => Assert.True(s is 200 or 429, $"status {s}"));
            Assert.Equal(statuses.Count(s => s == 429), engine.Metrics.RejectedRequests);
        }
        finally
        {
            await server.DisposeAsync();
            await engine.DisposeAsync();
            model.Dispose();
        }
    }

    [Fact]
    public async Task APassedDeadlineAnswers504()
    {
        var (model, engine, server) = await Start(new EngineOptions(), TimeSpan.Zero);
        try
        {
            using var client = new CompletionClient(server.Address);
            var e = await Assert.ThrowsAsync<CompletionException>(() => client.GenerateAsync(new CompletionRequest { Prompt = "late", MaxTokens = 5 }));
            Assert.Equal(504, e.Status);
            Assert.Contains("deadline", e.Error.Message, StringComparison.Ordinal);
        }
        finally
        {
            await server.DisposeAsync();
            await engine.DisposeAsync();
            model.Dispose();
        }
    }

    [Fact]
    public async Task ACancelledJobLeavesWithoutGeneratingAndTheNextOneRuns()
    {
        using var model = new GenerationModel(GenerationModelTests.Tiny, new GenerationLayout { Slots = 1, PrefillChunk = 8 }, seed: 5);
        await using var engine = new GenerationEngine(model, new EngineOptions { ContinuousBatching = false });
        GenerationJob Job(string prompt) => new(new GenerationRequest
        {
            Prompt = ByteTokenizer.Encode(prompt), MaxTokens = 20, Sampling = new SamplingOptions { Temperature = 0 },
            Deadline = DateTimeOffset.UtcNow.AddMinutes(1),
        });
        var (running, leaving, next) = (Job("first"), Job("gone"), Job("next"));
        Assert.True(engine.TryEnqueue(running));
        Assert.True(engine.TryEnqueue(leaving));
        Assert.True(engine.TryEnqueue(next));
        leaving.Cancel();   // still queued behind the running job: its client went away
        var left = await leaving.Events.ReadAllAsync().ToListAsync();
        Assert.Equal(499, Assert.Single(left).Error!.Status);
        Assert.Equal("length", (await next.Events.ReadAllAsync().ToListAsync())[^1].Finish);
        Assert.Equal("length", (await running.Events.ReadAllAsync().ToListAsync())[^1].Finish);
        Assert.Equal(1, engine.Metrics.FailedRequests);
        Assert.Equal(40, engine.Metrics.Tokens);
    }
}
