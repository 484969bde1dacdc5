"""Exercise `epoll`: the ready list -- level-triggered, edge-triggered and one-shot
(Linux: fs/eventpoll.c ep_poll_callback and ep_send_events).

The student writes the two functions where the three modes differ (epoll.py):
`ep_poll_callback(epi, key)` (a file's wait queue was woken: queue the item) and
`ep_send_events(ep, k, uevents, maxevents)` (epoll_wait: report the ready items).
They stand for methods of emu/kernel/epoll.py's classes (EpItem.wake,
Epoll.send_events), which the grader sets on the classes in the forked child of each
test run.

The oracle is the host's Linux: the same sequences of pipe / eventfd / socketpair /
epoll system calls run on the host through libc and on the emulated kernel of the
arch under test (direct handler calls, no instructions), and every result must
agree, event lists in order.  On a host that is not Linux the project's own epoll
is the oracle instead.  Two runtime programs then check Go's netpoller, which
registers every pipe end edge-triggered.
"""
from __future__ import annotations

import ctypes
import os
import platform
import random
import struct

from emu.analysis.hostlinux import host_libc
from emu.grade import Exercise
from emu.trace.events import Recorder

STUDENT = {"ep_poll_callback": ("EpItem", "wake"), "ep_send_events": ("Epoll", "send_events")}
METHODS = {fname: f"emu.kernel.epoll.{cls}.{meth}" for fname, (cls, meth) in STUDENT.items()}


EX = Exercise(
    name="epoll",
    title="epoll's ready list: level-triggered, edge-triggered, one-shot",
    kind="python",
    replaces=METHODS,        # methods: the grader sets the student's functions on the classes
    files={"*": "epoll.py"},
    seeds=(1, 2),
)


def _reference_methods():
    from emu.kernel import epoll as E
    return E.EpItem.__dict__["wake"], E.Epoll.__dict__["send_events"]


REFERENCE = _reference_methods()     # taken at import, before any student code is installed

O_NONBLOCK = 0x800
IN, PRI, OUT, ERR, HUP, RDNORM, WRNORM, RDHUP = 0x1, 0x2, 0x4, 0x8, 0x10, 0x40, 0x100, 0x2000
EXCLUSIVE, ONESHOT, ET = 1 << 28, 1 << 30, 1 << 31
ADD, DEL, MOD = 1, 2, 3
CTL_NAMES = {ADD: "ADD", DEL: "DEL", MOD: "MOD"}
BIT_NAMES = [(ET, "ET"), (ONESHOT, "ONESHOT"), (EXCLUSIVE, "EXCLUSIVE"), (RDHUP, "RDHUP"), (WRNORM, "WRNORM"),
             (RDNORM, "RDNORM"), (HUP, "HUP"), (ERR, "ERR"), (OUT, "OUT"), (PRI, "PRI"), (IN, "IN")]
ERRNO = {1: "EPERM", 2: "ENOENT", 9: "EBADF", 11: "EAGAIN", 14: "EFAULT", 17: "EEXIST", 22: "EINVAL", 32: "EPIPE"}
BUDGET = 20_000_000


def flags(m: int) -> str:
    names = [n for b, n in BIT_NAMES if m & b]
    rest = m & ~sum(b for b, _ in BIT_NAMES)
    return "|".join(names + ([f"{rest:#x}"] if rest else [])) or "0"


def result(r: int) -> str:
    return f"-{ERRNO.get(-r, -r)}" if r < 0 else str(r)


# ---- two kernels that run the same system calls ------------------------------------------------
class HostEvent(ctypes.Structure):
    _pack_ = 1 if platform.machine() in ("x86_64", "AMD64", "i686") else 8
    _fields_ = [("events", ctypes.c_uint32), ("data", ctypes.c_uint64)]


def host_available() -> bool:
    return platform.system() == "Linux" and hasattr(ctypes.CDLL(None), "epoll_create1")


