using System.Runtime.InteropServices;

namespace Graft.Xlators.Protocol.Server;

/// <summary>
/// File descriptors the accept loop holds back for the rest of the process. A .NET process with no
/// descriptor free cannot be trusted to live: a thread the runtime starts, a library it loads lazily,
/// the resource string of an exception's message may each need one, and the runtime answers their
/// failure by printing "Out of memory." and exiting (dotnet/runtime#55964). So the loop accepts only
/// while it holds its whole reserve and more descriptors than that are free; short of that it hands
/// the reserve back to the process and pauses, and takes it again before its next accept.
/// </summary>
/// <remarks>
/// The reserve is eventfds: they need no path and cost the kernel next to nothing. Whether more are
/// free is probed by taking and closing them: a few syscalls per accepted connection.
/// </remarks>
internal sealed partial class DescriptorReserve(int size) : IDisposable
{
    private const int EFD_CLOEXEC = 0x80000;
    private readonly int[] _fds = new int[size];
    private readonly Lock _lock = new();
    private int _held;

    /// <summary>Descriptors the reserve holds when whole.</summary>
    public int Size => _fds.Length;

    /// <summary>
    /// Takes the whole reserve if it is not held, then checks that <paramref name="spare"/> more
    /// descriptors are free. True: the reserve is held and the spare exist. False: the process is
    /// short, and the reserve has been given back to it.
    /// </summary>
    public bool TryEnsure(int spare)
    {
        lock (_lock)
        {
            while (_held < _fds.Length)
            {
                int fd = eventfd(0, EFD_CLOEXEC);
                if (fd < 0) { ReleaseHeld(); return false; }
                _fds[_held++] = fd;
            }
            Span<int> probes = stackalloc int[spare];
            int n = 0;
            while (n < spare && (probes[n] = eventfd(0, EFD_CLOEXEC)) >= 0) n++;
            for (int i = 0; i < n; i++) close(probes[i]);
            if (n == spare) return true;
            ReleaseHeld();
            return false;
        }
    }

    /// <summary>Gives the reserve back to the process (for as long as it is short).</summary>
    public void Release()
    {
        lock (_lock) ReleaseHeld();
    }

    public void Dispose() => Release();

    private void ReleaseHeld()
    {
        while (_held > 0) close(_fds[--_held]);
    }

    [LibraryImport("libc", SetLastError = true)] private static partial int eventfd(uint initval, int flags);
    [LibraryImport("libc", SetLastError = true)] private static partial int close(int fd);
}
