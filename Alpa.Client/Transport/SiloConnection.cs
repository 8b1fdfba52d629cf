using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Alpa.Client.Transport;

/// <summary>
/// Grain calls to one silo over one HTTP/2 connection (h2c, or TLS when <see cref="TransportOptions.UseTls"/>),
/// multiplexing concurrent calls as streams. A call that cannot connect is retried with exponential
/// backoff (nothing was sent, so retrying is safe) until its deadline; after a failure the next
/// attempts wait out the backoff instead of hammering a silo that is down.
/// </summary>
public sealed class SiloConnection : IDisposable
{
    private readonly HttpClient _http;
    private readonly TransportOptions _options;
    private readonly Uri _base;
    private readonly Lock _gate = new();
    private int _failures;
    private bool _answered;
    private DateTimeOffset _retryAt;

    public SiloConnection(string address, TransportOptions options)
    {
        Address = address;
        _options = options;
        _base = new Uri($"{(options.UseTls ? "https" : "http")}://{address}/");
        _http = new HttpClient(CreateHandler(options), disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>The silo's control-plane address, <c>host:port</c>.</summary>
    public string Address { get; }

    /// <summary>Sends one call and returns its decoded result (null for a method without one).</summary>
    public Task<object?> CallAsync(GrainCall call, object? request, int hops, CancellationToken cancellationToken) =>
        CallAsync(call, request, hops, failFast: false, cancellationToken);

    /// <summary>
    /// As <see cref="CallAsync(GrainCall, object?, int, CancellationToken)"/>; with <paramref name="failFast"/>, a silo that
    /// cannot be connected to (or is in its reconnection backoff) fails the call at once with
    /// <see cref="SiloUnreachableException"/> (nothing was sent), so a client can try another silo.
    /// </summary>
    public async Task<object?> CallAsync(GrainCall call, object? request, int hops, bool failFast, CancellationToken cancellationToken)
    {
        var deadline = EffectiveDeadline();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Clamp(deadline - DateTimeOffset.UtcNow));
        var body = call.Method.RequestType is null ? [] : JsonSerializer.SerializeToUtf8Bytes(request, AlpaJson.TypeInfo(call.Method.RequestType));
        var path = $"/grain/{call.Grain.Name}/{Uri.EscapeDataString(call.Key)}/{call.Method.Name}";
        for (var attempt = 0; ; attempt++)
        {
            if (failFast && InBackoff())
            {
                throw new SiloUnreachableException($"silo {Address} is unreachable (it refused a connection moments ago)");
            }
            await WaitOutBackoffAsync(call, deadline, cancellationToken).ConfigureAwait(false);
            try
            {
                using var message = BuildRequest(path, body, deadline, hops);
                using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
                RecordSuccess();
                return await ReadResponseAsync(call, response, timeout.Token).ConfigureAwait(false);
            }
            catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError)
            {
                RecordFailure();
                if (failFast)
                {
                    throw new SiloUnreachableException($"cannot reach silo {Address} for {call}: {e.Message}", e);
                }
                if (DateTimeOffset.UtcNow >= deadline || cancellationToken.IsCancellationRequested)
                {
                    throw new SiloUnavailableException($"cannot reach silo {Address} for {call} after {attempt + 1} attempt(s): {e.Message}", e);
                }
            }
            catch (HttpRequestException e) when (e.HttpRequestError is not (HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError))
            {
                throw new SiloUnavailableException(ProtocolFailure(call.ToString(), e), e);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new DeadlineExceededException($"{call} on {Address} did not finish before its deadline");
            }
        }
    }

    /// <summary>
    /// Says what a protocol-level failure most likely means: a TLS or HTTP/2 mismatch only when the
    /// handshake failed or this silo never answered; once it has answered, a connection that ended mid-call
    /// means the silo stopped or the network dropped (a killed silo looks like this).
    /// </summary>
    private string ProtocolFailure(string call, HttpRequestException e) => (e.HttpRequestError, Volatile.Read(ref _answered)) switch
    {
        (HttpRequestError.SecureConnectionError or HttpRequestError.VersionNegotiationError or HttpRequestError.InvalidResponse, _) or (_, false) =>
            $"{call} on {Address} failed at the protocol level ({e.HttpRequestError}: {e.Message}); check that both sides agree on TLS (Silo:Tls, TransportOptions.UseTls)",
        _ => $"{call} on {Address}: the connection ended during the call ({e.HttpRequestError}: {e.Message}); the silo stopped or the network between us dropped",
    };

