using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Alpa.Client.Serving;

/// <summary>An error answer of the completions endpoint: HTTP status and the server's reason.</summary>
public sealed class CompletionException(int status, CompletionError error)
    : Exception($"HTTP {status}: {error.Message}")
{
    public int Status { get; } = status;
    public CompletionError Error { get; } = error;
}

/// <summary>
/// Client of <c>alpa serve</c>: <see cref="GenerateAsync"/> returns the whole completion,
/// <see cref="StreamAsync"/> yields the server-sent chunks as they arrive.
/// </summary>
public sealed class CompletionClient : IDisposable
{
    private readonly HttpClient _http;

    /// <param name="endpoint"><c>host:port</c> or an <c>http://</c> URL of the server.</param>
    public CompletionClient(string endpoint, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var url = endpoint.Contains("://", StringComparison.Ordinal) ? endpoint : "http://" + endpoint;
        _http = new HttpClient { BaseAddress = new Uri(url), Timeout = timeout ?? TimeSpan.FromMinutes(5) };
    }

    /// <summary>Generates a completion (the request's <c>stream</c> is ignored).</summary>
    public async Task<CompletionResponse> GenerateAsync(CompletionRequest request, CancellationToken cancellationToken = default)
    {
        using var response = await _http.PostAsJsonAsync("v1/completions", request with { Stream = false }, cancellationToken).ConfigureAwait(false);
        await ThrowIfError(response, cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadFromJsonAsync<CompletionResponse>(cancellationToken).ConfigureAwait(false)
            ?? throw new CompletionException((int)response.StatusCode, new CompletionError { Message = "empty response body", Type = "server_error" });
    }

    /// <summary>Streams a completion: one chunk per generated piece of text, the last with finish_reason and usage.</summary>
    public async IAsyncEnumerable<CompletionResponse> StreamAsync(CompletionRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = JsonContent.Create(request with { Stream = true }) };
        using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        await ThrowIfError(response, cancellationToken).ConfigureAwait(false);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false));
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            var data = line["data: ".Length..];
            if (data == "[DONE]") yield break;
            using var doc = JsonDocument.Parse(data);
            if (doc.RootElement.TryGetProperty("error", out var error))
                throw new CompletionException(200, error.Deserialize<CompletionError>() ?? new CompletionError());
            yield return doc.RootElement.Deserialize<CompletionResponse>()!;
        }
        throw new CompletionException(200, new CompletionError { Message = "the stream ended without data: [DONE]", Type = "server_error" });
    }

    private static async Task ThrowIfError(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode) return;
        CompletionError error;
        try
        {
            error = (await response.Content.ReadFromJsonAsync<CompletionErrorBody>(cancellationToken).ConfigureAwait(false))?.Error ?? new CompletionError();
        }
        catch (JsonException)
        {
            error = new CompletionError { Message = response.ReasonPhrase ?? "error", Type = "server_error" };
        }
        throw new CompletionException((int)response.StatusCode, error);
    }

    public void Dispose() => _http.Dispose();
}
