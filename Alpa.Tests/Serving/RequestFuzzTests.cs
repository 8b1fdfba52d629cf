using System.Text;
using Alpa.Client.Serving;

namespace Alpa.Tests.Serving;

/// <summary>Random and mutated request bodies: every answer is a clean 200/400/404, and the server keeps serving.</summary>
public sealed class RequestFuzzTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly string[] Fields = ["model", "prompt", "max_tokens", "temperature", "top_p", "top_k", "n", "stream", "stop", "stop_token_ids", "seed", "extra"];
    private static readonly string[] Values =
        ["null", "true", "0", "-1", "1", "2", "31", "1e308", "-0.5", "0.5", "\"\"", "\"ab\"", "\"gpt-tiny\"", "[]", "[\"a\"]", "[1, 999]", "{}",
         "\"\\u0000\"", "\"\\ud800\"", "99999999999999999999", "[\"a\",\"b\",\"c\",\"d\",\"e\"]", "\"€€€\""];

    [Fact]
    public async Task FuzzedBodiesNeverCrashTheServer()
    {
        var random = new Random(20261130);
        using var http = new HttpClient { BaseAddress = new Uri(fixture.Server.Address) };
        var statuses = new Dictionary<int, int>();
        for (var i = 0; i < 400; i++)
        {
            var body = i % 4 == 0 ? RandomBytes(random) : RandomObject(random);
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new("application/json");
            using var response = await http.PostAsync("v1/completions", content);
            var status = (int)response.StatusCode;
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            Assert.True(status is 200 or 400 or 404, $"body {Encoding.UTF8.GetString(body)} → {status}: {await response.Content.ReadAsStringAsync()}");
            if (status != 200) Assert.Contains("\"error\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        Assert.True(statuses.GetValueOrDefault(400) > 100, "most fuzzed bodies are invalid");
        using var client = new CompletionClient(fixture.Server.Address);
        var after = await client.GenerateAsync(new CompletionRequest { Prompt = "still up", MaxTokens = 3, Temperature = 0 });
        Assert.Equal(3, after.Usage!.CompletionTokens);
    }

    private static byte[] RandomBytes(Random random)
    {
        var bytes = new byte[random.Next(0, 64)];
        random.NextBytes(bytes);
        if (bytes.Length > 0 && random.Next(2) == 0) bytes[0] = (byte)'{';
        return bytes;
    }

    private static byte[] RandomObject(Random random)
    {
        var parts = Enumerable.Range(0, random.Next(0, 6))
            .Select(_ => $"\"{Fields[random.Next(Fields.Length)]}\": {Values[random.Next(Values.Length)]}");
        var json = "{" + string.Join(", ", parts) + "}";
        if (random.Next(6) == 0) json = json[..random.Next(json.Length)];   // truncated
        return Encoding.UTF8.GetBytes(json);
    }
}
