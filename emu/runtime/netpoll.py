"""The network poller on epoll (Go: netpoll.go, netpoll_epoll.go).

Design note
  1. netpollinit (on first use): epoll_create1(EPOLL_CLOEXEC) and a non-blocking
     break pipe whose read end is registered EPOLLIN (Go 1.19-1.22 use a pipe).
  2. Every fd the runtime makes (runtime.pipe) gets a pollDesc in guest memory,
     registered edge-triggered for EPOLLIN|EPOLLOUT|EPOLLRDHUP with the pollDesc's
     address as the epoll data word.  rg / wg are pdNil, pdReady, pdWait or the G
     parked on that direction.
  3. runtime.read / runtime.write try the syscall; on -EAGAIN, netpollblock parks
     the G (pdWait -> G, committed in park_m after the G is really parked) until
     netpoll reports the fd ready (netpollunblock: -> pdReady, and the parked G is
     made runnable).
  4. netpoll(delay) is epoll_pwait: non-blocking from findRunnable, blocking in the
     last M that would otherwise stop (sched.lastpoll = 0 while it blocks), and
     from sysmon when nobody polled for 10 ms.
Scope: pipes made by the runtime; timers and deadlines are not implemented yet.
"""
from __future__ import annotations

from .layout import POLLDESC
from .lock import lock, unlock
from .malloc import persistentalloc
from .oslinux import scratch
from .park import gopark
from .pycall import call, export

pdNil, pdReady, pdWait = 0, 1, 2
EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP, EPOLLET = 0x1, 0x4, 0x8, 0x10, 0x2000, 1 << 31
EPOLL_CTL_ADD = 1
O_NONBLOCK, O_CLOEXEC = 0x800, 0x80000
EAGAIN = 11
MAXFD, NEVENTS = 1024, 128
waitReasonIOWait = 8


def _ev_size(rt) -> int:
    return 12 if rt.isa.name == "amd64" else 16        # packed on x86_64


def _ev_data_off(rt) -> int:
    return 4 if rt.isa.name == "amd64" else 8


def _signed(x: int) -> int:
    return x - (1 << 64) if x >> 63 else x


def netpollinit(rt):
    """Create the epoll instance and the break pipe, once (generator).  Its syscalls
    yield, so concurrent first users wait on netpollInitLock, as in Go."""
    s, mem = rt.sched, rt.mem
    if s.netpollInited:
        return
    initlock = s.addr + s.layout.offset("netpollInitLock")
    yield from lock(rt, initlock)
    if s.netpollInited:
        yield from unlock(rt, initlock)
        return
    s.pds = yield from persistentalloc(rt, 8 * MAXFD)
    s.epfd = yield from call("runtime.epollcreate1", O_CLOEXEC)
    fds = yield from persistentalloc(rt, 8)
    yield from call("runtime.pipe2", fds, O_NONBLOCK | O_CLOEXEC)
    s.breakRd, s.breakWr = mem.read_u32(fds), mem.read_u32(fds + 4)
    yield from _ctl_add(rt, s.breakRd, EPOLLIN, s.addr + s.layout.offset("breakRd"))
    s.lastpoll = 1
    s.netpollInited = 1
    yield from unlock(rt, initlock)


def _ctl_add(rt, fd: int, events: int, data: int):
    ev = scratch(rt)
    rt.mem.write_u32(ev, events)
    rt.mem.write_u64(ev + _ev_data_off(rt), data)
    r = yield from call("runtime.epollctl", rt.sched.epfd, EPOLL_CTL_ADD, fd, ev)
    if r:
        from .print import throw
        yield from throw(rt, f"netpollopen: epoll_ctl failed: {_signed(r)}")


def netpollopen(rt, fd: int):
    """A pollDesc for fd, registered edge-triggered (generator)."""
    pd = yield from persistentalloc(rt, POLLDESC.size)
    rt.mem.write_u64(pd, fd)
    rt.mem.write_u64(rt.sched.pds + 8 * fd, pd)
    yield from _ctl_add(rt, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, pd)


def _gpp(pd: int, mode: str) -> int:
    return pd + POLLDESC.offset("rg" if mode == "r" else "wg")


def netpollblock(rt, pd: int, mode: str):
    """Wait until the fd is ready in `mode`; True if it is (generator)."""
    mem, gpp = rt.mem, _gpp(pd, mode)
    if mem.read_u64(gpp) == pdReady:
        mem.write_u64(gpp, pdNil)
        return True
    mem.write_u64(gpp, pdWait)
    rt.sched.nwaiters = rt.sched.nwaiters + 1
    yield from gopark(rt, netpollblockcommit, gpp, waitReasonIOWait)
    rt.sched.nwaiters = rt.sched.nwaiters - 1
    old = mem.read_u64(gpp)
    mem.write_u64(gpp, pdNil)
    return old == pdReady


