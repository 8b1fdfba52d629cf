using Alpa.Silo.Cli;

return CliApp.Run(args);
