using System.Collections.Concurrent;
using System.Text.Json;
using Alpa.Client.Jobs;
using Alpa.Client.Transport;
using Npgsql;
using NpgsqlTypes;

namespace Alpa.Silo.Jobs;

/// <summary>Where job records live: PostgreSQL when the cluster uses it, else this silo's memory.</summary>
public interface IJobStore
{
    Task SaveAsync(JobInfo info, JobMetrics metrics, CancellationToken cancellationToken);

    Task<(JobInfo Info, JobMetrics Metrics)?> GetAsync(string jobId, CancellationToken cancellationToken);

    /// <summary>The newest <paramref name="limit"/> jobs, newest first.</summary>
    Task<IReadOnlyList<JobInfo>> ListAsync(int limit, CancellationToken cancellationToken);
}

/// <summary>Job records in this process (lost when the silo stops).</summary>
public sealed class InMemoryJobStore : IJobStore
{
    private readonly ConcurrentDictionary<string, (JobInfo Info, JobMetrics Metrics)> _jobs = new(StringComparer.Ordinal);

    public Task SaveAsync(JobInfo info, JobMetrics metrics, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(info);
        _jobs[info.Id] = (info, metrics);
        return Task.CompletedTask;
    }

    public Task<(JobInfo Info, JobMetrics Metrics)?> GetAsync(string jobId, CancellationToken cancellationToken) =>
        Task.FromResult(_jobs.TryGetValue(jobId, out var job) ? job : ((JobInfo, JobMetrics)?)null);

    public Task<IReadOnlyList<JobInfo>> ListAsync(int limit, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<JobInfo>>([.. _jobs.Values.Select(j => j.Info).OrderByDescending(j => j.SubmittedAt).Take(limit)]);
}

/// <summary>Job records in the cluster's PostgreSQL database (table <c>alpa_jobs</c>, deploy/postgres/002_jobs.sql).</summary>
public sealed class PostgresJobStore(string connectionString, string clusterId) : IJobStore, IAsyncDisposable
{
    private readonly NpgsqlDataSource _source = NpgsqlDataSource.Create(connectionString);

    public async Task SaveAsync(JobInfo info, JobMetrics metrics, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(info);
        await using var command = _source.CreateCommand(
            "INSERT INTO alpa_jobs (cluster_id, id, silo, state, submitted_at, updated_at, info, metrics) " +
            "VALUES (@c, @id, @silo, @state, @submitted, now(), @info, @metrics) " +
            "ON CONFLICT (cluster_id, id) DO UPDATE SET state = EXCLUDED.state, updated_at = now(), info = EXCLUDED.info, metrics = EXCLUDED.metrics");
        command.Parameters.AddWithValue("c", clusterId);
        command.Parameters.AddWithValue("id", info.Id);
        command.Parameters.AddWithValue("silo", info.Silo);
        command.Parameters.AddWithValue("state", info.State);
        command.Parameters.AddWithValue("submitted", info.SubmittedAt.UtcDateTime);
        command.Parameters.AddWithValue("info", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(info, AlpaJson.Options));
        command.Parameters.AddWithValue("metrics", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(metrics, AlpaJson.Options));
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<(JobInfo Info, JobMetrics Metrics)?> GetAsync(string jobId, CancellationToken cancellationToken)
    {
        await using var command = _source.CreateCommand("SELECT info::text, metrics::text FROM alpa_jobs WHERE cluster_id = @c AND id = @id");
        command.Parameters.AddWithValue("c", clusterId);
        command.Parameters.AddWithValue("id", jobId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return null;
        }
        return (JsonSerializer.Deserialize<JobInfo>(reader.GetString(0), AlpaJson.Options)!,
                JsonSerializer.Deserialize<JobMetrics>(reader.GetString(1), AlpaJson.Options)!);
    }

    public async Task<IReadOnlyList<JobInfo>> ListAsync(int limit, CancellationToken cancellationToken)
    {
        await using var command = _source.CreateCommand("SELECT info::text FROM alpa_jobs WHERE cluster_id = @c ORDER BY submitted_at DESC LIMIT @n");
        command.Parameters.AddWithValue("c", clusterId);
        command.Parameters.AddWithValue("n", limit);
        var jobs = new List<JobInfo>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            jobs.Add(JsonSerializer.Deserialize<JobInfo>(reader.GetString(0), AlpaJson.Options)!);
        }
        return jobs;
    }

    public ValueTask DisposeAsync() => _source.DisposeAsync();
}