    private HttpRequestMessage BuildRequest(string path, byte[] body, DateTimeOffset deadline, int hops)
    {
        var message = new HttpRequestMessage(HttpMethod.Post, new Uri(_base, path))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(body),
        };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var remaining = (long)Math.Max(1, (deadline - DateTimeOffset.UtcNow).TotalMilliseconds);
        message.Headers.TryAddWithoutValidation(GrainHeaders.TimeoutMs, remaining.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (hops > 0)
        {
            message.Headers.TryAddWithoutValidation(GrainHeaders.Hops, hops.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        if (GrainCallContext.JobId is { } job)
        {
            message.Headers.TryAddWithoutValidation(GrainHeaders.Job, job);
        }
        if (_options.Secret is { } secret)
        {
            var (ts, nonce, sig) = CallSignature.Create(secret, "POST", message.RequestUri!.PathAndQuery, CallSignature.NowMs());
            message.Headers.TryAddWithoutValidation(CallSignature.TimestampHeader, ts);
            message.Headers.TryAddWithoutValidation(CallSignature.NonceHeader, nonce);
            message.Headers.TryAddWithoutValidation(CallSignature.SignatureHeader, sig);
        }
        return message;
    }

    private static async Task<object?> ReadResponseAsync(GrainCall call, HttpResponseMessage response, CancellationToken token)
    {
        if (response.StatusCode == HttpStatusCode.NoContent)
        {
            return null;
        }
        var stream = await response.Content.ReadAsStreamAsync(token).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            if (response.IsSuccessStatusCode)
            {
                return call.Method.ResultType is null ? null
                    : await JsonSerializer.DeserializeAsync(stream, AlpaJson.TypeInfo(call.Method.ResultType), token).ConfigureAwait(false);
            }
            GrainError? error = null;
            try
            {
                error = await JsonSerializer.DeserializeAsync(stream, AlpaJsonContext.Default.GrainError, token).ConfigureAwait(false);
            }
            catch (JsonException)
            {
                // Not a grain error body (e.g. a proxy's page): reported by status code below.
            }
            throw ToException(call, response.StatusCode, error);
        }
    }

    private static GrainCallException ToException(GrainCall call, HttpStatusCode status, GrainError? error)
    {
        var text = $"{call}: {error?.Message ?? $"HTTP {(int)status}"}";
        return (status, error?.Kind) switch
        {
            (HttpStatusCode.Unauthorized, _) => new UnauthorizedCallException($"{text} (check the cluster secret: --secret-file, ALPA_SECRET_FILE or ALPA_SECRET)"),
            (HttpStatusCode.GatewayTimeout, _) => new DeadlineExceededException(text),
            (HttpStatusCode.ServiceUnavailable, _) => new SiloUnavailableException(text),
            _ => new GrainCallException(error?.Kind ?? GrainErrorKind.GrainFailed, text) { RemoteType = error?.Type },
        };
    }

    /// <summary>The ambient deadline when one is set (longer or shorter than the default), else now + the default timeout.</summary>
    private DateTimeOffset EffectiveDeadline() => GrainCallContext.Deadline ?? DateTimeOffset.UtcNow + _options.DefaultTimeout;

    private async Task WaitOutBackoffAsync(GrainCall call, DateTimeOffset deadline, CancellationToken token)
    {
        DateTimeOffset retryAt;
        lock (_gate)
        {
            retryAt = _retryAt;
        }
        var wait = retryAt - DateTimeOffset.UtcNow;
        if (wait <= TimeSpan.Zero)
        {
            return;
        }
        if (retryAt >= deadline)
        {
            throw new SiloUnavailableException($"silo {Address} is unreachable (next attempt in {wait.TotalMilliseconds:F0} ms, after the deadline of {call})");
        }
        await Task.Delay(wait, token).ConfigureAwait(false);
    }

    private bool InBackoff()
    {
        lock (_gate)
        {
            return _retryAt > DateTimeOffset.UtcNow;
        }
    }

    private void RecordFailure()
    {
        lock (_gate)
        {
            _failures++;
            var backoff = Math.Min(_options.MaxBackoff.TotalMilliseconds, 25 * Math.Pow(2, Math.Min(_failures, 16)));
            _retryAt = DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(backoff * (0.8 + 0.4 * Random.Shared.NextDouble()));
        }
    }

    private void RecordSuccess()
    {
        Volatile.Write(ref _answered, true);
        if (Volatile.Read(ref _failures) == 0)
        {
            return;
        }
        lock (_gate)
        {
            _failures = 0;
            _retryAt = default;
        }
    }

    private static TimeSpan Clamp(TimeSpan span) =>
        span < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : span;

    private static SocketsHttpHandler CreateHandler(TransportOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = false,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            KeepAlivePingDelay = TimeSpan.FromSeconds(10),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            ConnectTimeout = options.ConnectTimeout,
            UseProxy = false,
            AllowAutoRedirect = false,
        };
        if (options.UseTls)
        {
            handler.SslOptions = TlsValidation.ClientOptions(options);
        }
        return handler;
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>Headers of a grain call besides the signature.</summary>
public static class GrainHeaders
{
    /// <summary>Milliseconds the caller will wait; the silo cancels the grain call after it.</summary>
    public const string TimeoutMs = "alpa-timeout-ms";
    /// <summary>How many silos forwarded the call (loops stop at 2).</summary>
    public const string Hops = "alpa-hops";
    /// <summary>The job a call belongs to, for logs.</summary>
    public const string Job = "alpa-job";
}
