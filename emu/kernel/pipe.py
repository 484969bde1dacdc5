"""Pipes: pipe2, pipe (x86_64), F_GETPIPE_SZ / F_SETPIPE_SZ (fs/pipe.c).

Design note
  1. A `Pipe` is pipe_inode_info: a ring of at most `max_usage` page buffers
     (16 by default: 64 KiB), counts of the open read and write ends, and two
     wait queues (readers sleep on rd_wait, writers on wr_wait; an epoll item
     on a read end hooks rd_wait, on a write end wr_wait).  The two ends are
     `PipeFile`s, O_RDONLY and O_WRONLY.
  2. Capacity is counted in pages, as Linux does, so the bytes a pipe takes
     depend on the writes: a write first merges its last (len % 4096) bytes
     into the last buffer when they fit there, then fills fresh pages.  So a
     blocking write of at most PIPE_BUF (4096) bytes is never split, sixteen
     1-byte writes take one page, and sixteen 5000-byte writes do not fit.
     A non-blocking write takes what fits (-EAGAIN if nothing).
  3. pipe_read: copy from the oldest buffers, up to the count; 0 at EOF (no
     writer left); -EAGAIN when empty under O_NONBLOCK; otherwise sleep
     (exclusive) until data or EOF.  A reader that woke and leaves data wakes
     the next reader; freeing a page of a full pipe wakes a writer.
  4. pipe_write: with no reader left, SIGPIPE to the writer and -EPIPE (or
     the bytes already written); otherwise fill pages, sleeping (exclusive)
     while the pipe is full unless O_NONBLOCK.  It wakes rd_wait when the
     pipe was empty -- or always, once anyone has polled the pipe: Linux's
     "epoll nonsensically wants a wakeup" rule, which makes every write
     (even one that fails with -EAGAIN) a new edge for EPOLLET readers.
  5. poll: read end EPOLLIN|EPOLLRDNORM when not empty, EPOLLHUP when no
     writer is left (EOF alone is EPOLLHUP without EPOLLIN, as in Linux);
     write end EPOLLOUT|EPOLLWRNORM when not full, EPOLLERR when no reader.
  6. Releasing the last reader or the last writer (not both) wakes both
     queues with no key: every sleeper re-checks, every epoll item fires.
Deviations: O_DIRECT (packet mode) and O_NOTIFICATION_PIPE are -EINVAL; a
buffer that is only partly mapped fails the whole page it is in (Linux copies
up to the fault); F_SETPIPE_SZ is limited by pipe-max-size (1 MiB) as for an
unprivileged user, with no per-user page accounting.
Rejected: a plain byte-count capacity (simpler, but EPOLLOUT, -EAGAIN and
partial writes would then disagree with Linux on the first write that is not
a multiple of 4096 bytes).
"""
from __future__ import annotations

import struct

from ..machine.memory import GuestFault
from .errno import EBADF, EBUSY, EFAULT, EINTR, EINVAL, EPERM, EPIPE, EAGAIN, fail
from .file import (F_GETPIPE_SZ, FMODE_READ, FMODE_WRITE, O_CLOEXEC, O_NONBLOCK, O_RDONLY, O_WRONLY,
                   File, s32)
from .poll import EPOLLERR, EPOLLHUP, POLL_READ, POLL_WRITE
from .syscalls import syscall
from .wait import Interrupted, Sleep, WaitQueue

PAGE = 4096
PIPE_BUF = PAGE
PIPE_DEF_BUFFERS = 16
PIPE_MAX_SIZE = 1 << 20            # /proc/sys/fs/pipe-max-size


class _Buf:
    """One pipe_buffer: the unread bytes, and where the next merged byte would go
    in its page (offset + len)."""

    __slots__ = ("data", "end")

    def __init__(self):
        self.data, self.end = bytearray(), 0


class Pipe:
    """pipe_inode_info.  See the module note."""

    def __init__(self):
        self.bufs: list[_Buf] = []             # tail (oldest) first
        self.max_usage = PIPE_DEF_BUFFERS
        self.readers = self.writers = 0
        self.rd_wait, self.wr_wait = WaitQueue(), WaitQueue()
        self.poll_usage = False

    def empty(self) -> bool:
        return not self.bufs

    def full(self) -> bool:
        return len(self.bufs) >= self.max_usage

    def nbytes(self) -> int:
        return sum(len(b.data) for b in self.bufs)


