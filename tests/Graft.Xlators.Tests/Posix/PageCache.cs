using System.Runtime.InteropServices;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// Which pages of a file are in the page cache, from mincore(2) on a read-only shared mapping of it (mapping a file
/// reads nothing; mincore reports the file's cached pages whoever brought them in).
/// </summary>
internal static unsafe partial class PageCache
{
    public const int PageSize = 4096;

    /// <summary>Per page of [0, length) of the file at <paramref name="path"/>: whether it is in the page cache.</summary>
    public static bool[] Resident(string path, long length)
    {
        var pages = new bool[(length + PageSize - 1) / PageSize];
        if (length == 0) return pages;
        int fd;
        fixed (byte* p = System.Text.Encoding.UTF8.GetBytes(path + "\0")) fd = open(p, 0 /* O_RDONLY */, 0);
        Assert.True(fd >= 0, $"open {path}: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            void* map = mmap(null, (nuint)length, 1 /* PROT_READ */, 1 /* MAP_SHARED */, fd, 0);
            Assert.True(map != (void*)-1, $"mmap {path}: errno {Marshal.GetLastPInvokeError()}");
            try
            {
                var vec = new byte[pages.Length];
                fixed (byte* v = vec) Assert.True(mincore(map, (nuint)length, v) == 0, $"mincore: errno {Marshal.GetLastPInvokeError()}");
                for (int i = 0; i < vec.Length; i++) pages[i] = (vec[i] & 1) != 0;
            }
            finally { munmap(map, (nuint)length); }
        }
        finally { close(fd); }
        return pages;
    }

    /// <summary>How many pages of [from, to) (page-aligned offsets) are cached.</summary>
    public static int Count(bool[] resident, long from, long to)
    {
        int n = 0;
        for (long i = from / PageSize; i < to / PageSize && i < resident.Length; i++) if (resident[i]) n++;
        return n;
    }

    [LibraryImport("libc", SetLastError = true)] private static partial int open(byte* path, int flags, int mode);
    [LibraryImport("libc", SetLastError = true)] private static partial int close(int fd);
    [LibraryImport("libc", SetLastError = true)] private static partial void* mmap(void* addr, nuint length, int prot, int flags, int fd, long offset);
    [LibraryImport("libc", SetLastError = true)] private static partial int munmap(void* addr, nuint length);
    [LibraryImport("libc", SetLastError = true)] private static partial int mincore(void* addr, nuint length, byte* vec);
}
