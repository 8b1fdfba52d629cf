using System.Text.Json;
using Alpa.Client.Contracts;
using Alpa.Client.Jobs;
using Alpa.Client.Membership;
using Alpa.Client.Transport;
using Alpa.Silo.Hosting;
using Alpa.Silo.Hosting.Membership;
using Alpa.Silo.Jobs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Alpa.Silo.Dashboard;

/// <summary>
/// The dashboard's JSON API on the dashboard port (next to <see cref="StatusApi"/>): overview,
/// silos, grains, jobs (list, record, metrics, events, submit, cancel) and the live log (polled, or pushed: <see cref="LogStream"/>). Job errors
/// answer with the SDK's message and status 404 (unknown id), 400 (malformed spec) or 409 (finished).
/// </summary>
public static class DashboardApi
{
    private static readonly TimeSpan SiloTimeout = TimeSpan.FromSeconds(3);

    public static void Map(IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var services = app.ServiceProvider;
        var jobs = services.GetRequiredService<JobService>();
        var grains = services.GetRequiredService<IGrainFactory>();
        var view = services.GetRequiredService<MembershipView>();
        var logs = services.GetRequiredService<LogRing>();
        var api = app.MapGroup("/api");
        api.MapGet("/overview", async (CancellationToken ct) => Json(await OverviewAsync(grains, view, jobs, ct).ConfigureAwait(false)));
        api.MapGet("/silos", async (CancellationToken ct) => Json(await SilosAsync(grains, view, ct).ConfigureAwait(false)));
        api.MapGet("/grains/state", async (string silo, string grain, string key, CancellationToken ct) =>
            Json(await grains.GetGrain<IDashboardGrain>(silo).GetGrainStateAsync(new GrainStateRequest(grain, key), ct).ConfigureAwait(false)));
        api.MapGet("/jobs", (CancellationToken ct) => Guard(async () => await jobs.ListAsync(ct).ConfigureAwait(false)));
        api.MapPost("/jobs", (HttpRequest request, CancellationToken ct) => Guard(async () =>
            await jobs.SubmitAsync(await ReadSpecAsync(request, ct).ConfigureAwait(false), ct).ConfigureAwait(false)));
        api.MapGet("/jobs/{id}", (string id, CancellationToken ct) => Guard(() => jobs.GetAsync(id, ct)));
        api.MapGet("/jobs/{id}/metrics", (string id, CancellationToken ct) => Guard(() => jobs.GetMetricsAsync(id, ct)));
        api.MapGet("/jobs/{id}/events", (string id, long? after, CancellationToken ct) =>
            Guard(() => jobs.GetEventsAsync(new JobEventsRequest(id, after ?? 0, 0), ct)));
        api.MapPost("/jobs/{id}/cancel", (string id, CancellationToken ct) => Guard(() => jobs.CancelAsync(id, ct)));
        api.MapGet("/logs", (long? after) => Json(logs.After(after ?? 0)));
        LogStream.Map(api, logs, services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping);
    }

    private static IResult Json(object? value, int status = StatusCodes.Status200OK) =>
        Results.Json(value, AlpaJson.Options, statusCode: status);

    /// <summary>Runs a job operation; a <see cref="JobException"/> becomes <c>{"error":{"kind","message"}}</c> with its status.</summary>
    private static async Task<IResult> Guard<T>(Func<Task<T>> operation)
    {
        try
        {
            return Json(await operation().ConfigureAwait(false));
        }
        catch (JobException e)
        {
            return ErrorResult(e.Kind, e.Message);
        }
    }

    public static IResult ErrorResult(string kind, string message) => Json(new { error = new { kind, message } }, kind switch
    {
        GrainErrorKind.NotFound => StatusCodes.Status404NotFound,
        GrainErrorKind.BadRequest => StatusCodes.Status400BadRequest,
        JobException.Conflict => StatusCodes.Status409Conflict,
        GrainErrorKind.Unauthorized => StatusCodes.Status401Unauthorized,
        _ => StatusCodes.Status500InternalServerError,
    });

    private static async Task<JobSpec> ReadSpecAsync(HttpRequest request, CancellationToken ct)
    {
        try
        {
            return await JsonSerializer.DeserializeAsync<JobSpec>(request.Body, AlpaJson.Options, ct).ConfigureAwait(false)
                ?? throw new JobException(GrainErrorKind.BadRequest, "job spec: the body is empty; send a JSON object such as {\"model\":\"mlp\",\"steps\":20}");
        }
        catch (JsonException e)
        {
            throw new JobException(GrainErrorKind.BadRequest, $"job spec: malformed JSON ({e.Message.Split('.')[0]}); send e.g. {{\"model\":\"mlp\",\"steps\":20}}");
        }
    }

    /// <summary>Every active silo's stats (a silo that does not answer in time appears with its error).</summary>
    public static async Task<IReadOnlyList<object>> SilosAsync(IGrainFactory grains, MembershipView view, CancellationToken ct)
    {
        var entries = view.Snapshot.Entries.Where(e => e.Status == SiloStatus.Active).OrderBy(e => e.Address, StringComparer.Ordinal).ToList();
        var answers = await Task.WhenAll(entries.Select(async e =>
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(SiloTimeout);
            try
            {
                var stats = await grains.GetGrain<IDashboardGrain>(e.Address).GetStatsAsync(timeout.Token).ConfigureAwait(false);
                return (object)new { status = "active", stats };
            }
            catch (Exception x) when (x is GrainCallException or OperationCanceledException)
            {
                return new { status = "unreachable", address = e.Address, epoch = e.Epoch, error = x.Message };
            }
        })).ConfigureAwait(false);
        return answers;
    }

    private static async Task<object> OverviewAsync(IGrainFactory grains, MembershipView view, JobService jobs, CancellationToken ct)
    {
        var snapshot = view.Snapshot;
        var active = snapshot.Entries.Where(e => e.Status == SiloStatus.Active).ToList();
        var stats = new List<SiloStats>();
        foreach (var e in active)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(SiloTimeout);
            try
            {
                stats.Add(await grains.GetGrain<IDashboardGrain>(e.Address).GetStatsAsync(timeout.Token).ConfigureAwait(false));
            }
            catch (Exception x) when (x is GrainCallException or OperationCanceledException)
            {
                // counted below as silos without stats
            }
        }
        var list = (await jobs.ListAsync(ct).ConfigureAwait(false)).Jobs;
        var calls = stats.Sum(s => s.Methods.Sum(m => m.Calls));
        var errors = stats.Sum(s => s.Methods.Sum(m => m.Errors));
        return new
        {
            silos = new { active = active.Count, dead = snapshot.Entries.Count(e => e.Status == SiloStatus.Dead), answering = stats.Count },
            devices = active.Sum(e => e.Devices.Count),
            jobs = new
            {
                total = list.Count,
                running = list.Count(j => !JobStates.IsFinal(j.State)),
                done = list.Count(j => j.State == JobStates.Done),
                failed = list.Count(j => j.State == JobStates.Failed),
            },
            callsPerSecond = stats.Sum(s => s.Methods.Sum(m => m.CallsPerSecond)),
            calls,
            errors,
            errorRate = calls == 0 ? 0 : (double)errors / calls,
        };
    }
}
