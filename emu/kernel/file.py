"""Open files and the per-process file table: close, dup, dup3, fcntl
(fs/file.c, fs/file_table.c, fs/fcntl.c, fs/open.c).

Design note
  1. A `File` is Linux's struct file, an open file description: the status
     flags (`flags`: access mode, O_NONBLOCK, ...), a reference count, and the
     epoll items watching it.  Subclasses are the kinds of file there are:
     the console (fs.py), pipe ends (pipe.py), eventfds (eventfd.py), unix
     stream sockets (unix.py) and epoll instances (epoll.py).  Each supplies
     read / write / poll / release as its file_operations would.
  2. The `FdTable` maps descriptor numbers to Files, with the close-on-exec
     flag per descriptor (not per file, as in Linux: dup clears it).  A new
     descriptor is the lowest free number (at or above a start for F_DUPFD);
     past RLIMIT_NOFILE (1024, the default soft limit) there is none: -EMFILE.
  3. References: each descriptor holds one, and so do a sleeping operation
     (fdget), the Python-side peer (peer.py) and an epoll wait.  When the last
     one goes (`File.put`) the file is released as __fput does it: first its
     epoll items are removed (eventpoll_release), then the kind's release
     runs (the last writer of a pipe gone: readers see EOF).
  4. Descriptor arguments are decoded as the C prototypes say: close, dup,
     dup3, fcntl, read and write take an unsigned int (the upper half of the
     register is ignored); epoll_ctl takes an int (negative: -EBADF).
Deviations: fcntl knows F_DUPFD(_CLOEXEC), F_GETFD / F_SETFD, F_GETFL /
F_SETFL and F_GETPIPE_SZ / F_SETPIPE_SZ; the rest (locks, F_GETOWN / F_SETOWN,
F_SETSIG, leases, seals) is -EINVAL.  F_SETFL drops FASYNC (no SIGIO) and
refuses O_DIRECT.  No execve, so FD_CLOEXEC is only remembered.
Rejected: one global table keyed by (pid, fd) -- there is one process; and
Python-level file objects with their own buffering: reads and writes go
straight to the kind's implementation, as in Linux.
"""
from __future__ import annotations

from .errno import EBADF, EINVAL, EMFILE, fail
from .syscalls import syscall

# fcntl.h (x86_64 and arm64 share these values)
O_RDONLY, O_WRONLY, O_RDWR, O_ACCMODE = 0, 1, 2, 3
O_APPEND, O_NONBLOCK, FASYNC, O_CLOEXEC = 0x400, 0x800, 0x2000, 0x80000
O_DIRECT = {"amd64": 0x4000, "arm64": 0x10000}
O_NOATIME = 0x40000
SETFL_MASK = O_APPEND | O_NONBLOCK | O_NOATIME         # (O_DIRECT: see sys_fcntl)
F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL = 0, 1, 2, 3, 4
F_DUPFD_CLOEXEC, F_SETPIPE_SZ, F_GETPIPE_SZ = 1030, 1031, 1032
FD_CLOEXEC = 1
FMODE_READ, FMODE_WRITE = 1, 2
NOFILE = 1024                      # RLIMIT_NOFILE's default soft limit

# The top of user space: access_ok refuses a buffer that reaches past it.
TASK_SIZE = {"amd64": (1 << 47) - 4096, "arm64": 1 << 48}


def u32(x: int) -> int:
    """An ``unsigned int`` argument."""
    return x & 0xFFFFFFFF


def s32(x: int) -> int:
    """An ``int`` argument."""
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x >> 31 else x


def access_ok(k, addr: int, size: int) -> bool:
    """The range check every user pointer gets first (not whether it is mapped)."""
    limit = TASK_SIZE[k.isa.name]
    return size <= limit and addr <= limit - size


