using Alpa.Silo.Cli;

if (args is ["silo", ..] or ["cluster", ..])
{
    return await Alpa.Silo.Hosting.SiloCli.RunAsync(args);
}
if (args is ["bench", "transport", ..])
{
    return await Alpa.Silo.Hosting.SiloCli.RunBenchTransportAsync(args);
}
if (args is ["bench", "collectives", ..])
{
    return await Alpa.Silo.Hosting.Bench.CollectiveBenchmarks.RunCliAsync(args);
}
if (args is ["bench", "cluster", ..])
{
    return await Alpa.Silo.Hosting.Bench.ClusterStepBenchmarks.RunCliAsync(args);
}
return CliApp.Run(args);