class Host:
    """The host's Linux, through libc (every file non-blocking)."""

    name = "Linux"

    def __init__(self):
        self.libc = host_libc()
        self.open: list[int] = []

    def _r(self, r: int) -> int:
        return r if r >= 0 else -ctypes.get_errno()

    def _call(self, fn, *args) -> int:
        ctypes.set_errno(0)
        return self._r(fn(*args))

    def pair(self, kind: str) -> tuple[int, int]:
        fds = (ctypes.c_int * 2)()
        if kind == "pipe":
            r = self._call(self.libc.pipe2, fds, O_NONBLOCK)
        else:
            r = self._call(self.libc.socketpair, 1, 1 | O_NONBLOCK, 0, fds)
        assert r == 0, f"host {kind}: {r}"
        self.open += [fds[0], fds[1]]
        return fds[0], fds[1]

    def eventfd(self, init: int) -> int:
        fd = self._call(self.libc.eventfd, init, O_NONBLOCK)
        assert fd >= 0
        self.open.append(fd)
        return fd

    def epoll(self) -> int:
        fd = self._call(self.libc.epoll_create1, 0)
        assert fd >= 0
        self.open.append(fd)
        return fd

    def ctl(self, ep, op, fd, events, data) -> int:
        ev = HostEvent(events, data)
        return self._call(self.libc.epoll_ctl, ep, op, fd, ctypes.byref(ev))

    def wait(self, ep, maxevents) -> tuple[int, list]:
        arr = (HostEvent * 16)()
        n = self._call(self.libc.epoll_wait, ep, arr, maxevents, 0)
        return n, [(arr[i].events, arr[i].data) for i in range(max(n, 0))]

    def read(self, fd, n) -> tuple[int, bytes]:
        buf = ctypes.create_string_buffer(max(n, 1))
        r = self._call(self.libc.read, fd, buf, n)
        return r, buf.raw[:max(r, 0)]

    def write(self, fd, data: bytes) -> int:
        return self._call(self.libc.write, fd, data, len(data))

    def close(self, fd) -> int:
        if fd in self.open:
            self.open.remove(fd)
        return self._call(self.libc.close, fd)

    def finish(self):
        for fd in self.open:
            os.close(fd)
        self.open = []


IDLE = {"amd64": ".text\n.globl _start\n_start:\n    xor edi, edi\n    mov eax, 231\n    syscall\n",
        "arm64": ".text\n.globl _start\n_start:\n    mov x0, #0\n    mov x8, #94\n    svc #0\n"}


class Emulated:
    """The emulated kernel of one arch, driven by direct calls of its syscall handlers."""

    name = "your epoll"

    def __init__(self, ctx):
        from emu.kernel import signal as S
        from emu.kernel.syscalls import HANDLERS
        self.arch, self.handlers = ctx.arch, HANDLERS
        self.s = ctx.system([("idle.s", IDLE[ctx.arch])], bare=True)
        self.k, self.t = self.s.kernel, self.s.main
        self.k.sighand[S.SIGPIPE] = S.SigAction(handler=S.SIG_IGN)     # as Python on the host
        self.base = self.call("mmap", 0, 1 << 20, 3, 0x22, (1 << 64) - 1, 0)
        self.out, self.inp, self.small = self.base, self.base + (512 << 10), self.base + (1 << 20) - 4096

    def call(self, name, *args) -> int:
        r = self.handlers[name](self.k, self.t, *[a & (2**64 - 1) for a in args])
        if not isinstance(r, int):
            raise AssertionError(f"{name}{args} would block in the emulated kernel")
        return r

    def pair(self, kind):
        if kind == "pipe":
            r = self.call("pipe2", self.small, O_NONBLOCK)
        else:
            r = self.call("socketpair", 1, 1 | O_NONBLOCK, 0, self.small)
        assert r == 0, f"emulated {kind}: {r}"
        return struct.unpack("<ii", self.k.mem.read(self.small, 8))

    def eventfd(self, init):
        return self.call("eventfd2", init, O_NONBLOCK)

    def epoll(self):
        return self.call("epoll_create1", 0)

    def ctl(self, ep, op, fd, events, data):
        if self.arch == "amd64":
            self.k.mem.write(self.small, struct.pack("<IQ", events, data))
        else:
            self.k.mem.write(self.small, struct.pack("<IIQ", events, 0, data))
        return self.call("epoll_ctl", ep, op, fd, self.small)

    def wait(self, ep, maxevents):
        n = self.call("epoll_pwait", ep, self.out, maxevents, 0, 0, 8)
        size, off = (12, 4) if self.arch == "amd64" else (16, 8)
        raw = self.k.mem.read(self.out, size * max(n, 0))
        return n, [(struct.unpack_from("<I", raw, i * size)[0], struct.unpack_from("<Q", raw, i * size + off)[0])
                   for i in range(max(n, 0))]

    def read(self, fd, n):
        r = self.call("read", fd, self.inp, n)
        return r, self.k.mem.read(self.inp, r) if r > 0 else b""

    def write(self, fd, data):
        self.k.mem.write(self.out, data)
        return self.call("write", fd, self.out, len(data))

    def close(self, fd):
        return self.call("close", fd)

    def finish(self):
        pass


