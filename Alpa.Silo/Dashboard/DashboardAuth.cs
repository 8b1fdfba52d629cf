using System.Net;
using System.Security.Cryptography;
using System.Text;
using Alpa.Client.Transport;
using Alpa.Planner;
using Microsoft.AspNetCore.Http;

namespace Alpa.Silo.Dashboard;

/// <summary>
/// Access to the dashboard. Bound to loopback it is open (reach it from elsewhere through an SSH
/// tunnel). Bound beyond loopback it needs the cluster secret: a browser signs in once at
/// <c>/login</c> with the secret and gets an HttpOnly cookie holding HMAC(secret, "alpa-dashboard");
/// scripts send <c>Authorization: Bearer SECRET</c>. Put TLS in front (a reverse proxy) on untrusted
/// networks: the cookie and the bearer secret travel in clear over plain HTTP.
/// </summary>
public sealed class DashboardAuth
{
    public const string CookieName = "alpa_dashboard";
    private readonly ClusterSecret? _secret;
    private readonly string? _secretText;

    private DashboardAuth(ClusterSecret? secret, string? secretText)
    {
        _secret = secret;
        _secretText = secretText;
    }

    /// <summary>True when requests must prove they know the cluster secret.</summary>
    public bool Required => _secret is not null;

    /// <summary>Open on loopback; else requires a secret, and refuses to start without one.</summary>
    public static DashboardAuth For(IPEndPoint bind, string? secretFile)
    {
        ArgumentNullException.ThrowIfNull(bind);
        if (IPAddress.IsLoopback(bind.Address))
        {
            return new DashboardAuth(null, null);
        }
        var path = secretFile ?? Environment.GetEnvironmentVariable("ALPA_SECRET_FILE");
        var text = path is not null && File.Exists(path) ? File.ReadAllText(path).Trim() : Environment.GetEnvironmentVariable("ALPA_SECRET");
        if (string.IsNullOrEmpty(text))
        {
            throw new AlpaException($"--dashboard {bind} is reachable from other hosts and needs authentication: give the silo a cluster secret " +
                                    "(--secret-file), or bind the dashboard to 127.0.0.1 and use an SSH tunnel") { Field = "--dashboard" };
        }
        return new DashboardAuth(ClusterSecret.FromText(text), text);
    }

    /// <summary>The cookie value a signed-in browser holds.</summary>
    public string CookieValue => Convert.ToHexString(_secret!.Sign("alpa-dashboard"u8));

    public bool IsAuthenticated(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!Required)
        {
            return true;
        }
        if (request.Cookies.TryGetValue(CookieName, out var cookie) && FixedEquals(cookie, CookieValue))
        {
            return true;
        }
        var header = request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.Ordinal) && CheckSecret(header["Bearer ".Length..].Trim());
    }

    /// <summary>Whether <paramref name="offered"/> is the cluster secret (constant time).</summary>
    public bool CheckSecret(string offered) => Required && FixedEquals(offered, _secretText!);

    private static bool FixedEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(a), Encoding.UTF8.GetBytes(b));
}
