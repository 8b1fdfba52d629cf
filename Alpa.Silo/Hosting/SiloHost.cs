using System.Net;
using System.Security.Cryptography.X509Certificates;
using Alpa.Client;
using Alpa.Client.Contracts;
using Alpa.Client.Transport;
using Alpa.Planner;
using Alpa.Silo.Grains;
using Alpa.Silo.Hosting.DataPlane;
using Alpa.Silo.Hosting.Membership;
using Alpa.Silo.Hosting.Transport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Serilog;

namespace Alpa.Silo.Hosting;

/// <summary>
/// Builds a silo: a .NET Generic Host (ASP.NET Core) with Kestrel serving grain calls over HTTP/2
/// on the control port, the tensor data plane on its own TCP port, membership and failure
/// detection, the grain runtime, Serilog logging, and the dashboard's JSON API when asked.
/// </summary>
public static class SiloHost
{
    /// <summary>
    /// A training step blocks pool threads while its collectives and transfers complete (the SPMD
    /// executor is synchronous); with the default minimum (one thread per core) a long job starved the
    /// control plane and the dashboard until the pool injected threads, one per half second. Keep
    /// enough threads ready that they still answer.
    /// </summary>
    private static void KeepThreadsReady()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, MinPoolThreads), Math.Max(io, MinPoolThreads));
    }

    private const int MinPoolThreads = 64;

    /// <summary>Builds the silo from <paramref name="flags"/> (configuration keys from the command line).</summary>
    public static WebApplication Build(IReadOnlyDictionary<string, string?> flags)
    {
        KeepThreadsReady();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.Sources.Clear();
        builder.Configuration
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
            .AddEnvironmentVariables("ALPA_")
            .AddInMemoryCollection(flags);
        var options = builder.Configuration.GetSection("Silo").Get<SiloOptions>() ?? new SiloOptions();
        var listen = Endpoints.Parse(Require(options.Listen, "--listen"), "--listen");
        var advertise = options.Advertise ?? (Endpoints.IsUnspecified(listen.Address)
            ? throw new AlpaException("--listen binds every interface; add --advertise HOST:PORT (the address other silos use)") { Field = "--advertise" }
            : options.Listen);
        var secret = ClusterSecret.Resolve(options.SecretFile);
        if (secret is null && !IPAddress.IsLoopback(listen.Address))
        {
            throw new SecretException($"silo on {options.Listen} has no cluster secret; give --secret-file FILE (or ALPA_SECRET_FILE / ALPA_SECRET). Only a loopback silo may run without one.");
        }
        Validate(options);
        var self = new SiloIdentity(SiloEndpoint.Normalize(advertise), DeviceSpec.Parse(options.Devices), options.ClusterId, secret is null);
        var certificate = LoadCertificate(options.Tls);
        var logRing = new Dashboard.LogRing();
        var logger = SiloLogging.Create(options, self.Address, listen.Port, logRing);
        builder.Logging.ClearProviders().AddSerilog(logger, dispose: true);
        var dashboard = Dashboard.DashboardBinding.Bind(options, out var dashboardNote);
        ConfigureKestrel(builder.WebHost, options, listen, certificate, dashboard);
        var transport = new TransportOptions
        {
            Secret = secret,
            UseTls = options.Tls.Enabled,
            TrustedCertificatePath = options.Tls.TrustedCertificatePath,
            ConnectTimeout = TimeSpan.FromSeconds(2),
        };
        AddServices(builder.Services, options, self, transport, secret, certificate, listen);
        Jobs.JobServices.AddJobsAndDashboard(builder.Services, options, logRing);
        var app = builder.Build();
        MapEndpoints(app, options, listen.Port, dashboard);
        if (dashboardNote is not null)
        {
            app.Logger.LogWarning("dashboard: {Note}", dashboardNote);
        }
        if (secret is null)
        {
            app.Logger.LogWarning("!!! DEVELOPMENT MODE: silo {Address} runs WITHOUT a cluster secret; every loopback caller is trusted. Give --secret-file for anything else. !!!", self.Address);
        }
        return app;
    }

    private static void AddServices(IServiceCollection services, SiloOptions options, SiloIdentity self, TransportOptions transport,
        ClusterSecret? secret, X509Certificate2? certificate, IPEndPoint listen)
    {
        services.AddSingleton(options);
        services.AddSingleton(self);
        services.AddSingleton(transport);
        services.AddSingleton(new ReplayGuard(secret, options.ReplayWindow));
        services.AddSingleton<MembershipView>();
        services.AddSingleton<GrainMetrics>();
        services.AddSingleton(new GrainRegistry()
            .Add<ISiloGrain, SiloGrain>()
            .Add<IEchoGrain, EchoGrain>()
            .Add<IDirectoryGrain, DirectoryGrain>()
            .Add<IMembershipTableGrain, MembershipTableGrain>()
            .Add<ICollectiveGrain, CollectiveGrain>()
            .Add<IJobsGrain, Jobs.JobsGrain>()
            .Add<IDashboardGrain, Dashboard.DashboardGrain>()
            .Add<IMeshWorkerGrain, MeshWorkerGrain>()
            .Add<IDriverGrain, DriverGrain>()
            .Add<IPlannerGrain, PlannerGrain>()
            .Add<IProfilerGrain, ProfilerGrain>()
            .Add<IServingStageGrain, ServingStageGrain>());
        services.AddSingleton<GrainCatalog>();
        services.AddSingleton<SiloConnectionPool>();
        services.AddSingleton(sp => new GrainDirectory(sp.GetRequiredService<SiloIdentity>(), sp.GetRequiredService<MembershipView>(),
            sp.GetRequiredService<GrainCatalog>(), new Lazy<IGrainFactory>(sp.GetRequiredService<IGrainFactory>)));
        services.AddSingleton<GrainDispatcher>();
        services.AddSingleton<IGrainFactory>(sp => new GrainFactory(sp.GetRequiredService<GrainDispatcher>()));
        services.AddSingleton<GrainEndpoint>();
        services.AddSingleton(new TensorInbox(options.MaxUnclaimedTensorBytes));
        services.AddSingleton<TensorSender>();
        services.AddSingleton(sp => new Alpa.Silo.Execution.Collectives.DataPlanePeers(self.Address, sp.GetRequiredService<TensorSender>(),
            sp.GetRequiredService<TensorInbox>(), sp.GetRequiredService<MembershipView>()));
        services.AddSingleton<DataPlaneConnectionHandler>();
        services.AddSingleton(sp =>
        {
            var server = new DataPlaneServer(new IPEndPoint(listen.Address, options.DataPort), sp.GetRequiredService<DataPlaneConnectionHandler>(),
                certificate, sp.GetRequiredService<ILogger<DataPlaneServer>>());
            self.DataPort = server.Port;
            return server;
        });
        services.AddHostedService(sp => sp.GetRequiredService<DataPlaneServer>());
        AddMembership(services, options, self, secret);
        services.AddSingleton<MembershipService>();
        services.AddHostedService(sp => sp.GetRequiredService<MembershipService>());
        services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(10));
    }

    private static void AddMembership(IServiceCollection services, SiloOptions options, SiloIdentity self, ClusterSecret? secret)
    {
        var spec = options.Membership.Trim();
        if (spec == "memory")
        {
            services.AddSingleton<IMembershipTable, InMemoryMembershipTable>();
        }
        else if (spec.StartsWith("static:", StringComparison.Ordinal))
        {
            var seeds = StaticMembershipTable.ParseSeeds(spec["static:".Length..]);
            services.AddSingleton<IMembershipTable>(sp => new StaticMembershipTable(seeds, self, sp.GetRequiredService<IGrainFactory>(), options,
                sp.GetRequiredService<ILogger<StaticMembershipTable>>()));
        }
        else if (spec.StartsWith("postgres:", StringComparison.Ordinal))
        {
            services.AddSingleton<IMembershipTable>(new PostgresMembershipTable(spec["postgres:".Length..], options.ClusterId,
                new ClusterAdmission(secret, options.CreateCluster)));
        }
        else
        {
            throw new AlpaException($"--membership '{spec}' is not memory, static:ADDR:PORT[,ADDR:PORT…] or postgres:CONNSTR") { Field = "--membership" };
        }
    }

    private static void ConfigureKestrel(IWebHostBuilder web, SiloOptions options, IPEndPoint listen, X509Certificate2? certificate, Dashboard.DashboardBinding? dashboard)
    {
        web.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = options.MaxMessageBytes;
            kestrel.Limits.Http2.MaxStreamsPerConnection = options.MaxStreamsPerConnection;
            kestrel.Limits.Http2.InitialConnectionWindowSize = 4 << 20;
            kestrel.Limits.Http2.InitialStreamWindowSize = 1 << 20;
            kestrel.Listen(listen, endpoint =>
            {
                endpoint.Protocols = HttpProtocols.Http2;
                if (certificate is not null)
                {
                    endpoint.UseHttps(certificate);
                }
            });
            if (dashboard is { Handle: { } handle })
            {
                kestrel.ListenHandle(handle, endpoint => endpoint.Protocols = HttpProtocols.Http1AndHttp2);
            }
            else if (dashboard is not null)
            {
                kestrel.Listen(dashboard.Endpoint, endpoint => endpoint.Protocols = HttpProtocols.Http1AndHttp2);
            }
        });
    }

    private static void MapEndpoints(WebApplication app, SiloOptions options, int controlPort, Dashboard.DashboardBinding? dashboard)
    {
        var grains = app.Services.GetRequiredService<GrainEndpoint>();
        app.Use((context, next) => context.Connection.LocalPort == controlPort ? grains.HandleAsync(context) : next(context));
        if (dashboard is not null)
        {
            Dashboard.DashboardHost.Map(app, dashboard.Endpoint, options.SecretFile);
        }
    }

    private static void Validate(SiloOptions options)
    {
        if (options.DeadAfter <= TimeSpan.Zero || options.DeadAfter > TimeSpan.FromSeconds(10))
        {
            throw new AlpaException($"Silo:DeadAfter is {options.DeadAfter}; use a value in (0, 10 s]") { Field = "Silo:DeadAfter" };
        }
        if (options.ProbePeriod <= TimeSpan.Zero || options.ProbeTimeout <= TimeSpan.Zero || options.HeartbeatPeriod <= TimeSpan.Zero)
        {
            throw new AlpaException("Silo:ProbePeriod, Silo:ProbeTimeout and Silo:HeartbeatPeriod must be positive") { Field = "Silo:ProbePeriod" };
        }
        if (options.MaxTensorBytes < 1 || options.MaxMessageBytes < 1024 || options.MaxStreamsPerConnection < 1)
        {
            throw new AlpaException("Silo:MaxTensorBytes, Silo:MaxMessageBytes (≥ 1024) and Silo:MaxStreamsPerConnection must be positive") { Field = "Silo:MaxTensorBytes" };
        }
    }

    private static X509Certificate2? LoadCertificate(TlsOptions tls)
    {
        if (!tls.Enabled)
        {
            return null;
        }
        try
        {
            var path = tls.CertificatePath!;
            if (path.EndsWith(".pem", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".crt", StringComparison.OrdinalIgnoreCase))
            {
                using var pem = X509Certificate2.CreateFromPemFile(path, tls.CertificatePassword);
                return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
            }
            return X509CertificateLoader.LoadPkcs12FromFile(path, tls.CertificatePassword);
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            throw new AlpaException($"cannot load the TLS certificate '{tls.CertificatePath}': {e.Message}", e) { Field = "Silo:Tls:CertificatePath" };
        }
    }

    private static string Require(string value, string option) =>
        string.IsNullOrWhiteSpace(value) ? throw new AlpaException($"alpa silo needs {option}; {SiloCommandLine.SiloUsage}") { Field = option } : value;
}
