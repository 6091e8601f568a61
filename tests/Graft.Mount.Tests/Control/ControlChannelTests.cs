using Graft.Mount.Control;

namespace Graft.Mount.Tests.Control;

public class ControlChannelTests
{
    private static string TempSocket() =>
        Path.Combine(Path.GetTempPath(), "graft-tests-" + Environment.ProcessId, Guid.NewGuid().ToString("N")[..8], "c.sock");

    [Fact]
    public void Answers_a_command_with_the_handlers_reply()
    {
        var path = TempSocket();
        using var server = new ControlServer(path, cmd => cmd == "state" ? "{\"pid\":1}" : "{\"error\":\"unknown\"}");
        Assert.Equal("{\"pid\":1}", ControlClient.Send(path, "state", TimeSpan.FromSeconds(5)));
        Assert.Equal("{\"error\":\"unknown\"}", ControlClient.Send(path, "nope", TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Keeps_answering_while_other_work_hangs()
    {
        // The handler must not depend on the thread pool: starve it and ask anyway.
        var path = TempSocket();
        using var server = new ControlServer(path, _ => "{\"ok\":true}");
        using var hang = new ManualResetEventSlim();
        var blockers = Enumerable.Range(0, Environment.ProcessorCount * 4).Select(_ => Task.Run(() => hang.Wait(TimeSpan.FromSeconds(10)))).ToArray();
        try
        {
            var reply = ControlClient.Send(path, "state", TimeSpan.FromSeconds(5));
            Assert.Equal("{\"ok\":true}", reply);
        }
        finally { hang.Set(); await Task.WhenAll(blockers); }
    }

    [Fact]
    public void A_handler_that_throws_answers_an_error_and_the_server_goes_on()
    {
        var path = TempSocket();
        using var server = new ControlServer(path, cmd => cmd == "boom" ? throw new InvalidOperationException("bad") : "{}");
        Assert.Contains("\"error\":\"bad\"", ControlClient.Send(path, "boom", TimeSpan.FromSeconds(5)));
        Assert.Equal("{}", ControlClient.Send(path, "state", TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void Socket_paths_differ_per_mountpoint_and_ignore_a_trailing_slash()
    {
        Assert.Equal(ControlClient.SocketPathFor("/mnt/a"), ControlClient.SocketPathFor("/mnt/a/"));
        Assert.NotEqual(ControlClient.SocketPathFor("/mnt/a"), ControlClient.SocketPathFor("/mnt/b"));
    }
}
