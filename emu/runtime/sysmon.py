"""sysmon: the monitor thread (Go: proc.go sysmon, retake).

Design note
  1. sysmon runs on its own M without a P (it is counted in sched.nmsys, so
     checkdead does not wait for it) and never runs Go code.
  2. It sleeps usleep(delay): 20 us while something happens; after 50 idle
     rounds the delay doubles each round up to 10 ms (virtual time).
  3. Each round `retake` looks at every P: a P in _Prunning whose schedtick has
     not changed for forcePreemptNS (10 ms, configurable) has run one G too long:
     preemptone (preempt.py).  Handing off Ps stuck in syscalls comes with the
     syscall issue.
  4. With `Runtime.preempt_park`, preempted Gs park in _Gpreempted instead; sysmon
     readies them on its next round (a stand-in for Go's suspendG/resumeG).
"""
from __future__ import annotations

from .layout import _Gpreempted, _Pidle, _Prunning, _Psyscall
from .oslinux import nanotime, usleep
from .m import handoffp
from .preempt import preemptone
from .syscall import retake_syscall


def sysmon(rt):
    """The sysmon loop (generator; never returns)."""
    from .lock import lock, unlock
    from .m import checkdead, schedlock
    s = rt.sched
    yield from lock(rt, schedlock(rt))
    s.nmsys = s.nmsys + 1
    yield from checkdead(rt)          # as Go: main may have parked before sysmon counted itself
    yield from unlock(rt, schedlock(rt))
    idle, delay = 0, 0
    while True:
        if idle == 0:
            delay = 20
        elif idle > 50:
            delay *= 2
        delay = min(delay, 10_000)
        yield from usleep(rt, delay)
        now = yield from nanotime(rt)
        s = rt.sched
        if s.netpollInited and s.lastpoll and s.lastpoll + 10_000_000 < now:   # nobody polled for 10 ms
            from .netpoll import injectglist, netpoll
            s.lastpoll = now
            gs = yield from netpoll(rt, 0)
            yield from injectglist(rt, gs)
        n = yield from retake(rt, now)
        if rt.preempt_park:
            yield from readyPreempted(rt)
        idle = 0 if n else idle + 1


def retake(rt, now: int):
    """Preempt Gs that ran too long and hand off Ps stuck in syscalls; return how many
    Ps were retaken from syscalls, which is what resets sysmon's idle backoff (generator)."""
    n = 0
    for i in range(rt.sched.gomaxprocs):
        pp = rt.allp(i)
        if pp.status not in (_Prunning, _Psyscall):
            continue
        if pp.status == _Psyscall and retake_syscall(rt, pp, now):
            pp.status = _Pidle                     # CAS _Psyscall -> _Pidle
            rt.emit("handoff", pp.id)
            n += 1
            yield from handoffp(rt, pp)
            continue
        t = pp.schedtick
        if pp.sysmontick_schedtick != t:
            pp.sysmontick_schedtick = t
            pp.sysmontick_schedwhen = now
        elif pp.sysmontick_schedwhen + rt.forcePreemptNS <= now:
            mp = rt.m(pp.m) if pp.m else None
            goid = rt.g(mp.curg).goid if mp and mp.curg else 0
            rt.emit("retake", pp.id, goid, now - pp.sysmontick_schedwhen)
            yield from preemptone(rt, pp)
            pp.sysmontick_schedwhen = now
    return n


def readyPreempted(rt):
    """Resume every G parked in _Gpreempted (preempt_park mode)."""
    from .park import ready
    g = rt.sched.allg
    while g:
        gp = rt.g(g)
        if gp.atomicstatus == _Gpreempted:
            yield from ready(rt, gp, False)
        g = gp.alllink
