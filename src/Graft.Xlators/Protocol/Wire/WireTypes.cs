using Graft.Core;

namespace Graft.Xlators.Protocol.Wire;

/// <summary>A <see cref="Loc"/> as it travels: GFIDs and a name, never inodes (those are per-graph).</summary>
public readonly record struct WireLoc(Gfid Gfid, Gfid ParentGfid, string? Name)
{
    public static WireLoc From(in Loc loc) => new(loc.Gfid, loc.ParentGfid, loc.Name);
}

/// <summary>Who called: the fields of <see cref="FopContext"/> the brick needs to check permissions and own locks.</summary>
public struct WireCaller
{
    /// <summary>More supplementary groups than Linux's NGROUPS_MAX is a malformed frame.</summary>
    public const int MaxGroups = 65536;
    public uint Uid, Gid;
    public uint[] Groups;
    public int Pid;
    public ulong LockOwner;
    /// <summary>The mount the call comes from: with <see cref="LockOwner"/>, who owns a lock (DESIGN invariant 9).</summary>
    public Guid MountId;

    public static WireCaller From(FopContext ctx) =>
        new() { Uid = ctx.Uid, Gid = ctx.Gid, Groups = ctx.Groups, Pid = ctx.Pid, LockOwner = ctx.LockOwner, MountId = ctx.MountId };
}

/// <summary>Encoders and decoders of the structures fops carry. Sizes are fixed so a reader can check them.</summary>
public static class WireStructs
{
    public static void Write(BodyWriter w, in WireLoc l) { w.Gfid(l.Gfid); w.Gfid(l.ParentGfid); w.String(l.Name); }

    public static WireLoc ReadLoc(ref BodyReader r)
    {
        var g = r.Gfid(); var p = r.Gfid(); var n = r.String();
        // A name must be one path component: a '/' or NUL in it, or "." / "..", could walk out of the brick.
        if (n is not null && (n.Length == 0 || n.Contains('/') || n.Contains('\0') || n is "." or "..")) r.Fail();
        if (n is null && g.IsZero) r.Fail();
        return new WireLoc(g, p, n);
    }

    public static void Write(BodyWriter w, in WireCaller c)
    {
        w.U32(c.Uid); w.U32(c.Gid);
        var groups = c.Groups ?? [];
        w.U32((uint)groups.Length);
        foreach (var g in groups) w.U32(g);
        w.I32(c.Pid); w.U64(c.LockOwner);
        Span<byte> m = stackalloc byte[16];
        c.MountId.TryWriteBytes(m);
        w.Raw(m);
    }

    /// <summary>Reads a caller, reusing <paramref name="groups"/> when the count matches (the steady state).</summary>
    public static WireCaller ReadCaller(ref BodyReader r, uint[]? groups = null)
    {
        var c = new WireCaller { Uid = r.U32(), Gid = r.U32() };
        uint n = r.U32();
        if (n > WireCaller.MaxGroups || n * 4 > (uint)r.Remaining) { r.Fail(); n = 0; }
        c.Groups = groups is not null && groups.Length == n ? groups : n == 0 ? [] : new uint[n];
        for (int i = 0; i < n; i++) c.Groups[i] = r.U32();
        c.Pid = r.I32(); c.LockOwner = r.U64();
        var m = r.Raw(16);
        c.MountId = r.Failed ? Guid.Empty : new Guid(m);
        return c;
    }

    public static void Write(BodyWriter w, in Iatt a)
    {
        w.Gfid(a.Gfid); w.U64(a.Ino); w.U32(a.Mode); w.U32(a.Nlink); w.U32(a.Uid); w.U32(a.Gid);
        w.U64(a.Rdev); w.I64(a.Size); w.I64(a.Blocks); w.I32(a.Blksize);
        w.Time(a.Atime); w.Time(a.Mtime); w.Time(a.Ctime);
    }

    public static Iatt ReadIatt(ref BodyReader r) => new()
    {
        Gfid = r.Gfid(), Ino = r.U64(), Mode = r.U32(), Nlink = r.U32(), Uid = r.U32(), Gid = r.U32(),
        Rdev = r.U64(), Size = r.I64(), Blocks = r.I64(), Blksize = r.I32(),
        Atime = r.Time(), Mtime = r.Time(), Ctime = r.Time(),
    };

    public static void Write(BodyWriter w, in SetAttr a)
    {
        w.U32((uint)a.Valid); w.U32(a.Mode); w.U32(a.Uid); w.U32(a.Gid); w.I64(a.Size);
        w.Time(a.Atime); w.Time(a.Mtime); w.Time(a.Ctime);
    }

    public static SetAttr ReadSetAttr(ref BodyReader r) => new()
    {
        Valid = (SetAttrValid)r.U32(), Mode = r.U32(), Uid = r.U32(), Gid = r.U32(), Size = r.I64(),
        Atime = r.Time(), Mtime = r.Time(), Ctime = r.Time(),
    };

