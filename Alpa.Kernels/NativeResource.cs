namespace Alpa.Kernels;

/// <summary>
/// Base of everything that owns a native handle or native memory (devices, buffers, library
/// contexts): one dispose pattern, a finalizer as the safety net, and <see cref="ThrowIfDisposed"/>.
/// </summary>
public abstract class NativeResource : IDisposable
{
    private int _disposed;

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        ReleaseNative(disposing: true);
        GC.SuppressFinalize(this);
    }

    ~NativeResource()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) ReleaseNative(disposing: false);
    }

    /// <summary>Frees the native resource. <paramref name="disposing"/> is false on the finalizer thread.</summary>
    protected abstract void ReleaseNative(bool disposing);

    protected void ThrowIfDisposed()
    {
        if (IsDisposed) ThrowHelper.ObjectDisposed(GetType().Name);
    }
}
