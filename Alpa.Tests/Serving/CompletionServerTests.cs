using System.Net;
using System.Text;
using Alpa.Client.Serving;
using Alpa.Silo.Serving;

namespace Alpa.Tests.Serving;

public sealed class CompletionServerTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private CompletionClient Client() => new(fixture.Server.Address);

    [Fact]
    public async Task ConcurrentGreedyRequestsGiveTheSameTextAsEachAlone()
    {
        string[] prompts = ["ab", "hello", "x", "The cat", "0123456789", "zz"];
        using var client = Client();
        var results = await Task.WhenAll(prompts.Select(p => client.GenerateAsync(new CompletionRequest { Prompt = p, MaxTokens = 12, Temperature = 0 })));
        using var alone = new GenerationModel(GenerationModelTests.Tiny, new GenerationLayout { Slots = 1, PrefillChunk = 8 }, seed: 5);
        alone.Load(GenerationModelTests.Trained.Value);
        for (var i = 0; i < prompts.Length; i++)
        {
            var expected = ByteTokenizer.Decode(ServerFixture.GreedyAlone(alone, ByteTokenizer.Encode(prompts[i]), 12));
            Assert.Equal(expected, results[i].Choices[0].Text);
            Assert.Equal("length", results[i].Choices[0].FinishReason);
            Assert.Equal(12, results[i].Usage!.CompletionTokens);
        }
    }

    [Fact]
    public async Task StreamingWithASeedRepeatsTheNonStreamedCompletion()
    {
        using var client = Client();
        var request = new CompletionRequest { Prompt = "seeded", MaxTokens = 20, Temperature = 0.9, TopK = 40, TopP = 0.95, Seed = 1234 };
        var whole = await client.GenerateAsync(request);
        var chunks = new List<CompletionResponse>();
        await foreach (var c in client.StreamAsync(request)) chunks.Add(c);   // throws unless the stream ends with [DONE]
        Assert.True(chunks.Count >= 2);
        Assert.Equal(whole.Choices[0].Text, string.Concat(chunks.Select(c => c.Choices[0].Text)));
        Assert.Equal("length", chunks[^1].Choices[0].FinishReason);
        Assert.Equal(20, chunks[^1].Usage!.CompletionTokens);
        Assert.All(chunks.SkipLast(1), c => Assert.Null(c.Choices[0].FinishReason));
    }

    [Fact]
    public async Task StopStringsEndTheCompletionBeforeTheStop()
    {
        using var client = Client();
        var free = (await client.GenerateAsync(new CompletionRequest { Prompt = "ab", MaxTokens = 20, Temperature = 0 })).Choices[0].Text;
        var stop = free.Substring(5, 2);
        var stopped = await client.GenerateAsync(new CompletionRequest { Prompt = "ab", MaxTokens = 20, Temperature = 0, Stop = [stop] });
        Assert.Equal(free[..free.IndexOf(stop, StringComparison.Ordinal)], stopped.Choices[0].Text);
        Assert.Equal("stop", stopped.Choices[0].FinishReason);
    }

    [Theory]
    [InlineData("{\"prompt\": \"ab\",", 400, "malformed JSON")]
    [InlineData("[1, 2]", 400, "must be a JSON object")]
    [InlineData("", 400, "body is empty")]
    [InlineData("{\"max_tokens\": 4}", 400, "prompt is required")]
    [InlineData("{\"prompt\": \"ab\", \"max_tokens\": \"four\"}", 400, "max_tokens: expected an integer")]
    [InlineData("{\"prompt\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", 400, "prompt too long: 40 tokens")]
    [InlineData("{\"prompt\": \"ab\", \"max_tokens\": 31}", 400, "lower max_tokens to at most 30")]
    [InlineData("{\"prompt\": \"ab\", \"temperature\": -1}", 400, "temperature must be in [0, 2]")]
    [InlineData("{\"prompt\": \"ab\", \"top_p\": 1.5}", 400, "top_p must be in (0, 1]")]
    [InlineData("{\"prompt\": \"ab\", \"top_k\": -3}", 400, "top_k must be ≥ 0")]
    [InlineData("{\"prompt\": \"ab\", \"n\": 2}", 400, "n must be 1")]
    [InlineData("{\"prompt\": \"ab\", \"stop\": 7}", 400, "stop: expected a string or an array")]
    [InlineData("{\"prompt\": \"ab\", \"model\": \"gpt-39b\"}", 404, "is not served here")]
    public async Task BadRequestsGetTheirReason(string body, int status, string reason)
    {
        using var http = new HttpClient { BaseAddress = new Uri(fixture.Server.Address) };
        using var response = await http.PostAsync("v1/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Contains(reason, System.Text.Json.JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task HealthAndMetricsAnswer()
    {
        using var http = new HttpClient { BaseAddress = new Uri(fixture.Server.Address) };
        var health = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("health")).RootElement;
        Assert.Equal("ok", health.GetProperty("status").GetString());
        Assert.Equal(4, health.GetProperty("slots").GetInt32());
        var metrics = await http.GetStringAsync("metrics");
        Assert.Contains("# TYPE alpa_serve_generated_tokens_total counter", metrics, StringComparison.Ordinal);
        Assert.Contains("alpa_serve_slots 4", metrics, StringComparison.Ordinal);
    }
}
