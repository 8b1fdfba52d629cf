using System.Net;
using System.Text.Json;
using Alpa.Client.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Serilog;

namespace Alpa.Silo.Serving;

/// <summary>Options of the HTTP front end.</summary>
public sealed record ServerOptions
{
    /// <summary>Address and port to listen on (port 0: any free port, see <see cref="CompletionServer.Address"/>).</summary>
    public IPEndPoint Listen { get; init; } = new(IPAddress.Loopback, 8080);
    /// <summary>Name clients pass as <c>model</c>.</summary>
    public required string ModelName { get; init; }
    /// <summary>Per-request deadline from arrival (queue wait included); 504 / an error event after it.</summary>
    public TimeSpan Deadline { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// The OpenAI-style HTTP front end of a <see cref="GenerationEngine"/> on Kestrel:
/// <c>POST /v1/completions</c> (JSON or server-sent events), <c>GET /health</c>, <c>GET /metrics</c>.
/// </summary>
public sealed partial class CompletionServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly GenerationEngine _engine;
    private readonly ServerOptions _options;

    private CompletionServer(WebApplication app, GenerationEngine engine, ServerOptions options)
    {
        (_app, _engine, _options) = (app, engine, options);
    }

    /// <summary>The bound address, <c>http://host:port</c>.</summary>
    public string Address => _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    /// <summary>Builds and starts the server.</summary>
    public static async Task<CompletionServer> StartAsync(GenerationEngine engine, ServerOptions options, Serilog.ILogger? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(options);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders().AddSerilog(log ?? Serilog.Core.Logger.None);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(options.Listen);
            k.Limits.MaxRequestBodySize = RequestValidation.MaxBodyBytes;
        });
        var app = builder.Build();
        var server = new CompletionServer(app, engine, options);
        app.MapPost("/v1/completions", server.Completions);
        app.MapGet("/health", server.Health);
        app.MapGet("/metrics", (HttpContext c) => Results.Text(engine.Metrics.Prometheus(engine.Waiting, engine.Busy, engine.Model.Slots), "text/plain; version=0.0.4"));
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        return server;
    }

    /// <summary>Waits until the host stops (Ctrl+C).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    private IResult Health()
    {
        var fault = _engine.Fault;
        var body = new Dictionary<string, object?>
        {
            ["status"] = fault is null ? "ok" : "failed",
            ["model"] = _options.ModelName,
            ["slots"] = _engine.Model.Slots,
            ["busy"] = _engine.Busy,
            ["waiting"] = _engine.Waiting,
            ["stages"] = _engine.Model.StageDescriptions.ToArray(),
            ["replans"] = _engine.Metrics.Replans,
            ["error"] = fault?.Message,
        };
        return Results.Json(body, statusCode: fault is null ? 200 : 503);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
