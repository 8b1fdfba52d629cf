using System.Globalization;
using System.Text;
using Alpa.Client.Transport;
using Npgsql;

namespace Alpa.Silo.Hosting.Membership;

/// <summary>What a silo brings to the membership database to be let in (migration 002).</summary>
/// <param name="Secret">The cluster secret, or null for a loopback development silo.</param>
/// <param name="CreateCluster">
/// True: an unknown cluster id is created (development default). False: the cluster must already
/// exist (deploy/postgres/setup.sh creates it), so a mistyped id is refused instead of silently
/// starting a one-silo cluster of its own.
/// </param>
public sealed record ClusterAdmission(ClusterSecret? Secret, bool CreateCluster);

public sealed partial class PostgresMembershipTable
{
    /// <summary>Schema version of a migration file name: its number prefix (<c>002_clusters.sql</c> → 2).</summary>
    internal static int SchemaVersion(string migration) =>
        int.TryParse(migration.AsSpan(0, Math.Max(0, migration.IndexOf('_', StringComparison.Ordinal))), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : 0;

    /// <summary>
    /// Throws <see cref="JoinRefusedException"/> when the database holds a migration this build does
    /// not embed: a newer alpa migrated it, and this one would misread the tables.
    /// </summary>
    internal static void RefuseUnknownSchema(IReadOnlyCollection<string> applied, IReadOnlyList<string> known)
    {
        var unknown = applied.Where(a => !known.Contains(a)).Order(StringComparer.Ordinal).ToList();
        if (unknown.Count == 0)
        {
            return;
        }
        var databaseVersion = applied.Max(SchemaVersion);
        var ownVersion = known.Count == 0 ? 0 : known.Max(SchemaVersion);
        throw new JoinRefusedException(
            $"the membership database has {string.Join(", ", unknown)}, a migration this alpa does not know " +
            $"(database schema version {databaseVersion}, this alpa knows up to {ownVersion}): a newer or different alpa migrated it; " +
            "install the alpa version the other silos run (or point --membership at another database)");
    }

    /// <summary>The secret fingerprint stored per cluster: hex HMAC-SHA256(secret, "alpa-cluster-check\n" + cluster id).</summary>
    internal static string SecretCheck(ClusterSecret secret, string cluster) =>
        Convert.ToHexStringLower(secret.Sign(Encoding.UTF8.GetBytes("alpa-cluster-check\n" + cluster)));

    private static async Task<HashSet<string>> AppliedMigrationsAsync(NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken token)
    {
        await using var command = new NpgsqlCommand("SELECT name FROM alpa_schema_migrations", connection, tx);
        await using var reader = await command.ExecuteReaderAsync(token).ConfigureAwait(false);
        var names = new HashSet<string>(StringComparer.Ordinal);
        while (await reader.ReadAsync(token).ConfigureAwait(false))
        {
            names.Add(reader.GetString(0));
        }
        return names;
    }

    /// <summary>Creates the cluster's row if allowed, then checks (or first records) its secret fingerprint.</summary>
    private async Task EnsureClusterAsync(NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken token)
    {
        await using var read = new NpgsqlCommand("SELECT secret_check FROM alpa_membership_version WHERE cluster_id = @c", connection, tx);
        read.Parameters.AddWithValue("c", clusterId);
        var row = await read.ExecuteScalarAsync(token).ConfigureAwait(false);
        if (row is null && !admission.CreateCluster)
        {
            throw new JoinRefusedException(
                $"cluster id '{clusterId}' does not exist in the membership database (newest: {await ClusterListAsync(connection, tx, token).ConfigureAwait(false)}); " +
                $"fix Silo:ClusterId (--cluster-id), or create the cluster with deploy/postgres/setup.sh --cluster-id {clusterId}");
        }
        var stored = row as string;
        var mine = admission.Secret is null ? null : SecretCheck(admission.Secret, clusterId);
        if (stored is not null && mine is null)
        {
            throw new JoinRefusedException($"cluster '{clusterId}' is secured with a cluster secret and this silo has none; give --secret-file FILE with the cluster's secret");
        }
        if (stored is not null && stored != mine)
        {
            throw new JoinRefusedException(
                $"this silo's cluster secret is not the secret of cluster '{clusterId}' (fingerprints differ); give --secret-file the cluster's secret file " +
                "(to rotate the secret of a whole cluster see deploy/README.md, \"Rotating the secret\")");
        }
        await using var write = new NpgsqlCommand(
            """
            INSERT INTO alpa_membership_version (cluster_id, secret_check) VALUES (@c, @s)
            ON CONFLICT (cluster_id) DO UPDATE SET secret_check = coalesce(alpa_membership_version.secret_check, excluded.secret_check)
            """, connection, tx);
        write.Parameters.AddWithValue("c", clusterId);
        write.Parameters.AddWithValue("s", (object?)mine ?? DBNull.Value);
        await write.ExecuteNonQueryAsync(token).ConfigureAwait(false);
    }

    private static async Task<string> ClusterListAsync(NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken token)
    {
        await using var command = new NpgsqlCommand("SELECT string_agg(cluster_id, ', ') FROM (SELECT cluster_id FROM alpa_membership_version ORDER BY created_at DESC LIMIT 5) recent", connection, tx);
        return await command.ExecuteScalarAsync(token).ConfigureAwait(false) as string ?? "no clusters";
    }
}
