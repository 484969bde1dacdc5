"""Ps and run queues (Go: proc.go runqput/runqget/runqgrab/runqsteal, globrunq*,
pidleput/pidleget, acquirep/releasep, procresize).

Design note
  1. Each P has a 256-entry ring `runq` with free-running u32 head and tail (the
     owner writes tail, anyone may move head) and a `runnext` slot that jumps the
     queue and inherits the time slice.  The ring is in guest memory; these
     functions are Go's algorithms over it, step for step.
  2. A full ring moves its older half plus the new G to the global queue
     (runqputslow), a linked list through g.schedlink under sched.lock.
  3. A thief grabs half of a victim's ring (runqgrab) -- and, on the last
     stealing round, its runnext -- and runs the last G it grabbed.
  4. Python is atomic between slices, so Go's CAS loops reduce to single
     reads and writes; the order of updates is kept so the code reads like Go.
"""
from __future__ import annotations

from .layout import RUNQ_SIZE, P, _Pidle, _Prunning
from .malloc import persistentalloc
from .print import throw
from ..trace import events as ev

U32 = 0xFFFFFFFF


def runqempty(pp) -> bool:
    return pp.runqhead == pp.runqtail and pp.runnext == 0


def runqput(rt, pp, gp, next_: bool) -> None:
    """Put gp on pp's local queue; with next_, in runnext (evicting the old one to the ring)."""
    if next_:
        old = pp.runnext
        pp.runnext = gp.addr
        if old == 0:
            return
        gp = rt.g(old)                      # kick the old runnext out to the regular run queue
    h, t = pp.runqhead, pp.runqtail
    if (t - h) & U32 < RUNQ_SIZE:
        pp.runq[t % RUNQ_SIZE] = gp.addr
        pp.runqtail = (t + 1) & U32
        return
    runqputslow(rt, pp, gp, h, t)


def runqputslow(rt, pp, gp, h: int, t: int) -> None:
    """Move half of the full local queue plus gp to the global queue."""
    n = ((t - h) & U32) // 2
    if n != RUNQ_SIZE // 2:
        raise AssertionError("runqputslow: queue is not full")
    batch = [pp.runq[(h + i) % RUNQ_SIZE] for i in range(n)]
    pp.runqhead = (h + n) & U32
    batch.append(gp.addr)
    for a, b in zip(batch, batch[1:]):
        rt.g(a).schedlink = b
    rt.g(batch[-1]).schedlink = 0
    globrunqputbatch(rt, batch[0], batch[-1], len(batch))


def runqget(rt, pp):
    """(gp, inheritTime) from pp's local queue, runnext first; (None, False) if empty."""
    nxt = pp.runnext
    if nxt:
        pp.runnext = 0
        return rt.g(nxt), True
    h, t = pp.runqhead, pp.runqtail
    if t == h:
        return None, False
    gp = pp.runq[h % RUNQ_SIZE]
    pp.runqhead = (h + 1) & U32
    return rt.g(gp), False


def runqgrab(rt, pp, batch: list, stealRunNextG: bool) -> int:
    """Grab half of pp's queue into `batch` (a list); return how many."""
    h, t = pp.runqhead, pp.runqtail
    n = (t - h) & U32
    n = n - n // 2
    if n == 0:
        if stealRunNextG and pp.runnext:
            batch.append(pp.runnext)
            pp.runnext = 0
            return 1
        return 0
    if n > RUNQ_SIZE // 2:          # read inconsistent h and t (cannot happen atomically here)
        raise AssertionError("runqgrab: inconsistent queue")
    for i in range(n):
        batch.append(pp.runq[(h + i) % RUNQ_SIZE])
    pp.runqhead = (h + n) & U32
    return n


