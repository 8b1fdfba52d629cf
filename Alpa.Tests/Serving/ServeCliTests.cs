using Alpa.Silo.Cli;

namespace Alpa.Tests.Serving;

public sealed class ServeCliTests
{
    private static (int Code, string Err) Run(params string[] args)
    {
        var (code, _, err) = Cli.InProcessCli.Run(args);
        return (code, err);
    }

    [Theory]
    [InlineData(new[] { "serve", "--model", "gpt-tiny", "--checkpoint", "/tmp/alpa-no-such-checkpoint", "--listen", "127.0.0.1:0" }, 1, "alpa-no-such-checkpoint")]
    [InlineData(new[] { "serve", "--model", "gpt-tiny", "--random-init", "--cluster", "local:2x2", "--listen", "127.0.0.1:0" }, 1, "to serve across silo processes start them ('alpa silo') and give --connect")]
    [InlineData(new[] { "serve", "--model", "gpt-tiny", "--random-init", "--slots", "100000000", "--listen", "127.0.0.1:0" }, 1, "of key/value cache per device")]
    [InlineData(new[] { "serve", "--model", "gpt-tiny", "--random-init", "--connect", "127.0.0.1:1", "--stages", "2", "--listen", "127.0.0.1:0" }, 2, "leave out --cluster and --stages")]
    [InlineData(new[] { "serve", "--model", "mlp", "--random-init", "--listen", "127.0.0.1:0" }, 1, "serving generates text with GPT models")]
    [InlineData(new[] { "serve", "--model", "gpt-tiny", "--listen", "127.0.0.1:0" }, 2, "exactly one of --random-init, --train-steps N or --checkpoint DIR")]
    [InlineData(new[] { "serve", "--model", "gpt-tiny", "--random-init", "--listen", "localhost" }, 2, "--listen expects ADDR:PORT")]
    [InlineData(new[] { "serve", "--model", "gpt-tiny", "--random-init", "--listen", "127.0.0.1:0", "--objective", "fast" }, 2, "--objective must be throughput or latency")]
    public void BadServeArgumentsAreOneLine(string[] args, int code, string what)
    {
        var (exit, err) = Run(args);
        Assert.Equal(code, exit);
        Assert.Contains(what, err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
    }
}
