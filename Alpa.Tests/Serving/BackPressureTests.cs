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
}
