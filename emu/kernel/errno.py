"""Linux errno values (include/uapi/asm-generic/errno-base.h, errno.h) and the one
helper every syscall uses to fail: ``return -errno`` via `fail(E...)`."""

EPERM, ENOENT, ESRCH, EINTR, EIO = 1, 2, 3, 4, 5
EBADF, ECHILD, EAGAIN, ENOMEM, EACCES, EFAULT = 9, 10, 11, 12, 13, 14
EBUSY, EEXIST, ENODEV, ENOTDIR, EINVAL, ENFILE, EMFILE = 16, 17, 19, 20, 22, 23, 24
ESPIPE, EPIPE, ERANGE, ENOSYS, ELOOP, ETIMEDOUT = 29, 32, 34, 38, 40, 110
EISDIR, EROFS, ENAMETOOLONG = 21, 30, 36
EPROTONOSUPPORT, ESOCKTNOSUPPORT, EOPNOTSUPP, EAFNOSUPPORT = 93, 94, 95, 97
ECONNRESET, ENOTCONN = 104, 107

NAMES = {v: k for k, v in dict(globals()).items() if k.startswith("E") and isinstance(v, int)}


def fail(errno: int) -> int:
    """The value a failing syscall returns: -errno (the only way handlers fail)."""
    return -errno


def strerror(result: int) -> str:
    """``-14`` -> ``"-EFAULT"`` (for traces); non-negative results print as numbers."""
    if -4096 < result < 0:
        return "-" + NAMES.get(-result, f"E{-result}")
    return str(result)
