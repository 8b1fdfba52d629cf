using System.Globalization;
using System.Text.Json;
using Alpa.Client.Transport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Alpa.Silo.Dashboard;

/// <summary>
/// The live log pushed to the browser as server-sent events: <c>GET /api/logs/stream[?after=N]</c>
/// answers <c>text/event-stream</c>, one <c>data:</c> event per <see cref="LogLine"/> (JSON, its
/// sequence as the event id, so a reconnecting <c>EventSource</c> resumes after the last line it got
/// through <c>Last-Event-ID</c>), a comment every <see cref="KeepAlive"/> while nothing is logged.
/// It sits under <c>/api</c>, behind the dashboard's authentication like every other API.
/// </summary>
public static class LogStream
{
    public static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(15);

    public static void Map(IEndpointRouteBuilder api, LogRing logs, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapGet("/logs/stream", (HttpContext context, long? after) => StreamAsync(context, logs, after, stopping));
    }

    private static async Task StreamAsync(HttpContext context, LogRing logs, long? after, CancellationToken stopping)
    {
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        var resume = context.Request.Headers["Last-Event-ID"].ToString();
        var last = long.TryParse(resume, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : after ?? 0;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        var token = cts.Token;
        try
        {
            await response.WriteAsync("retry: 2000\n\n", token).ConfigureAwait(false);
            await response.Body.FlushAsync(token).ConfigureAwait(false);
            while (!token.IsCancellationRequested)
            {
                var lines = await logs.WaitAfterAsync(last, KeepAlive, token).ConfigureAwait(false);
                if (lines.Count == 0)
                {
                    await response.WriteAsync(": keep-alive\n\n", token).ConfigureAwait(false);
                }
                foreach (var line in lines)
                {
                    await response.WriteAsync($"id: {line.Sequence}\ndata: {JsonSerializer.Serialize(line, AlpaJson.Options)}\n\n", token).ConfigureAwait(false);
                    last = line.Sequence;
                }
                await response.Body.FlushAsync(token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // the browser went away or the silo stops
        }
    }
}
