"""The world outside the process, driven from Python: peers on the far end of a
guest's pipes and sockets, and callbacks at chosen virtual times.

Design note
  1. `Kernel.peer(fd)` gives a `Peer` holding the *other* end of what `fd`
     refers to, as a second process would: for a pipe's read end, a new write
     end of the same pipe (and for a write end, a new read end) -- so EOF
     comes only once the guest's writers *and* the peer are closed, and
     -EPIPE only once the guest's readers and the peer are; for a socket, the
     other socket of the pair (one more reference to it: it stays open while
     the peer holds it, even if the guest closes its descriptor); for an
     eventfd, the eventfd itself.  `Kernel.peer_pipe()` and
     `Kernel.peer_socket()` make a fresh pipe or pair whose far end only the
     peer holds -- a connection to the outside world.
  2. Peer I/O never blocks and never raises signals; it follows Python's
     non-blocking raw I/O: `read(n)` returns bytes, b"" at EOF, or None when
     nothing is there yet; `write(data)` returns the bytes taken (possibly
     fewer) or None when nothing fits; a vanished reader raises
     BrokenPipeError, a reset connection ConnectionResetError.  Each call
     wakes guest threads exactly as the same read or write from a thread
     would, at the current virtual time.
  3. `Kernel.at(ns, fn)` runs fn() when the virtual clock reaches `ns`
     nanoseconds, in order of time, then of registration.  The alarm is a
     machine CPU that never runs code, kept blocked with the earliest
     deadline (the machine's timeout mechanism, smp.py): when every thread
     is blocked the clock jumps exactly to it; when threads are running it
     fires at the first slice boundary where every running CPU has reached
     the time (a CPU may be up to one quantum past it, deterministically).
     Threads woken from the callback resume at that time.  With no alarm
     pending the CPU waits with no deadline, so deadlock detection is as
     before.  It is created on the first `at` (it takes the next CPU id).
Rejected alternatives:
  - a timer list checked in return_to_user: nothing would fire while every
    thread sleeps (the machine would report a deadlock first);
  - a new timer facility in the machine: the blocked-CPU deadline already is
    one, and the hardware layer stays untouched;
  - blocking peer calls: Python cannot sleep inside a machine that only
    advances when Python returns.
"""
from __future__ import annotations

import bisect
from typing import Callable

from ..machine.smp import RUN
from .errno import EAGAIN, ECONNRESET, EPIPE, fail
from .eventfd import EventFile
from .file import FMODE_READ, FMODE_WRITE, O_RDONLY, O_WRONLY, BytesIter, File
from .pipe import PipeFile, create_pipe
from .unix import SocketFile, create_socketpair
from .wait import Io, run_op


class Peer:
    """The far end of a guest's pipe, socket or eventfd (see the module note)."""

    def __init__(self, k, file: File, what: str):
        self.k = k
        self.file: File | None = file.get()
        self.what = what

    def __repr__(self) -> str:
        return f"<peer on {self.what}{' (closed)' if self.file is None else ''}>"

    def _file(self, mode: int) -> File:
        if self.file is None:
            raise ValueError(f"{self!r}: the peer is closed")
        if not self.file.mode & mode:
            raise ValueError(f"{self!r}: this end cannot {'read' if mode == FMODE_READ else 'write'}")
        return self.file

    def write(self, data: bytes) -> int | None:
        """Write without blocking: bytes taken, or None if nothing fits now."""
        f = self._file(FMODE_WRITE)
        io = Io(self.k, None, nonblock=True)
        n = run_op(io, f.write(io, BytesIter(data), len(data)), reason="peer write")
        self.k.run_woken()
        if n == fail(EAGAIN):
            return None
        if n == fail(EPIPE):
            raise BrokenPipeError(f"{self!r}: no reader left")
        if n < 0:
            raise OSError(-n, f"{self!r}: write failed")
        return n

    def read(self, n: int = 65536) -> bytes | None:
        """Read without blocking: up to n bytes, b"" at EOF, None if nothing yet."""
        f = self._file(FMODE_READ)
        io = Io(self.k, None, nonblock=True)
        sink = BytesIter()
        got = run_op(io, f.read(io, sink, n), reason="peer read")
        self.k.run_woken()
        if got == fail(EAGAIN):
            return None
        if got == fail(ECONNRESET):
            raise ConnectionResetError(f"{self!r}: connection reset")
        if got < 0:
            raise OSError(-got, f"{self!r}: read failed")
        return bytes(sink.data)

    def write_u64(self, value: int) -> int | None:
        """An eventfd write of `value` (8 bytes, little-endian)."""
        return self.write(value.to_bytes(8, "little"))

    def poll(self) -> int:
        """The peer end's current poll mask (EPOLLIN, EPOLLOUT, ...)."""
        if self.file is None:
            raise ValueError(f"{self!r}: the peer is closed")
        return self.file.poll(self.k)

    def close(self) -> None:
        """Drop the peer's end (idempotent): may give the guest EOF, EPOLLHUP ..."""
        if self.file is not None:
            f, self.file = self.file, None
            f.put(self.k)
            self.k.run_woken()


