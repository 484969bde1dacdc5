"""Preemption (Go: preempt.go, signal_unix.go doSigPreempt, proc.go preemptone,
gopreempt_m, preemptPark).

Design note -- how a goroutine in `1: jmp 1b` is stopped:
  1. sysmon sees a P whose schedtick has not moved for forcePreemptNS and calls
     preemptone: gp.preempt = true, gp.stackguard0 = stackPreempt (the
     synchronous request a prologue check would see), p.preempt = true, then
     preemptM: tgkill(SIGURG) to the M's thread, once (m.signalPending).
  2. The kernel delivers SIGURG on the M's gsignal stack; sigtramp -> sigtrampgo
     -> doSigPreempt.  If the G wants preemption and the interrupted PC is an
     async safe point, pushCall edits the ucontext so that, on rt_sigreturn, the
     G appears to have called asyncPreempt from that PC:
       amd64: rsp -= 8; [rsp] = resume PC; rip = asyncPreempt
       arm64: sp -= 16; [sp] = LR; [sp-8] = x29; LR = resume PC; pc = asyncPreempt
  3. asyncPreempt (asm) saves every register, flags first, and calls
     asyncPreempt2 here, which mcalls gopreempt_m: _Grunning -> _Grunnable, the
     global run queue, schedule().  When the G is scheduled again, mcall returns,
     asyncPreempt restores everything and returns to the resume PC.
  4. An unsafe PC (runtime assembly, the Python text, a window the runtime marks,
     a G without enough stack headroom) refuses the preemption; the request stays
     in stackguard0 for a synchronous check to catch (Go's fallback).
  Rejected (as in Go): preempting inside the signal handler itself, which would
  consume an M for every preempted G.
"""
from __future__ import annotations

import bisect

from .g import casgstatus
from .layout import STACK_PREEMPT, _Gpreempted, _Grunning, _Prunning
from .oslinux import getpid, tgkill
from .park import mcall
from .pycall import export
from .signal import SIGURG

ASYNC_PREEMPT_STACK = 1024      # headroom asyncPreempt's frame and its callees need


class SafePoints:
    """Which PCs may be interrupted: the program's own code, minus marked windows."""

    def __init__(self, image, user_files: set[str]):
        spans = sorted((ln.addr, ln.addr + ln.size) for ln in image.lines if ln.file in user_files)
        self.spans = _merge(spans)
        self.starts = [a for a, _ in self.spans]
        self.unsafe: list[tuple[int, int, str]] = []     # runtime-marked windows (e.g. prologue checks)

    def mark_unsafe(self, lo: int, hi: int, why: str) -> None:
        self.unsafe.append((lo, hi, why))

    def check(self, pc: int) -> str | None:
        """None if pc is an async safe point, else why not."""
        i = bisect.bisect(self.starts, pc) - 1
        if i < 0 or pc >= self.spans[i][1]:
            return "pc is not in the program's code (runtime assembly or Python text)"
        for lo, hi, why in self.unsafe:
            if lo <= pc < hi:
                return why
        return None


def _merge(spans):
    out = []
    for a, b in spans:
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def wantAsyncPreempt(rt, gp) -> bool:
    pp = rt.p(rt.m(gp.m).p) if gp.m and rt.m(gp.m).p else None
    return bool(gp.preempt or (pp and pp.preempt)) and gp.atomicstatus == _Grunning


def isAsyncSafePoint(rt, gp, pc: int, sp: int) -> str | None:
    """None if the G may be stopped at pc, else the reason it may not."""
    mp = rt.m(gp.m)
    if gp.addr != mp.curg:
        return "the interrupted g is not the M's curg"
    if not mp.p:
        return "the M has no P"
    pp = rt.p(mp.p)
    if mp.locks or pp.status != _Prunning:
        return "the M holds locks or its P is not running"
    if sp < gp.stack.lo or sp - gp.stack.lo < ASYNC_PREEMPT_STACK:
        return "not enough stack for asyncPreempt"
    return rt.safepoints.check(pc)


def pushCall(rt, uc, target: int, resume: int) -> None:
    """Make the interrupted G look as if it called `target` at `resume` (Go's pushCall)."""
    mem = rt.mem
    if rt.isa.lr is None:
        sp = uc["sp"] - 8
        mem.write_u64(sp, resume)
    else:
        sp = uc["sp"] - 16
        mem.write_u64(sp, uc["lr"])
        mem.write_u64(sp - 8, uc["fp"])
        uc["lr"] = resume
    uc["sp"] = sp
    uc["pc"] = target


def doSigPreempt(rt, gp, uc):
    """SIGURG: inject asyncPreempt if the G wants it and the PC is safe (generator)."""
    mp = rt.m(gp.m)
    pc, sp = uc["pc"], uc["sp"]
    if wantAsyncPreempt(rt, gp):
        why = isAsyncSafePoint(rt, gp, pc, sp)
        if why is None:
            pushCall(rt, uc, rt.addr("runtime.asyncPreempt"), pc)
            rt.emit("pushcall", gp.goid, pc, sp)
        else:
            rt.emit("preempt_refused", gp.goid, pc, why)
    mp.preemptGen = mp.preemptGen + 1
    mp.signalPending = 0
    return
    yield                                       # a generator, like every handler step


@export("runtime.asyncPreempt2")
def asyncPreempt2(rt):
    """asyncPreempt2(): on the preempted G, inside asyncPreempt's frame: switch away."""
    gp = rt.getg()
    gp.asyncSafePoint = 1
    rt.emit("asyncpreempt", gp.goid, rt.cpu.sp)
    if gp.preemptStop:
        yield from mcall(rt, "runtime.preemptPark")
    else:
        yield from mcall(rt, "runtime.gopreempt_m")
    gp = rt.getg()
    gp.asyncSafePoint = 0
    rt.emit("asyncresume", gp.goid, rt.cpu.sp)


@export("runtime.gopreempt_m")
def gopreempt_m(rt, gpaddr):
    """gopreempt_m(gp): on g0: the preempted G goes to the global queue; schedule."""
    from .sched import goschedImpl
    yield from goschedImpl(rt, rt.g(gpaddr))


@export("runtime.preemptPark")
def preemptPark(rt, gpaddr):
    """preemptPark(gp): on g0: park a G stopped for a suspension: _Gpreempted."""
    from .sched import dropg, schedule
    gp = rt.g(gpaddr)
    yield from casgstatus(rt, gp, _Grunning, _Gpreempted)
    gp.preemptStop = 0
    dropg(rt)
    rt.emit("preemptpark", gp.goid)
    yield from schedule(rt)


def preemptone(rt, pp) -> bool:
    """Ask the G running on pp to stop (generator; True if a request was made)."""
    if not pp.m:
        return False
    mp = rt.m(pp.m)
    if not mp.curg or mp.curg == mp.g0:
        return False
    gp = rt.g(mp.curg)
    gp.preempt = 1
    gp.stackguard0 = STACK_PREEMPT
    if rt.preempt_park:
        gp.preemptStop = 1
    pp.preempt = 1
    yield from preemptM(rt, mp)
    return True


def preemptM(rt, mp):
    """Send SIGURG to mp's thread, unless one is already on its way (generator)."""
    if mp.signalPending:
        return
    mp.signalPending = 1
    pid = yield from getpid(rt)
    yield from tgkill(rt, pid, mp.procid, SIGURG)
