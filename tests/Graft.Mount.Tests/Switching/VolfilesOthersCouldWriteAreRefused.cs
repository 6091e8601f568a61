using System.Runtime.InteropServices;
using System.Threading.Channels;
using Graft.Mount.Switching;

namespace Graft.Mount.Tests.Switching;

/// <summary>A test that changes owners: needs root. Skipped only when not root and CI is unset.</summary>
internal sealed partial class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (geteuid() != 0 && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI"))) Skip = "needs root to change owners (runs in CI)";
    }

    [LibraryImport("libc")] private static partial uint geteuid();
}

/// <summary>
/// A volfile decides what a mount serves, and the daemon follows every change of it: it is read only if
/// nobody but root (or the daemon's own user) could have written it — the file, and every directory on the way
/// to it, since a directory others may write lets them swap the file by a rename. A sticky directory such as
/// /tmp is fine for entries root owns. Anything else is refused with a reason that says what to fix.
/// </summary>
public sealed partial class VolfilesOthersCouldWriteAreRefused : IDisposable
{
    const int Other = 4242;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "graft-tests-" + Environment.ProcessId, "trust-" + Guid.NewGuid().ToString("N")[..8]);

    public VolfilesOthersCouldWriteAreRefused()
    {
        Directory.CreateDirectory(_dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
    }

    string Write(string name, string text = "volume a\nend-volume\n", int mode = 0x1A4)
    {
        var p = Path.Combine(_dir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        File.WriteAllText(p, text);
        File.SetUnixFileMode(p, (UnixFileMode)mode);
        return p;
    }

    static string? Refusal(string path)
    {
        TrustedVolfile.TryRead(path, out _, out var why);
        return why;
    }

    static void Chmod(string p, int mode) => File.SetUnixFileMode(p, (UnixFileMode)mode);

    [RootFact]
    public void A_file_only_its_owner_may_write_in_such_directories_is_read()
    {
        var p = Write("ok.vol", "volume x\nend-volume\n");
        Assert.True(TrustedVolfile.TryRead(p, out var text, out var why), why);
        Assert.Equal("volume x\nend-volume\n", text);
    }

    [RootFact]
    public void A_file_its_group_or_others_may_write_is_refused()
    {
        Assert.Contains("writable by group and others (mode 0666)", Refusal(Write("a.vol", mode: 0x1B6)));
        Assert.Contains("writable by its group (mode 0664)", Refusal(Write("b.vol", mode: 0x1B4)));
        Assert.Contains("writable by others (mode 0646)", Refusal(Write("c.vol", mode: 0x1A6)));
    }

    [RootFact]
    public void A_file_owned_by_another_user_is_refused()
    {
        var p = Write("theirs.vol");
        File.SetUnixFileMode(p, (UnixFileMode)0x1A4);
        Assert.Equal(0, Chown(p, Other, Other));
        Assert.Contains($"owned by uid {Other}", Refusal(p));
    }

    [RootFact]
    public void A_file_in_a_directory_others_may_write_is_refused_unless_the_directory_is_sticky()
    {
        var p = Write("open/x.vol");
        Chmod(Path.GetDirectoryName(p)!, 0x1FF); // 0777: anyone could rename another file over x.vol
        Assert.Contains("the directory " + Path.GetDirectoryName(p) + " is writable by group and others (mode 0777)", Refusal(p));
        Chmod(Path.GetDirectoryName(p)!, 0x3FF); // 1777, like /tmp: only x.vol's owner (root) may rename or remove it
        Assert.Null(Refusal(p));
    }

    [RootFact]
    public void A_directory_owned_by_another_user_is_refused_even_far_up()
    {
        var p = Write("mine/deeper/x.vol");
        Assert.Equal(0, Chown(Path.Combine(_dir, "mine"), Other, Other));
        Assert.Contains($"the directory {Path.Combine(_dir, "mine")} is owned by uid {Other}", Refusal(p));
    }

    [RootFact]
    public void A_symlink_is_followed_and_where_it_leads_is_checked_too()
    {
        var target = Write("open/real.vol");
        Chmod(Path.GetDirectoryName(target)!, 0x1FF);
        var link = Path.Combine(_dir, "link.vol");
        File.CreateSymbolicLink(link, target);
        Assert.Contains("is writable by group and others", Refusal(link));
        Chmod(Path.GetDirectoryName(target)!, 0x1ED);
        Assert.True(TrustedVolfile.TryRead(link, out var text, out _));
        Assert.Equal("volume a\nend-volume\n", text);

        // A symlink someone else owns, in a sticky directory: its owner could point it anywhere.
        var sticky = Path.Combine(_dir, "sticky");
        Directory.CreateDirectory(sticky);
        Chmod(sticky, 0x3FF);
        var theirs = Path.Combine(sticky, "theirs.vol");
        File.CreateSymbolicLink(theirs, target);
        Assert.Equal(0, Lchown(theirs, Other, Other));
        Assert.Contains($"owned by uid {Other}", Refusal(theirs));
    }

    [Fact]
    public void A_missing_file_is_a_read_error_not_a_refusal()
    {
        Assert.Throws<FileNotFoundException>(() => TrustedVolfile.TryRead(Path.Combine(_dir, "none.vol"), out _, out _));
    }

    [RootFact]
    public async Task The_watcher_reports_a_refusal_instead_of_the_content_and_offers_it_once_the_file_is_safe()
    {
        var p = Write("w.vol", "v1");
        var seen = Channel.CreateUnbounded<string>();
        using var w = new VolfileWatcher(p, "v1", t => { seen.Writer.TryWrite("applied " + t); return Task.CompletedTask; });
        w.Refused += why => seen.Writer.TryWrite("refused " + why);
        async Task<string> Next() => await seen.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        File.WriteAllText(p, "v2");
        Chmod(p, 0x1B6);
        string e;
        while (!(e = await Next()).StartsWith("refused", StringComparison.Ordinal)) Assert.NotEqual("applied v2", e); // never applied while 0666
        Assert.Contains("writable by group and others", e);
        Chmod(p, 0x1A4); // the chmod alone is an event: the content is read again and now applied
        while ((e = await Next()) != "applied v2") Assert.StartsWith("refused", e);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)] private static partial int chown(string path, int uid, int gid);
    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)] private static partial int lchown(string path, int uid, int gid);
    static int Chown(string p, int uid, int gid) => chown(p, uid, gid);
    static int Lchown(string p, int uid, int gid) => lchown(p, uid, gid);
}
