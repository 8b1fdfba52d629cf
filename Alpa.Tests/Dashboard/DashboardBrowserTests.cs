using Alpa.Client;
using Alpa.Client.Jobs;
using Alpa.Tests.Silo;
using Microsoft.Playwright;

namespace Alpa.Tests.Dashboard;

/// <summary>Runs only where Debian's chromium is installed (scripts/test.sh installs it).</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public const string Chromium = "/usr/bin/chromium";

    public ChromiumFactAttribute()
    {
        if (!File.Exists(Chromium))
        {
            Skip = $"{Chromium} is missing: install it with `apt-get install --no-install-recommends chromium` (scripts/test.sh does)";
        }
    }

    /// <summary>
    /// Cores the test needs besides the browser's; with fewer it is skipped with the reason (a test that
    /// keeps silos training flat out next to the browser cannot meet Playwright's 30 s timeouts).
    /// </summary>
    public int MinCores
    {
        get => _minCores;
        set
        {
            _minCores = value;
            if (Skip is null && Environment.ProcessorCount < value)
                Skip = $"needs {value} cores, this machine has {Environment.ProcessorCount}: two silos train a long job flat out while headless chromium renders the grains pages, and on fewer cores the browser misses its 30 s timeouts";
        }
    }

    private int _minCores;
}

/// <summary>
/// A real silo runs a small job; headless chromium opens every dashboard page and checks that the
/// loss chart and the timeline draw that job's measured numbers. Screenshots go to .build/artifacts/dashboard/.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class DashboardBrowserTests
{
    private const int Steps = 4;

    [ChromiumFact]
    public async Task EveryPageShowsTheJobsRealNumbers()
    {
        await using var cluster = new TestCluster("memory");
        var address = TestCluster.NewAddress();
        var dashboard = TestCluster.NewAddress();
        await cluster.StartAsync(address, 2, null, "--dashboard", dashboard);
        using var client = await cluster.ConnectAsync(address);
        var id = await client.SubmitAsync(new JobSpec { Model = "gpt-tiny", Steps = Steps, Cluster = new ClusterRequest(1, 2), Microbatches = 2, Name = "browser-test" });
        await foreach (var _ in client.WatchAsync(id)) { }
        var metrics = await client.GetMetricsAsync(id);
        Assert.Equal(Steps, metrics.Steps.Count);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright);
        var errors = new List<string>();
        var page = await NewPageAsync(browser, errors);
        var root = $"http://{dashboard}/";
        var shots = Artifacts();

        await OpenAsync(page, root + "#/overview", "#card-jobs", shots, "overview");
        Assert.Equal("0 / 1", (await page.InnerTextAsync("#card-jobs .value")).Trim());
        await OpenAsync(page, root + "#/silos", "#silos-table", shots, "silos");
        Assert.Contains(address, await page.InnerTextAsync("#silos-table"), StringComparison.Ordinal);
        Assert.Equal(2, await page.Locator("#silos-table .device").CountAsync());

        await OpenAsync(page, root + "#/grains", "#grains-table", shots, "grains");
        await page.ClickAsync("a.activation[data-grain='IJobsGrain']");
        await page.WaitForFunctionAsync($"document.getElementById('grain-state').textContent.includes('{id}')");
        Assert.Contains("SubmitAsync", await page.InnerTextAsync("#slow-methods"), StringComparison.Ordinal);

        await OpenAsync(page, root + "#/jobs", ".jobs-table", shots, "jobs");
        await page.ClickAsync($"a.job-link:text('{id}')");
        await page.WaitForSelectorAsync("#loss-chart");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(shots, "job.png"), FullPage = true });
        var drawn = await page.EvalOnSelectorAllAsync<double[]>("circle.loss-point", "cs => cs.map(c => Number(c.dataset.loss))");
        Assert.Equal(metrics.Steps.Select(s => s.Loss), drawn);
        Assert.Equal(metrics.Steps[^1].Loss.ToString("F4", System.Globalization.CultureInfo.InvariantCulture), (await page.InnerTextAsync("#card-loss .value")).Trim());
        Assert.Equal("no checkpoint or recovery events", (await page.InnerTextAsync("#notes-none")).Trim());

        await page.ClickAsync("#plan-link");
        await page.WaitForSelectorAsync("#plan-view");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(shots, "plan.png") });
        Assert.Equal(["cpu:0", "cpu:1"], await page.EvalOnSelectorAllAsync<string[]>(".plan-device", "ds => ds.map(d => d.dataset.device)"));
        var measured = await page.GetAttributeAsync("#stage-times rect[data-measured]", "data-measured");
        Assert.Equal(metrics.Plan!.Stages[0].MeasuredSeconds!.Value, double.Parse(measured!, System.Globalization.CultureInfo.InvariantCulture), 12);
        Assert.Equal(metrics.Plan.ParameterSpecs.Count, await page.Locator("#param-specs tbody tr").CountAsync());

        await page.GotoAsync(root + $"#/timeline/{id}");
        await page.WaitForSelectorAsync("#timeline");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(shots, "timeline.png") });
        var bars = await page.EvalOnSelectorAllAsync<string[][]>("rect.timeline-event",
            "rs => rs.map(r => [r.dataset.device, r.dataset.kind, r.dataset.start, r.dataset.end])");
        Assert.Equal(metrics.Timeline.Select(e => new[] { e.Device, e.Kind, Num(e.StartSeconds), Num(e.EndSeconds) }), bars.Select(b => new[] { b[0], b[1], Num(double.Parse(b[2], System.Globalization.CultureInfo.InvariantCulture)), Num(double.Parse(b[3], System.Globalization.CultureInfo.InvariantCulture)) }));
        Assert.Contains(bars, b => b[1] == "backward");

        await OpenAsync(page, root + "#/logs", "#log div", shots, "logs");
        await page.WaitForFunctionAsync($"document.getElementById('log').textContent.includes('job {id} done')");
        Assert.Empty(errors);
    }

    /// <summary>Debian's chromium, headless, without the sandbox (tests run as root).</summary>
    internal static Task<IBrowser> LaunchAsync(IPlaywright playwright) => playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
    {
        ExecutablePath = ChromiumFactAttribute.Chromium, Headless = true, Args = ["--no-sandbox"],
    });

    /// <summary>A 1280×900 page whose script errors are added to <paramref name="errors"/>.</summary>
    internal static async Task<IPage> NewPageAsync(IBrowser browser, List<string> errors)
    {
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        page.PageError += (_, e) => errors.Add(e);
        return page;
    }

    private static string Num(double x) => x.ToString("R", System.Globalization.CultureInfo.InvariantCulture);

    private static async Task OpenAsync(IPage page, string url, string selector, string shots, string name)
    {
        await page.GotoAsync(url);
        await page.WaitForSelectorAsync(selector);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(shots, name + ".png"), FullPage = true });
    }

    /// <summary>.build/artifacts/dashboard under the repository root (the folder holding Alpa.sln).</summary>
    internal static string Artifacts()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Alpa.sln"))) dir = dir.Parent;
        var path = Path.Combine(dir?.FullName ?? Path.GetTempPath(), ".build", "artifacts", "dashboard");
        Directory.CreateDirectory(path);
        return path;
    }
}
