"""Differential test: pipes, eventfds, unix socket pairs and epoll against the
host's Linux.

Hypothesis draws a sequence of operations (create pipes / eventfds / socket
pairs / epolls with chosen flags, epoll_ctl ADD / MOD / DEL with any interest
mask incl. EPOLLET, EPOLLONESHOT and EPOLLEXCLUSIVE and 64-bit data words,
dup, dup3 (onto descriptors of the sequence only), close, F_GETFL / F_SETFL / F_GETFD, F_SETPIPE_SZ / F_GETPIPE_SZ (up to
pipe-max-size: the host runs as root, which may go past it), reads and writes
of chosen sizes,
epoll_wait with timeout 0).  The sequence runs on the host through libc
(ctypes: the real syscalls, with the data words we choose) and on the
emulated kernel of both arches by calling the `sys_*` handlers directly with
a Task and guest buffers -- no instruction runs, so hundreds of sequences take
seconds.  Every result must agree exactly: byte counts, errnos, the bytes
read, F_GETFL values, and the (events, data) lists epoll_wait returns.

Event lists are compared as lists, in order: Linux's ready list is FIFO and
the emulated kernel keeps the same order (epoll.py, note 4), so the order is
deterministic on both sides and part of what must agree.

Only operations the host defines deterministically are drawn: every read and
write goes to a file that is O_NONBLOCK at that moment (the runner checks
F_GETFL on the host first and skips the operation otherwise), epoll_wait
always has timeout 0, operations only name descriptors the sequence opened and
has not closed (fd numbers differ between the host and the guest, so a closed
number could name something else on either side).  Results that name fds
(pipe2, socketpair, eventfd2, epoll_create1, dup) are compared as success or
-errno.  SIGPIPE is ignored on both sides (Python ignores it on the host).
"""
from __future__ import annotations

import ctypes
import os
import struct

import pytest
from hypothesis import HealthCheck, given, note, settings, strategies as st

from emu.analysis.hostlinux import host_libc
from emu.kernel import signal as S
from emu.kernel.syscalls import HANDLERS

from conftest import make_system
from probes import SYSCALL_PROBE

if os.uname().sysname != "Linux" or os.uname().machine != "x86_64":
    pytest.skip("the differential test needs an x86_64 Linux host", allow_module_level=True)

O_NONBLOCK, O_CLOEXEC, O_APPEND = 0x800, 0x80000, 0x400
F_GETFD, F_GETFL, F_SETFL, F_SETPIPE_SZ, F_GETPIPE_SZ = 1, 3, 4, 1031, 1032
IN, PRI, OUT, ERR, HUP, RDNORM, WRNORM, RDHUP = 0x1, 0x2, 0x4, 0x8, 0x10, 0x40, 0x100, 0x2000
EXCLUSIVE, ONESHOT, ET = 1 << 28, 1 << 30, 1 << 31

libc = host_libc()


def host(fn, *args) -> int:
    ctypes.set_errno(0)
    r = fn(*args)
    return r if r >= 0 else -ctypes.get_errno()


def pattern(n: int, seed: int) -> bytes:
    return bytes((seed + i * 7) & 0xFF for i in range(n))


# ---- the operations -------------------------------------------------------------------------
MASKS = st.sampled_from([IN, OUT, IN | OUT, IN | ET, OUT | ET, IN | OUT | ET, IN | OUT | RDHUP | ET,
                         IN | ONESHOT, IN | OUT | ONESHOT | ET, RDNORM | WRNORM, PRI, 0, ERR | HUP,
                         IN | RDHUP, IN | EXCLUSIVE, IN | OUT | EXCLUSIVE | ET, IN | ONESHOT | EXCLUSIVE])