class UserIter:
    """An iov_iter over one guest buffer: each copy advances through it and
    raises GuestFault (-EFAULT) if the memory is not accessible."""

    __slots__ = ("mem", "addr")

    def __init__(self, mem, addr: int):
        self.mem, self.addr = mem, addr

    def copy_out(self, data: bytes) -> None:
        """copy_to_iter: kernel -> guest."""
        self.mem.copy_to_user(self.addr, data)
        self.addr += len(data)

    def copy_in(self, n: int) -> bytes:
        """copy_from_iter: guest -> kernel."""
        data = self.mem.copy_from_user(self.addr, n)
        self.addr += n
        return data


class BytesIter:
    """An iov_iter over Python bytes, for the peer (peer.py): a source to write
    from, or a sink that collects what is read."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes = b""):
        self.data, self.pos = bytearray(data), 0

    def copy_out(self, data: bytes) -> None:
        self.data += data

    def copy_in(self, n: int) -> bytes:
        out = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return out


class File:
    """struct file: see the module note.

    :ivar flags: f_flags: the access mode and the status flags (O_NONBLOCK,
        O_APPEND, O_NOATIME); F_GETFL returns it.
    :ivar refs: references (descriptors, sleeping operations, peers).
    :ivar ep_links: the epoll items watching this file (f_ep).
    Subclasses set `kind` (for reports) and `can_read` / `can_write` (the file
    has a read / write operation: FMODE_CAN_READ / FMODE_CAN_WRITE).
    """

    kind = "file"
    can_read = can_write = False

    def __init__(self, flags: int):
        self.flags = flags
        self.refs = 0
        self.ep_links: list = []

    def __repr__(self) -> str:
        return f"<{self.kind} file, {self.refs} refs>"

    @property
    def mode(self) -> int:
        """f_mode's FMODE_READ / FMODE_WRITE, from the access mode."""
        return {O_RDONLY: FMODE_READ, O_WRONLY: FMODE_WRITE}.get(self.flags & O_ACCMODE,
                                                                 FMODE_READ | FMODE_WRITE)

    @property
    def nonblock(self) -> bool:
        return bool(self.flags & O_NONBLOCK)

    def get(self) -> "File":
        self.refs += 1
        return self

    def put(self, k) -> None:
        """Drop a reference; the last one releases the file (__fput)."""
        if self.refs <= 0:
            raise AssertionError(f"File.put: {self!r} has no reference to drop")
        self.refs -= 1
        if self.refs == 0:
            for epi in list(self.ep_links):           # eventpoll_release comes first
                epi.ep.remove(k, epi)
            self.release(k)

    # ---- file_operations (defaults: what Linux does without the operation) --------
    def read(self, io, it, count: int):
        """Read up to `count` bytes into the iterator `it`: a result or a generator (wait.py)."""
        return fail(EINVAL)

    def write(self, io, it, count: int):
        return fail(EINVAL)

    def poll(self, k) -> int:
        """The current readiness mask (EPOLLIN, ...); only for pollable files."""
        raise AssertionError(f"File.poll: {self.kind} files are not pollable")

    def poll_queues(self) -> list:
        """The wait queues poll_wait() would register on; empty: not pollable (-EPERM from epoll)."""
        return []

    def check_flags(self, k, flags: int) -> int:
        """F_SETFL's per-kind check; 0 or -errno."""
        if flags & O_DIRECT[k.isa.name]:
            return fail(EINVAL)                       # no FMODE_CAN_ODIRECT here
        return 0

    def release(self, k) -> None:
        """The last reference is gone."""


