using System.CommandLine;
using System.Text;
using Graft.Management.Bricks;

namespace Graft.Cli.Commands;

/// <summary>
/// `graft install [--prefix DIR]` (root): puts mount(8)'s helper `mount.graft` in /sbin, so
/// `mount -t graft HOST[:PORT]:/VOLUME MNT` and fstab lines `HOST:/VOL MNT graft defaults,_netdev 0 0` work.
/// </summary>
public static class InstallCommand
{
    public const string HelperName = "mount.graft";

    public static Command Create()
    {
        var prefix = new Option<DirectoryInfo?>("--prefix") { Description = "Directory to put mount.graft in (default /sbin, where mount(8) looks)." };
        var cmd = new Command("install", "Install mount.graft (mount(8)'s helper) so that `mount -t graft HOST:/VOLUME MNT` and fstab entries work. Needs root.") { prefix };
        cmd.SetAction(parse =>
        {
            var dir = parse.GetValue(prefix)?.FullName ?? "/sbin";
            var path = Path.Combine(dir, HelperName);
            try
            {
                Directory.CreateDirectory(dir);
                File.WriteAllText(path, Script(Processes.SelfCommand(typeof(Program).Assembly)));
                if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                                           | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                parse.InvocationConfiguration.Error.WriteLine($"graft install: cannot write {path}: {e.Message} (run as root)");
                return 1;
            }
            parse.InvocationConfiguration.Output.WriteLine($"installed {path}");
            return 0;
        });
        return cmd;
    }

    static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>
    /// mount(8) calls helpers as `mount.TYPE SPEC DIR [-sfnv] [-o OPTIONS]`, passing along options that mean
    /// something to mount(8) itself (defaults, _netdev, noauto, x-...): those are dropped, the rest go to
    /// `graft mount -o`.
    /// </summary>
    public static string Script(IReadOnlyList<string> graft)
    {
        var sb = new StringBuilder();
        sb.Append("#!/bin/sh\n");
        sb.Append("# mount.graft SPEC DIR [-sfnv] [-o OPTIONS]: mount(8)'s helper for graft volumes (written by graft install).\n");
        sb.Append("set -e\nspec=$1; dir=$2; shift 2\nopts=\n");
        sb.Append("while [ $# -gt 0 ]; do\n  case \"$1\" in\n    -o) opts=$2; shift 2 ;;\n    -o*) opts=${1#-o}; shift ;;\n    *) shift ;;\n  esac\ndone\n");
        sb.Append("keep=\nold_ifs=$IFS; IFS=,\nfor o in $opts; do\n  case \"$o\" in\n");
        sb.Append("    defaults|_netdev|auto|noauto|nofail|user|nouser|users|owner|group|x-*|comment=*|suid|nosuid|dev|nodev|exec|noexec|async|atime|noatime|relatime|loop) ;;\n");
        sb.Append("    *) keep=\"${keep:+$keep,}$o\" ;;\n  esac\ndone\nIFS=$old_ifs\n");
        sb.Append("if [ -n \"$keep\" ]; then set -- -o \"$keep\"; else set --; fi\n");
        sb.Append("exec ").Append(string.Join(' ', graft.Select(Quote))).Append(" mount \"$@\" \"$spec\" \"$dir\"\n");
        return sb.ToString();
    }
}
