using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Transport;

/// <summary>
/// The memory a plaintext receive pipe is built of when its owner keeps big frames' bodies where they arrived
/// (<see cref="FrameConnection"/>'s <c>keepBigBodies</c>: the brick, whose 1 MiB writes were copied once more out
/// of the pipe before their pwrite). Each buffer is reference counted: the pipe holds one reference until it has
/// been read past the buffer, and whoever serves a request whose body lies in it takes another
/// (<see cref="ReceiveBuffer.TryHold"/>) and gives it back once the request is answered; only then does the buffer
/// return here. Two sizes: a receive chunk for small frames, and one that holds the largest frame whole with room
/// behind it. The arrays live on the pinned heap, so a pin costs nothing; a few of each size are kept for reuse,
/// so a steady stream of requests allocates nothing.
/// </summary>
internal sealed class ReceiveBufferPool : MemoryPool<byte>
{
    public static readonly ReceiveBufferPool Process = new();

    public const int SmallSize = 64 << 10;
    /// <summary>The largest frame (header and body) and a receive chunk's room behind it.</summary>
    public const int BigSize = FrameHeader.Size + FrameHeader.MaxBody + SmallSize;
    /// <summary>Free buffers kept for reuse (about 4 MiB of small and 18 MiB of big ones at most, for the whole process).</summary>
    private const int KeepSmall = 64, KeepBig = 16;

    private readonly Stack<ReceiveBuffer> _small = new(), _big = new();   // each guarded by itself

    public override int MaxBufferSize => BigSize;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        if (minBufferSize > BigSize) throw new ArgumentOutOfRangeException(nameof(minBufferSize), minBufferSize, $"at most {BigSize} bytes");
        bool big = minBufferSize > SmallSize;
        var free = big ? _big : _small;
        ReceiveBuffer? b;
        lock (free) free.TryPop(out b);
        b ??= new ReceiveBuffer(this, big ? BigSize : SmallSize);
        b.Lease();
        return b;
    }

    internal void Return(ReceiveBuffer b)
    {
        var free = b.Length > SmallSize ? _big : _small;
        lock (free) if (free.Count < (b.Length > SmallSize ? KeepBig : KeepSmall)) free.Push(b);
    }

    protected override void Dispose(bool disposing) { }
}

/// <summary>One reference-counted receive buffer (see <see cref="ReceiveBufferPool"/>).</summary>
internal sealed class ReceiveBuffer : MemoryManager<byte>
{
    private readonly ReceiveBufferPool _pool;
    private readonly byte[] _array;
    private int _refs;

    public ReceiveBuffer(ReceiveBufferPool pool, int size)
    {
        _pool = pool;
        _array = GC.AllocateUninitializedArray<byte>(size, pinned: true);
    }

    public int Length => _array.Length;

    /// <summary>Handed out by the pool: the pipe's reference.</summary>
    internal void Lease()
    {
        if (Interlocked.Exchange(ref _refs, 1) != 0) throw new InvalidOperationException("a receive buffer was rented while still referenced");
    }

    /// <summary>
    /// A reference on the buffer <paramref name="memory"/> lies in, when it is one of these: the caller must
    /// <see cref="Release"/> it. Null for any other memory.
    /// </summary>
    public static ReceiveBuffer? TryHold(ReadOnlyMemory<byte> memory)
    {
        if (!MemoryMarshal.TryGetMemoryManager(memory, out ReceiveBuffer? b)) return null;
        b.AddRef();
        return b;
    }

    public void AddRef()
    {
        if (Interlocked.Increment(ref _refs) <= 1) throw new InvalidOperationException("a receive buffer was referenced after it went back to its pool");
    }

    public void Release()
    {
        int left = Interlocked.Decrement(ref _refs);
        if (left == 0) _pool.Return(this);
        else if (left < 0) throw new InvalidOperationException("a receive buffer was released once too often");
    }

    public override Span<byte> GetSpan() => _array;

    // On the pinned heap: the address never changes.
    public override unsafe MemoryHandle Pin(int elementIndex = 0) =>
        new(Unsafe.AsPointer(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_array), elementIndex)));

    public override void Unpin() { }

    /// <summary>The pipe is done with its segment: its reference goes.</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing) Release();
    }
}
