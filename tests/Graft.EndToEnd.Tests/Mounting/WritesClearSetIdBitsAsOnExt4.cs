namespace Graft.EndToEnd.Tests.Mounting;

/// <summary>
/// A write by someone without CAP_FSETID clears the set-user-ID bit, and the set-group-ID bit when the file is
/// group-executable or the writer is not in its group (the kernel's rule, which ext4 follows); truncate, open with
/// O_TRUNC, fallocate and chown clear them the same way. Each case runs the same command as the same user on a
/// native directory and on a real mount over a real brick process, and the mode left behind must be the same.
/// Before, the kernel asked the mount to chmod the bits away as the writer: EPERM for anyone but the owner, the
/// write failed and the bits stayed.
/// </summary>
public class WritesClearSetIdBitsAsOnExt4(VolumeFixture fx) : IClassFixture<VolumeFixture>
{
    const int Owner = 4242, Other = 4243;

    /// <summary>One case: the file's mode (owner <see cref="Owner"/>:<see cref="Owner"/>), who acts (uid, groups), and how.</summary>
    public sealed record Case(string Mode, int Uid, string Groups, string Command, string Expected);

    public static TheoryData<string, Case> Cases() => new()
    {
        { "another user appends to a 4766 file", new("4766", Other, "", "echo more >> f", "766") },
        { "another user appends to a 6777 file", new("6777", Other, "", "echo more >> f", "777") },
        { "set-group-ID without group x, writer outside the group", new("2766", Other, "", "echo more >> f", "766") },
        { "set-group-ID without group x, writer in the group", new("2766", Other, "4242", "echo more >> f", "2766") },
        { "set-group-ID with group x, writer in the group", new("2776", Other, "4242", "echo more >> f", "776") },
        { "the owner writes its own 4766 file", new("4766", Owner, "", "dd if=/dev/zero of=f bs=1 count=1 seek=2 conv=notrunc status=none", "766") },
        { "root writes a 6777 file", new("6777", 0, "", "echo more >> f", "6777") },
        { "another user truncates a 4766 file", new("4766", Other, "", "truncate -s 1 f", "766") },
        { "another user opens a 6766 file with O_TRUNC", new("6766", Other, "", ": > f", "766") },
        { "another user fallocates in a 4766 file", new("4766", Other, "", "fallocate -l 1M f", "766") },
        { "root chowns a 6755 file", new("6755", 0, "", "chown 4243 f", "755") },
    };

    static async Task<string> ModeAfter(string dir, Case c)
    {
        (await Proc.Sh($"cd '{dir}' && rm -f f && echo data > f && chown {Owner}:{Owner} f && chmod {c.Mode} f")).Ok("set up f");
        var groups = c.Groups.Length > 0 ? $"--groups={c.Groups}" : "--clear-groups";
        var run = await Proc.RunAsync("setpriv", [$"--reuid={c.Uid}", $"--regid={c.Uid}", groups, "bash", "-c", $"cd '{dir}' && {c.Command}"]);
        run.Ok($"'{c.Command}' as {c.Uid} in {dir}");
        return (await Proc.Sh($"stat -c %a '{dir}/f'")).Ok("stat").Out.Trim();
    }

    [MountTheory, MemberData(nameof(Cases))]
    public async Task The_mode_left_is_the_one_ext4_leaves(string what, Case c)
    {
        var native = Proc.PrivateDir("setid-native");
        try
        {
            var expected = await ModeAfter(native, c);
            Assert.True(c.Expected == expected, $"{what}: the local filesystem left {expected}, this test expects {c.Expected}");
            var onMount = fx.NewDir("setid");
            Assert.Equal(expected, await ModeAfter(onMount, c));
            // What the brick holds, not only what the kernel of this mount believes.
            var onBrick = Path.Combine(fx.V.Brick, Path.GetFileName(onMount), "f");
            Assert.Equal(expected, (await Proc.Sh($"stat -c %a '{onBrick}'")).Ok("stat on the brick").Out.Trim());
        }
        finally { Directory.Delete(native, recursive: true); }
    }
}