class Reference(Emulated):
    """The project's own epoll, as the oracle when the host is not Linux."""

    name = "the reference epoll"

    def __init__(self, ctx, originals):
        super().__init__(ctx)
        self.originals = originals

    def call(self, name, *args):
        from emu.kernel import epoll as E
        mine = (E.EpItem.wake, E.Epoll.send_events)
        E.EpItem.wake, E.Epoll.send_events = self.originals
        try:
            return super().call(name, *args)
        finally:
            E.EpItem.wake, E.Epoll.send_events = mine


# ---- sequences -----------------------------------------------------------------------------------
# An op names files: ("pipe", "A") makes A.r and A.w; ("socketpair", "S") makes S.0 and S.1;
# ("eventfd", "E", init); ("ctl", ADD|MOD|DEL, file, events, data); ("write", file, n);
# ("write_u64", file, value); ("read", file, n); ("wait", maxevents); ("close", file).
# One epoll, "ep", exists from the start.

def describe(op) -> str:
    kind = op[0]
    if kind == "pipe":
        return f"pipe {op[1]} ({op[1]}.r, {op[1]}.w)"
    if kind == "socketpair":
        return f"socketpair {op[1]} ({op[1]}.0, {op[1]}.1)"
    if kind == "eventfd":
        return f"eventfd {op[1]} = {op[2]}"
    if kind == "ctl":
        return f"epoll_ctl({CTL_NAMES[op[1]]}, {op[2]}, {flags(op[3])}, data {op[4]:#x})"
    if kind == "write":
        return f"write({op[1]}, {op[2]} bytes)"
    if kind == "write_u64":
        return f"write({op[1]}, u64 {op[2]})"
    if kind == "read":
        return f"read({op[1]}, {op[2]})"
    if kind == "wait":
        return f"epoll_wait(ep, maxevents {op[1]})"
    return f"close({op[1]})"


def events_text(evs) -> str:
    return "[" + ", ".join(f"({flags(e)}, {d:#x})" for e, d in evs) + "]"


class Divergence(Exception):
    pass


