using System.Text.Json;
using Graft.Mount.Control;

namespace Graft.EndToEnd.Tests.Mounting;

/// <summary>
/// The mount daemon follows its volfile, and a volfile says which bricks the mount serves: one that someone other
/// than root (or the daemon's user) could have written — the file itself, or a directory on the way to it — is
/// refused like a broken one. A running mount keeps its graph and says why in `graft state`'s lastVolfileError; a
/// new mount does not start and says why.
/// </summary>
public class VolfilesOthersCouldWriteAreNotFollowed
{
    static JsonElement State(MountedVolume v)
    {
        using var doc = JsonDocument.Parse(ControlClient.Send(ControlClient.SocketPathFor(v.Mnt), "state", TimeSpan.FromSeconds(5)));
        return doc.RootElement.Clone();
    }

    static string? Error(MountedVolume v) =>
        State(v).GetProperty("lastVolfileError") is { ValueKind: JsonValueKind.Object } e ? e.GetProperty("message").GetString() : null;

    [MountFact]
    public async Task An_edit_others_could_have_made_is_refused_until_the_file_is_safe_again()
    {
        await using var v = await MountedVolume.UpAsync("volfile-trust");
        var vol = Directory.GetFiles(Path.Combine(v.Home, "var", "run"), "*.vol").Single();
        var top = (await File.ReadAllLinesAsync(vol)).Last(l => l.StartsWith("volume ", StringComparison.Ordinal))["volume ".Length..];

        // World-writable, then a new graph written into it: neither the mode change nor the content is followed.
        File.SetUnixFileMode(vol, (UnixFileMode)0x1B6);
        await File.AppendAllTextAsync(vol, $"\nvolume wb\n    type performance/write-behind\n    subvolumes {top}\nend-volume\n");
        await Proc.Until(() => Error(v)?.Contains("writable by group and others (mode 0666)", StringComparison.Ordinal) == true,
            "graft state to say why the volfile is refused");
        Assert.StartsWith(vol + ":", Error(v));
        await File.WriteAllTextAsync(v.P("f"), "still served");
        Assert.Equal("still served", await File.ReadAllTextAsync(Path.Combine(v.Brick, "f")));
        Assert.Equal(1, State(v).GetProperty("activeGeneration").GetInt32());

        // Safe again: the same content is now applied (a new graph) and the error is gone.
        File.SetUnixFileMode(vol, (UnixFileMode)0x1A4);
        await Proc.Until(() => State(v).GetProperty("activeGeneration").GetInt32() == 2, "the volfile to be followed once it is 0644");
        Assert.Null(Error(v));

        // Owned by another user: refused as well, whatever the mode.
        (await Proc.RunAsync("chown", ["4242", vol])).Ok("chown");
        await Proc.Until(() => Error(v)?.Contains("owned by uid 4242", StringComparison.Ordinal) == true, "the other owner to be refused");
        (await Proc.RunAsync("chown", ["0", vol])).Ok("chown back");
        await Proc.Until(() => Error(v) is null, "root's file to be followed again");
    }

    [MountFact]
    public async Task A_mount_does_not_start_from_a_volfile_others_could_write()
    {
        await using var v = await MountedVolume.UpAsync("volfile-trust-start");
        var good = await File.ReadAllTextAsync(Directory.GetFiles(Path.Combine(v.Home, "var", "run"), "*.vol").Single());
        var other = Path.Combine(v.Home, "other");
        Directory.CreateDirectory(other);

        var writable = Path.Combine(v.Home, "writable.vol");
        await File.WriteAllTextAsync(writable, good);
        File.SetUnixFileMode(writable, (UnixFileMode)0x1B6);
        var r = await Proc.Graft(v.Home, "mount", "--volfile", writable, other);
        Assert.Equal(1, r.Code);
        Assert.Contains($"{writable}: refused: the volfile is writable by group and others (mode 0666)", r.Err);
        Assert.False(Proc.IsMounted(other));

        var openDir = Path.Combine(v.Home, "open");
        Directory.CreateDirectory(openDir);
        File.SetUnixFileMode(openDir, (UnixFileMode)0x1FF);
        var inOpenDir = Path.Combine(openDir, "client.vol");
        await File.WriteAllTextAsync(inOpenDir, good);
        File.SetUnixFileMode(inOpenDir, (UnixFileMode)0x1A4);
        r = await Proc.Graft(v.Home, "mount", "--volfile", inOpenDir, other);
        Assert.Equal(1, r.Code);
        Assert.Contains($"refused: the directory {openDir} is writable by group and others (mode 0777)", r.Err);
        Assert.False(Proc.IsMounted(other));

        // The foreground daemon itself refuses too (what `graft mount` runs detached).
        r = await Proc.Graft(v.Home, "mount", "-f", "--volfile", writable, other);
        Assert.Equal(1, r.Code);
        Assert.Contains("refused: the volfile is writable by group and others", r.Err);
        Assert.False(Proc.IsMounted(other));
    }
}
