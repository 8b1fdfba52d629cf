using System.Net;
using System.Reflection;
using Alpa.Silo.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Alpa.Silo.Dashboard;

/// <summary>
/// Serves the dashboard on the dashboard port: the single-page app (Dashboard/wwwroot, embedded in
/// the binary; plain JS and SVG, nothing fetched from elsewhere), the sign-in page when the port is
/// reachable from other hosts (<see cref="DashboardAuth"/>), and the JSON APIs.
/// </summary>
public static class DashboardHost
{
    private static readonly Dictionary<string, string> ContentTypes = new(StringComparer.Ordinal)
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".svg"] = "image/svg+xml",
    };

    /// <summary>The dashboard endpoint a silo uses when <c>--dashboard</c> is not given.</summary>
    public const string DefaultEndpoint = "127.0.0.1:8080";

    public static void Map(WebApplication app, IPEndPoint bind, string? secretFile)
    {
        ArgumentNullException.ThrowIfNull(app);
        var auth = DashboardAuth.For(bind, secretFile);
        var port = bind.Port;
        app.Use(async (context, next) =>
        {
            if (context.Connection.LocalPort != port || auth.IsAuthenticated(context.Request) || context.Request.Path.StartsWithSegments("/login"))
            {
                await next(context).ConfigureAwait(false);
            }
            else if (context.Request.Path.StartsWithSegments("/api"))
            {
                await DashboardApi.ErrorResult("unauthorized", "sign in at /login with the cluster secret, or send Authorization: Bearer SECRET")
                    .ExecuteAsync(context).ConfigureAwait(false);
            }
            else
            {
                context.Response.Redirect("/login");
            }
        });
        app.MapGet("/login", () => Results.Content(Asset("login.html").Text, ContentTypes[".html"]));
        app.MapPost("/login", async (HttpContext context) =>
        {
            var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
            if (!auth.CheckSecret(form["secret"].ToString().Trim()))
            {
                return Results.Redirect("/login?failed=1");
            }
            context.Response.Cookies.Append(DashboardAuth.CookieName, auth.CookieValue,
                new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = context.Request.IsHttps, Path = "/" });
            return Results.Redirect("/");
        });
        app.MapGet("/", () => Results.Content(Asset("index.html").Text, ContentTypes[".html"]));
        app.MapGet("/assets/{name}", (string name) =>
        {
            var asset = Asset(name);
            return asset.Found ? Results.Content(asset.Text, ContentTypes.GetValueOrDefault(Path.GetExtension(name), "text/plain")) : Results.NotFound();
        });
        StatusApi.Map(app);
        DashboardApi.Map(app);
    }

    private static (bool Found, string Text) Asset(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Dashboard." + name);
        if (stream is null)
        {
            return (false, "");
        }
        using var reader = new StreamReader(stream);
        return (true, reader.ReadToEnd());
    }
}
