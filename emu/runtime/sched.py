"""The scheduler (Go: proc.go schedinit, main, newproc, schedule, findRunnable,
execute, gosched, goexit).

Design note -- G, M, P as in proc.go: a G is a goroutine, an M a thread, a P the
right to run Go code; an M needs a P to run a G.  The flow on every M:
  1. mstart (asm) -> mstart1 -> schedule(), on the M's g0 stack.
  2. schedule: findRunnable picks a G -- every 61st tick one from the global
     queue first (fairness), then runnext and the local ring, the global queue,
     then stealing half of another P's ring (4 rounds over all Ps in random
     order, runnext only in the last) -- and execute runs it: _Grunnable ->
     _Grunning, m.curg = g, then gogo(&g.sched) (asm), which never returns.
  3. A G comes back to the scheduler through mcall (asm), which saves its state
     in g.sched and runs a g0 function: gosched_m (yield: to the global queue),
     park_m (block: _Gwaiting), goexit0 (end: _Gdead, to the free list).  All of
     them end in schedule().
  4. With nothing to run, an M gives its P back and sleeps in stopm; newproc and
     ready wake one (wakep) when a P is idle.
Rejected: a Python loop per M driving goroutines (the switch would not be
machine code, and there would be nothing to watch); a global run queue only
(no work stealing to observe, and no runnext).
"""
from __future__ import annotations

from .g import allgadd, casgstatus, gfget, gfput, malg
from .layout import GSIGNAL_STACK, STACK_GUARD, _Gdead, _Grunnable, _Grunning, _Gwaiting, GOBUF
from .lock import lock, unlock
from .m import pidleget_locked, schedlock, stopm, wakep
from .malloc import persistentalloc
from .oslinux import exit_, gettid
from .p import (globrunqget, globrunqput, pidleput, procresize, releasep, acquirep,
                runqempty, runqget, runqput, runqsteal)
from .park import mcall
from .print import PRINTBUF, throw
from .pycall import call, call_noreturn, export
from ..trace import events as ev

AT_RANDOM = 25
STEAL_TRIES = 4


@export("runtime.schedinit")
def schedinit(rt, argc, argv):
    """schedinit(argc, argv): bootstrap on m0's g0 before anything runs."""
    s, m0 = rt.sched, rt.m0
    m0.printbuf = yield from persistentalloc(rt, PRINTBUF)
    rt.rand.seed(_at_random(rt, argc, argv))
    s.maxmcount = 10000
    s.mcount, s.mnext = 1, 1
    s.allm = m0.addr
    m0.cheaprand = rt.rand.getrandbits(64)
    m0.procid = yield from gettid(rt)
    gsignal = yield from malg(rt, GSIGNAL_STACK)
    m0.gsignal, gsignal.m = gsignal.addr, m0.addr
    yield from procresize(rt, rt.gomaxprocs)


def _at_random(rt, argc: int, argv: int) -> bytes:
    """The 16 AT_RANDOM bytes from the auxiliary vector (the seed of fastrand, as in Go)."""
    mem = rt.mem
    p = argv + 8 * (argc + 1)
    while mem.read_u64(p):          # skip envp
        p += 8
    p += 8
    while True:
        tag, val = mem.read_u64(p), mem.read_u64(p + 8)
        if tag == 0:
            return b""
        if tag == AT_RANDOM:
            return mem.read(val, 16)
        p += 16


@export("runtime.main")
def main(rt):
    """runtime.main(): the main goroutine: run main.main, then exit(0)."""
    from .m import newm
    rt.sched.main_started = 1
    if rt.sysmon:
        yield from newm(rt, None, False, sysmon=True)
    yield from call("main.main", nresults=0)
    yield from exit_(rt, 0)


# ---- creating goroutines ------------------------------------------------------------------
@export("runtime.newproc")
def newproc(rt, fn, arg):
    """newproc(fn, arg): start a goroutine running fn(arg); it ends by returning."""
    gp, mp = rt.getg(), rt.getm()
    cpu = rt.cpu
    callerpc = cpu.read(rt.isa.lr) if rt.isa.lr else rt.mem.read_u64(cpu.sp)
    rt.handoff[mp.addr] = (fn, arg, gp.addr, callerpc)
    yield from call("runtime.systemstack", rt.addr("runtime.newproc_m"), nresults=0)


@export("runtime.newproc_m")
def newproc_m(rt):
    """newproc_m(): the system-stack half of newproc (Go's closure passed to systemstack)."""
    fn, arg, callergp, callerpc = rt.handoff.pop(rt.getm().addr)
    newg = yield from newproc1(rt, fn, arg, callerpc)
    runqput(rt, rt.getp(), newg, True)
    if rt.sched.main_started:
        yield from wakep(rt)