class PipeFile(File):
    """One end of a pipe: O_RDONLY (read end) or O_WRONLY (write end)."""

    kind = "pipe"
    can_read = can_write = True

    def __init__(self, pipe: Pipe, flags: int):
        super().__init__(flags)
        self.pipe = pipe
        if self.mode & FMODE_READ:
            pipe.readers += 1
        if self.mode & FMODE_WRITE:
            pipe.writers += 1

    def read(self, io, it, count):
        return pipe_read(io, self.pipe, it, count)

    def write(self, io, it, count):
        return pipe_write(io, self.pipe, it, count)

    def poll(self, k) -> int:
        pipe = self.pipe
        pipe.poll_usage = True
        mask = 0
        if self.mode & FMODE_READ:
            if not pipe.empty():
                mask |= POLL_READ
            if not pipe.writers:
                mask |= EPOLLHUP
        if self.mode & FMODE_WRITE:
            if not pipe.full():
                mask |= POLL_WRITE
            if not pipe.readers:
                mask |= EPOLLERR
        return mask

    def poll_queues(self) -> list:
        pipe = self.pipe
        return ([pipe.rd_wait] if self.mode & FMODE_READ else []) + \
               ([pipe.wr_wait] if self.mode & FMODE_WRITE else [])

    def release(self, k) -> None:
        pipe = self.pipe
        if self.mode & FMODE_READ:
            pipe.readers -= 1
        if self.mode & FMODE_WRITE:
            pipe.writers -= 1
        if (not pipe.readers) != (not pipe.writers):   # the last of one side, not both
            pipe.rd_wait.wake_all()
            pipe.wr_wait.wake_all()


def pipe_read(io, pipe: Pipe, it, total: int):
    """pipe_read (a generator when it may sleep; see wait.py)."""
    if total == 0:
        return 0
    ret = 0
    wake_writer = wake_next_reader = False
    while True:
        if pipe.bufs:
            buf = pipe.bufs[0]
            chars = min(len(buf.data), total)
            try:
                it.copy_out(bytes(buf.data[:chars]))
            except GuestFault:
                ret = ret or fail(EFAULT)
                break
            ret += chars
            del buf.data[:chars]
            if not buf.data:
                wake_writer |= pipe.full()
                pipe.bufs.pop(0)
            total -= chars
            if not total:
                break
            if pipe.bufs:
                continue
        if not pipe.writers or ret:
            break
        if io.nonblock:
            ret = fail(EAGAIN)
            break
        if wake_writer:
            pipe.wr_wait.wake(POLL_WRITE)
        try:
            while pipe.empty() and pipe.writers:       # wait_event(pipe_readable)
                yield Sleep(pipe.rd_wait, exclusive=True)
        except Interrupted:
            return fail(EINTR)
        wake_writer, wake_next_reader = False, True
    if pipe.empty():
        wake_next_reader = False
    if wake_writer:
        pipe.wr_wait.wake(POLL_WRITE)
    if wake_next_reader:
        pipe.rd_wait.wake(POLL_READ)
    return ret


