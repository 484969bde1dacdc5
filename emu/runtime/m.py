"""Ms: OS threads that run Go code (Go: proc.go allocm, newm, mstart1, stopm,
startm, wakep, handoffp, mput/mget, checkdead).

Design note
  1. An M is a real thread: newm allocates the m struct and its g0 (a fixed
     64 KiB stack) and starts it with the clone syscall (newosproc), running the
     assembly `mstart` with g = g0, which records g0's stack top and calls
     mstart1 here, which schedules.
  2. An M with nothing to do joins the idle list and sleeps on its m.park note
     (futex) in stopm; startm hands an idle M (or a new one) a P and wakes it.
  3. Spinning Ms look for work without a P's work of their own; wakep starts
     one only when there is an idle P and nobody is spinning, so a burst of
     newproc does not start an M per goroutine.  Go's rule, kept: a spinning M
     that finds work calls resetspinning, which may wake another.
  4. checkdead runs when an M goes idle: no running M and every G waiting means
     nothing can ever run again -- "all goroutines are asleep - deadlock!".
Rejected: creating all GOMAXPROCS Ms up front (Ms are created on demand in Go,
and watching that happen is part of the lesson).
"""
from __future__ import annotations

from .g import malg
from .layout import G0_STACK, GSIGNAL_STACK, M, SCHEDT, _Gpreempted, _Grunnable, _Grunning, _Gsyscall, _Gwaiting
from .lock import lock, notesleep, noteclear, notewakeup, unlock
from .malloc import persistentalloc
from .oslinux import gettid, newosproc
from .p import acquirep, pidleget, pidleput, runqempty
from .print import PRINTBUF, fatal, throw
from .pycall import export
from ..trace import events as ev


def allocm(rt):
    """A new m with its g0 and print buffer (generator)."""
    s = rt.sched
    mp = rt.m((yield from persistentalloc(rt, M.size, 64)))
    g0 = yield from malg(rt, G0_STACK)
    mp.g0, g0.m = g0.addr, mp.addr
    mp.printbuf = yield from persistentalloc(rt, PRINTBUF)
    gsignal = yield from malg(rt, GSIGNAL_STACK)          # mpreinit
    mp.gsignal, gsignal.m = gsignal.addr, mp.addr
    mp.id = s.mnext
    s.mnext = s.mnext + 1
    s.mcount = s.mcount + 1
    mp.alllink = s.allm
    s.allm = mp.addr
    mp.cheaprand = rt.rand.getrandbits(64)
    return mp


MSTART_SYSMON = 1     # m.mstartfn value: run sysmon instead of schedule (Go stores a func)


def newm(rt, pp, spinning: bool, sysmon: bool = False):
    """Create a new M that will start running with pp, or sysmon (generator)."""
    mp = yield from allocm(rt)
    mp.nextp = pp.addr if pp else 0
    mp.spinning = 1 if spinning else 0
    mp.mstartfn = MSTART_SYSMON if sysmon else 0
    g0 = rt.g(mp.g0)
    yield from newosproc(rt, mp, g0.stack.hi)


@export("runtime.mstart1")
def mstart1(rt):
    """mstart1(): the Go half of mstart, on g0 of a new M: minit, then schedule()."""
    from .sched import schedule
    from .signal import initsig, minitSignals
    from .sysmon import sysmon
    mp = rt.getm()
    mp.procid = yield from gettid(rt)          # minit
    yield from minitSignals(rt)
    rt.emit(ev.MSTART, mp.id, mp.procid)
    if mp.addr == rt.m0.addr:
        yield from initsig(rt)                 # mstartm0
    if mp.mstartfn == MSTART_SYSMON:
        yield from sysmon(rt)                  # never returns
    if mp.addr != rt.m0.addr:
        pp = rt.p(mp.nextp)
        mp.nextp = 0
        yield from acquirep(rt, pp)
    yield from schedule(rt)


def mput(rt, mp):
    """Put mp on the idle list (sched.lock held), then look for a deadlock."""
    s = rt.sched
    mp.schedlink = s.midle
    s.midle = mp.addr
    s.nmidle = s.nmidle + 1
    yield from checkdead(rt)


