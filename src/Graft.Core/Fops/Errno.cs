namespace Graft.Core;

/// <summary>Linux errno values. Fops return these instead of throwing; <see cref="OK"/> is success.</summary>
public enum Errno
{
    OK = 0,
    EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7, ENOEXEC = 8, EBADF = 9,
    ECHILD = 10, EAGAIN = 11, ENOMEM = 12, EACCES = 13, EFAULT = 14, EBUSY = 16, EEXIST = 17, EXDEV = 18,
    ENODEV = 19, ENOTDIR = 20, EISDIR = 21, EINVAL = 22, ENFILE = 23, EMFILE = 24, ENOTTY = 25, ETXTBSY = 26,
    EFBIG = 27, ENOSPC = 28, ESPIPE = 29, EROFS = 30, EMLINK = 31, EPIPE = 32, ERANGE = 34, EDEADLK = 35,
    ENAMETOOLONG = 36, ENOLCK = 37, ENOSYS = 38, ENOTEMPTY = 39, ELOOP = 40, ENODATA = 61, ETIME = 62,
    EOVERFLOW = 75, EBADFD = 77, EPROTO = 71, EOPNOTSUPP = 95, EADDRINUSE = 98, ENETDOWN = 100,
    ENETUNREACH = 101, ECONNABORTED = 103, ECONNRESET = 104, ENOBUFS = 105, ENOTCONN = 107, ETIMEDOUT = 110,
    ECONNREFUSED = 111, EHOSTUNREACH = 113, EALREADY = 114, EINPROGRESS = 115, ESTALE = 116, EDQUOT = 122,
    ECANCELED = 125,
}

public static class ErrnoExtensions
{
    /// <summary>Name of the errno ("ENOENT"), or its number for values this enum does not name.</summary>
    public static string Name(this Errno e) => Enum.IsDefined(e) ? e.ToString() : ((int)e).ToString(System.Globalization.CultureInfo.InvariantCulture);
}
