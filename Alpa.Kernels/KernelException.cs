using System.Diagnostics.CodeAnalysis;

namespace Alpa.Kernels;

/// <summary>A kernel was called with arguments it cannot work on (bad shapes, ids out of range).</summary>
public class KernelException : Exception
{
    public KernelException(string message) : base(message) { }
    public KernelException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A native library (OpenBLAS, CUDA) could not be loaded or lacks a symbol; the message says what to install.</summary>
public sealed class NativeLibraryException : KernelException
{
    public NativeLibraryException(string message) : base(message) { }
    public NativeLibraryException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Throw paths kept out of hot methods so that those stay small and inlinable.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void Kernel(string message) => throw new KernelException(message);

    [DoesNotReturn]
    public static void ObjectDisposed(string name) => throw new ObjectDisposedException(name);

    /// <summary>Checks that a span holds at least <paramref name="needed"/> elements.</summary>
    public static void CheckLength(int length, long needed, string what)
    {
        if (length < needed) Kernel($"{what} holds {length} elements, the kernel needs {needed}");
    }
}