def newproc1(rt, fn: int, arg: int, callerpc: int):
    """A new _Grunnable G that will run fn(arg) and return into goexit (generator)."""
    if fn == 0:
        yield from throw(rt, "go of nil func value")
    s, pp = rt.sched, rt.getp()
    newg = gfget(rt, pp)
    if newg is None:
        newg = yield from malg(rt)
        allgadd(rt, newg)
    # an empty frame at the top of the stack; the return address is goexit+PCQuantum
    arm = rt.isa.lr is not None
    total = 4 * 8 + (8 if arm else 0)
    total = (total + 15) & ~15 if arm else total
    sp = newg.stack.hi - total
    rt.mem.write(newg.sched.addr, bytes(GOBUF.size))
    goexit_pc = rt.addr("runtime.goexit") + (4 if arm else 1)
    if arm:                                   # gostartcall: LR = goexit+4
        newg.sched.lr = goexit_pc
    else:                                     # gostartcall: push goexit+1
        sp -= 8
        rt.mem.write_u64(sp, goexit_pc)
    newg.sched.sp, newg.sched.pc, newg.sched.g = sp, fn, newg.addr
    newg.sched.ret = arg                      # gogo puts it in the first argument register
    newg.stktopsp = sp
    newg.gopc, newg.startpc, newg.arg = callerpc, fn, arg
    newg.stackguard0 = newg.stack.lo + STACK_GUARD
    s.goidgen = s.goidgen + 1
    newg.goid = s.goidgen
    yield from casgstatus(rt, newg, _Gdead, _Grunnable)
    s.ngoroutines = s.ngoroutines + 1
    rt.emit(ev.NEWPROC, newg.goid, fn)
    return newg


# ---- the scheduler loop -------------------------------------------------------------------
def schedule(rt):
    """One round of scheduling: find a runnable G and execute it.  Never returns."""
    mp = rt.getm()
    if mp.locks:
        yield from throw(rt, "schedule: holding locks")
    gp, inherit = yield from findRunnable(rt)
    mp = rt.getm()
    if mp.spinning:
        yield from resetspinning(rt)
    yield from execute(rt, gp, inherit)


def execute(rt, gp, inheritTime: bool):
    """Run gp on the current M: _Grunnable -> _Grunning, then gogo.  Never returns."""
    mp, pp = rt.getm(), rt.getp()
    mp.curg, gp.m = gp.addr, mp.addr
    yield from casgstatus(rt, gp, _Grunnable, _Grunning)
    gp.waitsince = 0
    gp.preempt = 0
    gp.stackguard0 = gp.stack.lo + STACK_GUARD
    if not inheritTime:
        pp.schedtick = pp.schedtick + 1
    rt.emit(ev.SWITCH, mp.id, pp.id, gp.goid)
    yield from call_noreturn("runtime.gogo", gp.sched.addr)


