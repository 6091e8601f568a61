using Graft.Core;
using Graft.Xlators.Protocol.Server;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// A session waiting out its grace after a lost connection is resumed only by a Hello with its key,
/// the resume token its Welcome issued, and the principal that opened it (here: the same client
/// certificate). Another certificate with the stolen token, or the right certificate without the
/// token or with a wrong one, is refused, and the session stays as it was for its owner.
/// </summary>
public class ASessionIsResumedOnlyByItsPrincipalWithItsToken(CertificateFixture f) : IClassFixture<CertificateFixture>
{
    [Fact]
    public async Task Token_and_certificate_are_both_needed()
    {
        var certs = f.Certs;
        await using var brick = await InProcessBrick.StartAsync(new(certs.ServerOptions) { ["grace-timeout"] = "60" }, secret: false);
        Guid identity = Guid.NewGuid(), instance = Guid.NewGuid();
        Task<Handshake.Welcome?> Hello(RawClient c, byte[]? token) => c.HandshakeAsync("brick", null, token, identity, 1, instance);

        byte[] token;
        await using (var owner = await RawClient.ConnectTlsAsync(brick.Port, certs.Client, certs.Ca))
        {
            var w = await Hello(owner, null);
            Assert.Equal(Errno.OK, w?.Error);
            Assert.False(w!.Resumed);
            Assert.Equal(Handshake.TokenSize, w.ResumeToken.Length);
            token = w.ResumeToken;
        }   // gone without a goodbye: the session waits out its grace
        await ClientGraphs.Until(() => brick.Server.ConnectionCount == 0, "the owner's connection ended");
        Assert.Equal(1, brick.Server.SessionCount);

        var wrong = (byte[])token.Clone();
        wrong[0] ^= 1;
        foreach (var (who, presented) in new[] { (certs.Client2, token), (certs.Client, null), (certs.Client, wrong) })
        {
            await using var thief = await RawClient.ConnectTlsAsync(brick.Port, who, certs.Ca);
            var refused = await Hello(thief, presented);
            Assert.Equal(Errno.EBUSY, refused?.Error);
            Assert.Contains("resume", refused!.Reason);
            Assert.Empty(refused.ResumeToken);
            Assert.True(await thief.ClosedByBrickAsync(), "the brick kept a refused connection open");
        }
        Assert.Equal(3, brick.Server.Refused(ProtocolServer.Refusal.ResumeRefused));
        Assert.Equal(1, brick.Server.SessionCount);

        await using var back = await RawClient.ConnectTlsAsync(brick.Port, certs.Client, certs.Ca);
        var resumed = await Hello(back, token);
        Assert.Equal(Errno.OK, resumed?.Error);
        Assert.True(resumed!.Resumed, "the owner did not get its session back");
        Assert.Equal(token, resumed.ResumeToken);
    }
}

/// <summary>
/// Remote fd ids are random 64-bit values, not a count: knowing one's own says nothing about another
/// session's, and an id from another session is EBADF in this one.
/// </summary>
public class RemoteFdIdsAreUnguessable
{
    private static async Task<ulong> CreateAsync(RawClient c, string name)
    {
        var p = await c.CallAsync(new FopRequest(FopOp.Create)
        {
            Caller = new WireCaller { Groups = [] }, Loc = new WireLoc(default, Gfid.Root, name),
            Flags = OpenFlags.O_RDWR | OpenFlags.O_CREAT, Mode = 0x1a4, NewGfid = Gfid.NewGfid(),
        });
        Assert.Equal(Errno.OK, p.Error);
        return p.Fd;
    }

    [Fact]
    public async Task Ids_are_random_and_belong_to_their_session()
    {
        await using var brick = await InProcessBrick.StartAsync();
        await using var a = await RawClient.ConnectAsync(brick.Port);
        await using var b = await RawClient.ConnectAsync(brick.Port);
        Assert.Equal(Errno.OK, (await a.HandshakeAsync("brick", TestSecret.Bytes))?.Error);
        Assert.Equal(Errno.OK, (await b.HandshakeAsync("brick", TestSecret.Bytes))?.Error);

        var ids = new List<ulong>();
        for (int i = 0; i < 8; i++) ids.Add(await CreateAsync(a, "a" + i));
        var theirs = await CreateAsync(b, "b");
        Assert.Equal(ids.Count, ids.Distinct().Count());
        // A counter would hand out 1, 2, 3...: random 64-bit ids below 2^32 come up once in 4 billion.
        Assert.All(ids.Append(theirs), id => Assert.True(id > uint.MaxValue, $"fd id {id} looks counted"));

        var fstat = new FopRequest(FopOp.Fstat) { Caller = new WireCaller { Groups = [] }, Fd = theirs };
        Assert.Equal(Errno.EBADF, (await a.CallAsync(fstat)).Error);
        Assert.Equal(Errno.OK, (await b.CallAsync(fstat)).Error);
    }
}
