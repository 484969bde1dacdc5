"""The runtime's package-level state and helpers every module uses (Go: the
globals of package runtime, getg(), throw).

Design note
  1. `Runtime` holds what Go keeps in package variables, but only as *addresses*
     of emulated memory (sched, m0, g0, allp) plus the hardware handles.  Every
     value the scheduler decides on lives in guest memory, where the assembly
     and the views see it.
  2. `rt.cpu` is the CPU whose trap is being handled: `getg(rt)` reads its g
     register, as Go's getg() reads R14 / R28.  Python code re-reads it after
     every `yield`, because a goroutine may resume on another M.
  3. Transient hand-offs that Go passes in m fields holding closures (gopark's
     unlockf, newproc's arguments to systemstack) are kept in `rt.handoff`,
     keyed by M address, and consumed at once.
"""
from __future__ import annotations

import random

from .layout import G_STATUS_NAMES
from .view import GView, MView, PView, SchedtView



class Throw(Exception):
    """Raised inside runtime Python code for `throw`; the boundary turns it into a
    fatal error report on the guest's stderr and exit(2)."""


class Runtime:
    """One runtime instance on one machine (the state of package runtime)."""

    def __init__(self, machine, kernel, image, *, gomaxprocs: int, pycall_cycles: int = 20,
                 user_files: set[str] = frozenset(), forcePreemptNS: int = 10_000_000,
                 sysmon: bool = True, preempt_park: bool = False, guard_pages: bool = False,
                 initial_stack: int = 8192, maxstacksize: int = 1 << 30):
        from .pycall import Boundary
        self.machine, self.kernel, self.image = machine, kernel, image
        self.isa, self.mem = machine.isa, machine.memory
        self.recorder = machine.recorder
        self.gomaxprocs = gomaxprocs
        self.pycall_cycles = pycall_cycles
        self.forcePreemptNS = forcePreemptNS    # sysmon preempts a G that ran this long (Go: 10 ms)
        self.sysmon = sysmon                    # start the sysmon M in runtime.main
        self.preempt_park = preempt_park        # preempted Gs park in _Gpreempted (sysmon readies them)
        self.guard_pages = guard_pages          # a PROT_NONE page below every stack (stack.py; off by default)
        self.initial_stack = initial_stack      # bytes of a new goroutine's stack (a power of two)
        self.maxstacksize = maxstacksize        # Go's maxstacksize: 1 GiB on 64-bit
        sym = image.symbols
        self.sched = SchedtView(self.mem, sym["runtime.sched"])
        self.m0 = MView(self.mem, sym["runtime.m0"])
        self.g0 = GView(self.mem, sym["runtime.g0"])
        self.cpu = None
        self._g = self._m = None
        self.handoff: dict[int, object] = {}
        self.rand = random.Random(0)        # reseeded from AT_RANDOM in schedinit
        self.boundary = Boundary(self)
        from .preempt import SafePoints
        self.safepoints = SafePoints(image, set(user_files))
        for name, lo in image.symbols.items():     # .stackcheck sequences are not async safe
            if name.startswith("__stackcheck_") and name.endswith("_lo"):
                self.safepoints.mark_unsafe(lo, image.symbols[name[:-3] + "_hi"], "a stack-check prologue")
        self.fatal: str | None = None       # the fatal error text, once thrown
        self._g_id = self.isa.reg(self.isa.g).uc_id
        machine.map_python_text(self.boundary.lo, self.boundary.hi, self.boundary.trap)

    # ---- getg and friends -----------------------------------------------------------
    def enter(self, cpu) -> None:
        """A trap on `cpu` starts running Python: forget what was cached about the
        previous one (the g register can only change while machine code runs)."""
        self.cpu = cpu
        self._g = self._m = None

    def getg(self) -> GView:
        g = self._g
        if g is None:
            g = self._g = GView(self.mem, self.cpu.regs.read(self._g_id))
        return g

    def getm(self) -> MView:
        m = self._m
        if m is None:
            m = self._m = MView(self.mem, self.getg().m)
        return m

    def getp(self) -> PView:
        return PView(self.mem, self.getm().p)

    def g(self, addr: int) -> GView:
        return GView(self.mem, addr)

    def m(self, addr: int) -> MView:
        return MView(self.mem, addr)

    def p(self, addr: int) -> PView:
        return PView(self.mem, addr)

    def sudog(self, addr: int):
        from .view import SudogView
        return SudogView(self.mem, addr)

    def allp(self, i: int) -> PView:
        return PView(self.mem, self.mem.read_u64(self.sched.allp + 8 * i))

    def addr(self, symbol: str) -> int:
        return self.image.symbols[symbol]

    # ---- events ------------------------------------------------------------------------
    def emit(self, kind: str, *args) -> None:
        rec = self.recorder
        if rec is not None:
            cpu = self.cpu
            rec.emit(cpu.cycles if cpu else 0, cpu.id if cpu else -1, kind, *args)

    def throw_now(self, cpu, msg: str) -> None:
        """Throw from the boundary itself (no runtime frame to throw from)."""
        from .pycall import Export, Frame
        from .print import fatal
        self.enter(cpu)
        e = Export("runtime.throw", fatal, 1, 0, "")
        self.boundary._resume(cpu, Frame(fatal(self, msg), e, cpu.pc), None)


def status_name(s: int) -> str:
    scan = s & 0x1000
    base = G_STATUS_NAMES.get(s & ~0x1000, str(s & ~0x1000))
    return ("_Gscan" + base[2:]) if scan else base