def run_sequence(ctx, ops, oracle_cls, title: str) -> None:
    """Run `ops` on the oracle and on the emulated kernel; fail at the first difference
    with the transcript and what the difference means."""
    emu = Emulated(ctx)
    oracle = Host() if oracle_cls is Host else Reference(ctx, REFERENCE)
    sides = (oracle, emu)
    fds = [dict(), dict()]
    eps = [side.epoll() for side in sides]
    log: list[str] = []
    interest: dict[int, tuple[str, int]] = {}        # data word -> (file, events), as the oracle accepted
    since: dict[int, list[str]] = {}                 # data word -> what happened to its file since last reported
    try:
        for n, op in enumerate(ops):
            kind = op[0]
            if kind in ("pipe", "socketpair"):
                names = (f"{op[1]}.r", f"{op[1]}.w") if kind == "pipe" else (f"{op[1]}.0", f"{op[1]}.1")
                for i, side in enumerate(sides):
                    a, b = side.pair(kind)
                    fds[i][names[0]], fds[i][names[1]] = a, b
                log.append(describe(op))
                continue
            if kind == "eventfd":
                for i, side in enumerate(sides):
                    fds[i][op[1]] = side.eventfd(op[2])
                log.append(describe(op))
                continue
            if kind == "ctl":
                res = [side.ctl(eps[i], op[1], fds[i][op[2]], op[3], op[4]) for i, side in enumerate(sides)]
                if res[0] == 0:
                    if op[1] == DEL:
                        for d in [d for d, (f, _) in interest.items() if f == op[2]]:
                            del interest[d]
                    else:
                        for d in [d for d, (f, _) in interest.items() if f == op[2]]:
                            del interest[d]
                        interest[op[4]] = (op[2], op[3])
                        since[op[4]] = [describe(op)]
                check(ctx, title, log, op, res, sides)
                continue
            if kind in ("write", "write_u64", "read", "close"):
                name = op[1]
                if kind == "write":
                    data = bytes((n * 7 + j) & 0xFF for j in range(op[2]))
                    res = [side.write(fds[i][name], data) for i, side in enumerate(sides)]
                elif kind == "write_u64":
                    res = [side.write(fds[i][name], struct.pack("<Q", op[2])) for i, side in enumerate(sides)]
                elif kind == "read":
                    got = [side.read(fds[i][name], op[2]) for i, side in enumerate(sides)]
                    res = [r for r, _ in got]
                    if res[0] == res[1] and got[0][1] != got[1][1]:
                        raise Divergence(f"{describe(op)} read other bytes than Linux")
                else:
                    res = [side.close(fds[i][name]) for i, side in enumerate(sides)]
                pair_of = name.rsplit(".", 1)[0]
                for d, (f, _) in interest.items():
                    if f.rsplit(".", 1)[0] == pair_of:
                        since.setdefault(d, []).append(f"{describe(op)} = {result(res[0])}")
                check(ctx, title, log, op, res, sides)
                continue
            if kind == "wait":
                got = [side.wait(eps[i], op[1]) for i, side in enumerate(sides)]
                if got[0] != got[1]:
                    ctx.fail(explain_wait(title, log, op, got, interest, since, oracle.name))
                log.append(f"{describe(op)} -> {events_text(got[0][1])}")
                for _, d in got[0][1]:
                    since[d] = []
                continue
            raise ValueError(f"unknown op {op!r}")
    except Divergence as e:
        ctx.fail(f"{title}: {e}\n" + transcript(log))
    finally:
        oracle.finish()


def check(ctx, title, log, op, res, sides):
    if res[0] != res[1]:
        ctx.fail(f"{title}: {describe(op)} returned {result(res[1])} on {sides[1].name} but {result(res[0])} on "
                 f"{sides[0].name}\n" + transcript(log))
    log.append(f"{describe(op)} = {result(res[0])}")


def transcript(log, last: int = 14) -> str:
    lines = log[-last:]
    head = [f"      ... ({len(log) - last} earlier steps)"] if len(log) > last else []
    return "    after:\n" + "\n".join(head + [f"      {x}" for x in lines])


def explain_wait(title, log, op, got, interest, since, oracle_name) -> str:
    (n0, want), (n1, mine) = got
    head = (f"{title}: {describe(op)} returned {events_text(mine)} on your epoll, but {oracle_name} returns "
            f"{events_text(want)}")
    why = ""
    want_d, mine_d = [d for _, d in want], [d for _, d in mine]
    extra = [d for d in mine_d if d not in want_d]
    missing = [d for d in want_d if d not in mine_d]
    if extra:
        d = extra[0]
        f, ev = interest.get(d, ("?", 0))
        happened = "; ".join(since.get(d, [])) or "nothing"
        if ev & ONESHOT:
            why = (f"{f} ({flags(ev)}) was reported again, but a one-shot item is disabled after it reports an event "
                   f"and stays silent until EPOLL_CTL_MOD re-arms it (since its last report: {happened})")
        elif ev & ET:
            why = (f"{f} is edge-triggered ({flags(ev)}) and nothing woke it since epoll_wait last reported it "
                   f"(since then: {happened}): an edge-triggered item is reported once per event, not again while "
                   f"its file stays ready; only a level-triggered item goes back on the ready list after a report")
        else:
            why = f"{f} ({flags(ev)}) is not ready for its interest on Linux (since its last report: {happened})"
    elif missing:
        d = missing[0]
        f, ev = interest.get(d, ("?", 0))
        happened = "; ".join(since.get(d, [])) or "nothing"
        if ev & ET and not ev & ONESHOT:
            why = (f"an edge was lost: {f} is edge-triggered ({flags(ev)}) and since its last report: {happened}. "
                   f"Every wakeup of the file's wait queue (each write, even while the file is still readable) "
                   f"is a new edge that queues the item again")
        elif ev & ONESHOT:
            why = (f"{f} ({flags(ev)}) is armed and ready (since its last report: {happened}); a one-shot item "
                   f"reports once after each ADD or MOD")
        else:
            why = (f"{f} is level-triggered ({flags(ev)}): while its file is ready it is reported by every "
                   f"epoll_wait, so after reporting it put it back at the tail of the ready list "
                   f"(since its last report: {happened})")
    elif n0 != n1 or want != mine:
        why = ("the same items, but not the same events or order: epoll_wait reports items in ready-list order "
               "(FIFO); items it cannot report for lack of room (maxevents) stay at the head; a level-triggered "
               "item that was reported goes back at the tail")
    return f"{head}: {why}\n" + transcript(log)