def pipe_write(io, pipe: Pipe, it, total: int):
    """pipe_write (a generator when it may sleep; see wait.py)."""
    if total == 0:
        return 0
    ret = 0
    was_empty = wake_next_writer = False
    if not pipe.readers:
        io.sigpipe()
        return _write_out(pipe, fail(EPIPE), False, False)
    was_empty = pipe.empty()
    chars = total & (PAGE - 1)
    if chars and not was_empty:
        buf = pipe.bufs[-1]
        if buf.end + chars <= PAGE:                    # merge into the last page
            try:
                data = it.copy_in(chars)
            except GuestFault:
                return _write_out(pipe, fail(EFAULT), was_empty, False)
            buf.data += data
            buf.end += chars
            ret, total = chars, total - chars
            if not total:
                return _write_out(pipe, ret, was_empty, False)
    signalled = False
    while True:
        if not pipe.readers:
            io.sigpipe()
            ret = ret or fail(EPIPE)
            break
        if not pipe.full():
            buf = _Buf()
            pipe.bufs.append(buf)                      # the slot is taken before the copy
            n = min(PAGE, total)
            try:
                data = it.copy_in(n)
            except GuestFault:
                ret = ret or fail(EFAULT)
                break
            buf.data += data
            buf.end = n
            ret, total = ret + n, total - n
            if not total:
                break
        if not pipe.full():
            continue
        if io.nonblock:
            ret = ret or fail(EAGAIN)
            break
        if signalled:
            ret = ret or fail(EINTR)
            break
        if was_empty:
            pipe.rd_wait.wake(POLL_READ)
        try:
            while pipe.full() and pipe.readers:        # wait_event(pipe_writable)
                yield Sleep(pipe.wr_wait, exclusive=True)
        except Interrupted:
            signalled = True
        was_empty, wake_next_writer = pipe.empty(), True
    return _write_out(pipe, ret, was_empty, wake_next_writer)


def _write_out(pipe: Pipe, ret: int, was_empty: bool, wake_next_writer: bool) -> int:
    """pipe_write's `out:` label: the wakeups every write ends with."""
    if pipe.full():
        wake_next_writer = False
    if was_empty or pipe.poll_usage:
        pipe.rd_wait.wake(POLL_READ)
    if wake_next_writer:
        pipe.wr_wait.wake(POLL_WRITE)
    return ret


# ---- creating pipes ------------------------------------------------------------------------
def create_pipe(flags: int = 0) -> tuple[PipeFile, PipeFile]:
    """A new pipe's read and write ends (no references taken yet)."""
    pipe = Pipe()
    nb = flags & O_NONBLOCK
    return PipeFile(pipe, O_RDONLY | nb), PipeFile(pipe, O_WRONLY | nb)


def do_pipe2(k, fildes: int, flags: int) -> int:
    flags = s32(flags)
    if flags & ~(O_CLOEXEC | O_NONBLOCK):
        return fail(EINVAL)
    r, w = create_pipe(flags)
    cloexec = bool(flags & O_CLOEXEC)
    rfd = k.files.lowest_free()
    if rfd < 0:
        return rfd
    k.files.install(rfd, r, cloexec)
    wfd = k.files.lowest_free()
    if wfd < 0:
        k.files.close(k, rfd)
        return wfd
    k.files.install(wfd, w, cloexec)
    try:
        k.mem.copy_to_user(fildes, struct.pack("<ii", rfd, wfd))
    except GuestFault:
        k.files.close(k, rfd)
        k.files.close(k, wfd)
        return fail(EFAULT)
    return 0


@syscall
def sys_pipe2(k, t, fildes, flags):
    """pipe2(int fildes[2], int flags): flags O_NONBLOCK and O_CLOEXEC."""
    return do_pipe2(k, fildes, flags)


@syscall
def sys_pipe(k, t, fildes):
    """pipe(int fildes[2]) (x86_64 only; arm64 has pipe2 alone)."""
    return do_pipe2(k, fildes, 0)


def pipe_fcntl(k, f: File, cmd: int, arg: int) -> int:
    """F_GETPIPE_SZ / F_SETPIPE_SZ (pipe_fcntl, pipe_set_size)."""
    if not isinstance(f, PipeFile):
        return fail(EBADF)
    pipe = f.pipe
    if cmd == F_GETPIPE_SZ:
        return pipe.max_usage * PAGE
    arg &= 0xFFFFFFFF
    size = 0 if arg > 1 << 31 else PAGE if arg < PAGE else 1 << (arg - 1).bit_length()
    nr_slots = size // PAGE
    if not nr_slots:
        return fail(EINVAL)
    if nr_slots > pipe.max_usage and size > PIPE_MAX_SIZE:
        return fail(EPERM)
    if nr_slots < len(pipe.bufs):
        return fail(EBUSY)
    pipe.max_usage = nr_slots
    pipe.wr_wait.wake()                            # there may be room for writers now
    return pipe.max_usage * PAGE
