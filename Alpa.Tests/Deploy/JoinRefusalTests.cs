using System.Diagnostics;
using System.Security.Cryptography;
using Alpa.Planner;
using Alpa.Silo.Hosting.Bench;
using Alpa.Silo.Hosting.Membership;
using Alpa.Tests.Silo;
using Npgsql;

namespace Alpa.Tests.Deploy;

/// <summary>
/// A silo with the wrong secret, a cluster id the cluster does not have, or facing a schema newer than
/// it knows exits at once (code 3) with one line saying what to change, instead of joining or
/// retrying until its join timeout.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class JoinRefusalTests
{
    /// <summary>Far below the 60 s join timeout: refusals must not wait for it.</summary>
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(20);

    [PostgresFact]
    public async Task Postgres_RefusesWrongSecret_UnknownClusterId_AndNewerSchema()
    {
        await using var schema = await PostgresSchema.CreateAsync();
        await using var cluster = new TestCluster($"postgres:{schema.ConnectionString}");
        var good = await cluster.StartAsync(TestCluster.NewAddress(), 1);
        Assert.Equal(1, good.Epoch);

        var wrongSecret = await StartRefusedAsync(cluster, ["--cluster-id", cluster.ClusterId, "--secret-file", NewSecretFile(cluster)]);
        Assert.Contains($"this silo's cluster secret is not the secret of cluster '{cluster.ClusterId}'", wrongSecret);

        var typo = cluster.ClusterId + "x";
        var unknown = await StartRefusedAsync(cluster, ["--cluster-id", typo, "--secret-file", cluster.SecretFile!],
            new Dictionary<string, string> { ["ALPA_Silo__CreateCluster"] = "false" });
        Assert.Contains($"cluster id '{typo}' does not exist in the membership database", unknown);
        Assert.Contains(cluster.ClusterId, unknown);

        await schema.ExecuteAsync("INSERT INTO alpa_schema_migrations (name) VALUES ('999_from_a_newer_alpa.sql')");
        var newer = await StartRefusedAsync(cluster, ["--cluster-id", cluster.ClusterId, "--secret-file", cluster.SecretFile!]);
        Assert.Contains("has 999_from_a_newer_alpa.sql, a migration this alpa does not know (database schema version 999, this alpa knows up to", newer);

        var listing = await cluster.WaitForAsync(good.Address, l => l.Silos.Count == 1, TimeSpan.FromSeconds(5));
        Assert.Equal("active", listing.Silos.Single().Status);
    }

    [Fact]
    public async Task Static_RefusesWrongSecret_AndWrongClusterId()
    {
        var primary = TestCluster.NewAddress();
        await using var cluster = new TestCluster($"static:{primary}");
        await cluster.StartAsync(primary, 1);

        var wrongSecret = await StartRefusedAsync(cluster, ["--cluster-id", cluster.ClusterId, "--secret-file", NewSecretFile(cluster)]);
        Assert.Contains("the cluster rejected this silo's credentials", wrongSecret);

        var wrongId = await StartRefusedAsync(cluster, ["--cluster-id", "other", "--secret-file", cluster.SecretFile!]);
        Assert.Contains($"belongs to cluster '{cluster.ClusterId}', but this silo was started with cluster id 'other'", wrongId);
    }

    [Fact]
    public void SchemaCheck_AcceptsKnownAndOlder_RefusesNewer()
    {
        string[] known = ["001_membership.sql", "002_clusters.sql"];
        PostgresMembershipTable.RefuseUnknownSchema([], known);
        PostgresMembershipTable.RefuseUnknownSchema(["001_membership.sql"], known);
        var e = Assert.Throws<JoinRefusedException>(() => PostgresMembershipTable.RefuseUnknownSchema(["001_membership.sql", "003_jobs.sql"], known));
        Assert.Contains("has 003_jobs.sql, a migration this alpa does not know (database schema version 3, this alpa knows up to 2)", e.Message);
        // Two branches may both add a migration 002: the names, not the numbers, decide.
        Assert.Contains("has 002_other.sql", Assert.Throws<JoinRefusedException>(() =>
            PostgresMembershipTable.RefuseUnknownSchema(["002_clusters.sql", "002_other.sql"], known)).Message);
        Assert.Equal(2, PostgresMembershipTable.SchemaVersion("002_clusters.sql"));
        Assert.Equal(["001_membership.sql", "002_clusters.sql"], PostgresMembershipTable.Migrations().Select(m => m.Name).Take(2));
    }

    /// <summary>Starts a silo that must be refused; returns its output after checking the exit code and the time taken.</summary>
    private static async Task<string> StartRefusedAsync(TestCluster cluster, string[] args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var address = TestCluster.NewAddress();
        var watch = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<AlpaException>(() => SiloProcess.StartAsync(address,
            ["--devices", "cpu:1", "--membership", cluster.Membership, .. args], Path.Combine(cluster.Directory, "refused-" + address.Replace(':', '_')),
            environment));
        Assert.True(watch.Elapsed < Prompt, $"refusal took {watch.Elapsed.TotalSeconds:F1} s:\n{e.Message}");
        Assert.Contains("exited with code 3", e.Message);
        Assert.Contains("alpa silo: refused to join: ", e.Message);
        return e.Message;
    }

    private static string NewSecretFile(TestCluster cluster)
    {
        var path = Path.Combine(cluster.Directory, "other-secret-" + Guid.NewGuid().ToString("N")[..6]);
        File.WriteAllText(path, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));
        return path;
    }
}

/// <summary>A private schema in the test database (search path set), dropped at the end: tests that change the schema table stay apart.</summary>
public sealed class PostgresSchema : IAsyncDisposable
{
    private readonly string _admin;

    private PostgresSchema(string admin, string name)
    {
        _admin = admin;
        Name = name;
        ConnectionString = new NpgsqlConnectionStringBuilder(admin) { SearchPath = name }.ConnectionString;
    }

    public string Name { get; }
    /// <summary>The test database's connection string with this schema as its search path.</summary>
    public string ConnectionString { get; }

    public static async Task<PostgresSchema> CreateAsync()
    {
        var schema = new PostgresSchema(PostgresFactAttribute.ConnectionString!, "t_" + Guid.NewGuid().ToString("N")[..12]);
        await schema.AdminAsync($"CREATE SCHEMA {schema.Name}");
        return schema;
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private async Task AdminAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_admin);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public ValueTask DisposeAsync() => new(AdminAsync($"DROP SCHEMA IF EXISTS {Name} CASCADE"));
}
