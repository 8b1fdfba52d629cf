using System.Text.Json;
using Alpa.Client.Serving;

namespace Alpa.Silo.Serving;

/// <summary>A request the server refuses: status, the OpenAI error type and the field at fault.</summary>
public sealed class RequestException(int status, string message, string? param = null, string type = "invalid_request_error") : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;
}

/// <summary>Parses and checks a completions body against the served model; every refusal names what to fix.</summary>
public static class RequestValidation
{
    /// <summary>Largest accepted body.</summary>
    public const int MaxBodyBytes = 1 << 20;

    public static CompletionRequest Parse(ReadOnlySpan<byte> body)
    {
        if (body.IsEmpty) throw new RequestException(400, "the request body is empty; send a JSON object such as {\"prompt\": \"Hello\"}");
        try
        {
            using var doc = JsonDocument.Parse(body.ToArray());
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new RequestException(400, $"the request body must be a JSON object, got {doc.RootElement.ValueKind.ToString().ToLowerInvariant()}");
            return doc.RootElement.Deserialize<CompletionRequest>()
                ?? throw new RequestException(400, "the request body must be a JSON object");
        }
        catch (JsonException e)
        {
            var field = e.Path is { Length: > 2 } path ? path.TrimStart('$', '.') : null;
            if (field is null) throw new RequestException(400, $"malformed JSON: {e.Message}");
            var expected = Expected.GetValueOrDefault(field.Split('[')[0], "a different JSON type");
            throw new RequestException(400, $"{field}: expected {expected}", field);
        }
    }

    /// <summary>Checks every field; returns the engine's request.</summary>
    public static GenerationRequest Check(CompletionRequest r, string model, int context, DateTimeOffset deadline)
    {
        ArgumentNullException.ThrowIfNull(r);
        if (r.Model is { } m && m != model) throw new RequestException(404, $"model '{m}' is not served here; this server serves '{model}'", "model", "model_not_found");
        if (r.Prompt is null) throw new RequestException(400, "prompt is required (a string)", "prompt");
        var prompt = ByteTokenizer.Encode(r.Prompt);
        if (prompt.Length == 0) throw new RequestException(400, "prompt is empty; give at least one character", "prompt");
        var maxTokens = r.MaxTokens ?? 16;
        if (maxTokens < 1) throw new RequestException(400, $"max_tokens must be at least 1, got {maxTokens}", "max_tokens");
        if (prompt.Length >= context) throw new RequestException(400, $"prompt too long: {prompt.Length} tokens, the model's context is {context} tokens (the prompt must leave room for one)", "prompt");
        if (prompt.Length + maxTokens > context)
            throw new RequestException(400, $"prompt ({prompt.Length} tokens) + max_tokens ({maxTokens}) exceeds the model's context of {context} tokens; lower max_tokens to at most {context - prompt.Length}", "max_tokens");
        var temperature = r.Temperature ?? 1.0;
        if (!double.IsFinite(temperature) || temperature is < 0 or > 2) throw new RequestException(400, $"temperature must be in [0, 2], got {temperature}", "temperature");
        var topP = r.TopP ?? 1.0;
        if (!double.IsFinite(topP) || topP is <= 0 or > 1) throw new RequestException(400, $"top_p must be in (0, 1], got {topP}", "top_p");
        var topK = r.TopK ?? 0;
        if (topK < 0) throw new RequestException(400, $"top_k must be ≥ 0 (0 = off), got {topK}", "top_k");
        if ((r.N ?? 1) != 1) throw new RequestException(400, $"n must be 1 (one completion per request), got {r.N}", "n");
        var stop = r.Stop ?? [];
        if (stop.Count > 4 || stop.Any(string.IsNullOrEmpty)) throw new RequestException(400, "stop must be up to 4 non-empty strings", "stop");
        var stopTokens = r.StopTokenIds ?? [];
        if (stopTokens.Any(t => t is < 0 or >= ByteTokenizer.VocabSize)) throw new RequestException(400, $"stop_token_ids must be in 0 … {ByteTokenizer.VocabSize - 1}", "stop_token_ids");
        return new GenerationRequest
        {
            Prompt = prompt,
            MaxTokens = maxTokens,
            Sampling = new SamplingOptions { Temperature = temperature, TopK = topK, TopP = topP, Seed = (ulong)(r.Seed ?? Random.Shared.NextInt64()) },
            Stop = stop,
            StopTokens = stopTokens,
            Deadline = deadline,
        };
    }

    private static readonly Dictionary<string, string> Expected = new(StringComparer.Ordinal)
    {
        ["model"] = "a string", ["prompt"] = "a string", ["max_tokens"] = "an integer", ["temperature"] = "a number",
        ["top_p"] = "a number", ["top_k"] = "an integer", ["n"] = "an integer", ["stream"] = "true or false",
        ["stop"] = "a string or an array of strings", ["stop_token_ids"] = "an array of integers", ["seed"] = "an integer",
    };
}
