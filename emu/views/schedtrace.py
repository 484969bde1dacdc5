"""GODEBUG=schedtrace=X,scheddetail=1 lines, printed from the runtime's state in
emulated memory (Go: runtime/proc.go schedtrace, called from sysmon).

The format is Go 1.22's, field for field (Go 1.20 and 1.21 print the same; Go 1.19
lacks needspinning and prints -1 for a missing M, P or G where 1.20+ print nil):

  SCHED 0ms: gomaxprocs=1 idleprocs=0 threads=2 spinningthreads=0 needspinning=0 idlethreads=0 runqueue=0 [0]

and with scheddetail the summary ends with the GC fields instead of the run queue
lengths, followed by one line per P, per M (allm order: newest first) and per G
(allgs order: oldest first):

  SCHED 0ms: gomaxprocs=1 ... runqueue=0 gcwaiting=false nmidlelocked=0 stopwait=0 sysmonwait=false
    P0: status=1 schedtick=1 syscalltick=0 m=0 runqsize=0 gfreecnt=0 timerslen=0
    M0: p=0 curg=1 mallocing=0 throwing=0 preemptoff= locks=0 dying=0 spinning=false blocked=false lockedg=nil
    G1: status=2() m=0 lockedm=nil

Fields the emulator does not model print as Go prints their zero value:
needspinning=0, gcwaiting=false, stopwait=0, sysmonwait=false, mallocing=0,
throwing=0, preemptoff= (the empty string) and lockedg=nil.  A P's runqsize is
runqtail - runqhead, without runnext, as in Go; a G's wait reason is the one its
last gopark left (Go does not clear it either, so a running G may still say
"chan receive").

Design note
  1. `schedtrace(system)` reads sched, allp, allm and allg through the layout
     views, as Go's schedtrace reads them (under sched.lock; here between slices,
     when runtime Python is never half-way through an update).
  2. `ScheduleTracer` samples while a run goes, from `Machine.run`'s per-slice
     `pause` hook, which it answers with False, so the run is exactly the run
     without it (a test compares the event traces).  Go's starttime is the first
     line: the first slice boundary after runtime.main has started (where Go
     starts sysmon, which prints the lines).  Line k is the state at
     starttime + k*interval: after each slice every line up to the time the next
     slice can start is taken -- the slowest running CPU's clock, or, when all
     CPUs sleep, the earliest wake-up the clock will jump to.
  3. The interval is in nanoseconds of virtual time (GODEBUG's is in ms; programs
     here run for microseconds to milliseconds); the label stays Go's:
     (t - starttime) / 1e6 truncated, in ms.
  4. A real Go binary (an ElfSystem, Go 1.19): `schedtrace(system)` prints Go
     1.19's format instead (`go_schedtrace`), from the runtime's own memory
     through the DWARF layouts (emu/gobinary): no needspinning, -1 for a
     missing M, P or G, allgs order for the Gs, every G's wait reason string
     (waitReason.String(), even for a running G), and each value formatted as
     Go's print formats its DWARF type (bools true/false).  A test compares it
     with what the binary prints itself under GODEBUG=schedtrace=1,scheddetail=1.
     ScheduleTracer's first line is then the first slice after
     runtime.mainStarted is set (runtime.main starts sysmon right after).
Rejected: a kernel timer (`kernel.at`) per line (it adds a CPU, moves the clock
when every thread sleeps, and keeps a deadlocked run from being reported as one);
printing from the runtime's own sysmon (it would add syscalls and change the run);
Go's drift (the next line when sysmon next wakes at least X ms after the last one),
which depends on sysmon's sleep backoff.
"""
from __future__ import annotations

from ..machine.smp import BLOCKED, RUN
from ..runtime.print import WAIT_REASONS
from ..runtime.view import walk

U32 = 0xFFFFFFFF


def _i32(v: int) -> int:
    """A 32-bit field as Go's int32 prints it."""
    return v - (1 << 32) if v & 0x80000000 else v


def _bool(v: int) -> str:
    return "true" if v else "false"


def _runtime(system):
    if system.runtime is None:
        if getattr(system, "go", None) is not None:
            return system.goruntime
        raise ValueError("schedtrace: a --bare program has no Go runtime to trace")
    return system.runtime


