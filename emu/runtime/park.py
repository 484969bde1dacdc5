"""Parking and readying goroutines (Go: proc.go gopark, park_m, goready, ready).

Design note
  1. gopark runs on the G that blocks: it records the unlock function and lock
     for park_m (Go keeps them in m.waitunlockf / m.waitlock) and calls mcall.
  2. park_m runs on g0: _Grunning -> _Gwaiting, drop the G, *then* call unlockf
     (which releases the channel lock).  Releasing the lock only after the G is
     parked is what prevents the lost wakeup: a waker that takes the lock finds
     a G that is really _Gwaiting.
  3. ready accepts only _Gwaiting (Go also readies _Gpreempted Gs through
     suspendG's path), makes the G runnable in runnext of the current P, and
     wakes an idle P if there is one.
"""
from __future__ import annotations

from .layout import _Gpreempted, _Grunnable, _Grunning, _Gwaiting
from .pycall import call, export
from .print import throw
from .g import casgstatus
from .p import runqput


def mcall(rt, fn_symbol: str):
    """mcall(fn): switch to g0 and run fn(g) there (generator; returns when g resumes)."""
    yield from call("runtime.mcall", rt.addr(fn_symbol), nresults=0)


def gopark(rt, unlockf, lockaddr: int, reason: int):
    """Put the current G to sleep until goready; unlockf(gp, lock) runs once it is parked."""
    mp, gp = rt.getm(), rt.getg()
    if gp.atomicstatus != _Grunning:
        yield from throw(rt, "gopark: bad g status")
    rt.handoff[mp.addr] = (unlockf, lockaddr)
    mp.waitlock = lockaddr
    gp.waitreason = reason
    yield from mcall(rt, "runtime.park_m")


def parkunlock_c(rt, gp, lockaddr: int):
    from .lock import unlock
    yield from unlock(rt, lockaddr)
    return True


@export("runtime.park_m")
def park_m(rt, gpaddr):
    """park_m(gp): the g0 half of gopark: park gp, release its lock, schedule."""
    from .sched import dropg, execute, schedule
    gp, mp = rt.g(gpaddr), rt.getm()
    yield from casgstatus(rt, gp, _Grunning, _Gwaiting)
    dropg(rt)
    unlockf, lockaddr = rt.handoff.pop(mp.addr)
    mp.waitlock = 0
    if unlockf is not None:
        ok = yield from unlockf(rt, gp, lockaddr)
        if not ok:
            yield from casgstatus(rt, gp, _Gwaiting, _Grunnable)
            yield from execute(rt, gp, True)      # schedule it back, never returns
    yield from schedule(rt)


def goready(rt, gp):
    """Make a parked G runnable (Go runs ready on the system stack; Python is atomic)."""
    yield from ready(rt, gp, True)


def ready(rt, gp, next_: bool):
    """Mark gp ready to run: onto the current P's queue, or the global queue when the
    caller has no P (sysmon).  Accepts _Gwaiting and, as Go's resumeG path does,
    _Gpreempted (which passes through _Gwaiting)."""
    from .lock import lock, unlock
    from .m import schedlock, wakep
    from .p import globrunqput
    status = gp.atomicstatus
    if status == _Gpreempted:
        yield from casgstatus(rt, gp, _Gpreempted, _Gwaiting)
    elif status != _Gwaiting:
        yield from throw(rt, f"bad g->status in ready (goroutine {gp.goid}: {status})")
    yield from casgstatus(rt, gp, _Gwaiting, _Grunnable)
    mp = rt.getm()
    if mp.p:
        runqput(rt, rt.getp(), gp, next_)
    else:
        yield from lock(rt, schedlock(rt))
        globrunqput(rt, gp)
        yield from unlock(rt, schedlock(rt))
    yield from wakep(rt)