def oracle_for(ctx):
    return Host if host_available() else Reference


def run(ctx, sequences: dict):
    cls = oracle_for(ctx)
    for title, ops in sequences.items():
        run_sequence(ctx, ops, cls, title)


# ---- the fixed sequences ----------------------------------------------------------------------
LEVEL = {
    "level-triggered pipe ends": [
        ("pipe", "A"), ("pipe", "B"),
        ("ctl", ADD, "A.r", IN, 0xA1), ("ctl", ADD, "B.w", OUT, 0xB2),
        ("wait", 8), ("wait", 8), ("write", "A.w", 5), ("wait", 8), ("wait", 8),
        ("read", "A.r", 3), ("wait", 1), ("wait", 8), ("read", "A.r", 2), ("wait", 8), ("wait", 8),
        ("write", "A.w", 1), ("wait", 8), ("ctl", DEL, "B.w", 0, 0), ("wait", 8), ("read", "A.r", 8),
        ("wait", 8),
    ],
    "level-triggered eventfd and socket": [
        ("eventfd", "E", 0), ("socketpair", "S"),
        ("ctl", ADD, "E", IN | OUT, 0xE1), ("ctl", ADD, "S.0", IN, 0x51),
        ("wait", 8), ("write_u64", "E", 3), ("wait", 8), ("wait", 2), ("write", "S.1", 10), ("wait", 1),
        ("wait", 8), ("wait", 8), ("read", "E", 8), ("wait", 8), ("read", "S.0", 4), ("wait", 8),
        ("read", "S.0", 6), ("wait", 8), ("close", "S.1"), ("wait", 8), ("wait", 8),
    ],
}
EDGE = {
    "edge-triggered pipe": [
        ("pipe", "A"), ("ctl", ADD, "A.r", IN | ET, 0xA1), ("wait", 8),
        ("write", "A.w", 4), ("wait", 8), ("wait", 8),
        ("read", "A.r", 2), ("wait", 8),
        ("write", "A.w", 1), ("wait", 8), ("wait", 8),
        ("write", "A.w", 1), ("write", "A.w", 1), ("wait", 8), ("wait", 8),
        ("read", "A.r", 100), ("wait", 8), ("write", "A.w", 3), ("wait", 8),
        ("ctl", ADD, "A.w", OUT | ET, 0xA2), ("wait", 8), ("wait", 8), ("read", "A.r", 100), ("wait", 8),
        ("ctl", MOD, "A.w", OUT | ET, 0xA3), ("wait", 8), ("wait", 8),
    ],
    "edge-triggered eventfd and socket": [
        ("eventfd", "E", 0), ("socketpair", "S"),
        ("ctl", ADD, "E", IN | ET, 0xE1), ("wait", 8),
        ("write_u64", "E", 1), ("write_u64", "E", 2), ("wait", 8), ("wait", 8),
        ("write_u64", "E", 0), ("wait", 8), ("read", "E", 8), ("wait", 8),
        ("ctl", ADD, "S.0", IN | OUT | RDHUP | ET, 0x50), ("wait", 8), ("wait", 8),
        ("write", "S.1", 3), ("wait", 8), ("wait", 8), ("write", "S.1", 3), ("wait", 8),
        ("read", "S.0", 2), ("wait", 8), ("close", "S.1"), ("wait", 8), ("wait", 8),
    ],
    "edge- and level-triggered together": [
        ("pipe", "A"), ("pipe", "B"),
        ("ctl", ADD, "A.r", IN | ET, 0xA1), ("ctl", ADD, "B.r", IN, 0xB1),
        ("write", "B.w", 2), ("write", "A.w", 2), ("wait", 8), ("wait", 8), ("wait", 1),
        ("write", "A.w", 1), ("wait", 1), ("wait", 8), ("read", "B.r", 2), ("wait", 8),
    ],
}
ONESHOT_SEQ = {
    "one-shot": [
        ("pipe", "A"), ("pipe", "B"),
        ("ctl", ADD, "A.r", IN | ONESHOT, 0xA1), ("wait", 8),
        ("write", "A.w", 3), ("wait", 8), ("wait", 8), ("write", "A.w", 1), ("wait", 8),
        ("ctl", MOD, "A.r", IN | ONESHOT, 0xA4), ("wait", 8), ("wait", 8),
        ("ctl", ADD, "B.r", IN | ET | ONESHOT, 0xB1), ("write", "B.w", 1), ("write", "B.w", 1),
        ("wait", 8), ("write", "B.w", 1), ("wait", 8),
        ("ctl", MOD, "B.r", IN | ET | ONESHOT, 0xB2), ("wait", 8), ("wait", 8),
        ("ctl", MOD, "A.r", IN, 0xA5), ("wait", 8), ("wait", 8),
        ("ctl", DEL, "A.r", 0, 0), ("wait", 8), ("ctl", MOD, "A.r", IN, 0xA6), ("ctl", ADD, "B.r", IN, 0xB3),
    ],
}