def runqsteal(rt, pp, p2, stealRunNextG: bool):
    """Steal half of p2's work into pp's queue; return one G to run, or None."""
    batch: list[int] = []
    n = runqgrab(rt, p2, batch, stealRunNextG)
    if n == 0:
        return None
    rt.emit(ev.STEAL, pp.id, p2.id, n)
    gp = batch.pop()
    t = pp.runqtail
    for i, g in enumerate(batch):
        pp.runq[(t + i) % RUNQ_SIZE] = g
    pp.runqtail = (t + len(batch)) & U32
    return rt.g(gp)


def runqlen(pp) -> int:
    return (pp.runqtail - pp.runqhead) & U32


# ---- the global run queue (sched.lock must be held) ----------------------------------
def globrunqput(rt, gp) -> None:
    """Put gp at the tail of the global queue."""
    globrunqputbatch(rt, gp.addr, gp.addr, 1)
    gp.schedlink = 0


def globrunqputbatch(rt, head: int, tail: int, n: int) -> None:
    s = rt.sched
    rt.g(tail).schedlink = 0
    if s.runq_tail:
        rt.g(s.runq_tail).schedlink = head
    else:
        s.runq_head = head
    s.runq_tail = tail
    s.runqsize = s.runqsize + n


def globrunqget(rt, pp, max_: int):
    """Take a batch from the global queue: run the first, queue the rest on pp."""
    s = rt.sched
    if s.runqsize == 0:
        return None
    n = min(s.runqsize, s.runqsize // s.gomaxprocs + 1)
    if max_ > 0:
        n = min(n, max_)
    n = min(n, RUNQ_SIZE // 2)
    s.runqsize = s.runqsize - n
    gp = rt.g(s.runq_head)
    s.runq_head = gp.schedlink
    if not s.runq_head:
        s.runq_tail = 0
    for _ in range(n - 1):
        g = rt.g(s.runq_head)
        s.runq_head = g.schedlink
        if not s.runq_head:
            s.runq_tail = 0
        runqput(rt, pp, g, False)
    gp.schedlink = 0
    return gp


# ---- idle Ps (sched.lock must be held) -------------------------------------------------
def pidleput(rt, pp) -> None:
    if not runqempty(pp):
        raise AssertionError("pidleput: P has non-empty run queue")
    s = rt.sched
    pp.status = _Pidle
    pp.link = s.pidle
    s.pidle = pp.addr
    s.npidle = s.npidle + 1


def pidleget(rt):
    s = rt.sched
    if not s.pidle:
        return None
    pp = rt.p(s.pidle)
    s.pidle = pp.link
    s.npidle = s.npidle - 1
    pp.link = 0
    return pp


def acquirep(rt, pp):
    """Associate pp with the current M (generator: it may throw)."""
    mp = rt.getm()
    if mp.p or pp.m or pp.status != _Pidle:
        yield from throw(rt, f"acquirep: invalid p state (m.p={mp.p:#x}, p.m={pp.m:#x}, p.status={pp.status})")
    mp.p = pp.addr
    pp.m = mp.addr
    pp.status = _Prunning


def releasep(rt):
    """Disassociate the current M from its P; return the P (generator)."""
    mp = rt.getm()
    pp = rt.p(mp.p)
    if not pp or pp.m != mp.addr or pp.status != _Prunning:
        yield from throw(rt, "releasep: invalid p state")
    mp.p = 0
    pp.m = 0
    pp.status = _Pidle
    return pp


def procresize(rt, nprocs: int):
    """Create nprocs Ps; the current M takes allp[0], the rest go idle (generator)."""
    s = rt.sched
    s.allp = yield from persistentalloc(rt, 8 * nprocs)
    for i in range(nprocs):
        pp = rt.p((yield from persistentalloc(rt, P.size, 64)))
        pp.id = i
        pp.status = _Pidle
        rt.mem.write_u64(s.allp + 8 * i, pp.addr)
    s.gomaxprocs = nprocs
    yield from acquirep(rt, rt.allp(0))
    for i in reversed(range(1, nprocs)):
        pidleput(rt, rt.allp(i))