def peer_of(k, fd: int) -> Peer:
    """`Kernel.peer`: the far end of the file at `fd` (see the module note)."""
    f = k.files.get(fd)
    if f is None:
        raise ValueError(f"peer: fd {fd} is not open")
    if isinstance(f, PipeFile):
        other = PipeFile(f.pipe, O_WRONLY if f.mode & FMODE_READ else O_RDONLY)
        return Peer(k, other, f"the {'write' if f.mode & FMODE_READ else 'read'} end of the pipe of fd {fd}")
    if isinstance(f, SocketFile):
        sk = f.sock.peer
        if sk is None or sk.dead:
            raise ValueError(f"peer: the other end of socket fd {fd} is closed")
        return Peer(k, sk.file, f"the other end of socket fd {fd}")
    if isinstance(f, EventFile):
        return Peer(k, f, f"eventfd fd {fd}")
    raise ValueError(f"peer: fd {fd} is a {f.kind} file, which has no far end")


def peer_pipe(k, guest_end: str = "r", flags: int = 0) -> tuple[int, Peer]:
    """`Kernel.peer_pipe`: a pipe whose `guest_end` ("r" or "w") is installed at
    the lowest free descriptor; the peer holds the other end."""
    r, w = create_pipe(flags)
    mine, theirs = (r, w) if guest_end == "r" else (w, r)
    fd = k.files.alloc(mine)
    if fd < 0:
        raise OSError(-fd, "peer_pipe: no free descriptor")
    return fd, Peer(k, theirs, f"the {'write' if guest_end == 'r' else 'read'} end of the pipe of fd {fd}")


def peer_socket(k, flags: int = 0) -> tuple[int, Peer]:
    """`Kernel.peer_socket`: a connected unix stream socket at the lowest free
    descriptor; the peer holds the other end."""
    a, b = create_socketpair(flags)
    fd = k.files.alloc(a)
    if fd < 0:
        raise OSError(-fd, "peer_socket: no free descriptor")
    return fd, Peer(k, b, f"the other end of socket fd {fd}")


class Alarm:
    """The callbacks of `Kernel.at` (see the module note, 3)."""

    def __init__(self, k):
        self.k = k
        self.pending: list[tuple[int, int, Callable[[], None]]] = []   # (cycles, seq, fn)
        self.seq = 0
        self.cpu = None
        self.firing = False

    def at(self, ns: int, fn: Callable[[], None]) -> None:
        m = self.k.machine
        cycles = max(m.ns_to_cycles(ns), m.now())       # never in the past
        bisect.insort(self.pending, (cycles, self.seq, fn), key=lambda e: e[:2])
        self.seq += 1
        if self.cpu is None:
            self.cpu = m.new_cpu(cycles=0)
            m.block(self.cpu, self._deadline(), self._fire)
        elif not self.firing:
            m.wake(self.cpu, self.cpu.cycles)           # re-arm with the new earliest deadline
            m.block(self.cpu, self._deadline(), self._fire)

    def _deadline(self) -> int | None:
        return self.pending[0][0] if self.pending else None

    def _fire(self, cpu) -> None:
        """The machine woke the alarm CPU at its deadline: run what is due."""
        m = self.k.machine
        due = self.pending[0][0]
        cpu.cycles = due                       # the alarm's clock: the time of the callbacks
        self.firing = True
        try:
            while self.pending and self.pending[0][0] == due:
                fn = self.pending.pop(0)[2]
                fn()
                self.k.run_woken()
        finally:
            self.firing = False
        if cpu.state == RUN:
            m.block(cpu, self._deadline(), self._fire)