SIZES = st.sampled_from([0, 1, 3, 7, 8, 9, 100, 4095, 4096, 4097, 5000, 36544, 36545, 65536, 70000])
IDX = st.integers(0, 31)
CREATE = st.one_of(
    st.tuples(st.just("pipe"), st.sampled_from([O_NONBLOCK, O_NONBLOCK, O_NONBLOCK | O_CLOEXEC, 0, 1])),
    st.tuples(st.just("eventfd"), st.sampled_from([0, 1, 3, 2**32 - 1]),
              st.sampled_from([O_NONBLOCK, O_NONBLOCK | 1, O_NONBLOCK | O_CLOEXEC, 0, 4])),
    st.tuples(st.just("socketpair"), st.sampled_from([O_NONBLOCK, O_NONBLOCK | O_CLOEXEC, 0]),
              st.sampled_from([(1, 1, 0)] * 6 + [(2, 1, 0), (1, 1, 7), (1, 0x101, 0)])),
    st.tuples(st.just("epoll"), st.sampled_from([0, 0, O_CLOEXEC, 1])),
)
CTL = st.tuples(st.just("ctl"), IDX, st.sampled_from([1, 1, 1, 2, 3, 3, 0]), IDX, MASKS, st.integers(0, 2**64 - 1))
WAIT = st.tuples(st.just("wait"), IDX, st.sampled_from([1, 2, 3, 8, 8, 8, 8, 8, 8, 0, -1]))
READ = st.tuples(st.just("read"), IDX, SIZES)
WRITE = st.one_of(st.tuples(st.just("write"), IDX, SIZES),
                  st.tuples(st.just("write_u64"), IDX, st.sampled_from([0, 1, 5, 2**64 - 2, 2**64 - 1, 2**63])))
OTHER = st.one_of(
    st.tuples(st.just("close"), IDX),
    st.tuples(st.just("dup"), IDX),
    st.tuples(st.just("dup3"), IDX, IDX, st.sampled_from([0, O_CLOEXEC, 1])),
    st.tuples(st.just("setfl"), IDX, st.sampled_from([O_NONBLOCK, 0, O_NONBLOCK | O_APPEND])),
    st.tuples(st.just("getfl"), IDX),
    st.tuples(st.just("pipesz"), IDX, st.sampled_from([0, 1, 4096, 5000, 8192, 16384, 65536, 1 << 20])),
)
# Weighted (one_of alone would weigh every leaf alike): the operations that
# make and observe events come most often.
_WEIGHTED = {"create": (CREATE, 2), "ctl": (CTL, 6), "wait": (WAIT, 6), "read": (READ, 5),
             "write": (WRITE, 5), "other": (OTHER, 3)}
OPS = st.sampled_from([k for k, (_, w) in _WEIGHTED.items() for _ in range(w)]).flatmap(
    lambda k: _WEIGHTED[k][0])
SEQUENCES = st.builds(lambda setup, body: setup + [("epoll", 0)] + body,
                      st.lists(CREATE, min_size=1, max_size=5), st.lists(OPS, min_size=5, max_size=50))


class Emu:
    """One emulated kernel, driven by direct handler calls."""

    def __init__(self, arch: str):
        self.arch = arch
        self.s = make_system(arch, SYSCALL_PROBE[arch])
        self.k, self.t = self.s.kernel, self.s.main
        self.k.sighand[S.SIGPIPE] = S.SigAction(handler=S.SIG_IGN)      # as Python on the host
        self.base = self.call("mmap", 0, 1 << 20, 3, 0x22, (1 << 64) - 1, 0)
        assert self.base > 0
        self.out, self.inp, self.small = self.base, self.base + (512 << 10), self.base + (1 << 20) - 4096

    def call(self, name, *args) -> int:
        res = HANDLERS[name](self.k, self.t, *[a & (2**64 - 1) for a in args])
        assert isinstance(res, int), f"{name}{args} would block: {res}"
        return res

    def pair(self, name, *args):
        res = self.call(name, *args, self.small) if name != "pipe2" else self.call(name, self.small, *args)
        return res, struct.unpack("<ii", self.k.mem.read(self.small, 8))

    def event(self, events, data):
        if self.arch == "amd64":
            self.k.mem.write(self.small, struct.pack("<IQ", events, data))
        else:
            self.k.mem.write(self.small, struct.pack("<IIQ", events, 0, data))
        return self.small

    def events(self, n):
        size, off = (12, 4) if self.arch == "amd64" else (16, 8)
        raw = self.k.mem.read(self.out, size * n)
        return [(struct.unpack_from("<I", raw, i * size)[0], struct.unpack_from("<Q", raw, i * size + off)[0])
                for i in range(n)]


class HostEvent(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("events", ctypes.c_uint32), ("data", ctypes.c_uint64)]


