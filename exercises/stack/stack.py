"""Exercise `stack`: grow a goroutine's stack (Go: runtime/stack.go, newstack and copystack).

Write the two functions marked TODO.  They replace emu.runtime.stack.newstack (which
machine code reaches as `runtime.newstack`, from morestack) and
emu.runtime.stack.copystack (which newstack calls, and so does the SIGSEGV handler
when a nosplit function runs into the guard page).  Everything else here is given.
README.md explains the contract; grade with

    gosched-emu grade stack --solution DIR      (DIR holds your copy of this file)
"""
from __future__ import annotations

from array import array

from emu.runtime.g import casgstatus
from emu.runtime.layout import STACK_GUARD, STACK_PREEMPT, _Gcopystack, _Grunning, _Prunning
from emu.runtime.pycall import call_noreturn
from emu.runtime.stack import PAGE, _overflow, stackalloc, stackfree


def newstack(rt):
    """newstack(): on g0, called by morestack when the running G's next frame does not
    fit (generator; it never returns: it ends by gogo-ing back to the G).

    morestack saved the G's state in g.sched: sched.sp is the G's SP at the failed
    check, sched.pc the instruction that retries the check, sched.bp its frame pointer.
    """
    mp = rt.getm()
    gp = rt.g(mp.curg)
    if gp.stackguard0 == STACK_PREEMPT:            # given: a synchronous preemption, not a growth
        yield from sync_preempt(rt, mp, gp)
    # TODO:
    #   1. newsize is twice the current size (gp.stack.hi - gp.stack.lo).  Past
    #      rt.maxstacksize, `yield from _overflow(rt, gp, gp.sched.sp, newsize)` (Go's
    #      "stack overflow"; it never returns).
    #   2. _Grunning -> _Gcopystack: `yield from casgstatus(rt, gp, old, new)`; then
    #      `yield from copystack(rt, gp, newsize, gp.sched.sp)`; then back to _Grunning.
    #   3. Resume the G where morestack left it:
    #      `yield from call_noreturn("runtime.gogo", gp.sched.addr)`.
    raise NotImplementedError("TODO: newstack: double the stack, copy it with copystack, gogo back")
    yield                                          # (keeps this function a generator)


def copystack(rt, gp, newsize: int, sp: int, regs: dict | None = None):
    """Move gp's stack to a new stack of `newsize` bytes (generator).

    `sp` is the lowest live address of the stack (g.sched.sp, or the interrupted SP on
    the guard-page path, where it may already lie in the guard page below lo).  `regs`
    (register name -> value), when given, is the interrupted context of a guard-page
    fault: relocate it in place.  Returns (delta, number of words relocated), where
    delta = new hi - old hi.
    """
    mem = rt.mem
    old_lo, old_hi = gp.stack.lo, gp.stack.hi
    new_lo = yield from stackalloc(rt, newsize)        # given: the new stack [new_lo, new_lo + newsize)
    new_hi = new_lo + newsize
    # TODO: set delta, moved and used_lo, and do 1-5.
    #   1. Copy the used part, [used_lo, old_hi) with used_lo = max(sp, old_lo - PAGE)
    #      rounded down to 8, to the same distance below new_hi: [used_lo + delta,
    #      new_hi).  Every 8-byte word whose value v satisfies old_lo <= v < old_hi is
    #      a pointer into the old stack (a saved frame pointer, a pointer to a local):
    #      write v + delta instead.  (mem.read / mem.write move bytes;
    #      array("Q", ...) turns them into words.)
    #   2. The sudogs the G waits on (gp.waiting, linked through .waitlink; views from
    #      rt.sudog(addr)): an .elem inside the old stack moves by delta.
    #   3. The saved context gp.sched: .sp (which, like sp, may lie in the guard page),
    #      .bp, .ctxt, and the callee-saved slots .callee[i] that point into the old stack.
    #   4. `regs`, if given: every register whose value lies in the old stack or its
    #      guard page, [old_lo - PAGE, old_hi), moves by delta.  No other register.
    #   5. The new bounds: gp.stack.lo / .hi; gp.stackguard0 = gp.stackguard1 =
    #      new_lo + STACK_GUARD; gp.stktopsp moves by delta if it was in the old stack.
    #   Count every word or field you relocated in `moved`.
    raise NotImplementedError("TODO: copystack: copy [sp, hi) to the new stack, relocating pointers by delta")
    # given: free the old stack and record the move (the `stackgrow` trace event)
    stackfree(rt, old_lo, old_hi - old_lo)
    rt.emit("stackgrow", gp.goid, old_lo, old_hi, new_lo, new_hi, moved, old_hi - used_lo)
    return delta, moved


# ---- given: the synchronous preemption half of newstack ------------------------------------------
def sync_preempt(rt, mp, gp):
    """sysmon's preemptone set stackguard0 = stackPreempt, so the G's next prologue
    check came here: yield the P (gosched), or, when the M may not be preempted now,
    let the G run on (generator; never returns)."""
    from emu.runtime.preempt import preemptPark
    from emu.runtime.sched import goschedImpl
    pp = rt.p(mp.p) if mp.p else None
    if mp.locks or not pp or pp.status != _Prunning:
        gp.stackguard0 = gp.stack.lo + STACK_GUARD     # not now: let the G continue
        yield from call_noreturn("runtime.gogo", gp.sched.addr)
    rt.emit("syncpreempt", gp.goid, gp.sched.pc)
    if gp.preemptStop:
        yield from preemptPark(rt, gp.addr)
    yield from goschedImpl(rt, gp)
