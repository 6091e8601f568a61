using System.Runtime.CompilerServices;

namespace Graft.Core;

/// <summary>
/// The outcome of a fop: an errno or a value. A struct, so a synchronously completed
/// <c>ValueTask&lt;Result&lt;T&gt;&gt;</c> allocates nothing.
/// </summary>
public readonly struct Result<T>
{
    public readonly Errno Error;
    public readonly T Value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Result(T value) { Error = Errno.OK; Value = value; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Result(Errno error) { Error = error; Value = default!; }

    public bool Ok => Error == Errno.OK;

    public static implicit operator Result<T>(T value) => new(value);
    public static implicit operator Result<T>(Errno error) => new(error);

    public override string ToString() => Ok ? $"OK({Value})" : Error.Name();
}
