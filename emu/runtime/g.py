"""Goroutine status and lifecycle (Go: proc.go casgstatus & friends, malg, gfget/gfput).

Design note
  1. A G's status is the lock on its stack (runtime2.go): only the owner of the
     status may touch the stack.  casgstatus performs one allowed transition and
     throws on anything else, as Go does ("casgstatus: bad incoming values"); the
     table of allowed transitions is below, one line per place in Go that makes it.
  2. _Gscan is OR-ed in by castogscanstatus while a scanner owns the stack and
     cleared by casfrom_Gscanstatus; casgstatus refuses scan values.
  3. Dead Gs keep their stack and go on a per-P free list (spilling half to the
     global list past 64), as in Go's gfput/gfget.
"""
from __future__ import annotations

from .layout import (STACK_GUARD, _Gcopystack, _Gdead, _Gidle, _Gpreempted, _Grunnable,
                     _Grunning, _Gscan, _Gsyscall, _Gwaiting, G)
from .malloc import persistentalloc
from .print import throw
from ..trace import events as ev
from .state import status_name

# (old, new) pairs Go's runtime performs, and where.
ALLOWED = {
    (_Gidle, _Gdead): "malg",
    (_Gdead, _Grunnable): "newproc1",
    (_Grunnable, _Grunning): "execute",
    (_Grunning, _Grunnable): "goschedImpl / gopreempt_m",
    (_Grunning, _Gwaiting): "park_m",
    (_Gwaiting, _Grunnable): "ready",
    (_Grunning, _Gdead): "goexit0",
    (_Grunning, _Gsyscall): "entersyscall",
    (_Gsyscall, _Grunning): "exitsyscall",
    (_Gsyscall, _Grunnable): "exitsyscall0",
    (_Grunning, _Gcopystack): "newstack",
    (_Gcopystack, _Grunning): "newstack",
    (_Gwaiting, _Gcopystack): "shrinkstack",
    (_Gcopystack, _Gwaiting): "shrinkstack",
    (_Grunning, _Gpreempted): "preemptPark",
    (_Gpreempted, _Gwaiting): "suspendG",
    (_Gwaiting, _Grunning): "park_m (unlockf said no)",
}


def readgstatus(gp) -> int:
    return gp.atomicstatus


def casgstatus(rt, gp, oldval: int, newval: int):
    """Change gp's status oldval -> newval (generator: it may throw)."""
    if oldval & _Gscan or newval & _Gscan or oldval == newval:
        yield from throw(rt, f"casgstatus: bad incoming values ({status_name(oldval)} -> {status_name(newval)})")
    if (oldval, newval) not in ALLOWED:
        yield from throw(rt, f"casgstatus: illegal transition {status_name(oldval)} -> {status_name(newval)}")
    cur = gp.atomicstatus
    if cur != oldval:
        yield from throw(rt, f"casgstatus: goroutine {gp.goid} is {status_name(cur)}, not {status_name(oldval)} "
                             f"(-> {status_name(newval)})")
    gp.atomicstatus = newval
    if rt.recorder is not None:
        rt.emit(ev.GSTATUS, gp.goid, status_name(oldval), status_name(newval), gp.addr)


def castogscanstatus(rt, gp, oldval: int) -> bool:
    """Set the scan bit if the status is oldval; True if it did."""
    if oldval not in (_Grunnable, _Grunning, _Gwaiting, _Gsyscall):
        raise ValueError(f"castogscanstatus: bad oldval {status_name(oldval)}")
    if gp.atomicstatus != oldval:
        return False
    gp.atomicstatus = oldval | _Gscan
    return True


def casfrom_Gscanstatus(rt, gp, oldval: int, newval: int):
    """Clear the scan bit: oldval (with _Gscan) -> newval (generator)."""
    if not oldval & _Gscan or gp.atomicstatus != oldval or (oldval & ~_Gscan) != newval:
        yield from throw(rt, f"casfrom_Gscanstatus: gp->status is not in scan state "
                             f"({status_name(gp.atomicstatus)}, {status_name(oldval)} -> {status_name(newval)})")
    gp.atomicstatus = newval


def malg(rt, stacksize: int | None = None):
    """A new G with a stack (rt.initial_stack bytes by default), status _Gdead (generator)."""
    from .stack import stackalloc
    stacksize = stacksize or rt.initial_stack
    gp = rt.g((yield from persistentalloc(rt, G.size)))
    lo = yield from stackalloc(rt, stacksize)
    gp.stack.lo, gp.stack.hi = lo, lo + stacksize
    gp.stackguard0 = gp.stackguard1 = lo + STACK_GUARD
    yield from casgstatus(rt, gp, _Gidle, _Gdead)
    return gp


def allgadd(rt, gp) -> None:
    """Link gp into the list of every G (Go: allgs)."""
    s = rt.sched
    gp.alllink = s.allg
    s.allg = gp.addr


def gfput(rt, pp, gp) -> None:
    """Put a dead G on pp's free list (half of a long list moves to the global one)."""
    gp.schedlink = pp.gFree_head
    pp.gFree_head = gp.addr
    pp.gFree_n = pp.gFree_n + 1
    s = rt.sched
    while pp.gFree_n >= 64 and pp.gFree_n > 32:
        g = rt.g(pp.gFree_head)
        pp.gFree_head = g.schedlink
        pp.gFree_n = pp.gFree_n - 1
        g.schedlink = s.gFree_head
        s.gFree_head = g.addr
        s.gFree_n = s.gFree_n + 1
        if pp.gFree_n <= 32:
            break


def gfget(rt, pp):
    """A dead G from pp's free list, refilled from the global one; None if none."""
    s = rt.sched
    while not pp.gFree_head and s.gFree_head and pp.gFree_n < 32:
        g = rt.g(s.gFree_head)
        s.gFree_head = g.schedlink
        s.gFree_n = s.gFree_n - 1
        g.schedlink = pp.gFree_head
        pp.gFree_head = g.addr
        pp.gFree_n = pp.gFree_n + 1
    if not pp.gFree_head:
        return None
    gp = rt.g(pp.gFree_head)
    pp.gFree_head = gp.schedlink
    pp.gFree_n = pp.gFree_n - 1
    gp.schedlink = 0
    return gp
