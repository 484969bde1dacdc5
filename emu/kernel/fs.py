"""read and write through the file table, and the console files behind
descriptors 0, 1 and 2 (fs/read_write.c).

Design note
  1. read / write are vfs_read / vfs_write: the descriptor must be open for
     that direction (-EBADF), the file must have the operation (-EINVAL: an
     epoll fd), the buffer must lie below the top of user space (access_ok:
     -EFAULT), and the count is clipped to MAX_RW_COUNT.  Then the file's
     kind does the work (file.py); a read or write that has to wait sleeps
     as wait.py describes.
  2. The console: descriptor 0 is a read-only file over the bytes given to the
     kernel as stdin (EOF after them); 1 and 2 are write-only files that
     append to the captured output (`Kernel.output`, by stream) and stream it
     to `Kernel.on_output`.  They behave like regular files redirected from
     and to the host (``prog <in >out 2>err``): never blocking, and not
     pollable, so epoll_ctl refuses them with -EPERM as Linux refuses regular
     files.  dup2(1, 5) makes 5 write to stdout, as it should.
  3. A tiny read-only file system (`Kernel.vfs`: path -> contents) answers
     open / openat: the files a Go runtime reads.  By default only
     /sys/kernel/mm/transparent_hugepage/hpage_pmd_size ("2097152\n", the
     2 MiB huge page of x86_64 and 4K-page arm64).  Paths are absolute, or
     relative to the working directory "/" (AT_FDCWD); a file opens read-only
     (asking for write access, O_CREAT or O_TRUNC is -EROFS) and reads like a
     regular file: never blocking, not pollable (epoll_ctl: -EPERM).  Any
     other path is -ENOENT, directories included (none can be opened), and a
     dirfd other than AT_FDCWD is -ENOTDIR (no directory is ever open).
Rejected: a tty model (termios, always-readable polls): nothing in a run could
type into it.
"""
from __future__ import annotations

import posixpath

from ..machine.memory import GuestFault
from .errno import EBADF, EFAULT, EINVAL, ENAMETOOLONG, ENOENT, ENOTDIR, EROFS, fail
from .file import (FMODE_READ, FMODE_WRITE, O_ACCMODE, O_CLOEXEC, O_NONBLOCK, O_RDONLY, O_WRONLY, File,
                   UserIter, access_ok, s32, u32)
from .syscalls import syscall
from .wait import Io, run_op

MAX_RW = 0x7FFFF000      # Linux's MAX_RW_COUNT


class ConsoleIn(File):
    """Descriptor 0: the stdin bytes, then EOF."""

    kind = "stdin"
    can_read = True

    def __init__(self):
        super().__init__(O_RDONLY)

    def read(self, io, it, count):
        k = io.k
        n = min(count, len(k.stdin))
        try:
            it.copy_out(bytes(k.stdin[:n]))
        except GuestFault:
            return fail(EFAULT)
        del k.stdin[:n]
        return n


class ConsoleOut(File):
    """Descriptors 1 and 2: captured output of stream 1 (stdout) or 2 (stderr)."""

    kind = "stdout"
    can_write = True

    def __init__(self, stream: int):
        super().__init__(O_WRONLY)
        self.stream = stream
        self.kind = "stdout" if stream == 1 else "stderr"

    def write(self, io, it, count):
        k = io.k
        try:
            data = it.copy_in(count)
        except GuestFault:
            return fail(EFAULT)
        k.output[self.stream] += data
        if k.on_output is not None:
            k.on_output(self.stream, data)
        return count


def console_files() -> list[File]:
    """The files behind descriptors 0, 1, 2 of a new process."""
    return [ConsoleIn(), ConsoleOut(1), ConsoleOut(2)]


@syscall
def sys_read(k, t, fd, buf, count):
    fd = u32(fd)
    f = k.files.get(fd)
    if f is None or not f.mode & FMODE_READ:
        return fail(EBADF)
    if not f.can_read:
        return fail(EINVAL)
    if not access_ok(k, buf, count):
        return fail(EFAULT)
    io = Io(k, t, f.nonblock)
    return run_op(io, f.read(io, UserIter(k.mem, buf), min(count, MAX_RW)), reason="read",
                  hold=(f,), detail=(f"fd {fd}",))


@syscall
def sys_write(k, t, fd, buf, count):
    fd = u32(fd)
    f = k.files.get(fd)
    if f is None or not f.mode & FMODE_WRITE:
        return fail(EBADF)
    if not f.can_write:
        return fail(EINVAL)
    if not access_ok(k, buf, count):
        return fail(EFAULT)
    io = Io(k, t, f.nonblock)
    return run_op(io, f.write(io, UserIter(k.mem, buf), min(count, MAX_RW)), reason="write",
                  hold=(f,), detail=(f"fd {fd}",))


# ---- the read-only file system (module note, 3) --------------------------------------------
VFS = {"/sys/kernel/mm/transparent_hugepage/hpage_pmd_size": b"2097152\n"}
AT_FDCWD = -100
O_CREAT, O_TRUNC, O_DIRECTORY = 0x40, 0x200, {"amd64": 0x10000, "arm64": 0x4000}
PATH_MAX = 4096


class ReadOnlyFile(File):
    """A file of the read-only file system: its bytes, read from a file position."""

    kind = "regular"
    can_read = True

    def __init__(self, path: str, data: bytes, flags: int):
        super().__init__(flags)
        self.path, self.data, self.pos = path, data, 0

    def read(self, io, it, count):
        chunk = self.data[self.pos:self.pos + count]
        try:
            it.copy_out(chunk)
        except GuestFault:
            return fail(EFAULT)
        self.pos += len(chunk)
        return len(chunk)


def do_open(k, dirfd: int, path_addr: int, flags: int) -> int:
    """openat's work: look the path up in `k.vfs` (module note, 3)."""
    raw = k.mem.read_cstring(path_addr, PATH_MAX + 1)
    if len(raw) > PATH_MAX:
        return fail(ENAMETOOLONG)
    if not raw:
        return fail(ENOENT)
    path = raw.decode("utf-8", "surrogateescape")
    if not path.startswith("/"):
        if dirfd != AT_FDCWD:
            return fail(EBADF) if k.files.get(u32(dirfd)) is None else fail(ENOTDIR)
        path = "/" + path
    path = posixpath.normpath(path)
    if path.startswith("//"):
        path = path[1:]
    data = k.vfs.get(path)
    if data is None:
        return fail(EROFS) if flags & O_CREAT else fail(ENOENT)
    if flags & O_ACCMODE != O_RDONLY or flags & (O_CREAT | O_TRUNC):
        return fail(EROFS)
    if flags & O_DIRECTORY[k.isa.name]:
        return fail(ENOTDIR)
    f = ReadOnlyFile(path, data, O_RDONLY | (flags & O_NONBLOCK))
    return k.files.alloc(f, cloexec=bool(flags & O_CLOEXEC))


@syscall
def sys_openat(k, t, dirfd, pathname, flags, mode):
    return do_open(k, s32(dirfd), pathname, u32(flags))


@syscall
def sys_open(k, t, pathname, flags, mode):
    """open (x86_64 only; arm64 has openat alone)."""
    return do_open(k, AT_FDCWD, pathname, u32(flags))
