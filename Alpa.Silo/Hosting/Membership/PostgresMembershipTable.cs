using System.Data;
using System.Reflection;
using System.Text.Json;
using Alpa.Client.Membership;
using Alpa.Planner;
using Npgsql;

namespace Alpa.Silo.Hosting.Membership;

/// <summary>
/// <c>--membership postgres:CONNSTR</c>: the table in PostgreSQL (schema: deploy/postgres/*.sql,
/// applied at start under an advisory lock). Optimistic concurrency as in Orleans' ADO.NET
/// provider: each write bumps the cluster's version row only if it still holds the version the
/// writer read, in the same transaction as the row change.
/// </summary>
public sealed partial class PostgresMembershipTable(string connectionString, string clusterId, ClusterAdmission admission)
    : IMembershipTable, IAsyncDisposable
{
    private const long MigrationLock = 7412001;
    private readonly NpgsqlDataSource _source = Open(connectionString);

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, tx, $"SELECT pg_advisory_xact_lock({MigrationLock})", cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, tx,
            "CREATE TABLE IF NOT EXISTS alpa_schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
            cancellationToken).ConfigureAwait(false);
        var known = Migrations().ToList();
        var applied = await AppliedMigrationsAsync(connection, tx, cancellationToken).ConfigureAwait(false);
        RefuseUnknownSchema(applied, known.Select(m => m.Name).ToList());
        foreach (var (name, sql) in known.Where(m => !applied.Contains(m.Name)))
        {
            await ExecuteAsync(connection, tx, sql, cancellationToken).ConfigureAwait(false);
            await using var record = new NpgsqlCommand("INSERT INTO alpa_schema_migrations (name) VALUES (@n)", connection, tx);
            record.Parameters.AddWithValue("n", name);
            await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await EnsureClusterAsync(connection, tx, cancellationToken).ConfigureAwait(false);
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<MembershipSnapshot> ReadAllAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
        await using var versionCommand = new NpgsqlCommand("SELECT version FROM alpa_membership_version WHERE cluster_id = @c", connection, tx);
        versionCommand.Parameters.AddWithValue("c", clusterId);
        var version = (long?)await versionCommand.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) ?? 0;
        await using var rows = new NpgsqlCommand(
            "SELECT address, epoch, data_port, devices, status, last_heartbeat, started_at, etag FROM alpa_membership WHERE cluster_id = @c",
            connection, tx);
        rows.Parameters.AddWithValue("c", clusterId);
        var entries = new List<MembershipEntry>();
        await using (var reader = await rows.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                entries.Add(new MembershipEntry
                {
                    Address = reader.GetString(0),
                    Epoch = reader.GetInt64(1),
                    DataPort = reader.GetInt32(2),
                    Devices = JsonSerializer.Deserialize<string[]>(reader.GetString(3)) ?? [],
                    Status = ParseStatus(reader.GetString(4)),
                    LastHeartbeat = reader.GetFieldValue<DateTimeOffset>(5),
                    StartedAt = reader.GetFieldValue<DateTimeOffset>(6),
                    ETag = reader.GetInt64(7),
                });
            }
        }
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return new MembershipSnapshot(entries, version);
    }

    public Task<bool> InsertAsync(MembershipEntry entry, long expectedVersion, CancellationToken cancellationToken) =>
        WriteAsync(expectedVersion,
            """
            INSERT INTO alpa_membership (cluster_id, address, epoch, data_port, devices, status, last_heartbeat, started_at, etag)
            VALUES (@c, @a, @e, @p, @d, @s, @h, @t, 1) ON CONFLICT DO NOTHING
            """, entry, 0, cancellationToken);

    public Task<bool> UpdateAsync(MembershipEntry entry, long expectedEtag, long expectedVersion, CancellationToken cancellationToken) =>
        WriteAsync(expectedVersion,
            """
            UPDATE alpa_membership SET data_port = @p, devices = @d, status = @s, last_heartbeat = @h, started_at = @t, etag = etag + 1
            WHERE cluster_id = @c AND address = @a AND epoch = @e AND etag = @etag
            """, entry, expectedEtag, cancellationToken);

    public async Task HeartbeatAsync(string address, long epoch, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var command = _source.CreateCommand(
            "UPDATE alpa_membership SET last_heartbeat = @h WHERE cluster_id = @c AND address = @a AND epoch = @e");
        command.Parameters.AddWithValue("h", at);
        command.Parameters.AddWithValue("c", clusterId);
        command.Parameters.AddWithValue("a", address);
        command.Parameters.AddWithValue("e", epoch);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<bool> WriteAsync(long expectedVersion, string rowSql, MembershipEntry entry, long expectedEtag, CancellationToken cancellationToken)
    {
        await using var connection = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var bump = new NpgsqlCommand(
            "UPDATE alpa_membership_version SET version = version + 1, updated_at = now() WHERE cluster_id = @c AND version = @v", connection, tx);
        bump.Parameters.AddWithValue("c", clusterId);
        bump.Parameters.AddWithValue("v", expectedVersion);
        if (await bump.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) != 1)
        {
            await tx.RollbackAsync(cancellationToken).ConfigureAwait(false);
            return false;
        }
        await using var row = new NpgsqlCommand(rowSql, connection, tx);
        row.Parameters.AddWithValue("c", clusterId);
        row.Parameters.AddWithValue("a", entry.Address);
        row.Parameters.AddWithValue("e", entry.Epoch);
        row.Parameters.AddWithValue("p", entry.DataPort);
        row.Parameters.AddWithValue("d", JsonSerializer.Serialize(entry.Devices));
        row.Parameters.AddWithValue("s", entry.Status.ToString().ToLowerInvariant());
        row.Parameters.AddWithValue("h", entry.LastHeartbeat);
        row.Parameters.AddWithValue("t", entry.StartedAt);
        row.Parameters.AddWithValue("etag", expectedEtag);
        if (await row.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) != 1)
        {
            await tx.RollbackAsync(cancellationToken).ConfigureAwait(false);
            return false;
        }
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return true;
    }

    private static SiloStatus ParseStatus(string text) => text switch
    {
        "active" => SiloStatus.Active,
        "dead" => SiloStatus.Dead,
        _ => SiloStatus.Joining,
    };

    /// <summary>The embedded deploy/postgres/NNN_*.sql scripts, in order.</summary>
    internal static IEnumerable<(string Name, string Sql)> Migrations()
    {
        var assembly = Assembly.GetExecutingAssembly();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith("Migrations.", StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            using var reader = new StreamReader(assembly.GetManifestResourceStream(resource)!);
            var name = resource["Migrations.".Length..];
            yield return (name, reader.ReadToEnd());
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string sql, CancellationToken token)
    {
        await using var command = new NpgsqlCommand(sql, connection, tx);
        await command.ExecuteNonQueryAsync(token).ConfigureAwait(false);
    }

    private static NpgsqlDataSource Open(string connectionString)
    {
        try
        {
            return NpgsqlDataSource.Create(connectionString);
        }
        catch (ArgumentException e)
        {
            throw new AlpaException($"--membership postgres: bad connection string ({e.Message}); write e.g. postgres:Host=127.0.0.1;Username=alpa;Password=...;Database=alpa", e)
            { Field = "--membership" };
        }
    }

    public ValueTask DisposeAsync() => _source.DisposeAsync();
}
