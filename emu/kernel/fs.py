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
Rejected: a tty model (termios, always-readable polls): nothing in a run could
type into it.
"""
from __future__ import annotations

from ..machine.memory import GuestFault
from .errno import EBADF, EFAULT, EINVAL, fail
from .file import FMODE_READ, FMODE_WRITE, O_RDONLY, O_WRONLY, File, UserIter, access_ok, u32
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
