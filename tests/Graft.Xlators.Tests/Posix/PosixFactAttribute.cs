namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// A brick test: needs root (trusted.* xattrs, per-thread credentials). Skipped only when not
/// root and CI is unset; under CI it always runs (and fails loudly if not root).
/// </summary>
public sealed class PosixFactAttribute : FactAttribute
{
    public PosixFactAttribute()
    {
        if (PosixRequirement.SkipReason is { } reason) Skip = reason;
    }
}

/// <inheritdoc cref="PosixFactAttribute"/>
public sealed class PosixTheoryAttribute : TheoryAttribute
{
    public PosixTheoryAttribute()
    {
        if (PosixRequirement.SkipReason is { } reason) Skip = reason;
    }
}

internal static partial class PosixRequirement
{
    [System.Runtime.InteropServices.LibraryImport("libc")]
    private static partial uint geteuid();

    public static string? SkipReason =>
        geteuid() != 0 && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI")) ? "storage/posix tests need root" : null;
}