def netpollblockcommit(rt, gp, gpp: int):
    """park_m's unlockf: pdWait -> the G; false if the fd became ready meanwhile."""
    if rt.mem.read_u64(gpp) == pdWait:
        rt.mem.write_u64(gpp, gp.addr)
        return True
    return False
    yield


def netpollunblock(rt, pd: int, mode: str):
    """Mark pd ready in mode; return the G parked there, if any."""
    mem, gpp = rt.mem, _gpp(pd, mode)
    old = mem.read_u64(gpp)
    if old == pdReady:
        return None
    mem.write_u64(gpp, pdReady)
    return None if old in (pdNil, pdWait) else rt.g(old)


def netpoll(rt, delay_ms: int):
    """Ready Gs from epoll: delay 0 polls, -1 blocks (generator; returns a list of Gs)."""
    s, mem = rt.sched, rt.mem
    size, off = _ev_size(rt), _ev_data_off(rt)
    mp = rt.getm()
    if not mp.netpollbuf:       # per M: two Ms may poll at once (Go's buffer is on the stack)
        mp.netpollbuf = yield from persistentalloc(rt, 16 * NEVENTS + 16)
        mp = rt.getm()
    buf = mp.netpollbuf
    n = yield from call("runtime.epollwait", s.epfd, buf, NEVENTS, delay_ms & 0xFFFFFFFF)
    n = _signed(n)
    gs = []
    for i in range(max(n, 0)):
        ev = buf + i * size
        events, data = mem.read_u32(ev), mem.read_u64(ev + off)
        if data == s.addr + s.layout.offset("breakRd"):
            yield from call("runtime.read1", s.breakRd, buf + NEVENTS * size, 16)
            continue
        if events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR):
            g = netpollunblock(rt, data, "r")
            if g:
                gs.append(g)
        if events & (EPOLLOUT | EPOLLHUP | EPOLLERR):
            g = netpollunblock(rt, data, "w")
            if g:
                gs.append(g)
    rt.emit("netpoll", delay_ms, n, [g.goid for g in gs])
    return gs


def netpollBreak(rt):
    """Wake the M blocked in epoll_pwait: one byte into the break pipe (generator)."""
    s = rt.sched
    buf = scratch(rt)
    rt.mem.write(buf, b"\0")
    yield from call("runtime.write1", s.breakWr, buf, 1)
    rt.emit("netpollbreak", s.pollUntil)


def injectglist(rt, gs):
    """Make the Gs netpoll returned runnable, on the global queue (generator)."""
    from .g import casgstatus
    from .layout import _Grunnable, _Gwaiting
    from .m import schedlock, startm
    from .p import globrunqput
    if not gs:
        return
    yield from lock(rt, schedlock(rt))
    for g in gs:
        yield from casgstatus(rt, g, _Gwaiting, _Grunnable)
        globrunqput(rt, g)
    yield from unlock(rt, schedlock(rt))
    for _ in range(min(len(gs), rt.sched.npidle)):
        yield from startm(rt, None, False)


# ---- the program API ----------------------------------------------------------------------
@export("runtime.pipe", nresults=2)
def pipe(rt):
    """pipe() -> (rfd, wfd): a non-blocking pipe the netpoller watches."""
    yield from netpollinit(rt)
    fds = scratch(rt)
    r = yield from call("runtime.pipe2", fds, O_NONBLOCK | O_CLOEXEC)
    if r:
        return (r, r)
    rfd, wfd = rt.mem.read_u32(fds), rt.mem.read_u32(fds + 4)
    yield from netpollopen(rt, rfd)
    yield from netpollopen(rt, wfd)
    return rfd, wfd


def _io(rt, sym: str, mode: str, fd: int, p: int, n: int):
    while True:
        r = yield from call(sym, fd, p, n)
        if _signed(r) != -EAGAIN:
            return r
        pd = rt.mem.read_u64(rt.sched.pds + 8 * fd) if fd < MAXFD and rt.sched.pds else 0
        if not pd:
            return r
        yield from netpollblock(rt, pd, mode)


@export("runtime.read", nresults=1)
def read(rt, fd, p, n):
    """read(fd, buf, n) -> n: parks the G until data (or EOF) when the fd is not ready."""
    return (yield from _io(rt, "runtime.read1", "r", fd, p, n))


@export("runtime.write", nresults=1)
def write(rt, fd, p, n):
    """write(fd, buf, n) -> n: parks the G until there is room when the fd is full."""
    return (yield from _io(rt, "runtime.write1", "w", fd, p, n))
