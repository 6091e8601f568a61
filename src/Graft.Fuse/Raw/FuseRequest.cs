using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Graft.Core;

namespace Graft.Fuse.Raw;

/// <summary>
/// One kernel request and the context a handler needs to answer it: who asked (uid, gid, pid, groups),
/// which node, a token that INTERRUPT cancels, and the reply helpers (FuseRequest.Reply.cs).
/// Pooled: the object and its buffer belong to the request only until the handler's task completes;
/// names and write payloads handed to the handler point into that buffer and are valid until then.
/// Exactly one reply per request (none for FORGET, BATCH_FORGET and INTERRUPT).
/// </summary>
public sealed unsafe partial class FuseRequest
{
    /// <summary>Offset of the reply data area in the buffer. Requests that reply with data (READ,
    /// READDIR, GETXATTR, LISTXATTR, READLINK) carry at most a header, 40 bytes of args and one name
    /// (≤ 4 KiB), so the area after this offset never overlaps the input still being read.</summary>
    internal const int DataOffset = 4096;

    readonly FuseSession _session;
    readonly byte* _buffer;
    readonly int _capacity;
    readonly NativeMemoryManager _memory;
    readonly byte* _scratch; // out_header + fixed-size reply body
    readonly Action _onHandlerCompleted;
    CancellationTokenSource _cts = new();
    ValueTask _pending;
    int _replied;
    internal bool Interrupted; // guarded by the session's in-flight lock
    internal int Fd;
    internal int Length;
    uint _createSuppGroup;
    bool _hasCreateSuppGroup;
    uint _xattrSize;

    internal FuseRequest(FuseSession session, int capacity)
    {
        _session = session;
        _capacity = capacity;
        _buffer = (byte*)NativeMemory.AlignedAlloc((nuint)capacity, 4096);
        _memory = new NativeMemoryManager(_buffer, capacity);
        _scratch = (byte*)NativeMemory.AlignedAlloc(ScratchSize, 64);
        _onHandlerCompleted = OnHandlerCompleted;
    }

    internal byte* Buffer => _buffer;
    internal int Capacity => _capacity;

    internal ref FuseInHeader Header => ref Unsafe.AsRef<FuseInHeader>(_buffer);
    public ulong Unique => Header.Unique;
    public FuseOpcode Opcode => (FuseOpcode)Header.Opcode;
    /// <summary>The node the request is about (the parent directory for name operations).</summary>
    public ulong NodeId => Header.NodeId;
    public uint Uid => Header.Uid;
    public uint Gid => Header.Gid;
    /// <summary>Caller's thread group id; 0 when the caller is outside the mount daemon's pid namespace.</summary>
    public uint Pid => Header.Pid;
    /// <summary>Cancelled when the kernel INTERRUPTs this request. The handler decides whether it can still
    /// stop (only a wait that has changed nothing yet should); if it stops, it replies EINTR.</summary>
    public CancellationToken CancellationToken => _cts.Token;
    public FuseConnectionInfo Connection => _session.Connection;
    /// <summary>The connection the request came on: notifications to the kernel go through it.</summary>
    public FuseSession Session => _session;

    /// <summary>A slot a filesystem may use to cache per-request-object state (the bridge keeps its
    /// reusable fop context here). It stays with the pooled object across requests, so the hot path can
    /// reuse it instead of allocating; the raw layer never looks at it.</summary>
    public object? UserState { get; set; }

    /// <summary>For CREATE/MKDIR/MKNOD/SYMLINK with CREATE_SUPP_GROUP: the parent directory's group,
    /// sent because the caller is a member of it although it is not the caller's fsgid.</summary>
    public bool TryGetCreateSuppGroup(out uint gid)
    {
        gid = _createSuppGroup;
        return _hasCreateSuppGroup;
    }

    /// <summary>The caller's supplementary groups (from /proc/&lt;pid&gt;/status, cached briefly).
    /// Read lazily, so requests that do not check permissions pay nothing. Do not modify the array.</summary>
    public uint[] GetSupplementaryGroups() => _session.Groups.Get(Pid);

    internal ReadOnlySpan<byte> Payload => new(_buffer + sizeof(FuseInHeader), ArgsLength);
    internal int ArgsLength { get; private set; }

