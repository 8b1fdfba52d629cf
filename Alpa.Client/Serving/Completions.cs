using System.Text.Json;
using System.Text.Json.Serialization;

namespace Alpa.Client.Serving;

/// <summary>
/// Body of <c>POST /v1/completions</c> (the OpenAI completions fields Alpa serves). Absent fields
/// take the defaults below; the server answers 400 naming the field when a value is out of range.
/// </summary>
public sealed record CompletionRequest
{
    /// <summary>Model name; must be the served model (or absent).</summary>
    [JsonPropertyName("model")] public string? Model { get; init; }
    /// <summary>The prompt text (byte-level tokens: one token per UTF-8 byte).</summary>
    [JsonPropertyName("prompt")] public string? Prompt { get; init; }
    /// <summary>Most tokens to generate, ≥ 1; prompt + max_tokens must fit the model's context (default 16).</summary>
    [JsonPropertyName("max_tokens")] public int? MaxTokens { get; init; }
    /// <summary>0 … 2; 0 = greedy (default 1).</summary>
    [JsonPropertyName("temperature")] public double? Temperature { get; init; }
    /// <summary>Nucleus probability in (0, 1] (default 1 = off).</summary>
    [JsonPropertyName("top_p")] public double? TopP { get; init; }
    /// <summary>Keep the K most likely tokens, ≥ 0 (default 0 = off).</summary>
    [JsonPropertyName("top_k")] public int? TopK { get; init; }
    /// <summary>Completions per prompt: only 1 is served.</summary>
    [JsonPropertyName("n")] public int? N { get; init; }
    /// <summary>Stream tokens as server-sent events ending with <c>data: [DONE]</c>.</summary>
    [JsonPropertyName("stream")] public bool? Stream { get; init; }
    /// <summary>Up to 4 stop strings (a string or an array): generation ends before the first one, which is not returned.</summary>
    [JsonPropertyName("stop")] [JsonConverter(typeof(StringOrArrayConverter))] public IReadOnlyList<string>? Stop { get; init; }
    /// <summary>Token ids that end generation (returned text excludes them).</summary>
    [JsonPropertyName("stop_token_ids")] public IReadOnlyList<int>? StopTokenIds { get; init; }
    /// <summary>Seed of the sampling stream (default: drawn by the server).</summary>
    [JsonPropertyName("seed")] public long? Seed { get; init; }
}

/// <summary>One choice of a completion (n = 1: always index 0).</summary>
public sealed record CompletionChoice
{
    [JsonPropertyName("index")] public int Index { get; init; }
    /// <summary>Generated text (streaming: this chunk's piece).</summary>
    [JsonPropertyName("text")] public string Text { get; init; } = "";
    /// <summary><c>stop</c> (stop string or token), <c>length</c> (max_tokens or the context), null while streaming.</summary>
    [JsonPropertyName("finish_reason")] public string? FinishReason { get; init; }
}

/// <summary>Token counts of a finished completion.</summary>
public sealed record CompletionUsage
{
    [JsonPropertyName("prompt_tokens")] public int PromptTokens { get; init; }
    [JsonPropertyName("completion_tokens")] public int CompletionTokens { get; init; }
    [JsonPropertyName("total_tokens")] public int TotalTokens { get; init; }
}

/// <summary>A completion, or one streamed chunk of it (object <c>text_completion</c>).</summary>
public sealed record CompletionResponse
{
    [JsonPropertyName("id")] public string Id { get; init; } = "";
    [JsonPropertyName("object")] public string Object { get; init; } = "text_completion";
    [JsonPropertyName("created")] public long Created { get; init; }
    [JsonPropertyName("model")] public string Model { get; init; } = "";
    [JsonPropertyName("choices")] public IReadOnlyList<CompletionChoice> Choices { get; init; } = [];
    /// <summary>Present on the full response and on the last streamed chunk.</summary>
    [JsonPropertyName("usage")] public CompletionUsage? Usage { get; init; }
}

/// <summary>The error body: <c>{"error": {"message", "type", "param"}}</c>.</summary>
public sealed record CompletionError
{
    [JsonPropertyName("message")] public string Message { get; init; } = "";
    /// <summary><c>invalid_request_error</c>, <c>overloaded</c>, <c>timeout</c>, <c>server_error</c>.</summary>
    [JsonPropertyName("type")] public string Type { get; init; } = "";
    [JsonPropertyName("param")] public string? Param { get; init; }
}

/// <summary>Wrapper of <see cref="CompletionError"/>.</summary>
public sealed record CompletionErrorBody
{
    [JsonPropertyName("error")] public CompletionError Error { get; init; } = new();
}

/// <summary>Reads <c>"a"</c> or <c>["a", "b"]</c> as a list; writes a list.</summary>
public sealed class StringOrArrayConverter : JsonConverter<IReadOnlyList<string>>
{
    public override IReadOnlyList<string>? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        if (reader.TokenType == JsonTokenType.String) return [reader.GetString()!];
        if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException("expected a string or an array of strings");
        var list = new List<string>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.String) throw new JsonException("expected an array of strings");
            list.Add(reader.GetString()!);
        }
        return list;
    }

    public override void Write(Utf8JsonWriter writer, IReadOnlyList<string> value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        writer.WriteStartArray();
        foreach (var s in value) writer.WriteStringValue(s);
        writer.WriteEndArray();
    }
}
