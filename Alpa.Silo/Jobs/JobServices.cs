using Alpa.Silo.Dashboard;
using Alpa.Silo.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Alpa.Silo.Jobs;

/// <summary>Registers the job service (store by membership backend, the in-process and the cluster runner) and the dashboard's services.</summary>
public static class JobServices
{
    public static IServiceCollection AddJobsAndDashboard(this IServiceCollection services, SiloOptions options, LogRing logs)
    {
        ArgumentNullException.ThrowIfNull(options);
        var membership = options.Membership.Trim();
        services.AddSingleton<IJobStore>(membership.StartsWith("postgres:", StringComparison.Ordinal)
            ? new PostgresJobStore(membership["postgres:".Length..], options.ClusterId)
            : new InMemoryJobStore());
        services.AddSingleton<LocalJobRunner>();
        services.AddSingleton<ClusterJobRunner>();
        services.AddSingleton<IJobRunner, RoutedJobRunner>();
        services.AddSingleton<JobService>();
        services.AddHostedService(sp => sp.GetRequiredService<JobService>());
        services.AddSingleton(logs);
        services.AddSingleton<SiloSampler>();
        services.AddHostedService(sp => sp.GetRequiredService<SiloSampler>());
        return services;
    }
}