    /// <summary>A slice of the request buffer as memory (valid until the handler's task completes).</summary>
    internal ReadOnlyMemory<byte> MemoryAt(int offset, int length) => _memory.Memory.Slice(offset, length);

    /// <summary>Prepares the object for a request just read into the buffer. Returns false when malformed.</summary>
    internal bool Begin(int fd, int length, bool extensionsValid)
    {
        Fd = fd;
        Length = length;
        _replied = 0;
        _hasCreateSuppGroup = false;
        _xattrSize = 0;
        if (length < sizeof(FuseInHeader) || Header.Len != (uint)length) return false;
        int ext = extensionsValid ? Header.TotalExtLen * 8 : 0;
        ArgsLength = length - sizeof(FuseInHeader) - ext;
        if (ArgsLength < 0) return false;
        if (ext > 0) ParseExtensions(new ReadOnlySpan<byte>(_buffer + length - ext, ext));
        return true;
    }

    void ParseExtensions(ReadOnlySpan<byte> ext)
    {
        while (ext.Length >= sizeof(FuseExtHeader))
        {
            var h = MemoryMarshal.Read<FuseExtHeader>(ext);
            if (h.Size < sizeof(FuseExtHeader) || h.Size > ext.Length) return;
            // Types 0..31 are security contexts (not negotiated); 32 is the supplementary group.
            if (h.Type == FuseConst.ExtGroups && h.Size >= sizeof(FuseExtHeader) + 8)
            {
                uint count = MemoryMarshal.Read<uint>(ext[sizeof(FuseExtHeader)..]);
                if (count >= 1)
                {
                    _createSuppGroup = MemoryMarshal.Read<uint>(ext[(sizeof(FuseExtHeader) + 4)..]);
                    _hasCreateSuppGroup = true;
                }
            }
            ext = ext[(int)h.Size..];
        }
    }

    /// <summary>Runs the handler's task to completion, then makes sure there was exactly one reply
    /// and gives the object back to the pool. Allocates nothing when the task completes synchronously.</summary>
    internal void Track(ValueTask handlerTask)
    {
        if (handlerTask.IsCompleted)
        {
            Exception? error = null;
            try { handlerTask.GetAwaiter().GetResult(); }
            catch (Exception e) { error = e; }
            Finish(error);
            return;
        }
        _pending = handlerTask;
        handlerTask.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onHandlerCompleted);
    }

    void OnHandlerCompleted()
    {
        var task = _pending;
        _pending = default;
        Exception? error = null;
#pragma warning disable VSTHRD002 // the handler has completed: this only takes its result or exception
        try { task.GetAwaiter().GetResult(); }
#pragma warning restore VSTHRD002
        catch (Exception e) { error = e; }
        Finish(error);
    }

    internal void Finish(Exception? error)
    {
        if (Volatile.Read(ref _replied) == 0)
        {
            _session.ReportMissingReply(this, error);
            ReplyError(Errno.EIO);
        }
        else if (error is not null)
        {
            _session.ReportMissingReply(this, error);
        }
        _session.HandlerDone(this);
        _session.Release(this);
    }

    /// <summary>Called when the request leaves the in-flight table. A token that an INTERRUPT may have
    /// cancelled (or may still cancel, from the thread pool) is never handed to a later request; otherwise the
    /// source is reset, which also drops registrations a handler left behind.</summary>
    internal void ResetToken()
    {
        if (Interrupted || !_cts.TryReset())
        {
            Interrupted = false;
            _cts = new CancellationTokenSource();
        }
    }

    internal CancellationTokenSource CancellationSource => _cts;

    internal void MarkNoReply() => _replied = 1;

    /// <summary>A reply was written (or the request takes none).</summary>
    internal bool Replied => Volatile.Read(ref _replied) != 0;

    internal void Free()
    {
        NativeMemory.AlignedFree(_buffer);
        NativeMemory.AlignedFree(_scratch);
        _cts.Dispose();
    }

    sealed class NativeMemoryManager(byte* pointer, int length) : MemoryManager<byte>
    {
        public override Span<byte> GetSpan() => new(pointer, length);
        public override MemoryHandle Pin(int elementIndex = 0) => new(pointer + elementIndex);
        public override void Unpin() { }
        protected override void Dispose(bool disposing) { }
    }
}
