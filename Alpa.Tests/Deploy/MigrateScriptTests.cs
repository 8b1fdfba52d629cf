using Alpa.Silo.Hosting.Membership;
using Alpa.Tests.Silo;
using Npgsql;

namespace Alpa.Tests.Deploy;

/// <summary>deploy/postgres/migrate.sh records the same versions the silo embeds, applies each once, and refuses a newer schema.</summary>
public sealed class MigrateScriptTests
{
    [PostgresFact]
    public async Task MigrateScript_AppliesOnce_AgreesWithTheSilo_AndRefusesANewerSchema()
    {
        await using var schema = await PostgresSchema.CreateAsync();
        var db = new NpgsqlConnectionStringBuilder(schema.ConnectionString);
        var url = $"postgresql://{db.Username}@{db.Host}:{db.Port}/{db.Database}";
        var environment = new Dictionary<string, string>
        {
            ["PGPASSWORD"] = db.Password ?? "",
            ["PGOPTIONS"] = $"-c search_path={schema.Name} -c client_min_messages=warning",
        };
        var script = Path.Combine(Host.RepoRoot, "deploy", "postgres", "migrate.sh");

        var first = await Host.RunAsync(script, [url], environment);
        Assert.True(first.Code == 0, first.Stderr);
        var embedded = PostgresMembershipTable.Migrations().Select(m => m.Name).ToList();
        Assert.All(embedded, name => Assert.Contains($"migrate: applied {name}", first.Stderr));
        var second = await Host.RunAsync(script, [url], environment);
        Assert.True(second.Code == 0, second.Stderr);
        Assert.DoesNotContain("applied", second.Stderr);
        Assert.Contains($"schema version {embedded.Max(PostgresMembershipTable.SchemaVersion)}", second.Stderr);

        await schema.ExecuteAsync("INSERT INTO alpa_schema_migrations (name) VALUES ('999_from_a_newer_alpa.sql')");
        var newer = await Host.RunAsync(script, [url], environment);
        Assert.Equal(1, newer.Code);
        Assert.Contains("the database has migration 999_from_a_newer_alpa.sql, which this folder does not know", newer.Stderr);
    }
}