def run_sequence(ops, explain=note) -> None:
    emus = [Emu("amd64"), Emu("arm64")]
    slots: list[list] = []            # [host fd, [emu fds], open, kind]
    log = []

    def live(i, kinds=None):
        cands = [s for s in slots if s[2] and (kinds is None or s[3] in kinds)]
        return cands[i % len(cands)] if cands else None

    def data_file(i):
        """Mostly a pipe, socket or eventfd; an epoll for one index in eight."""
        return live(i, None if i % 8 == 7 else ("pipe", "socket", "eventfd")) or live(i)

    def new_slot(hfd, efds, kind):
        slots.append([hfd, efds, True, kind])

    def check(what, h, es):
        log.append(f"{what}: host {h} emu {es}")
        for e in es:
            assert e == h, "\n".join(log)

    try:
        for n, op in enumerate(ops):
            kind = op[0]
            if kind == "pipe":
                fds = (ctypes.c_int * 2)()
                h = host(libc.pipe2, fds, op[1])
                es = [e.pair("pipe2", op[1]) for e in emus]
                check(f"pipe2({op[1]:#x})", h, [r for r, _ in es])
                if h == 0:
                    new_slot(fds[0], [p[0] for _, p in es], "pipe")
                    new_slot(fds[1], [p[1] for _, p in es], "pipe")
            elif kind == "eventfd":
                h = host(libc.eventfd, op[1], op[2])
                es = [e.call("eventfd2", op[1], op[2]) for e in emus]
                check(f"eventfd2({op[1]}, {op[2]:#x})", min(h, 0), [min(r, 0) for r in es])
                if h >= 0:
                    new_slot(h, es, "eventfd")
            elif kind == "socketpair":
                flags, (fam, typ, proto) = op[1], op[2]
                fds = (ctypes.c_int * 2)()
                h = host(libc.socketpair, fam, typ | flags, proto, fds)
                es = [e.pair("socketpair", fam, typ | flags, proto) for e in emus]
                check(f"socketpair({fam}, {typ | flags:#x}, {proto})", h, [r for r, _ in es])
                if h == 0:
                    new_slot(fds[0], [p[0] for _, p in es], "socket")
                    new_slot(fds[1], [p[1] for _, p in es], "socket")
            elif kind == "epoll":
                h = host(libc.epoll_create1, op[1])
                es = [e.call("epoll_create1", op[1]) for e in emus]
                check(f"epoll_create1({op[1]:#x})", min(h, 0), [min(r, 0) for r in es])
                if h >= 0:
                    new_slot(h, es, "epoll")
            elif kind == "ctl":
                ep, target = live(op[1], ("epoll",)), data_file(op[3])
                if ep is None or target is None:
                    continue
                ctl, events, data = op[2], op[4], op[5]
                ev = HostEvent(events, data)
                h = host(libc.epoll_ctl, ep[0], ctl, target[0], ctypes.byref(ev))
                es = [e.call("epoll_ctl", ep[1][i], ctl, target[1][i], e.event(events, data))
                      for i, e in enumerate(emus)]
                check(f"epoll_ctl(ep {slots.index(ep)}, {ctl}, slot {slots.index(target)} {target[3]}, "
                      f"{events:#x}, {data:#x})", h, es)
            elif kind in ("read", "write", "write_u64"):
                s = data_file(op[1])
                if s is None:
                    continue
                fl = host(libc.fcntl, s[0], F_GETFL, 0)
                if s[3] != "epoll" and not fl & O_NONBLOCK:
                    continue                                  # it could block: not drawn
                if kind == "read":
                    size = op[2]
                    buf = ctypes.create_string_buffer(max(size, 1))
                    h = host(libc.read, s[0], buf, size)
                    es = [e.call("read", s[1][i], e.inp, size) for i, e in enumerate(emus)]
                    check(f"read(slot {slots.index(s)} {s[3]}, {size})", h, es)
                    if h > 0:
                        for e in emus:
                            assert e.k.mem.read(e.inp, h) == buf.raw[:h], "\n".join(log)
                else:
                    data = pattern(op[2], n) if kind == "write" else struct.pack("<Q", op[2])
                    h = host(libc.write, s[0], data, len(data))
                    es = []
                    for i, e in enumerate(emus):
                        e.k.mem.write(e.out, data)
                        es.append(e.call("write", s[1][i], e.out, len(data)))
                    check(f"write(slot {slots.index(s)} {s[3]}, {len(data)})", h, es)
            elif kind == "wait":
                ep = live(op[1], ("epoll",))
                if ep is None:
                    continue
                maxevents = op[2]
                arr = (HostEvent * 8)()
                h = host(libc.epoll_wait, ep[0], arr, maxevents, 0)
                es = [e.call("epoll_pwait", ep[1][i], e.out, maxevents, 0, 0, 8) for i, e in enumerate(emus)]
                check(f"epoll_wait(slot {slots.index(ep)}, {maxevents})", h, es)
                if h > 0:
                    got = [(arr[i].events, arr[i].data) for i in range(h)]
                    for e in emus:
                        assert e.events(h) == got, "\n".join(log + [f"host events {got}", f"{e.arch} {e.events(h)}"])
                    log.append(f"  events {[(hex(a), hex(b)) for a, b in got]}")
            elif kind == "close":
                s = live(op[1])
                if s is None:
                    continue
                h = host(libc.close, s[0])
                es = [e.call("close", s[1][i]) for i, e in enumerate(emus)]
                check(f"close(slot {slots.index(s)} {s[3]})", h, es)
                s[2] = False
            elif kind == "dup":
                s = live(op[1])
                if s is None:
                    continue
                h = host(libc.dup, s[0])
                es = [e.call("dup", s[1][i]) for i, e in enumerate(emus)]
                check(f"dup(slot {slots.index(s)} {s[3]})", min(h, 0), [min(r, 0) for r in es])
                if h >= 0:
                    new_slot(h, es, s[3])
            elif kind == "dup3":
                old, new = live(op[1]), live(op[2])
                if old is None:
                    continue
                h = host(libc.dup3, old[0], new[0], op[3])
                es = [e.call("dup3", old[1][i], new[1][i], op[3]) for i, e in enumerate(emus)]
                check(f"dup3(slot {slots.index(old)} {old[3]}, slot {slots.index(new)} {new[3]}, {op[3]:#x})",
                      min(h, 0), [min(r, 0) for r in es])
                if h >= 0:
                    new[3] = old[3]
            elif kind == "setfl":
                s = live(op[1])
                if s is None:
                    continue
                h = host(libc.fcntl, s[0], F_SETFL, op[2])
                es = [e.call("fcntl", s[1][i], F_SETFL, op[2]) for i, e in enumerate(emus)]
                check(f"F_SETFL(slot {slots.index(s)} {s[3]}, {op[2]:#x})", h, es)
            elif kind == "pipesz":
                s = live(op[1])
                if s is None:
                    continue
                for cmd, arg in ((F_SETPIPE_SZ, op[2]), (F_GETPIPE_SZ, 0)):
                    h = host(libc.fcntl, s[0], cmd, arg)
                    es = [e.call("fcntl", s[1][i], cmd, arg) for i, e in enumerate(emus)]
                    check(f"fcntl(slot {slots.index(s)} {s[3]}, {cmd}, {arg})", h, es)
            elif kind == "getfl":
                s = live(op[1])
                if s is None:
                    continue
                for cmd in (F_GETFL, F_GETFD):
                    h = host(libc.fcntl, s[0], cmd, 0)
                    es = [e.call("fcntl", s[1][i], cmd, 0) for i, e in enumerate(emus)]
                    check(f"fcntl(slot {slots.index(s)} {s[3]}, {cmd})", h, es)
    finally:
        for s in slots:
            if s[2]:
                os.close(s[0])
        explain("\n".join(log))


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=SEQUENCES)
def test_epoll_and_files_agree_with_the_host(ops):
    run_sequence(ops)


