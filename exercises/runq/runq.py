"""Exercise runq: a P's local run queue (Go: runtime/proc.go runqput, runqputslow,
runqget, runqgrab, runqsteal).

Your functions replace emu.runtime.p's everywhere the scheduler calls them: newproc
and ready put Gs here, findRunnable takes them out, stealWork steals from other Ps.
Read README.md first.  The state lives in guest memory, in the P (a PView):

    pp.runqhead  u32, free-running: the next G to take is runq[runqhead % 256]
    pp.runqtail  u32, free-running: the next free slot is runq[runqtail % 256]
    pp.runq[i]   i in 0..255: the address of a G (an int)
    pp.runnext   the address of the G to run next, ahead of the ring (0: none)

`rt.g(addr)` is the G at an address (a GView: gp.addr, gp.goid, gp.schedlink);
`rt.sched` is the global scheduler state.  Writes to the u32 fields are stored
mod 2**32, but the arithmetic you do on them in Python is not: mask it with U32.
Python runs atomically between two slices of machine code, so where Go loops on a
CAS you write one load and one store -- but keep Go's order of updates.
"""
from __future__ import annotations

from emu.runtime.layout import RUNQ_SIZE        # noqa: F401 -- 256 = len(p.runq)
from emu.runtime.p import globrunqputbatch      # noqa: F401 -- given: append a linked batch to the global queue
from emu.trace import events as ev

U32 = 0xFFFFFFFF


def runqput(rt, pp, gp, next_: bool) -> None:
    """Put gp on pp's local run queue (Go: runqput).

    next_ False: gp goes to the tail of the ring: runq[runqtail % 256] = gp.addr, then
    runqtail += 1.  next_ True: gp goes into runnext, and the G that was in runnext (if
    any) is kicked out to the tail of the ring instead.  When the ring already holds
    256 Gs, call runqputslow(rt, pp, gp, h, t) with the head and tail you read."""
    # TODO: runnext first (when next_), then the ring, then the slow path.
    raise NotImplementedError("TODO: runqput")


def runqputslow(rt, pp, gp, h: int, t: int) -> None:
    """The ring is full (t - h == 256): move its older half (the 128 Gs from runq[h % 256]
    on) plus gp to the global run queue, in that order (Go: runqputslow).

    Advance pp.runqhead by 128 (Go's CAS commits the take), link the 129 Gs through
    g.schedlink (the last one's schedlink = 0), then
    globrunqputbatch(rt, first_addr, last_addr, 129) appends them to the global queue."""
    # TODO: grab the batch, publish the new head, link it, hand it to the global queue.
    raise NotImplementedError("TODO: runqputslow")


def runqget(rt, pp):
    """Take the next G to run from pp's local queue (Go: runqget).

    Returns (rt.g(addr), inheritTime): the G in runnext first, with inheritTime True
    (clear runnext); else the G at runq[runqhead % 256], with inheritTime False
    (advance runqhead); (None, False) when both are empty."""
    # TODO: runnext, then the ring.
    raise NotImplementedError("TODO: runqget")


def runqgrab(rt, pp, batch: list, stealRunNextG: bool) -> int:
    """Grab half of pp's ring for a thief (Go: runqgrab): n = (t - h) - (t - h) // 2 Gs,
    the oldest ones, appended to `batch` (a list of G addresses) in ring order; advance
    pp.runqhead by n (publishing it is what makes them the thief's).  Return n.

    When the ring is empty and stealRunNextG is True, take pp.runnext instead (clear it,
    append it, return 1).  Return 0 when there is nothing to take."""
    # TODO: how many, copy them out, publish the new head; runnext only when the ring is empty.
    raise NotImplementedError("TODO: runqgrab")


def runqsteal(rt, pp, p2, stealRunNextG: bool):
    """Steal half of p2's work for pp (Go: runqsteal): runqgrab from p2; return the LAST
    G grabbed (as rt.g(addr)), to run now, and put the others, in order, at the tail of
    pp's ring.  Return None when nothing was grabbed."""
    batch: list[int] = []
    n = runqgrab(rt, p2, batch, stealRunNextG)
    if n == 0:
        return None
    rt.emit(ev.STEAL, pp.id, p2.id, n)          # (given) the trace event the grader counts
    # TODO: the last G of the batch runs now; the rest go to pp's ring (then publish runqtail).
    raise NotImplementedError("TODO: runqsteal")
