using System.Text;
using System.Text.Json;
using Alpa.Client.Serving;
using Microsoft.AspNetCore.Http;

namespace Alpa.Silo.Serving;

public sealed partial class CompletionServer
{
    private static readonly JsonSerializerOptions Compact = new() { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    private async Task Completions(HttpContext context)
    {
        var aborted = context.RequestAborted;
        if (await Admit(context).ConfigureAwait(false) is not { } admitted) return;
        var (job, stream) = admitted;
        using var _ = aborted.Register(job.Cancel);
        var id = "cmpl-" + Guid.NewGuid().ToString("N")[..24];
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        CompletionResponse Chunk(string text, string? finish, CompletionUsage? usage) => new()
        {
            Id = id, Created = created, Model = _options.ModelName, Usage = usage,
            Choices = [new CompletionChoice { Index = 0, Text = text, FinishReason = finish }],
        };
        CompletionUsage Usage(int completion) => new() { PromptTokens = job.Request.Prompt.Length, CompletionTokens = completion, TotalTokens = job.Request.Prompt.Length + completion };
        try
        {
            if (stream) await Stream(context, job, Chunk, Usage).ConfigureAwait(false);
            else await Whole(context, job, Chunk, Usage).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The client went away; the engine frees the slot at its next step.
        }
    }

    /// <summary>Parses, checks and queues the request; answers 400/404/429/503 itself and returns null then.</summary>
    private async Task<(GenerationJob Job, bool Stream)?> Admit(HttpContext context)
    {
        GenerationJob job;
        bool stream;
        try
        {
            var request = RequestValidation.Parse(await ReadBody(context.Request, context.RequestAborted).ConfigureAwait(false));
            var checkedRequest = RequestValidation.Check(request, _options.ModelName, _engine.Model.Context, DateTimeOffset.UtcNow + _options.Deadline);
            stream = request.Stream ?? false;
            job = new GenerationJob(checkedRequest);
        }
        catch (RequestException e)
        {
            await WriteError(context, e.Status, e.Type, e.Message, e.Param).ConfigureAwait(false);
            return null;
        }
        if (_engine.Fault is { } fault)
        {
            await WriteError(context, 503, "unavailable", $"the generation engine stopped: {fault.Message}", null).ConfigureAwait(false);
            return null;
        }
        if (!_engine.TryEnqueue(job))
        {
            context.Response.Headers.RetryAfter = "1";
            await WriteError(context, 429, "overloaded", $"the server is busy: {_engine.Waiting} request(s) already wait for a slot; retry later", null).ConfigureAwait(false);
            return null;
        }
        return (job, stream);
    }

    private static async Task Whole(HttpContext context, GenerationJob job, Func<string, string?, CompletionUsage?, CompletionResponse> chunk, Func<int, CompletionUsage> usage)
    {
        var text = new StringBuilder();
        await foreach (var e in job.Events.ReadAllAsync(context.RequestAborted).ConfigureAwait(false))
        {
            if (e.Error is { } error)
            {
                await WriteError(context, error.Status, error.Type, error.Message, null).ConfigureAwait(false);
                return;
            }
            text.Append(e.Text);
            if (e.Finish is { } finish)
                await context.Response.WriteAsJsonAsync(chunk(text.ToString(), finish, usage(e.CompletionTokens)), Compact, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private static async Task Stream(HttpContext context, GenerationJob job, Func<string, string?, CompletionUsage?, CompletionResponse> chunk, Func<int, CompletionUsage> usage)
    {
        var aborted = context.RequestAborted;
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        await context.Response.StartAsync(aborted).ConfigureAwait(false);
        async Task Send(object data) =>
            await context.Response.WriteAsync($"data: {JsonSerializer.Serialize(data, Compact)}\n\n", aborted).ConfigureAwait(false);
        await foreach (var e in job.Events.ReadAllAsync(aborted).ConfigureAwait(false))
        {
            if (e.Error is { } error) await Send(new CompletionErrorBody { Error = new CompletionError { Message = error.Message, Type = error.Type } }).ConfigureAwait(false);
            else if (e.Finish is not null || e.Text.Length > 0) await Send(chunk(e.Text, e.Finish, e.Finish is null ? null : usage(e.CompletionTokens))).ConfigureAwait(false);
            await context.Response.Body.FlushAsync(aborted).ConfigureAwait(false);
        }
        await context.Response.WriteAsync("data: [DONE]\n\n", aborted).ConfigureAwait(false);
    }

    private static async Task<byte[]> ReadBody(HttpRequest request, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        try
        {
            await request.Body.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e)
        {
            throw new RequestException(e.StatusCode, $"the request body could not be read: {e.Message} (at most {RequestValidation.MaxBodyBytes} bytes)");
        }
        return buffer.ToArray();
    }

    private static Task WriteError(HttpContext context, int status, string type, string message, string? param)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(new CompletionErrorBody { Error = new CompletionError { Message = message, Type = type, Param = param } }, Compact, context.RequestAborted);
    }
}