    public static void Write(BodyWriter w, in FileLock l)
    {
        w.U16((ushort)l.Type); w.I64(l.Start); w.I64(l.Length); w.I32(l.Pid); w.U64(l.Owner); w.Bool(l.Flock);
    }

    public static FileLock ReadLock(ref BodyReader r)
    {
        var l = new FileLock { Type = (LockType)r.U16(), Start = r.I64(), Length = r.I64(), Pid = r.I32(), Owner = r.U64(), Flock = r.Bool() };
        if (l.Type is not (LockType.Read or LockType.Write or LockType.Unlock)) r.Fail();
        return l;
    }

    public static void Write(BodyWriter w, in StatVfs v)
    {
        w.U64(v.Blocks); w.U64(v.Bfree); w.U64(v.Bavail); w.U64(v.Files); w.U64(v.Ffree);
        w.U32(v.Bsize); w.U32(v.Frsize); w.U32(v.NameMax);
    }

    public static StatVfs ReadStatVfs(ref BodyReader r) => new()
    {
        Blocks = r.U64(), Bfree = r.U64(), Bavail = r.U64(), Files = r.U64(), Ffree = r.U64(),
        Bsize = r.U32(), Frsize = r.U32(), NameMax = r.U32(),
    };

    public static void Write(BodyWriter w, IReadOnlyList<DirEntry> entries)
    {
        w.U32((uint)entries.Count);
        foreach (var e in entries)
        {
            w.String(e.Name); w.Gfid(e.Gfid); w.U64(e.Ino); w.U32(e.Type); w.I64(e.NextOffset);
            w.Bool(e.Iatt.HasValue);
            if (e.Iatt is { } a) Write(w, a);
        }
    }

    /// <summary>Smallest encoded entry, used to bound the count before allocating.</summary>
    private const int MinEntrySize = 4 + 16 + 8 + 4 + 8 + 1;

    public static IReadOnlyList<DirEntry> ReadEntries(ref BodyReader r)
    {
        uint n = r.U32();
        if ((ulong)n * MinEntrySize > (ulong)r.Remaining) { r.Fail(); return []; }
        var list = new List<DirEntry>((int)n);
        for (int i = 0; i < n && !r.Failed; i++)
        {
            var name = r.RequiredString(); var g = r.Gfid(); var ino = r.U64(); var type = r.U32(); var next = r.I64();
            Iatt? iatt = r.Bool() ? ReadIatt(ref r) : null;
            list.Add(new DirEntry { Name = name, Gfid = g, Ino = ino, Type = type, NextOffset = next, Iatt = iatt });
        }
        return list;
    }

    public static void Write(BodyWriter w, Xdata x)
    {
        w.U32((uint)x.Count);
        foreach (var (k, v) in x.Entries) { w.String(k); w.Bytes(v); }
    }

    /// <summary>Reply xdata key of create and unlink: the parent directory's attributes after the fop (<see cref="FopContext.PostParent"/>).</summary>
    public const string PostParentKey = "postparent";

    /// <summary>Reply xdata carrying <paramref name="postParent"/>, or null when there is none.</summary>
    public static Xdata? PostParentXdata(Iatt? postParent)
    {
        if (postParent is not { } a) return null;
        var w = t_iattWriter ??= new BodyWriter(128);
        w.Reset();
        Write(w, a);
        var x = new Xdata();
        x.Set(PostParentKey, w.Written.ToArray());
        return x;
    }

    [ThreadStatic] private static BodyWriter? t_iattWriter;

    /// <summary>The parent's attributes a reply's xdata carries (null when absent or malformed: the cache then asks the brick).</summary>
    public static Iatt? PostParent(Xdata? x)
    {
        if (x is null || !x.TryGet(PostParentKey, out var v)) return null;
        var r = new BodyReader(v);
        var a = ReadIatt(ref r);
        return r.Failed ? null : a;
    }

    /// <summary>At most this many xdata entries and bytes per value: xdata is for small peer-to-peer hints.</summary>
    public const int MaxXdataEntries = 256, MaxXdataValue = 64 << 10;

    public static Xdata ReadXdata(ref BodyReader r)
    {
        var x = new Xdata();
        uint n = r.U32();
        if (n > MaxXdataEntries) { r.Fail(); return x; }
        for (int i = 0; i < n && !r.Failed; i++)
        {
            var k = r.RequiredString();
            var v = r.Bytes(MaxXdataValue);
            if (!r.Failed) x.Set(k, v.ToArray());
        }
        return x;
    }

    public static void Write(BodyWriter w, string[] names)
    {
        w.U32((uint)names.Length);
        foreach (var n in names) w.String(n);
    }

    public static string[] ReadNames(ref BodyReader r)
    {
        uint n = r.U32();
        if ((ulong)n * 4 > (ulong)r.Remaining) { r.Fail(); return []; }
        var a = new string[n];
        for (int i = 0; i < n; i++) a[i] = r.RequiredString();
        return a;
    }
}