@EX.test(2, budget=BUDGET)
def level_triggered(ctx):
    """Level-triggered items are reported by every epoll_wait while ready, in ready-list order (Linux is the oracle)."""
    run(ctx, LEVEL)


@EX.test(3, budget=BUDGET)
def edge_triggered(ctx):
    """EPOLLET items are reported once per wakeup of their file: again after a new write, never without one."""
    run(ctx, EDGE)


@EX.test(2, budget=BUDGET)
def oneshot(ctx):
    """EPOLLONESHOT items report one event, then stay disabled until EPOLL_CTL_MOD re-arms them."""
    run(ctx, ONESHOT_SEQ)


# ---- seeded random sequences --------------------------------------------------------------------
MASKS = [IN, OUT, IN | OUT, IN | ET, OUT | ET, IN | OUT | ET, IN | OUT | RDHUP | ET, IN | ONESHOT,
         IN | ONESHOT | ET, IN | OUT | ONESHOT, RDNORM, IN | RDHUP]
SIZES = [1, 2, 3, 8, 100, 4096, 5000]


def random_sequence(r: random.Random, length: int) -> list:
    ops, files, pairs = [], [], 0
    for _ in range(r.randint(1, 3)):
        kind = r.choice(["pipe", "pipe", "socketpair", "eventfd"])
        name = f"{'PSE'[['pipe', 'socketpair', 'eventfd'].index(kind)]}{pairs}"
        pairs += 1
        if kind == "pipe":
            ops.append(("pipe", name))
            files += [(f"{name}.r", "r"), (f"{name}.w", "w")]
        elif kind == "socketpair":
            ops.append(("socketpair", name))
            files += [(f"{name}.0", "s"), (f"{name}.1", "s")]
        else:
            ops.append(("eventfd", name, r.choice([0, 0, 1])))
            files.append((name, "e"))
    closed = set()
    data = 0x100
    for _ in range(length):
        live = [f for f in files if f[0] not in closed]
        if not live:
            break
        f, kind = r.choice(live)
        what = r.choices(["ctl", "wait", "write", "read", "close"], [5, 6, 5, 4, 0.3])[0]
        if what == "ctl":
            data += 1
            ops.append(("ctl", r.choice([ADD, ADD, MOD, MOD, DEL]), f, r.choice(MASKS), data))
        elif what == "wait":
            ops.append(("wait", r.choice([1, 2, 8, 8, 8])))
        elif what == "write" and kind in ("w", "s"):
            ops.append(("write", f, r.choice(SIZES)))
        elif what == "write" and kind == "e":
            ops.append(("write_u64", f, r.choice([0, 1, 5])))
        elif what == "read" and kind in ("r", "s"):
            ops.append(("read", f, r.choice(SIZES)))
        elif what == "read" and kind == "e":
            ops.append(("read", f, 8))
        elif what == "close":
            ops.append(("close", f))
            closed.add(f)
        else:
            ops.append(("wait", 8))
    return ops + [("wait", 8)]