def test_a_fixed_sequence_agrees_with_the_host():
    """A hand-written sequence over every kind, so a regression shows without search."""
    run_sequence(explain=print, ops=[
        ("pipe", O_NONBLOCK), ("socketpair", O_NONBLOCK, (1, 1, 0)), ("eventfd", 0, O_NONBLOCK),
        ("epoll", 0), ("epoll", 0),
        ("ctl", 0, 1, 0, IN | ET, 0x1122334455667788), ("ctl", 0, 1, 1, OUT | ET, 2),
        ("ctl", 0, 1, 2, IN | OUT | RDHUP | ET, 3), ("ctl", 0, 1, 4, IN, 4), ("ctl", 0, 1, 5, IN | OUT, 5),
        ("ctl", 1, 1, 5, IN, 6), ("ctl", 1, 1, 0, IN, 7),
        ("wait", 0, 8), ("wait", 1, 8), ("write", 1, 5000), ("write", 2, 100), ("write_u64", 4, 3),
        ("wait", 0, 2), ("wait", 0, 8), ("wait", 1, 8), ("read", 0, 4096), ("read", 3, 7),
        ("close", 3), ("wait", 0, 8), ("read", 2, 100), ("read", 2, 100), ("write", 2, 1),
        ("close", 1), ("wait", 0, 8), ("read", 0, 9000), ("read", 0, 9000), ("wait", 1, 8),
    ])
