namespace Graft.Fuse.Raw;

/// <summary>How to mount and serve one FUSE connection. Names follow the FUSE options users know.</summary>
public sealed record FuseMountOptions
{
    /// <summary>Shown as the mount's source in /proc/mounts.</summary>
    public string FsName { get; init; } = "graft";
    /// <summary>fstype becomes "fuse.&lt;Subtype&gt;".</summary>
    public string Subtype { get; init; } = "graft";
    public bool AllowOther { get; init; }
    /// <summary>Let the kernel check mode bits before asking us: a cheap first line of permission checks.</summary>
    public bool DefaultPermissions { get; init; }
    public bool ReadOnly { get; init; }
    /// <summary>Largest WRITE the kernel may send (bytes); also sizes the request buffers.</summary>
    public uint MaxWrite { get; init; } = 1024 * 1024;
    /// <summary>Largest READ; 0 leaves it to the kernel (max_pages pages).</summary>
    public uint MaxRead { get; init; }
    /// <summary>Pages per request (max_pages); 256 × 4 KiB = 1 MiB requests.</summary>
    public ushort MaxPages { get; init; } = 256;
    /// <summary>Dedicated reader threads, each on its own cloned /dev/fuse fd.</summary>
    public int Readers { get; init; } = 2;
    /// <summary>Written to /sys/class/bdi/0:N/read_ahead_kb once INIT is answered (INIT can only lower
    /// read-ahead); null leaves the kernel default (128 KiB).</summary>
    public int? ReadAheadKb { get; init; }
    /// <summary>Kernel queue depth for background requests (read-ahead, async direct I/O).</summary>
    public ushort MaxBackground { get; init; } = 64;
    /// <summary>Mount through fusermount3 even as root (otherwise used only when not root).</summary>
    public bool UseFusermount { get; init; }
    /// <summary>How long mounting waits for the kernel's INIT.</summary>
    public TimeSpan InitTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>How long an INTERRUPT for a request not yet seen is held before it is answered EAGAIN
    /// (the kernel then sends it again).</summary>
    public TimeSpan InterruptHold { get; init; } = TimeSpan.FromMilliseconds(20);
    /// <summary>How long a caller's supplementary groups read from /proc are reused.</summary>
    public TimeSpan GroupsCacheTime { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Bound on waiting for reader threads to end when the session is disposed.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>Log one line per request and per reply (at Information level): opcode, unique, nodeid, errno.</summary>
    public bool Debug { get; init; }
    /// <summary>Request buffers kept for reuse beyond those in flight.</summary>
    public int PooledBuffers { get; init; } = 16;
}