def _go_value(v) -> str:
    """A value as Go's print prints it (bools as true/false)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def go_schedtrace(rt, detailed: bool = False, elapsed_ns: int = 0) -> str:
    """Go 1.19's schedtrace(detailed) for a real Go binary, from `rt` (a
    emu.gobinary.GoRuntime): proc.go's format, field for field (design step 4)."""
    s = rt.sched
    v = _go_value
    mcount = _i32((s.mnext - s.nmfreed) & U32)
    line = (f"SCHED {elapsed_ns // 1_000_000}ms: gomaxprocs={rt.gomaxprocs()} idleprocs={v(s.npidle)} "
            f"threads={mcount} spinningthreads={v(s.nmspinning)} idlethreads={v(s.nmidle)} "
            f"runqueue={v(s.runqsize)}")
    ps = [rt.p(a) for a in rt.allp()]
    if detailed:
        lines = [line + f" gcwaiting={v(s.gcwaiting)} nmidlelocked={v(s.nmidlelocked)} "
                        f"stopwait={v(s.stopwait)} sysmonwait={v(s.sysmonwait)}"]
    else:
        return line + (" [" + " ".join(str((p.runqtail - p.runqhead) & U32) for p in ps) + "]" if ps else "") + "\n"

    def ident(addr, view):
        return view(addr).id if addr else -1
    for i, pp in enumerate(ps):
        lines.append(f"  P{i}: status={v(pp.status)} schedtick={v(pp.schedtick)} syscalltick={v(pp.syscalltick)} "
                     f"m={ident(pp.m, rt.m)} runqsize={(pp.runqtail - pp.runqhead) & U32} "
                     f"gfreecnt={v(pp['gFree.n'])} timerslen={pp.timers[1]}")
    for a in rt.allm():
        mp = rt.m(a)
        curg = rt.g(mp.curg).goid if mp.curg else -1
        lockedg = rt.g(mp.lockedg).goid if mp.lockedg else -1
        lines.append(f"  M{mp.id}: p={ident(mp.p, rt.p)} curg={curg} mallocing={v(mp.mallocing)} "
                     f"throwing={v(mp.throwing)} preemptoff={mp.preemptoff} locks={v(mp.locks)} "
                     f"dying={v(mp.dying)} spinning={v(mp.spinning)} blocked={v(mp.blocked)} lockedg={lockedg}")
    for a in rt.allgs():
        gp = rt.g(a)
        lines.append(f"  G{gp.goid}: status={v(gp.atomicstatus)}({rt.wait_reason(gp.waitreason)}) "
                     f"m={ident(gp.m, rt.m)} lockedm={ident(gp.lockedm, rt.m)}")
    return "\n".join(lines) + "\n"


def _is_go(rt) -> bool:
    return hasattr(rt, "allgs")


def _allp(rt) -> list:
    s = rt.sched
    return [rt.allp(i) for i in range(s.gomaxprocs)] if s.allp else []


def summary(rt, elapsed_ns: int, detailed: bool) -> str:
    """The SCHED line."""
    s = rt.sched
    line = (f"SCHED {elapsed_ns // 1_000_000}ms: gomaxprocs={_i32(s.gomaxprocs)} idleprocs={_i32(s.npidle)} "
            f"threads={_i32(s.mcount)} spinningthreads={_i32(s.nmspinning)} needspinning=0 "
            f"idlethreads={_i32(s.nmidle)} runqueue={_i32(s.runqsize)}")
    if detailed:
        return line + f" gcwaiting=false nmidlelocked={_i32(s.nmidlelocked)} stopwait=0 sysmonwait=false"
    ps = _allp(rt)
    return line + (" [" + " ".join(str((p.runqtail - p.runqhead) & U32) for p in ps) + "]" if ps else "")


def p_line(rt, i: int, pp) -> str:
    m = rt.m(pp.m).id if pp.m else "nil"
    return (f"  P{i}: status={pp.status} schedtick={pp.schedtick} syscalltick={pp.syscalltick} m={m} "
            f"runqsize={(pp.runqtail - pp.runqhead) & U32} gfreecnt={_i32(pp.gFree_n)} timerslen={pp.ntimers}")


