using Graft.Xlators.Protocol.Transport;

namespace Graft.Management.Protocol;

/// <summary>
/// A machine's TLS files for the control plane and the data plane alike: its certificate, its key, and
/// the cluster's CA. A daemon serves its control port and runs its bricks with them; the CLI and mounts
/// present them to daemons, and a mount's client volfile names them for its bricks (protocol/client's
/// tls-cert, tls-key, tls-ca). Paths only: the files are read where they are used, never sent.
/// </summary>
public sealed record TlsFiles(string Cert, string Key, string Ca)
{
    /// <summary>Where --tls (and -o tls) look: node.pem, node.key and ca.pem.</summary>
    public const string DefaultDir = "/etc/graft/tls";

    /// <summary>
    /// The files named by the options, each missing one taken from <see cref="DefaultDir"/>; null (no
    /// TLS) when neither <paramref name="tls"/> is set nor any file is named. Paths are made absolute.
    /// </summary>
    public static TlsFiles? From(bool tls, string? cert, string? key, string? ca)
    {
        if (!tls && cert is null && key is null && ca is null) return null;
        return new TlsFiles(Path.GetFullPath(cert ?? Path.Combine(DefaultDir, "node.pem")),
                            Path.GetFullPath(key ?? Path.Combine(DefaultDir, "node.key")),
                            Path.GetFullPath(ca ?? Path.Combine(DefaultDir, "ca.pem")));
    }

    /// <summary>Loads the files; a missing or bad one is a <see cref="ManagementError"/> naming it.</summary>
    public TlsConfig Load(string what)
    {
        try { return TlsConfig.Load(what, Cert, Key, Ca); }
        catch (ArgumentException e) { throw new Volumes.ManagementError(e.Message); }
    }

    /// <summary>A path that may go into a volfile as an option value: absolute, one line.</summary>
    public static bool Acceptable(string? path) => path is { Length: > 1 } && path.StartsWith('/') && !path.Any(char.IsControl);
}