@EX.test(3, depends=("level_triggered", "edge_triggered", "oneshot"), budget=BUDGET)
def random_sequences(ctx):
    """40 seeded random sequences of ctl / read / write / close / epoll_wait agree with Linux, event lists in order."""
    r = random.Random(f"epoll:{ctx.seed}")
    run(ctx, {f"random sequence {i} (seed {ctx.seed})": random_sequence(r, r.randint(15, 40)) for i in range(40)})


# ---- Go's netpoller: every pipe end edge-triggered -------------------------------------------------
@EX.test(2, budget=BUDGET)
def netpoll_pingpong(ctx):
    """Two goroutines bounce a byte over two pipes through the netpoller; each read parks in IO wait and epoll wakes it."""
    r = random.Random(f"pingpong:{ctx.seed}")
    rounds, procs = r.randint(10, 30), r.choice([1, 2])
    rec = Recorder(slices=False) if ctx.trace else Recorder(kinds=["netpoll"])
    s = ctx.system(["pipe_pingpong"], procs=procs, trace=rec)
    s.machine.memory.write_u64(s.image.symbols["rounds"], rounds)
    out = ctx.run(s)
    woken = sum(len(e.args[2]) for e in rec.events)
    if out.status != 0:
        first = (out.stderr.decode(errors="replace").strip().splitlines() or [out.report or "?"])[0]
        ctx.fail(f"pingpong ({rounds} rounds, GOMAXPROCS={procs}) did not finish (status {out.status}, "
                 f"{out.reason}) after netpoll woke {woken} parked goroutines: {first}.  A goroutine parked "
                 f"in IO wait was never woken: the edge of a write to its pipe was lost")
    ctx.expect(out.stdout == f"{rounds}\n".encode(),
               f"pingpong printed {out.stdout!r}, expected {rounds}")


@EX.test(2, budget=BUDGET)
def netpoll_blocks(ctx):
    """With every goroutine waiting, the last M blocks in epoll_pwait(-1) until the far end writes, and is not woken in between."""
    at_ns = random.Random(f"farend:{ctx.seed}").randint(2, 4) * 1_000_000
    rec = Recorder(slices=False) if ctx.trace else Recorder(kinds=["netpoll"])
    s = ctx.system([ctx.program("netpoll_reader", SELFWRITE=0)], procs=1, trace=rec)
    k = s.kernel
    k.at(at_ns, lambda: k.peer(6).write(b"xyz"))         # fd 6: the program's pipe (3 epoll, 4/5 break pipe)
    out = ctx.run(s)
    ctx.expect(out.status == 0 and out.stdout == b"1\n3\n120\n",
               f"the reader should wake when the far end writes 'xyz' at {at_ns // 1_000_000} ms and read 3 "
               f"bytes (expected output 1, 3, 120); the program printed {out.stdout!r}, status {out.status} "
               f"({out.reason})")
    early = [e for e in rec.events if e.args[0] == -1 and s.machine.cycles_to_ns(e.cycles) < at_ns]
    if early:
        evs = sum(e.args[1] for e in early)
        ctx.fail(f"before the far end wrote (at {at_ns // 1_000_000} ms), the netpoller's blocking "
                 f"epoll_pwait(-1) returned {len(early)} times with {evs} events and no goroutine to wake: "
                 f"the runtime registers every pipe end edge-triggered, and a write end that was reported "
                 f"writable once must not be reported again until a new event (like level-triggered), or "
                 f"the idle M spins instead of sleeping")
