using Alpa.Silo.Cli;

if (args is ["silo", ..] or ["cluster", ..])
{
    return await Alpa.Silo.Hosting.SiloCli.RunAsync(args);
}
return CliApp.Run(args);
