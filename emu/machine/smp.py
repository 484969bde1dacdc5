"""The SMP machine: shared memory, one CPU per thread, interleaving, virtual clock.

Design note
  1. Virtual time is counted in cycles; one instruction is one cycle and
     `clock_hz` converts cycles to nanoseconds (default 100 MHz, so 1 instruction =
     10 ns: a slow teaching CPU, on which sysmon's 10 ms preemption period is
     only a million instructions).  Each CPU keeps its own cycle count, as real cores run in parallel;
     the machine's "now" is the count of the runnable CPU that is furthest behind.
  2. A policy picks which runnable CPU runs the next slice and how long:
       round-robin  the CPU furthest behind (lowest id on ties) runs `quantum`
                    instructions: the CPUs advance in lockstep;
       random       a seeded choice among the CPUs at most `window` cycles ahead
                    of "now", for a seeded random quantum in [1, quantum];
       step         as random with quantum 1: exact single-step interleaving.
  3. A CPU is RUN, BLOCKED (optionally until a deadline) or OFF.  The kernel blocks
     and wakes CPUs; a woken CPU's clock moves up to its waker's (or to its
     deadline), so time never runs backwards for a thread.  When no CPU can run,
     the clock jumps to the earliest deadline; with none, the machine reports a
     deadlock to its handler.
  4. Every choice comes from one `random.Random(seed)` and every ordering is by
     CPU id, so (program, arch, config, seed) fixes the whole run.
Rejected: one global clock advanced by every instruction on any CPU (it would
make two parallel CPUs look twice as slow as one); host threads per CPU (not
deterministic).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Protocol

from ..trace import events as ev
from ..trace.events import Recorder
from . import idregs
from .cpu import BREAK, CPU, Trap
from .isa import ISA, get_isa
from .memory import Memory

RUN, BLOCKED, OFF = "run", "blocked", "off"
POLICIES = ("round-robin", "random", "step")
DEFAULT_CLOCK_HZ = 100_000_000


class TrapHandler(Protocol):
    """What the machine needs from the software above it (the kernel)."""

    def trap(self, cpu: CPU, trap: Trap) -> None: ...
    def deadlock(self) -> None: ...
    def return_to_user(self, cpu: CPU) -> None:
        """Called before a slice of `cpu` when `cpu.kernel_work` is set (signal delivery)."""


@dataclass
class RunResult:
    """Why `Machine.run` returned: "halted" (software asked), "deadlock", "budget", "paused",
    "stopped" (a debugger hook or request; see emu/debug.py)."""

    reason: str
    instructions: int
    cycles: int


class Hook:
    """An observation hook installed on every CPU: kind "code" (one address) or "write"
    (a range), with the Unicorn handle of each CPU."""

    def __init__(self, kind: str, lo: int, hi: int, fn: Callable):
        self.kind, self.lo, self.hi, self.fn = kind, lo, hi, fn
        self.handles: dict[int, int] = {}

    def attach(self, cpu: CPU) -> None:
        if self.kind == "code":
            self.handles[cpu.id] = cpu.add_code_hook(self.lo, self.fn, self.hi)
        else:
            self.handles[cpu.id] = cpu.add_write_hook(self.lo, self.hi, self.fn)

    def detach(self, cpu: CPU) -> None:
        handle = self.handles.pop(cpu.id, None)
        if handle is not None:
            cpu.remove_hook(handle)


class Machine:
    """The hardware of one emulated computer.  See the module note."""

    def __init__(self, arch: str | ISA, *, seed: int = 0, policy: str = "round-robin",
                 quantum: int = 10_000, window: int | None = None, clock_hz: int = DEFAULT_CLOCK_HZ,
                 arena_base: int = 0x400000, arena_size: int = 1 << 30,
                 recorder: Recorder | None = None):
        if policy not in POLICIES:
            raise ValueError(f"Machine: unknown policy {policy!r}; expected one of {', '.join(POLICIES)}")
        if quantum < 1:
            raise ValueError("Machine: quantum must be at least 1 instruction")
        if clock_hz < 1:
            raise ValueError("Machine: clock_hz must be positive")
        self.isa = get_isa(arch) if isinstance(arch, str) else arch
        self.seed, self.policy, self.clock_hz = seed, policy, clock_hz
        self.quantum = 1 if policy == "step" else quantum
        self.window = window if window is not None else (16 if policy == "step" else quantum)
        self.rng = random.Random(seed)
        self.memory = Memory(arena_base, arena_size)
        self.cpus: list[CPU] = []
        self.recorder = recorder
        self.handler: TrapHandler | None = None
        self.instructions = 0
        self.slices = 0
        self._halted = False
        self.python_text: tuple[int, int, Callable] | None = None
        self.hooks: list[Hook] = []       # observation hooks on every CPU, present and future
        self._carry: tuple[CPU, int] | None = None   # a slice cut short by a budget or a debugger stop
        self.stop_requested: str | None = None        # set by a debugger: return after this slice
        self.last_cpu: CPU | None = None               # the CPU of the latest slice
        self._running: list[CPU] = []     # CPUs in state RUN, by id (kept in step with states)
        self._timed: list[CPU] = []       # BLOCKED CPUs with a deadline, by id
        self._next_deadline: int | None = None   # the earliest of their deadlines

    # ---- CPUs ----------------------------------------------------------------------
    def new_cpu(self, cycles: int = 0) -> CPU:
        """Power on a CPU whose clock starts at `cycles` (its creator's time)."""
        cpu = CPU(len(self.cpus), self.isa, self.memory, self.clock_hz)
        cpu.state, cpu.cycles, cpu.deadline, cpu.on_timeout = RUN, cycles, None, None
        self.cpus.append(cpu)
        self._running.append(cpu)
        for hook in self.hooks:
            hook.attach(cpu)
        return cpu

    def add_code_hook(self, addr: int, fn: Callable[[CPU], None]) -> "Hook":
        """Call fn(cpu) just before any CPU (present or future) executes `addr`.
        Costs nothing at other addresses; fn must only observe, or end the slice with
        `cpu.stop_before_current()` (a debugger).  Returns the hook, for `remove_hook`."""
        return self._add_hook(Hook("code", addr, addr + 1, fn))

    def add_code_range_hook(self, lo: int, hi: int, fn: Callable[[CPU], None]) -> "Hook":
        """fn(cpu) before every instruction in [lo, hi) on every CPU: a Python call per
        instruction (instruction tracing only; never on by default)."""
        return self._add_hook(Hook("code", lo, hi, fn))

    def add_write_hook(self, lo: int, hi: int, fn: Callable[[CPU, int, int, int], None]) -> "Hook":
        """Call fn(cpu, addr, size, value) when machine code on any CPU is about to write
        into [lo, hi).  fn must only observe, or call `cpu.stop_after_current()`."""
        return self._add_hook(Hook("write", lo, hi, fn))

    def _add_hook(self, hook: "Hook") -> "Hook":
        self.hooks.append(hook)
        for cpu in self.cpus:
            hook.attach(cpu)
            cpu.uc.ctl_flush_tb()        # blocks translated before the hook would skip it
        return hook

    def virtualize_timestamps(self, lo: int, hi: int) -> int:
        """Make every RDTSC / RDTSCP in [lo, hi) (amd64 machine code already in memory)
        read the virtual clock: a code hook at each place whose bytes spell one ends
        the run before it and the CPU emulates it (idregs.py).  Returns how many
        places were hooked.  (arm64 needs nothing: MRS CNTVCT_EL0 is always virtual.)"""
        if self.isa.name != "amd64":
            return 0
        sites = idregs.timestamp_sites(self.memory.read(lo, hi - lo), lo)
        for addr, _ in sites:
            self._add_hook(Hook("code", addr, addr + 1, CPU.trap_timestamp))
        return len(sites)

    def remove_hook(self, hook: "Hook") -> None:
        self.hooks.remove(hook)
        for cpu in self.cpus:
            hook.detach(cpu)
            cpu.uc.ctl_flush_tb()

    def _set_state(self, cpu: CPU, state: str, deadline: int | None = None) -> None:
        cpu.state, cpu.deadline = state, deadline
        self._running = [c for c in self.cpus if c.state == RUN]
        self._timed = [c for c in self.cpus if c.state == BLOCKED and c.deadline is not None]
        self._next_deadline = min((c.deadline for c in self._timed), default=None)

    def block(self, cpu: CPU, deadline: int | None = None, on_timeout: Callable[[CPU], None] | None = None) -> None:
        """Stop scheduling `cpu` until `wake` (or until the clock reaches `deadline` cycles)."""
        if cpu.state != RUN:
            raise RuntimeError(f"Machine.block: cpu{cpu.id} is {cpu.state}, not running")
        cpu.on_timeout = on_timeout
        self._set_state(cpu, BLOCKED, deadline)

    def wake(self, cpu: CPU, at: int) -> None:
        """Make a blocked `cpu` runnable; its clock moves up to `at` (the waker's time)."""
        if cpu.state != BLOCKED:
            raise RuntimeError(f"Machine.wake: cpu{cpu.id} is {cpu.state}, not blocked")
        cpu.on_timeout = None
        self._set_state(cpu, RUN)
        cpu.cycles = max(cpu.cycles, at)

    def power_off(self, cpu: CPU) -> None:
        cpu.on_timeout = None
        self._set_state(cpu, OFF)

    def halt(self) -> None:
        """Stop the machine after the current slice (the process is gone)."""
        self._halted = True

    def map_python_text(self, lo: int, hi: int, handler: Callable[[CPU, int], None]) -> None:
        """Breakpoint traps at [lo, hi) go to `handler(cpu, pc)` instead of the kernel:
        that range is "Python text", code the hardware runs by calling Python."""
        self.python_text = (lo, hi, handler)

    def _trap(self, cpu: CPU) -> None:
        trap = cpu.trap
        pt = self.python_text
        if pt is not None and trap.kind == BREAK and pt[0] <= trap.pc < pt[1]:
            pt[2](cpu, trap.pc)
        else:
            self.handler.trap(cpu, trap)

    # ---- time ----------------------------------------------------------------------
    def now(self) -> int:
        """The machine's time in cycles: the runnable CPU furthest behind."""
        if self._running:
            return min(c.cycles for c in self._running)
        return max((c.cycles for c in self.cpus), default=0)

    def cycles_to_ns(self, cycles: int) -> int:
        return cycles * 1_000_000_000 // self.clock_hz

    def ns_to_cycles(self, ns: int) -> int:
        """Cycles needed for `ns` nanoseconds to pass (rounded up)."""
        return -(-ns * self.clock_hz // 1_000_000_000)

    # ---- the loop ------------------------------------------------------------------
    def run(self, max_instructions: int | None = None, pause: Callable[[], bool] | None = None) -> RunResult:
        """Run slices until the software halts the machine, a deadlock, the budget,
        `pause()` returning True after a slice, or a debugger stop ("stopped").

        Chunking never changes the run: a slice cut short by the budget or by a
        debugger stop is carried over and finished first by the next call, so
        run(a); run(a + b) executes exactly what run(a + b) does (emu/debug.py relies on
        it for snapshots).  The budget is checked before a CPU is picked, so a call that
        has nothing left to run has no side effect (no timeout fired, no random draw)."""
        if self.handler is None:
            raise RuntimeError("Machine.run: no trap handler (kernel) attached")
        budget = max_instructions
        rec = self.recorder
        self.stop_requested = None
        while not self._halted:
            if budget is not None and budget - self.instructions <= 0:
                return self._result("budget")
            carry, self._carry = self._carry, None
            if carry is not None and carry[0].state == RUN and not carry[0].kernel_work:
                cpu, limit = carry
            else:   # (a signal sent from outside between two runs ends the carried slice)
                cpu = self._pick()
                if cpu is None:
                    return self._result("deadlock")
                if cpu.kernel_work:
                    self.handler.return_to_user(cpu)
                    if cpu.state != RUN:
                        continue
                limit = self._limit()
                if self.stop_requested:       # an event while picking or delivering a signal:
                    self._carry = (cpu, limit)     # stop before the slice, which runs next time
                    return self._result("stopped")
            full = limit
            if budget is not None:
                limit = min(limit, budget - self.instructions)
            pc = cpu.pc if rec is not None and rec.slices else 0
            ran = cpu.run(limit)
            cpu.cycles += ran
            self.instructions += ran
            self.slices += 1
            if rec is not None and rec.slices:
                rec.emit(cpu.cycles, cpu.id, ev.SLICE, pc, ran)
            self.last_cpu = cpu
            if cpu.trap is not None:
                self._trap(cpu)
            elif ran < full:
                self._carry = (cpu, full - ran)
            if cpu.debug_stop or self.stop_requested:
                return self._result("stopped")
            if pause is not None and pause():
                return self._result("paused")
        return self._result("halted")

    def step(self, n: int = 1, cpu: CPU | None = None) -> CPU | None:
        """Execute `n` single instructions, each on the CPU the policy picks (or on
        `cpu`), handling traps as `run` does.  Returns the CPU of the last step,
        None when nothing could run (deadlock) or the machine halted."""
        last = None
        self._carry = None          # single steps make their own interleaving
        for _ in range(n):
            if self._halted:
                return None
            c = cpu if cpu is not None else self._pick()
            if c is None or c.state != RUN:
                return None
            if c.kernel_work:
                self.handler.return_to_user(c)
                if c.state != RUN:
                    continue
            ran = c.run(1)
            self.last_cpu = c
            c.cycles += ran
            self.instructions += ran
            self.slices += 1
            if self.recorder is not None and self.recorder.slices:
                self.recorder.emit(c.cycles, c.id, ev.SLICE, c.pc, ran)
            if c.trap is not None:
                self._trap(c)
            last = c
        return last

    def _result(self, reason: str) -> RunResult:
        if reason == "deadlock":
            self.handler.deadlock()
        return RunResult(reason, self.instructions, self.now())

    def _limit(self) -> int:
        if self.policy == "random":
            return self.rng.randint(1, self.quantum)
        return self.quantum

    def _pick(self) -> CPU | None:
        """The CPU to run next (see the policies in the module note), after firing
        every timeout that is due."""
        while True:
            running = self._running
            if len(running) == 1:                 # the common case: no choice to make
                c = running[0]
                if self._next_deadline is None or self._next_deadline > c.cycles:
                    return c
            now = min((c.cycles for c in running), default=None)
            if self._timed and self._fire_timeouts(now):
                continue
            if not running:
                return None
            if self.policy == "round-robin":
                return min(running, key=_clock_then_id)
            eligible = [c for c in running if c.cycles <= now + self.window]
            return eligible[self.rng.randrange(len(eligible))] if len(eligible) > 1 else eligible[0]

    def _fire_timeouts(self, now: int | None) -> bool:
        """Wake the blocked CPUs whose deadline is due.  With nothing runnable, jump
        the clock to the earliest deadline.  True if any CPU was woken."""
        timed = self._timed
        if now is None:
            now = min(c.deadline for c in timed)      # everyone asleep: jump the clock
        due = sorted((c for c in timed if c.deadline <= now), key=lambda c: (c.deadline, c.id))
        for c in due:
            callback, deadline = c.on_timeout, c.deadline
            self.wake(c, deadline)
            if callback is not None:
                callback(c)
        return bool(due)

    def _repr_html_(self) -> str:
        from ..views.html import Table
        rows = [(f"cpu{c.id}", c.state, str(c.cycles), f"{c.instructions:,}", f"{c.pc:#x}") for c in self.cpus]
        return Table(f"{self.isa.name} machine: {self.instructions:,} instructions, "
                     f"t = {self.cycles_to_ns(self.now()):,} ns, policy {self.policy}, seed {self.seed}",
                     ("cpu", "state", "cycles", "instructions", "pc"), rows)._repr_html_()

    def close(self) -> None:
        for c in self.cpus:
            c.close()
        self.memory.close()


def _clock_then_id(c: CPU) -> tuple[int, int]:
    return c.cycles, c.id