class FdTable:
    """The process's descriptor table (files_struct).  See the module note."""

    def __init__(self):
        self.files: dict[int, File] = {}
        self.cloexec: set[int] = set()

    def get(self, fd: int) -> File | None:
        return self.files.get(fd)

    def lowest_free(self, start: int = 0) -> int:
        """The lowest unused descriptor >= start, or -EMFILE."""
        fd = start
        while fd in self.files:
            fd += 1
        return fd if fd < NOFILE else fail(EMFILE)

    def install(self, fd: int, file: File, cloexec: bool = False) -> int:
        """fd_install: `fd` (free) now refers to `file` (takes a new reference)."""
        if fd in self.files:
            raise AssertionError(f"FdTable.install: fd {fd} is in use")
        self.files[fd] = file.get()
        if cloexec:
            self.cloexec.add(fd)
        return fd

    def alloc(self, file: File, cloexec: bool = False, start: int = 0) -> int:
        """Install `file` at the lowest free descriptor; returns it or -EMFILE."""
        fd = self.lowest_free(start)
        return fd if fd < 0 else self.install(fd, file, cloexec)

    def close(self, k, fd: int) -> int:
        f = self.files.pop(fd, None)
        if f is None:
            return fail(EBADF)
        self.cloexec.discard(fd)
        f.put(k)
        return 0

    def replace(self, k, fd: int, file: File, cloexec: bool) -> None:
        """do_dup2: `fd` now refers to `file`; what it referred to is closed after."""
        old = self.files.get(fd)
        self.files[fd] = file.get()
        if cloexec:
            self.cloexec.add(fd)
        else:
            self.cloexec.discard(fd)
        if old is not None:
            old.put(k)


# ---- syscalls -------------------------------------------------------------------------------
@syscall
def sys_close(k, t, fd):
    return k.files.close(k, u32(fd))


@syscall
def sys_dup(k, t, fildes):
    f = k.files.get(u32(fildes))
    if f is None:
        return fail(EBADF)
    return k.files.alloc(f)


@syscall
def sys_dup3(k, t, oldfd, newfd, flags):
    """As Linux checks: flags, old == new, newfd's range, then oldfd."""
    oldfd, newfd, flags = u32(oldfd), u32(newfd), s32(flags)
    if flags & ~O_CLOEXEC:
        return fail(EINVAL)
    if oldfd == newfd:
        return fail(EINVAL)
    if newfd >= NOFILE:
        return fail(EBADF)
    f = k.files.get(oldfd)
    if f is None:
        return fail(EBADF)
    k.files.replace(k, newfd, f, bool(flags & O_CLOEXEC))
    return newfd


@syscall
def sys_fcntl(k, t, fd, cmd, arg):
    """F_DUPFD(_CLOEXEC), F_GETFD / F_SETFD, F_GETFL / F_SETFL, F_GETPIPE_SZ /
    F_SETPIPE_SZ; other commands are -EINVAL (see the module note)."""
    fd, cmd = u32(fd), u32(cmd)
    f = k.files.get(fd)
    if f is None:
        return fail(EBADF)
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        if arg >= NOFILE:
            return fail(EINVAL)
        return k.files.alloc(f, cloexec=cmd == F_DUPFD_CLOEXEC, start=arg)
    if cmd == F_GETFD:
        return FD_CLOEXEC if fd in k.files.cloexec else 0
    if cmd == F_SETFD:
        if arg & FD_CLOEXEC:
            k.files.cloexec.add(fd)
        else:
            k.files.cloexec.discard(fd)
        return 0
    if cmd == F_GETFL:
        return f.flags
    if cmd == F_SETFL:
        return _setfl(k, f, u32(arg))
    if cmd in (F_GETPIPE_SZ, F_SETPIPE_SZ):
        from .pipe import pipe_fcntl
        return pipe_fcntl(k, f, cmd, arg)
    return fail(EINVAL)


def _setfl(k, f: File, arg: int) -> int:
    """setfl(): only O_APPEND, O_NONBLOCK and O_NOATIME change (O_NOATIME needs
    the inode's owner: the process owns every inode here).  FASYNC (SIGIO) is
    not modelled, so it is dropped as for a file without ->fasync; O_DIRECT is
    refused (`File.check_flags`)."""
    err = f.check_flags(k, arg)
    if err:
        return err
    f.flags = (arg & SETFL_MASK) | (f.flags & ~SETFL_MASK)
    return 0
