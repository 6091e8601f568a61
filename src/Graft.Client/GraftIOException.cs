using Graft.Core;

namespace Graft.Client;

/// <summary>
/// A fop on the volume failed. <see cref="Errno"/> is the errno the graph returned, so callers
/// can tell ENOENT from EACCES from ENOTCONN without parsing messages.
/// </summary>
public class GraftIOException : IOException
{
    public GraftIOException(Errno errno, string operation, string? path)
        : base(path is null ? $"{operation}: {errno.Name()}" : $"{operation} '{path}': {errno.Name()}")
    {
        Errno = errno;
        Operation = operation;
        Path = path;
        HResult = (int)errno;
    }

    public Errno Errno { get; }
    public string Operation { get; }
    public string? Path { get; }

    /// <summary>The exception for <paramref name="errno"/>; ENOENT gives the not-found subclass.</summary>
    public static GraftIOException For(Errno errno, string operation, string? path) =>
        errno == Errno.ENOENT ? new GraftNotFoundException(operation, path) : new GraftIOException(errno, operation, path);
}

/// <summary>ENOENT: the path (or a directory on it) does not exist.</summary>
public sealed class GraftNotFoundException : GraftIOException
{
    public GraftNotFoundException(string operation, string? path) : base(Errno.ENOENT, operation, path) { }
}

// Throw sites kept out of the methods that call them, so those stay small enough to inline.
internal static class ThrowHelper
{
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public static void Throw(Errno errno, string operation, string? path) => throw GraftIOException.For(errno, operation, path);

    public static T Check<T>(in Result<T> r, string operation, string? path)
    {
        if (!r.Ok) Throw(r.Error, operation, path);
        return r.Value;
    }

    public static void Check(Errno e, string operation, string? path)
    {
        if (e != Errno.OK) Throw(e, operation, path);
    }
}
