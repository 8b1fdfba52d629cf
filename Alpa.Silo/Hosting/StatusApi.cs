using Alpa.Client;
using Alpa.Client.Transport;
using Alpa.Silo.Hosting.Membership;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Alpa.Silo.Hosting;

/// <summary>
/// Read-only JSON for the dashboard, on the dashboard port only (bind it to loopback or put it
/// behind your own proxy: it carries no authentication): <c>/api/silo</c>, <c>/api/membership</c>
/// (same shape as <c>alpa cluster --json</c>) and <c>/api/metrics</c> (per grain method counters).
/// </summary>
public static class StatusApi
{
    public static void Map(WebApplication app)
    {
        var self = app.Services.GetRequiredService<SiloIdentity>();
        var view = app.Services.GetRequiredService<MembershipView>();
        var metrics = app.Services.GetRequiredService<GrainMetrics>();
        var dashboard = $"*:{Endpoints.Parse(app.Services.GetRequiredService<SiloOptions>().Dashboard!, "--dashboard").Port}";
        app.MapGet("/api/silo", () => Results.Json(new { self.Address, self.Epoch, self.DataPort, self.Devices, self.ClusterId, self.Insecure }, AlpaJson.Options))
            .RequireHost(dashboard);
        app.MapGet("/api/membership", () => Results.Json(ClusterListing.From(view.Snapshot), AlpaJson.Options)).RequireHost(dashboard);
        app.MapGet("/api/metrics", () => Results.Json(metrics.Report(self.Address), AlpaJson.Options)).RequireHost(dashboard);
    }
}