def mget(rt):
    s = rt.sched
    if not s.midle:
        return None
    mp = rt.m(s.midle)
    s.midle = mp.schedlink
    s.nmidle = s.nmidle - 1
    return mp


def stopm(rt):
    """Stop the current M until new work is available; returns with a P (generator)."""
    mp = rt.getm()
    if mp.locks:
        yield from throw(rt, "stopm holding locks")
    if mp.p:
        yield from throw(rt, "stopm holding p")
    if mp.spinning:
        yield from throw(rt, "stopm spinning")
    yield from lock(rt, schedlock(rt))
    yield from mput(rt, mp)
    yield from unlock(rt, schedlock(rt))
    yield from notesleep(rt, mp.park.addr)
    mp = rt.getm()
    noteclear(rt, mp.park.addr)
    pp = rt.p(mp.nextp)
    mp.nextp = 0
    yield from acquirep(rt, pp)


_SCHED_LOCK = SCHEDT.offset("lock")


def schedlock(rt) -> int:
    """Address of sched.lock."""
    return rt.sched.addr + _SCHED_LOCK


def pidleget_locked(rt):
    """An idle P, taken under sched.lock, or None (generator)."""
    yield from lock(rt, schedlock(rt))
    pp = pidleget(rt)
    yield from unlock(rt, schedlock(rt))
    return pp


def startm(rt, pp, spinning: bool):
    """Run some M with pp (an idle P if pp is None); create an M if none is idle."""
    s = rt.sched
    yield from lock(rt, schedlock(rt))
    if pp is None:
        pp = pidleget(rt)
        if pp is None:
            yield from unlock(rt, schedlock(rt))
            if spinning:
                s.nmspinning = s.nmspinning - 1
            return
    nmp = mget(rt)
    yield from unlock(rt, schedlock(rt))
    if nmp is None:
        yield from newm(rt, pp, spinning)
        return
    if nmp.spinning or nmp.nextp:
        yield from throw(rt, "startm: m is spinning or has a p")
    nmp.spinning = 1 if spinning else 0
    nmp.nextp = pp.addr
    yield from notewakeup(rt, nmp.park.addr)


def wakep(rt):
    """Try to add one more spinning M to run Gs (when a P is idle and nobody spins)."""
    s = rt.sched
    if s.nmspinning != 0 or s.npidle == 0:
        return
    s.nmspinning = 1
    yield from startm(rt, None, True)


def handoffp(rt, pp):
    """Hand off pp from an M that cannot use it: to a new M if there is work, else idle."""
    s = rt.sched
    if not runqempty(pp) or s.runqsize:
        yield from startm(rt, pp, False)
        return
    if s.nmspinning + s.npidle == 0:
        s.nmspinning = s.nmspinning + 1
        yield from startm(rt, pp, True)
        return
    yield from lock(rt, schedlock(rt))
    if s.runqsize:
        yield from unlock(rt, schedlock(rt))
        yield from startm(rt, pp, False)
        return
    pidleput(rt, pp)
    yield from unlock(rt, schedlock(rt))


def checkdead(rt):
    """Throw if no M can run and every goroutine waits (sched.lock held)."""
    s = rt.sched
    run = s.mcount - s.nmidle - s.nmidlelocked - s.nmsys
    if run > 0:
        return
    if run < 0:
        yield from throw(rt, f"checkdead: inconsistent counts (mcount={s.mcount} nmidle={s.nmidle})")
    for i in range(s.gomaxprocs):                 # sleeping Gs will wake: not a deadlock
        if rt.allp(i).ntimers:
            return
    waiting = 0
    g = s.allg
    while g:
        gp = rt.g(g)
        st = gp.atomicstatus & ~0x1000
        if st == _Gpreempted and rt.preempt_park:
            return                        # sysmon will resume it (our stand-in for resumeG)
        if st in (_Gwaiting, _Gpreempted):
            waiting += 1
        elif st in (_Grunnable, _Grunning, _Gsyscall):
            yield from throw(rt, f"checkdead: runnable g (goroutine {gp.goid})")
        g = gp.alllink
    if waiting == 0:
        yield from fatal(rt, "no goroutines (main called runtime.Goexit) - deadlock!")
    yield from fatal(rt, "all goroutines are asleep - deadlock!")
