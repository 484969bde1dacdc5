"""Blocking system calls and P handoff (Go: proc.go entersyscall, exitsyscall,
exitsyscall0; sysmon's retake of Ps in _Psyscall).

Design note
  1. entersyscall: _Grunning -> _Gsyscall, the P goes to _Psyscall and is
     detached from the M (m.oldp remembers it, p.syscalltick counts); the M then
     blocks in the kernel with no P, so the P is free for others to take.
  2. sysmon's retake: a P still in _Psyscall after a sysmon round (its
     syscalltick unchanged) with work queued, or with nobody spinning or idle, or
     after 10 ms, goes _Psyscall -> _Pidle and is handed off (handoffp): another
     M runs its Gs while this one is in the kernel.
  3. exitsyscall: fast path -- the old P is still in _Psyscall: take it back;
     else any idle P.  Slow path (exitsyscall0 on g0): no P anywhere, so the G
     becomes _Grunnable on the global queue and the M stops.
Scope: the program API runtime.blockingsyscall(ns) (a real nanosleep); the
netpoller and timers come next.
"""
from __future__ import annotations

from .g import casgstatus
from .layout import _Grunnable, _Grunning, _Gsyscall, _Prunning, _Psyscall
from .lock import lock, unlock
from .park import mcall
from .pycall import call, export


def entersyscall(rt):
    """The G is about to block in the kernel: release its P (generator)."""
    gp, mp = rt.getg(), rt.getm()
    pp = rt.p(mp.p)
    yield from casgstatus(rt, gp, _Grunning, _Gsyscall)
    pp.syscalltick = pp.syscalltick + 1
    pp.m = 0
    mp.oldp = pp.addr
    mp.p = 0
    pp.status = _Psyscall
    rt.emit("entersyscall", gp.goid, pp.id)


def exitsyscall(rt):
    """Back from the kernel: get a P again, or queue the G and stop the M (generator)."""
    gp, mp = rt.getg(), rt.getm()
    oldp = rt.p(mp.oldp) if mp.oldp else None
    mp.oldp = 0
    pp, how = None, "idle P"
    if oldp and oldp.status == _Psyscall:             # fast path: nobody took it
        pp, how = oldp, "fast"
        pp.status = _Prunning
    else:
        from .m import pidleget_locked
        pp = yield from pidleget_locked(rt)
        if pp:
            pp.status = _Prunning
    if pp:
        mp.p, pp.m = pp.addr, mp.addr
        yield from casgstatus(rt, gp, _Gsyscall, _Grunning)
        rt.emit("exitsyscall", gp.goid, pp.id, how)
        return
    rt.emit("exitsyscall", gp.goid, -1, "slow")
    yield from mcall(rt, "runtime.exitsyscall0")


@export("runtime.exitsyscall0")
def exitsyscall0(rt, gpaddr):
    """exitsyscall0(gp): on g0: no P for gp -- queue it globally, stop this M."""
    from .m import schedlock, stopm
    from .p import globrunqput
    from .sched import dropg, schedule
    gp = rt.g(gpaddr)
    yield from casgstatus(rt, gp, _Gsyscall, _Grunnable)
    dropg(rt)
    yield from lock(rt, schedlock(rt))
    globrunqput(rt, gp)
    yield from unlock(rt, schedlock(rt))
    yield from stopm(rt)
    yield from schedule(rt)


@export("runtime.blockingsyscall")
def blockingsyscall(rt, ns):
    """blockingsyscall(ns): block the M in a real nanosleep of ns, without holding a P."""
    from .oslinux import scratch
    yield from entersyscall(rt)
    ts = scratch(rt)
    rt.mem.write_u64(ts, ns // 1_000_000_000)
    rt.mem.write_u64(ts + 8, ns % 1_000_000_000)
    yield from call("runtime.nanosleep", ts)
    yield from exitsyscall(rt)


def retake_syscall(rt, pp, now: int) -> bool:
    """sysmon: should pp, in _Psyscall, be taken from its blocked M?  (Go's rule.)"""
    from .p import runqempty
    t = pp.syscalltick
    if pp.sysmontick_syscalltick != t:
        pp.sysmontick_syscalltick = t
        pp.sysmontick_syscallwhen = now
        return False
    s = rt.sched
    if runqempty(pp) and s.nmspinning + s.npidle > 0 and pp.sysmontick_syscallwhen + 10_000_000 > now:
        return False
    return True
