using System.Text.Json;
using Alpa.Client;
using Alpa.Client.Jobs;
using Alpa.Silo.Hosting.Bench;
using Alpa.Tests.Silo;
using Microsoft.Playwright;

namespace Alpa.Tests.Dashboard;

/// <summary>
/// The dashboard of a job across two real silos, in headless chromium, signed in with the cluster
/// secret (the dashboard is bound beyond loopback): the timeline holds both silos' devices; the grains
/// page shows each mesh worker's loaded job (stage, schedule, device bytes, last step's events) and the
/// driver's job, step and schedule; the live log receives a new line without a reload or a poll.
/// Screenshots go to .build/artifacts/dashboard/.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class ClusterDashboardBrowserTests
{
    private static readonly Dictionary<string, string> Patient = CrossSilo.ClusterJobsTests.Patient;

    [ChromiumFact(MinCores = 4)]
    public async Task GrainPagesShowTheWorkersAndTheDriver_AndTheLogIsPushed()
    {
        await using var cluster = new TestCluster("static:" + TestCluster.NewAddress())
        {
            // The long job below keeps both silos computing flat out; on 2 cores the browser and the test
            // then got no time to load a page within its 30 s. The silos yield to them.
            Launcher = ["nice", "-n", "15"],
        };
        var addresses = new[] { cluster.Membership["static:".Length..], TestCluster.NewAddress() };
        var port = SiloProcess.FreePort();
        await cluster.StartAsync(addresses[0], 1, Patient, "--dashboard", $"0.0.0.0:{port}");
        await cluster.StartAsync(addresses[1], 1, Patient);
        await cluster.WaitForAsync(addresses[0], l => l.Silos.Count(s => s.Status == "active") == 2, TimeSpan.FromSeconds(30));
        using var client = await cluster.ConnectAsync(addresses[0]);
        var done = await client.SubmitAsync(new JobSpec { Model = "gpt-tiny", Steps = 2, Microbatches = 2, Cluster = new ClusterRequest(ClusterRequest.AllSilos, 1) });
        await foreach (var _ in client.WatchAsync(done)) { }
        var info = await client.GetJobAsync(done);
        Assert.True(info.State == JobStates.Done, $"{info.State}: {info.Error}\n{cluster.Logs()}");

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await DashboardBrowserTests.LaunchAsync(playwright);
        var errors = new List<string>();
        var page = await DashboardBrowserTests.NewPageAsync(browser, errors);
        var root = $"http://127.0.0.1:{port}/";
        var shots = DashboardBrowserTests.Artifacts();
        await page.GotoAsync(root);
        await page.FillAsync("#secret", cluster.SecretText!);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForSelectorAsync("#card-jobs");

        await page.GotoAsync(root + $"#/timeline/{done}");
        await page.WaitForSelectorAsync("#timeline");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(shots, "cluster-timeline.png"), FullPage = true });
        var rows = await page.EvalOnSelectorAllAsync<string[]>("rect.timeline-event", "rs => [...new Set(rs.map(r => r.dataset.device))]");
        Assert.Equal(addresses.Select(a => $"{a}/cpu:0"), rows);

        // From here a long job keeps running and its state pages grow without bound: rendering them for a
        // screenshot took over 30 s on 2 busy cores, so the pages are checked, not photographed.
        var running = await StartLongJobAsync(client);
        var worker = await StateAsync(page, root, "IMeshWorkerGrain", addresses[1], addresses[1], running);
        Assert.Equal(2, await page.Locator("#grain-jobs .op-B").CountAsync()); // the stage's backward of each microbatch
        var loaded = worker.GetProperty("jobs")[0];
        Assert.Equal(1, loaded.GetProperty("stage").GetInt32());
        Assert.StartsWith("R0<0 ", loaded.GetProperty("instructions").GetProperty("schedule").GetString(), StringComparison.Ordinal);
        Assert.Equal($"{addresses[1]}/cpu:0", loaded.GetProperty("devices")[0].GetProperty("device").GetString());
        Assert.True(loaded.GetProperty("devices")[0].GetProperty("liveBytes").GetInt64() > 0, "the stage's parameters are live on its device");
        var events = loaded.GetProperty("lastStep").GetProperty("events").EnumerateArray().Select(e => e.GetProperty("kind").GetString()).ToList();
        Assert.Contains("backward", events);
        Assert.Contains("recv", events);

        var driver = await StateAsync(page, root, "IDriverGrain", running, addresses[0], running);
        Assert.True(driver.GetProperty("status").GetProperty("step").GetInt64() >= 2);
        Assert.Equal(addresses, driver.GetProperty("stages").EnumerateArray().Select(s => s.GetString()));
        Assert.StartsWith("F0 ", driver.GetProperty("schedules")[0].GetString(), StringComparison.Ordinal);
        Assert.Equal(2, await page.Locator("#grain-jobs tr:has-text('driver') >> nth=0 >> .op-F").CountAsync());

        var logRequests = new List<string>();
        page.Request += (_, r) => { if (r.Url.Contains("/api/logs", StringComparison.Ordinal)) logRequests.Add(r.Url); };
        await page.GotoAsync(root + "#/logs");
        await page.WaitForSelectorAsync("#log[data-state='open']");
        await page.EvaluateAsync("() => { window.stayedOnPage = 'yes'; }");
        await client.CancelAsync(running);
        await page.WaitForFunctionAsync($"document.getElementById('log').textContent.includes('job {running} cancelled')");
        Assert.Equal("yes", await page.EvaluateAsync<string>("() => window.stayedOnPage"));
        Assert.Equal([$"{root}api/logs/stream"], logRequests);

        var released = await StateAsync(page, root, "IMeshWorkerGrain", addresses[1], addresses[1], running);
        Assert.Equal(running, released.GetProperty("released")[0].GetProperty("job").GetString());
        Assert.Empty(errors);
    }

    /// <summary>Opens the grains page, clicks the activation and returns its state once it mentions <paramref name="job"/>.</summary>
    private static async Task<JsonElement> StateAsync(IPage page, string root, string grain, string key, string silo, string job)
    {
        await page.GotoAsync(root + "#/grains");
        try
        {
            await page.WaitForSelectorAsync("#grains-table");
        }
        catch (TimeoutException e)
        {
            var silos = await page.EvaluateAsync<string>("async () => { const r = await fetch('api/silos'); return r.status + ' ' + (await r.text()).slice(0, 300); }");
            var body = await page.EvaluateAsync<string>("() => location.href + ' | ' + document.body.innerText.slice(0, 1500)");
            throw new TimeoutException($"{e.Message}\n/api/silos: {silos}\npage: {body}", e);
        }
        await page.ClickAsync($"a.activation[data-grain='{grain}'][data-key='{key}'][data-silo='{silo}']");
        await page.WaitForFunctionAsync($"(t => t.startsWith('{grain}/{key} on {silo}') && t.includes('{job}'))(document.getElementById('grain-state').textContent)");
        // The page shows the start of the state; the whole JSON rides along in data-json.
        var json = await page.EvaluateAsync<string>("() => document.getElementById('grain-state').dataset.json");
        return JsonDocument.Parse(json).RootElement;
    }

    private static async Task<string> StartLongJobAsync(AlpaClient client)
    {
        var id = await client.SubmitAsync(new JobSpec { Model = "gpt-tiny", Steps = 100_000, Microbatches = 2, Cluster = new ClusterRequest(2, 1) });
        var steps = 0;
        await foreach (var e in client.WatchAsync(id))
        {
            Assert.False(e.Kind is JobEventKinds.Finished or JobEventKinds.Failed or JobEventKinds.Cancelled, e.Message);
            if (e.Kind == JobEventKinds.Step && ++steps == 2) break;
        }
        return id;
    }
}
