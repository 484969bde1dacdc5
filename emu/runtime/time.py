"""Timers for sleeping goroutines (Go: time.go -- per-P timer heaps, checkTimers,
and the netpoller sleeping until the next timer).

Design note
  1. runtime.sleep(ns) parks the G; the park's unlock function pushes a timer
     (when, g) onto the current P's min-heap, which lives in guest memory -- only
     once the G is really parked, so the timer can never fire for a running G.
  2. checkTimers, at the top of findRunnable, pops the due timers of the P and
     readies their Gs.
  3. An M with nothing to do computes the earliest timer of every P (pollUntil)
     and blocks in the netpoller (epoll_pwait) until then -- Go sleeps in netpoll
     for timers too; the virtual clock jumps if every CPU sleeps.
  4. checkdead does not report a deadlock while any P has timers.
Scope: sleeps only (no time.Timer channels, no stop/reset); a heap holds at most
TIMERS_MAX timers per P.
"""
from __future__ import annotations

from .malloc import persistentalloc
from .oslinux import nanotime
from .park import gopark, ready
from .pycall import export

TIMERS_MAX = 1024
waitReasonSleep = 6


def _heap(rt, pp):
    base, n = pp.timers, pp.ntimers
    return [(rt.mem.read_u64(base + 16 * i), rt.mem.read_u64(base + 16 * i + 8)) for i in range(n)]


def _store(rt, pp, entries) -> None:
    import struct
    pp.ntimers = len(entries)
    if entries:
        rt.mem.write(pp.timers, b"".join(struct.pack("<QQ", w, g) for w, g in entries))


def addtimer(rt, pp, when: int, g: int):
    import heapq
    if not pp.timers:
        pp.timers = yield from persistentalloc(rt, 16 * TIMERS_MAX)
    h = _heap(rt, pp)
    if len(h) >= TIMERS_MAX:
        from .print import throw
        yield from throw(rt, "addtimer: too many timers")
    heapq.heappush(h, (when, g))
    _store(rt, pp, h)


def earliest(rt) -> int | None:
    """The earliest timer of every P (Go's pollUntil), or None."""
    best = None
    for i in range(rt.sched.gomaxprocs):
        pp = rt.allp(i)
        if pp.ntimers:
            w = rt.mem.read_u64(pp.timers)
            best = w if best is None else min(best, w)
    return best


def checkTimers(rt, pp, now: int):
    """Ready the Gs whose timers are due on pp (generator)."""
    import heapq
    if not pp.ntimers or rt.mem.read_u64(pp.timers) > now:
        return
    h = _heap(rt, pp)
    due = []
    while h and h[0][0] <= now:
        due.append(heapq.heappop(h))
    _store(rt, pp, h)
    for when, g in due:
        rt.emit("timer", rt.g(g).goid, now, when)
        yield from ready(rt, rt.g(g), False)


def _sleep_commit(rt, gp, when):
    from .netpoll import netpollBreak
    yield from addtimer(rt, rt.getp(), when, gp.addr)
    s = rt.sched
    if s.lastpoll == 0 and (s.pollUntil == 0 or when < s.pollUntil):
        yield from netpollBreak(rt)             # an M sleeps in epoll past this timer: wake it
    return True


@export("runtime.sleep")
def sleep(rt, ns):
    """sleep(ns): park the goroutine for ns nanoseconds of virtual time."""
    from .netpoll import netpollinit
    if ns >= 1 << 63 or ns == 0:
        return
    yield from netpollinit(rt)                   # timers sleep in the netpoller
    when = (yield from nanotime(rt)) + ns
    yield from gopark(rt, _sleep_commit, when, waitReasonSleep)
