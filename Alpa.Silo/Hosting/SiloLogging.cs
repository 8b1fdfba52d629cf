using Serilog;
using Serilog.Events;
using Serilog.Formatting.Json;

namespace Alpa.Silo.Hosting;

/// <summary>
/// Serilog for a silo: human-readable lines on stderr, JSON lines in a daily rolling file. Every
/// event carries <c>silo</c>; events inside a grain call carry <c>grain</c> and, when the caller
/// named one, <c>job</c>.
/// </summary>
public static class SiloLogging
{
    public static Serilog.Core.Logger Create(SiloOptions options, string silo, int port, Serilog.Core.ILogEventSink? dashboard = null)
    {
        var level = Enum.TryParse<LogEventLevel>(options.LogLevel, ignoreCase: true, out var parsed) ? parsed : LogEventLevel.Information;
        var configuration = new LoggerConfiguration()
            .MinimumLevel.Is(level)
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Information)
            .Enrich.WithProperty("silo", silo)
            .Enrich.FromLogContext()
            .WriteTo.Console(
                outputTemplate: "[{Timestamp:HH:mm:ss.fff} {Level:u3}] {silo} {Message:lj}{NewLine}{Exception}",
                standardErrorFromLevel: LogEventLevel.Verbose)
            .WriteTo.File(new JsonFormatter(renderMessage: true), Path.Combine(options.LogDirectory, $"alpa-silo-{port}-.log"),
                rollingInterval: RollingInterval.Day, retainedFileCountLimit: 7, shared: true);
        if (dashboard is not null)
        {
            configuration.WriteTo.Sink(dashboard);
        }
        return configuration.CreateLogger();
    }
}
