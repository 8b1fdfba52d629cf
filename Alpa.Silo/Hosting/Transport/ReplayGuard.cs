using System.Collections.Concurrent;
using Alpa.Client.Transport;

namespace Alpa.Silo.Hosting.Transport;

/// <summary>
/// Checks call signatures (HMAC over method, path, timestamp and nonce) and rejects replays: a
/// timestamp outside the window, or a nonce already seen within it. Shared by grain calls and
/// data-plane handshakes. Nonces are recorded only after the signature checks out, so strangers
/// cannot fill the cache.
/// </summary>
public sealed class ReplayGuard(ClusterSecret? secret, TimeSpan window)
{
    private const int MaxRemembered = 2_000_000;
    private readonly ConcurrentDictionary<string, long> _seen = new(StringComparer.Ordinal);
    private long _nextPurgeMs;

    /// <summary>True when the silo accepts unsigned calls (loopback development mode).</summary>
    public bool Open => secret is null;

    /// <summary>Null when the proof is good, else the reason it is not.</summary>
    public string? Check(string method, string path, string? timestamp, string? nonce, string? signature)
    {
        if (secret is null)
        {
            return null;
        }
        if (string.IsNullOrEmpty(timestamp) || string.IsNullOrEmpty(nonce) || string.IsNullOrEmpty(signature))
        {
            return "missing signature headers";
        }
        if (!long.TryParse(timestamp, out var ts))
        {
            return "malformed timestamp";
        }
        Span<byte> sig = stackalloc byte[CallSignature.SignatureBytes];
        if (!CallSignature.TryDecodeBase64Url(signature, sig) || nonce.Length > 64)
        {
            return "malformed signature";
        }
        if (!secret.Verify(CallSignature.Message(method, path, ts, nonce), sig))
        {
            return "wrong signature";
        }
        return Remember(ts, nonce);
    }

    /// <summary>As <see cref="Check"/> for a data-plane handshake (see <see cref="CallSignature.WriteHandshake"/>).</summary>
    public string? CheckHandshake(ReadOnlySpan<byte> handshake)
    {
        if (secret is null)
        {
            return null;
        }
        var ts = BitConverter.ToInt64(handshake[..8]);
        var nonce = CallSignature.Base64Url(handshake.Slice(8, CallSignature.NonceBytes));
        var sig = handshake.Slice(8 + CallSignature.NonceBytes, CallSignature.SignatureBytes);
        return secret.Verify(CallSignature.Message("DATA", "/tensors", ts, nonce), sig) ? Remember(ts, nonce) : "wrong signature";
    }

    private string? Remember(long timestampMs, string nonce)
    {
        var now = CallSignature.NowMs();
        var windowMs = (long)window.TotalMilliseconds;
        if (Math.Abs(now - timestampMs) > windowMs)
        {
            return $"timestamp {Math.Abs(now - timestampMs) / 1000.0:F1} s off, outside the {window.TotalSeconds:F0} s replay window (check clocks)";
        }
        Purge(now);
        if (_seen.Count >= MaxRemembered)
        {
            return "too many calls within the replay window";
        }
        return _seen.TryAdd(nonce, timestampMs + windowMs) ? null : "replayed nonce";
    }

    private void Purge(long now)
    {
        var next = Interlocked.Read(ref _nextPurgeMs);
        if (now < next || Interlocked.CompareExchange(ref _nextPurgeMs, now + 1000, next) != next)
        {
            return;
        }
        foreach (var (nonce, expiry) in _seen)
        {
            if (expiry < now)
            {
                _seen.TryRemove(nonce, out _);
            }
        }
    }
}
