using Graft.Core;
using Microsoft.Extensions.Logging;

namespace Graft.Fuse.Raw;

public sealed partial class FuseSession
{
    [LoggerMessage(Level = LogLevel.Information, Message = "FUSE INIT: kernel {KernelMajor}.{KernelMinor}, speaking 7.{Minor}, flags {Flags}")]
    partial void LogInit(uint kernelMajor, uint kernelMinor, uint minor, FuseInitFlags flags);

    [LoggerMessage(Level = LogLevel.Error, Message = "FUSE INIT refused: kernel protocol {Major}.{Minor} is not supported")]
    partial void LogInitRefused(uint major, uint minor);

    [LoggerMessage(Level = LogLevel.Warning, Message = "FUSE_DEV_IOC_CLONE failed ({Error}); continuing with fewer readers")]
    partial void LogCloneFailed(Errno error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "could not set read_ahead_kb={Kb}: {Error}")]
    partial void LogReadAheadFailed(int kb, Errno error);

    [LoggerMessage(Level = LogLevel.Error, Message = "reading /dev/fuse failed: {Error}; reader stops")]
    partial void LogReadFailed(Errno error);

    [LoggerMessage(Level = LogLevel.Critical, Message = "FUSE reader thread crashed")]
    partial void LogReaderCrashed(Exception e);

    [LoggerMessage(Level = LogLevel.Warning, Message = "reply to request {Unique} ({Opcode}) failed: {Error}")]
    partial void LogReplyFailed(ulong unique, FuseOpcode opcode, Errno error);

    [LoggerMessage(Level = LogLevel.Error, Message = "handler for request {Unique} ({Opcode}) completed without a reply; answered EIO")]
    partial void LogNoReply(ulong unique, FuseOpcode opcode);

    [LoggerMessage(Level = LogLevel.Error, Message = "handler for request {Unique} ({Opcode}) threw")]
    partial void LogHandlerFailed(ulong unique, FuseOpcode opcode, Exception e);

    [LoggerMessage(Level = LogLevel.Error, Message = "request {Unique} ({Opcode}) failed before reaching its handler; answered EIO if it takes a reply")]
    partial void LogDispatchFailed(ulong unique, FuseOpcode opcode, Exception e);

    [LoggerMessage(Level = LogLevel.Warning, Message = "malformed FUSE request of {Length} bytes")]
    partial void LogMalformed(int length);

    [LoggerMessage(Level = LogLevel.Debug, Message = "INTERRUPT for request {Unique}")]
    partial void LogInterrupt(ulong unique);

    [LoggerMessage(Level = LogLevel.Information, Message = "<- {Unique} {Opcode} node {NodeId} uid {Uid} pid {Pid} ({Length} bytes)")]
    partial void LogRequest(ulong unique, FuseOpcode opcode, ulong nodeId, uint uid, uint pid, int length);

    [LoggerMessage(Level = LogLevel.Information, Message = "-> {Unique} {Opcode} errno {Error} ({Length} bytes), write {WriteResult}")]
    partial void LogReply(ulong unique, FuseOpcode opcode, int error, int length, Errno writeResult);

    [LoggerMessage(Level = LogLevel.Information, Message = "-> notify {Code} node {NodeId}, write {WriteResult}")]
    partial void LogNotify(int code, ulong nodeId, Errno writeResult);

    [LoggerMessage(Level = LogLevel.Warning, Message = "notification {Code} for node {NodeId} failed: {Error}")]
    partial void LogNotifyFailed(int code, ulong nodeId, Errno error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "unmounting {MountPoint} failed: {Error}")]
    partial void LogUnmountFailed(string mountPoint, Errno error);
}