def findRunnable(rt):
    """(gp, inheritTime): the next G for this M, stopping the M while there is none."""
    s = rt.sched
    while True:
        mp = rt.getm()
        pp = rt.p(mp.p)
        # timers that are due make their Gs runnable on this P (this P's first; an idle
        # P's timers are run here too, as Go's stealWork does)
        from .time import earliest
        if earliest(rt) is not None:
            from .oslinux import nanotime
            from .time import checkTimers
            now = yield from nanotime(rt)
            for i in range(s.gomaxprocs):
                yield from checkTimers(rt, rt.allp(i), now)
            mp = rt.getm()
            pp = rt.p(mp.p)
        # fairness: now and then take one G from the global queue first
        if pp.schedtick % 61 == 0 and s.runqsize > 0:
            yield from lock(rt, schedlock(rt))
            gp = globrunqget(rt, pp, 1)
            yield from unlock(rt, schedlock(rt))
            if gp:
                return gp, False
        # local run queue
        gp, inherit = runqget(rt, pp)
        if gp:
            return gp, inherit
        # global run queue
        if s.runqsize:
            yield from lock(rt, schedlock(rt))
            gp = globrunqget(rt, pp, 0)
            yield from unlock(rt, schedlock(rt))
            if gp:
                return gp, False
        # the network poller, without blocking
        if s.netpollInited and s.nwaiters and s.lastpoll:
            from .netpoll import injectglist, netpoll
            gs = yield from netpoll(rt, 0)
            if gs:
                first, rest = gs[0], gs[1:]
                yield from injectglist(rt, rest)
                yield from casgstatus(rt, first, _Gwaiting, _Grunnable)
                return first, False
        # steal from other Ps: spin only when at most half the busy Ps have spinners
        procs = s.gomaxprocs
        if mp.spinning or 2 * s.nmspinning < procs - s.npidle:
            if not mp.spinning:
                mp.spinning = 1
                s.nmspinning = s.nmspinning + 1
            gp = stealWork(rt, pp)
            if gp:
                return gp, False
        # nothing to do: give up the P
        yield from lock(rt, schedlock(rt))
        if s.runqsize:
            gp = globrunqget(rt, pp, 0)
            yield from unlock(rt, schedlock(rt))
            return gp, False
        pp = yield from releasep(rt)
        pidleput(rt, pp)
        yield from unlock(rt, schedlock(rt))
        # the delicate dance: drop spinning, then look once more at every P
        if mp.spinning:
            mp.spinning = 0
            s.nmspinning = s.nmspinning - 1
            victim = next((i for i in range(procs) if not runqempty(rt.allp(i))), None)
            if victim is not None:
                pp = yield from pidleget_locked(rt)
                if pp:
                    yield from acquirep(rt, pp)
                    mp.spinning = 1
                    s.nmspinning = s.nmspinning + 1
                    continue
        # the last M with nothing to do blocks in the network poller (until the next timer)
        from .time import earliest
        until = earliest(rt)
        if s.netpollInited and (s.nwaiters or until is not None) and s.lastpoll:
            from .netpoll import injectglist, netpoll
            from .oslinux import nanotime
            delay = -1
            if until is not None:
                now = yield from nanotime(rt)
                delay = max(0, -(-(until - now) // 1_000_000))     # ms, rounded up (epoll's unit)
            s.pollUntil = until or 0
            s.lastpoll = 0
            gs = yield from netpoll(rt, delay)
            s.lastpoll = (yield from nanotime(rt)) or 1
            s.pollUntil = 0
            # As Go does after a blocking poll: take an idle P whatever woke us (ready fds, a
            # due timer, or netpollBreak for a new earlier timer) and start over, so timers are
            # recomputed; with no idle P, hand the ready Gs to the global queue and stop.
            pp = yield from pidleget_locked(rt)
            if pp:
                yield from acquirep(rt, pp)
                if gs:
                    first, rest = gs[0], gs[1:]
                    yield from injectglist(rt, rest)
                    yield from casgstatus(rt, first, _Gwaiting, _Grunnable)
                    return first, False
                continue
            if gs:
                yield from injectglist(rt, gs)
            yield from stopm(rt)                  # no P for this M: sleep until one is handed over
            continue
        yield from stopm(rt)


def stealWork(rt, pp):
    """Try to steal a G from another P: 4 rounds over all Ps in a random order."""
    n = rt.sched.gomaxprocs
    for i in range(STEAL_TRIES):
        stealRunNextG = i == STEAL_TRIES - 1
        start = rt.rand.randrange(n)
        for k in range(n):
            p2 = rt.allp((start + k) % n)
            if p2.addr == pp.addr:
                continue
            if not runqempty(p2):
                gp = runqsteal(rt, pp, p2, stealRunNextG)
                if gp:
                    return gp
    return None


def resetspinning(rt):
    """The M found work: it stops spinning; if it was the last spinner, wake another."""
    s, mp = rt.sched, rt.getm()
    mp.spinning = 0
    s.nmspinning = s.nmspinning - 1
    if s.nmspinning < 0:
        yield from throw(rt, "findrunnable: negative nmspinning")
    yield from wakep(rt)


def dropg(rt) -> None:
    """Disassociate the current M and its G (m.curg)."""
    mp = rt.getm()
    if mp.curg:
        rt.g(mp.curg).m = 0
    mp.curg = 0


# ---- yielding and exiting ----------------------------------------------------------------
@export("runtime.gosched")
def gosched(rt):
    """gosched(): yield the processor; the G goes to the global run queue."""
    yield from mcall(rt, "runtime.gosched_m")


@export("runtime.gosched_m")
def gosched_m(rt, gpaddr):
    """gosched_m(gp): on g0: gp -> _Grunnable on the global queue; schedule."""
    yield from goschedImpl(rt, rt.g(gpaddr))


def goschedImpl(rt, gp):
    """Put the current G on the global run queue and schedule (never returns)."""
    yield from casgstatus(rt, gp, _Grunning, _Grunnable)
    dropg(rt)
    yield from lock(rt, schedlock(rt))
    globrunqput(rt, gp)
    yield from unlock(rt, schedlock(rt))
    if rt.sched.main_started:
        yield from wakep(rt)
    yield from schedule(rt)


@export("runtime.goexit1")
def goexit1(rt):
    """goexit1(): a goroutine's function returned (into runtime.goexit): finish it."""
    yield from mcall(rt, "runtime.goexit0")


@export("runtime.goexit0")
def goexit0(rt, gpaddr):
    """goexit0(gp): on g0: gp -> _Gdead, onto the P's free list; schedule."""
    gp = rt.g(gpaddr)
    yield from casgstatus(rt, gp, _Grunning, _Gdead)
    gp.m = 0
    gp.param = gp.waitreason = gp.preempt = 0
    gp.waiting = 0
    dropg(rt)
    gfput(rt, rt.getp(), gp)
    rt.sched.ngoroutines = rt.sched.ngoroutines - 1
    yield from schedule(rt)
