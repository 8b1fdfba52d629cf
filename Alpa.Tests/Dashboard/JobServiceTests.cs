using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Alpa.Client;
using Alpa.Client.Jobs;
using Alpa.Client.Transport;
using Alpa.Silo.Hosting.Bench;
using Alpa.Tests.Silo;

namespace Alpa.Tests.Dashboard;

/// <summary>Jobs on a real <c>alpa silo</c> process: SDK, CLI and the dashboard's HTTP API.</summary>
[Collection(SiloProcessCollection.Name)]
public sealed class JobServiceTests
{
    [Fact]
    public async Task SubmitWatchMetricsAndTheSameErrorsEverywhere()
    {
        await using var cluster = new TestCluster("memory");
        var address = TestCluster.NewAddress();
        var dashboard = TestCluster.NewAddress();
        await cluster.StartAsync(address, 2, null, "--dashboard", dashboard);
        using var client = await cluster.ConnectAsync(address);

        var id = await client.SubmitAsync(new JobSpec { Model = "mlp", Steps = 6, Seed = 3 });
        var events = new List<JobEvent>();
        await foreach (var e in client.WatchAsync(id)) events.Add(e);
        Assert.Equal(["queued", "planned", "step", "step", "step", "step", "step", "step", "finished"], events.Select(e => e.Kind));
        Assert.Equal(Enumerable.Range(1, events.Count).Select(i => (long)i), events.Select(e => e.Sequence));
        Assert.Equal("single-device", events[1].Plan!.Method);
        var metrics = await client.GetMetricsAsync(id);
        Assert.Equal(events.Where(e => e.Kind == "step").Select(e => e.Loss!.Value), metrics.Steps.Select(s => s.Loss));
        Assert.All(metrics.Steps, s => Assert.True(s.Loss is > 0 and < 10 && s.Seconds > 0 && s.ItemsPerSecond > 0));
        Assert.NotEmpty(metrics.Timeline);
        Assert.Equal(JobStates.Done, (await client.GetJobAsync(id)).State);

        // More than one microbatch: the pipeline runner (driver and mesh workers in the silo's process).
        var piped = await client.SubmitAsync(new JobSpec { Model = "mlp", Steps = 2, Microbatches = 2, Cluster = new ClusterRequest(1, 2) });
        await foreach (var _ in client.WatchAsync(piped)) { }
        var pipelined = await client.GetMetricsAsync(piped);
        Assert.Equal(JobStates.Done, (await client.GetJobAsync(piped)).State);
        Assert.Equal(2, pipelined.Plan!.Microbatches);
        Assert.Equal(pipelined.Plan.Stages.Count, pipelined.Steps[^1].StageSeconds!.Count);
        Assert.Contains(pipelined.Timeline, e => e.Kind == "forward" && e.Microbatch == 1);

        using var http = new HttpClient { BaseAddress = new Uri($"http://{dashboard}") };
        var listed = await http.GetFromJsonAsync<JobList>("/api/jobs", AlpaJson.Options);
        Assert.Equal([piped, id], listed!.Jobs.Select(j => j.Id));
        var cli = await TestCluster.RunAlpaAsync(null, "jobs", "--connect", address, "--secret-file", cluster.SecretFile!, "--json");
        Assert.Equal(0, cli.Code);
        Assert.Equal(id, JsonSerializer.Deserialize<JobList>(cli.Stdout, AlpaJson.Options)!.Jobs[1].Id);

        await ExpectSameErrorAsync(cluster, address, http, GrainErrorKind.NotFound, HttpStatusCode.NotFound,
            () => client.GetJobAsync("job-missing"), ["status", "job-missing"], h => h.GetAsync("/api/jobs/job-missing"));
        await ExpectSameErrorAsync(cluster, address, http, JobException.Conflict, HttpStatusCode.Conflict,
            () => client.CancelAsync(id), ["cancel", id], h => h.PostAsync($"/api/jobs/{id}/cancel", null));
        await ExpectSameErrorAsync(cluster, address, http, GrainErrorKind.BadRequest, HttpStatusCode.BadRequest,
            () => client.SubmitAsync(new JobSpec { Model = "mlp", Optimizer = "lion" }), ["submit", "--model", "mlp", "--optimizer", "lion"],
            h => h.PostAsJsonAsync("/api/jobs", new JobSpec { Model = "mlp", Optimizer = "lion" }, AlpaJson.Options));

        var malformed = await http.PostAsync("/api/jobs", new StringContent("{\"model\":", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        Assert.Contains("malformed JSON", await malformed.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var specFile = Path.Combine(cluster.Directory, "bad-spec.json");
        await File.WriteAllTextAsync(specFile, "{\"model\": \"mlp\", \"steps\": }");
        var badFile = await TestCluster.RunAlpaAsync(null, "submit", "--spec", specFile, "--connect", address, "--secret-file", cluster.SecretFile!);
        Assert.Equal(1, badFile.Code);
        Assert.StartsWith($"alpa: {specFile}: malformed job spec", badFile.Stderr, StringComparison.Ordinal);
    }

    /// <summary>The SDK, the CLI and the HTTP API report the same kind and message.</summary>
    private static async Task ExpectSameErrorAsync(TestCluster cluster, string address, HttpClient http, string kind, HttpStatusCode status,
        Func<Task> sdk, string[] cliArgs, Func<HttpClient, Task<HttpResponseMessage>> request)
    {
        var e = await Assert.ThrowsAsync<JobException>(sdk);
        Assert.Equal(kind, e.Kind);
        var cli = await TestCluster.RunAlpaAsync(null, [.. cliArgs, "--connect", address, "--secret-file", cluster.SecretFile!]);
        Assert.Equal(1, cli.Code);
        Assert.Equal($"alpa: {e.Message}", cli.Stderr.Trim());
        var response = await request(http);
        Assert.Equal(status, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(kind, body.RootElement.GetProperty("error").GetProperty("kind").GetString());
        Assert.Equal(e.Message, body.RootElement.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task CancelStopsARunningJobAfterItsStep()
    {
        await using var cluster = new TestCluster("memory");
        var address = TestCluster.NewAddress();
        await cluster.StartAsync(address, 1);
        using var client = await cluster.ConnectAsync(address);
        var id = await client.SubmitAsync(new JobSpec { Model = "mlp", Steps = 100_000 });
        var kinds = new List<string>();
        long stoppedAt = -1;
        await foreach (var e in client.WatchAsync(id))
        {
            kinds.Add(e.Kind);
            if (e.Kind == JobEventKinds.Step && e.Step == 2)
            {
                // The job may have run on while the event travelled (mlp steps take milliseconds);
                // what matters is that it stops right after the step the cancel answer names, far from the end.
                var cancelled = await client.CancelAsync(id);
                Assert.Equal(JobStates.Cancelled, cancelled.State);
                Assert.InRange(cancelled.Step, 2, 50_000);
                stoppedAt = cancelled.Step;
            }
        }
        Assert.Equal(JobEventKinds.Cancelled, kinds[^1]);
        await Task.Delay(300);
        var cli = await TestCluster.RunAlpaAsync(null, "status", id, "--connect", address, "--secret-file", cluster.SecretFile!, "--json");
        var final = JsonSerializer.Deserialize<JobInfo>(cli.Stdout, AlpaJson.Options)!;
        Assert.Equal(JobStates.Cancelled, final.State);
        Assert.InRange(final.Step, stoppedAt, stoppedAt + 1); // the step running when the cancel arrived finishes
    }

    [PostgresFact]
    public async Task JobHistorySurvivesASiloRestartWithPostgres()
    {
        await using var cluster = new TestCluster("postgres:" + PostgresFactAttribute.ConnectionString);
        var address = TestCluster.NewAddress();
        var silo = await cluster.StartAsync(address, 1);
        string id;
        JobMetrics before;
        using (var client = await cluster.ConnectAsync(address))
        {
            id = await client.SubmitAsync(new JobSpec { Model = "mlp", Steps = 4 });
            await foreach (var _ in client.WatchAsync(id)) { }
            before = await client.GetMetricsAsync(id);
        }
        Assert.Equal(0, await silo.StopAsync(TimeSpan.FromSeconds(20)));
        await cluster.StartAsync(address, 1);
        using var again = await cluster.ConnectAsync(address);
        var job = await again.GetJobAsync(id);
        Assert.Equal(JobStates.Done, job.State);
        Assert.Equal(4, job.Step);
        var after = await again.GetMetricsAsync(id);
        Assert.Equal(before.Steps.Select(s => s.Loss), after.Steps.Select(s => s.Loss));
        Assert.Equal("single-device", after.Plan!.Method);
        var replayed = new List<JobEvent>();
        await foreach (var e in again.WatchAsync(id)) replayed.Add(e);
        Assert.Equal(["queued", "planned", "step", "step", "step", "step", "finished"], replayed.Select(e => e.Kind));
        Assert.Contains(await again.ListJobsAsync(), j => j.Id == id);
    }

    [Fact]
    public async Task DashboardBeyondLoopbackNeedsTheClusterSecret()
    {
        await using var cluster = new TestCluster("memory");
        var address = TestCluster.NewAddress();
        var port = SiloProcess.FreePort();
        await cluster.StartAsync(address, 1, null, "--dashboard", $"0.0.0.0:{port}");
        using var handler = new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true };
        using var http = new HttpClient(handler) { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/api/jobs")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/api/logs/stream", HttpCompletionOption.ResponseHeadersRead)).StatusCode);
        Assert.Equal("/login", (await http.GetAsync("/")).Headers.Location?.OriginalString);
        var wrong = await http.PostAsync("/login", new FormUrlEncodedContent([new("secret", "not-the-secret-at-all")]));
        Assert.Equal("/login?failed=1", wrong.Headers.Location?.OriginalString);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/api/jobs")).StatusCode);
        var signIn = await http.PostAsync("/login", new FormUrlEncodedContent([new("secret", cluster.SecretText!)]));
        Assert.Equal("/", signIn.Headers.Location?.OriginalString);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/jobs")).StatusCode);
        using var bearer = new HttpClient { BaseAddress = http.BaseAddress };
        bearer.DefaultRequestHeaders.Authorization = new("Bearer", cluster.SecretText);
        Assert.Equal(HttpStatusCode.OK, (await bearer.GetAsync("/api/overview")).StatusCode);
        using (var stream = await bearer.GetAsync("/api/logs/stream", HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal("text/event-stream", stream.Content.Headers.ContentType?.MediaType);
            using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
            Assert.Equal("retry: 2000", await reader.ReadLineAsync());
            Assert.Equal("", await reader.ReadLineAsync());
            Assert.StartsWith("id: ", await reader.ReadLineAsync(), StringComparison.Ordinal); // the lines logged since the silo started
            Assert.StartsWith("data: {", await reader.ReadLineAsync(), StringComparison.Ordinal);
        }

        var logs = new Dictionary<string, string> { ["ALPA_Silo__LogDirectory"] = Path.Combine(cluster.Directory, "refused") };
        var open = await TestCluster.RunAlpaAsync(logs, "silo", "--listen", TestCluster.NewAddress(), "--dashboard", $"0.0.0.0:{SiloProcess.FreePort()}");
        Assert.NotEqual(0, open.Code);
        Assert.Contains("needs authentication", open.Stderr, StringComparison.Ordinal);
    }
}
