using System.Globalization;
using System.Text.Json;
using Alpa.Client.Transport;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Serilog.Context;

namespace Alpa.Silo.Hosting.Transport;

/// <summary>
/// Serves <c>POST /grain/{interface}/{key}/{method}</c> on the control port: checks the caller's
/// proof of the cluster secret (401 and a log line otherwise), decodes the message, applies the
/// caller's deadline and cancellation (a reset stream cancels the grain call), dispatches, and
/// encodes the result or a <see cref="GrainError"/>.
/// </summary>
public sealed partial class GrainEndpoint(
    GrainRegistry registry, GrainDispatcher dispatcher, ReplayGuard guard, ILogger<GrainEndpoint> logger)
{
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromHours(1);
    private static readonly TimeSpan DeadlineSlack = TimeSpan.FromMilliseconds(50);

    public async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        // The raw target is what the caller signed (Request.Path is already percent-decoded).
        var path = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? request.Path.Value ?? "";
        var rejection = guard.Check(request.Method, path, Header(request, CallSignature.TimestampHeader),
            Header(request, CallSignature.NonceHeader), Header(request, CallSignature.SignatureHeader));
        if (rejection is not null)
        {
            LogRejected(path, context.Connection.RemoteIpAddress?.ToString() ?? "?", rejection);
            await WriteErrorAsync(context, StatusCodes.Status401Unauthorized, new GrainError(GrainErrorKind.Unauthorized, rejection, null)).ConfigureAwait(false);
            return;
        }
        if (!TryResolve(request.Method, path, out var call, out var problem))
        {
            await WriteErrorAsync(context, StatusCodes.Status404NotFound, new GrainError(GrainErrorKind.NotFound, problem, null)).ConfigureAwait(false);
            return;
        }
        await DispatchAsync(context, call).ConfigureAwait(false);
    }

    private async Task DispatchAsync(HttpContext context, GrainCall call)
    {
        var timeout = ParseTimeout(Header(context.Request, GrainHeaders.TimeoutMs));
        var hops = int.TryParse(Header(context.Request, GrainHeaders.Hops), CultureInfo.InvariantCulture, out var h) ? h : 0;
        var job = Header(context.Request, GrainHeaders.Job);
        var deadlineAt = DateTimeOffset.UtcNow + timeout;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        deadline.CancelAfter(timeout);
        using var grainProperty = LogContext.PushProperty("grain", $"{call.Grain.Name}/{call.Key}");
        using var jobProperty = job is null ? null : LogContext.PushProperty("job", job);
        using var ambient = GrainCallContext.Push(deadlineAt, job);
        try
        {
            var message = await ReadMessageAsync(context, call, deadline.Token).ConfigureAwait(false);
            var result = await dispatcher.InvokeAsync(call, message, hops, deadline.Token).ConfigureAwait(false);
            await WriteResultAsync(context, call, result).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            await WriteErrorAsync(context, StatusCodes.Status400BadRequest, new GrainError(GrainErrorKind.BadRequest, $"{call}: bad message: {e.Message}", null)).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            // Caller and silo share the deadline (the caller's timer starts a network transit earlier):
            // whichever fires first, a call that reached it is logged as such.
            if (DateTimeOffset.UtcNow >= deadlineAt - DeadlineSlack)
            {
                LogDeadline(call.ToString(), timeout.TotalMilliseconds);
            }
            if (context.RequestAborted.IsCancellationRequested)
            {
                LogCallerCancelled(call.ToString());
                return;
            }
            await WriteErrorAsync(context, StatusCodes.Status504GatewayTimeout,
                new GrainError(GrainErrorKind.DeadlineExceeded, $"{call} did not finish within {timeout.TotalMilliseconds:F0} ms", null)).ConfigureAwait(false);
        }
        catch (GrainCallException e)
        {
            await WriteErrorAsync(context, StatusFor(e.Kind), new GrainError(e.Kind, e.Message, e.RemoteType)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The service boundary: a grain's failure goes back to its caller, typed by name.
            LogGrainFailed(e, call.ToString(), e.Message);
            await WriteErrorAsync(context, StatusCodes.Status500InternalServerError,
                new GrainError(GrainErrorKind.GrainFailed, e.Message, e.GetType().Name)).ConfigureAwait(false);
        }
    }

    private bool TryResolve(string method, string path, out GrainCall call, out string problem)
    {
        call = null!;
        var parts = path.Split('/');
        if (method != HttpMethods.Post || parts.Length != 5 || parts[1] != "grain")
        {
            problem = $"{method} {path}: grain calls are POST /grain/INTERFACE/KEY/METHOD";
            return false;
        }
        if (!registry.TryGet(parts[2], out var grain, out _))
        {
            problem = $"no grain interface named {parts[2]}";
            return false;
        }
        if (!grain.Methods.TryGetValue(parts[4], out var grainMethod))
        {
            problem = $"{grain.Name} has no method {parts[4]}";
            return false;
        }
        call = new GrainCall(grain, Uri.UnescapeDataString(parts[3]), grainMethod);
        problem = "";
        return true;
    }

    private static async Task<object?> ReadMessageAsync(HttpContext context, GrainCall call, CancellationToken token) =>
        call.Method.RequestType is null ? null
            : await JsonSerializer.DeserializeAsync(context.Request.Body, AlpaJson.TypeInfo(call.Method.RequestType), token).ConfigureAwait(false);

    private static async Task WriteResultAsync(HttpContext context, GrainCall call, object? result)
    {
        if (call.Method.ResultType is null || result is null)
        {
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return;
        }
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, result, AlpaJson.TypeInfo(call.Method.ResultType)).ConfigureAwait(false);
    }

    private static async Task WriteErrorAsync(HttpContext context, int status, GrainError error)
    {
        if (context.Response.HasStarted)
        {
            return;
        }
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, error, AlpaJsonContext.Default.GrainError).ConfigureAwait(false);
    }

    private static int StatusFor(string kind) => kind switch
    {
        GrainErrorKind.DeadlineExceeded => StatusCodes.Status504GatewayTimeout,
        GrainErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        GrainErrorKind.NotFound => StatusCodes.Status404NotFound,
        GrainErrorKind.BadRequest => StatusCodes.Status400BadRequest,
        GrainErrorKind.Unauthorized => StatusCodes.Status502BadGateway,
        _ => StatusCodes.Status500InternalServerError,
    };

    private static TimeSpan ParseTimeout(string? header) =>
        long.TryParse(header, CultureInfo.InvariantCulture, out var ms) && ms > 0
            ? TimeSpan.FromMilliseconds(Math.Min(ms, MaxTimeout.TotalMilliseconds))
            : MaxTimeout;

    private static string? Header(HttpRequest request, string name) =>
        request.Headers.TryGetValue(name, out var values) ? values.ToString() : null;

    [LoggerMessage(LogLevel.Warning, "Rejected call {Path} from {Remote}: {Reason} (401)")]
    private partial void LogRejected(string path, string remote, string reason);

    [LoggerMessage(LogLevel.Warning, "Grain call {Call} exceeded its deadline of {Milliseconds} ms")]
    private partial void LogDeadline(string call, double milliseconds);

    [LoggerMessage(LogLevel.Debug, "Caller cancelled {Call}")]
    private partial void LogCallerCancelled(string call);

    [LoggerMessage(LogLevel.Warning, "Grain call {Call} failed: {Reason}")]
    private partial void LogGrainFailed(Exception e, string call, string reason);
}