def m_line(rt, mp) -> str:
    p = rt.p(mp.p).id if mp.p else "nil"
    curg = rt.g(mp.curg).goid if mp.curg else "nil"
    return (f"  M{mp.id}: p={p} curg={curg} mallocing=0 throwing=0 preemptoff= locks={_i32(mp.locks)} "
            f"dying={_i32(mp.dying)} spinning={_bool(mp.spinning)} blocked={_bool(mp.blocked)} lockedg=nil")


def g_line(rt, gp) -> str:
    reason = WAIT_REASONS.get(gp.waitreason, "unknown wait reason")
    m = rt.m(gp.m).id if gp.m else "nil"
    lockedm = rt.m(gp.lockedm).id if gp.lockedm else "nil"
    return f"  G{gp.goid}: status={gp.atomicstatus}({reason}) m={m} lockedm={lockedm}"


def schedtrace(system, detailed: bool = False, elapsed_ns: int = 0) -> str:
    """Go's schedtrace(detailed) output for the state now, `elapsed_ns` after Go's
    starttime (the first line is "SCHED 0ms").  Ends with a newline, as Go prints."""
    rt = _runtime(system)
    if _is_go(rt):
        return go_schedtrace(rt, detailed, elapsed_ns)
    lines = [summary(rt, elapsed_ns, detailed)]
    if detailed:
        lines += [p_line(rt, i, pp) for i, pp in enumerate(_allp(rt))]
        lines += [m_line(rt, rt.m(a)) for a in walk(rt.sched.allm, lambda a: rt.m(a).alllink)]
        gs = walk(rt.sched.allg, lambda a: rt.g(a).alllink)
        lines += [g_line(rt, rt.g(a)) for a in reversed(gs)]     # allg is newest first; allgs oldest first
    return "\n".join(lines) + "\n"


class ScheduleTracer:
    """Collects schedtrace output every `interval_ns` of virtual time while a run
    goes (design step 2).  `samples` holds (virtual ns, text); `out(text)`, if
    given, is called with each sample as it is taken (the CLI prints to stderr).

        tracer = ScheduleTracer(system, 1_000_000, detailed=True)
        outcome = tracer.run()          # System.run, with the tracer watching
        print(tracer.text, end="")
    """

    def __init__(self, system, interval_ns: int, detailed: bool = False, out=None):
        if interval_ns <= 0:
            raise ValueError(f"ScheduleTracer: the interval must be positive, not {interval_ns} ns")
        self.system, self.rt = system, _runtime(system)
        self.interval, self.detailed, self.out = interval_ns, detailed, out
        self.samples: list[tuple[int, str]] = []
        self.start: int | None = None       # Go's starttime: the time of the first line (ns)
        self.next: int | None = None        # the time of the next line (ns)

    @property
    def text(self) -> str:
        return "".join(text for _, text in self.samples)

    def run(self, max_instructions: int | None = None):
        """`system.run(max_instructions)` with `after_slice` as the per-slice observer."""
        return self.system.run(max_instructions, pause=self.after_slice)

    def after_slice(self) -> bool:
        """Take every line that is due (usable as `Machine.run(pause=...)`); never pauses."""
        if self.system.kernel.exit_status is not None:
            return False                     # the process is gone, and sysmon with it
        if self.start is None:
            started = (self.system.machine.memory.read(self.rt.symbols.addr_of("runtime.mainStarted"), 1) != b"\0"
                       if _is_go(self.rt) else self.rt.sched.main_started)
            if not started:
                return False
            self.start = self.next = self._ns(self.system.machine.now())
        horizon = self._horizon()
        while horizon is not None and self.next <= horizon:
            self._sample(self.next)
            self.next += self.interval
        return False

    def _ns(self, cycles: int) -> int:
        return self.system.machine.cycles_to_ns(cycles)

    def _horizon(self) -> int | None:
        """The earliest time the next slice can start (ns), None when nothing will run."""
        cpus = self.system.machine.cpus
        running = [c.cycles for c in cpus if c.state == RUN]
        if running:
            return self._ns(min(running))
        deadlines = [c.deadline for c in cpus if c.state == BLOCKED and c.deadline is not None]
        return self._ns(min(deadlines)) if deadlines else None

    def _sample(self, t: int) -> None:
        text = schedtrace(self.system, self.detailed, t - self.start)
        self.samples.append((t, text))
        if self.out is not None:
            self.out(text)
