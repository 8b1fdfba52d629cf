using System.Security.Cryptography;
using System.Text;
using Alpa.Planner;

namespace Alpa.Client.Transport;

/// <summary>
/// The shared cluster secret. Every grain call and every data-plane stream proves knowledge of it
/// with an HMAC-SHA256 over the call's method, path, timestamp and nonce (<see cref="CallSignature"/>).
/// Sources, first found wins: <c>--secret-file FILE</c>, <c>ALPA_SECRET_FILE</c> (a file path),
/// <c>ALPA_SECRET</c> (the secret itself). File contents are trimmed of surrounding whitespace.
/// </summary>
public sealed class ClusterSecret
{
    /// <summary>Shortest accepted secret, in bytes of UTF-8.</summary>
    public const int MinimumLength = 16;

    private readonly byte[] _key;

    private ClusterSecret(byte[] key) => _key = key;

    /// <summary>Builds a secret from its text; throws <see cref="SecretException"/> when it is too short.</summary>
    public static ClusterSecret FromText(string text)
    {
        var key = Encoding.UTF8.GetBytes(text.Trim());
        if (key.Length < MinimumLength)
        {
            throw new SecretException(
                $"the cluster secret has {key.Length} bytes; use at least {MinimumLength} (e.g. `head -c 32 /dev/urandom | base64 > secret`)");
        }
        return new ClusterSecret(key);
    }

    /// <summary>Reads a secret file; throws <see cref="SecretException"/> naming the file when it cannot.</summary>
    public static ClusterSecret FromFile(string path)
    {
        try
        {
            return FromText(File.ReadAllText(path));
        }
        catch (IOException e)
        {
            throw new SecretException($"cannot read the secret file '{path}': {e.Message}", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new SecretException($"cannot read the secret file '{path}': {e.Message}", e);
        }
    }

    /// <summary>
    /// The secret from <paramref name="secretFile"/>, else <c>ALPA_SECRET_FILE</c>, else
    /// <c>ALPA_SECRET</c>; null when none is set.
    /// </summary>
    public static ClusterSecret? Resolve(string? secretFile)
    {
        if (!string.IsNullOrEmpty(secretFile))
        {
            return FromFile(secretFile);
        }
        var envFile = Environment.GetEnvironmentVariable("ALPA_SECRET_FILE");
        if (!string.IsNullOrEmpty(envFile))
        {
            return FromFile(envFile);
        }
        var envSecret = Environment.GetEnvironmentVariable("ALPA_SECRET");
        return string.IsNullOrEmpty(envSecret) ? null : FromText(envSecret);
    }

    /// <summary>HMAC-SHA256 of <paramref name="message"/> under the secret.</summary>
    public byte[] Sign(ReadOnlySpan<byte> message) => HMACSHA256.HashData(_key, message);

    /// <summary>Constant-time check of a signature.</summary>
    public bool Verify(ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        Span<byte> expected = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(_key, message, expected);
        return CryptographicOperations.FixedTimeEquals(expected, signature);
    }
}

/// <summary>The cluster secret is missing, unreadable or too weak.</summary>
public sealed class SecretException : AlpaException
{
    public SecretException(string message) : base(message) { }
    public SecretException(string message, Exception inner) : base(message, inner) { }
}
