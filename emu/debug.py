"""The debugger: stepping, breakpoints, watchpoints, run-until, snapshots and reverse
step over a whole emulated system (it plays gdb/dlv; Go has no file for it).

Design note
  1. A *position* is the machine's count of retired instructions.  The machine carries
     a slice that was cut short over into the next run (`Machine.run`), so every way of
     chunking a run reaches the same state at the same position: `step(n)` is a run
     with a budget of position + n, and stepping never changes what the program does.
  2. Breakpoints are one-address Unicorn code hooks: the hook ends the slice *before*
     the instruction (`CPU.stop_before_current`).  Resuming from a breakpoint executes
     that instruction first (as gdb does).  Conditions (a G, a CPU, a predicate) are
     checked in the hook.
  3. Watchpoints stop when watched bytes change: a Unicorn write hook for machine code
     (it stops after the storing instruction, like a hardware watchpoint) and a check
     in the writes of the kernel and of the runtime's views (they stop when the trap
     being handled returns, since Python code cannot be stopped halfway).
  4. Event stops (an event kind, a G status, the next context switch) come from the
     debugger's recorder, which asks the machine to stop after the current slice.
  5. A snapshot is (recipe, position, digest).  Restoring builds a fresh system from the
     recipe and runs it to the position with every stop suspended; determinism (one
     seed, the virtual clock) and 1 make that exact, and the digest proves it.  A
     reverse step is a restore to position - n.
  6. A real Go binary (an ElfSystem) is debugged the same way: its recipe is the
     binary's path and ElfSystem's options (cpus, env, seed, policy ...);
     symbols come from emu/gobinary (`.abi0` normalised, DWARF lines), `g(goid)`
     reads the real runtime's allgs through the DWARF layouts, and a
     GoEventTap synthesises SWITCH / GSTATUS events from hooks on gogo and
     casgstatus, so `next_switch` and `run_until(gstatus=...)` work too.
Rejected: copying the machine (memory and Unicorn contexts can be copied, but the
Python half of the runtime keeps suspended generator frames for goroutines that are
inside it, and those cannot be copied); fork() of the host process (fragile under
Jupyter, and two processes to keep in step); stepping by single-step policy (it would
be a different interleaving from the run being debugged).
"""
from __future__ import annotations

import hashlib
import html
import itertools
import os
from dataclasses import dataclass, field
from typing import Callable

from .asm.image import capstone_for
from .machine.smp import RUN
from .kernel.elf import is_elf
from .runtime.view import walk
from .system import ElfSystem, System
from .trace import events as ev
from .trace.events import Event, Recorder

G_REGISTER = {"amd64": "r14", "arm64": "x28"}


class DebugError(ValueError):
    """A debugger request that cannot be honoured (unknown symbol, bad line ...)."""


class DebugRecorder(Recorder):
    """Keeps the events of `kinds` (every kind by default) and asks the machine to stop
    when an event satisfies one of `conditions`."""

    def __init__(self, kinds=None, *, slices: bool = False):
        super().__init__(kinds, slices=slices)
        self.machine = None
        self.conditions: list[Callable[[Event], bool]] = []
        self.hit: Event | None = None

    def emit(self, cycles: int, cpu: int, kind: str, *args) -> None:
        e = Event(cycles, cpu, kind, args)
        if self.kinds is None or kind in self.kinds:
            self.events.append(e)
        for cond in self.conditions:
            if cond(e):
                self.hit = e
                self.machine.stop_requested = "event"
                return


@dataclass
class Stop:
    """Where and why the machine stopped.

    :ivar reason: "step", "breakpoint", "watchpoint", "event", "time", "predicate",
        "exit", "deadlock", "budget" or "restore".
    :ivar position: retired instructions so far (the snapshot coordinate).
    :ivar cpu: the CPU of the stop (the one that ran last), or None.
    """

    reason: str
    position: int
    cpu: int | None
    pc: int | None
    where: str
    time_ns: int
    detail: object = None

    def __str__(self) -> str:
        cpu = "" if self.cpu is None else f" cpu{self.cpu}"
        pc = "" if self.pc is None else f" pc {self.pc:#x}"
        detail = self.detail
        if isinstance(detail, Event):
            detail = f"{detail.kind}: {detail.body()}"
        extra = f": {detail}" if detail is not None else ""
        return (f"[{self.reason}] @{self.position} t={self.time_ns} ns{cpu}{pc} {self.where}{extra}").rstrip()

    def _repr_html_(self) -> str:
        return f"<pre style='margin:0'>{html.escape(str(self))}</pre>"


@dataclass
class Breakpoint:
    id: int
    where: str
    addrs: list[int]
    condition: Callable | None = None
    temporary: bool = False
    reason: str = "breakpoint"     # what a stop here is called ("next", "reached" for temporary ones)
    hits: int = 0
    hooks: list = field(default_factory=list, repr=False)

    def __str__(self) -> str:
        return f"breakpoint {self.id} at {self.where} ({', '.join(hex(a) for a in self.addrs)}), {self.hits} hit(s)"


@dataclass
class WatchHit:
    cpu: int | None
    pc: int | None
    addr: int
    size: int
    old: int
    new: int
    by: str          # "machine code" or "python" (the kernel or the runtime's Python half)

    def __str__(self) -> str:
        at = f" at pc {self.pc:#x}" if self.pc is not None else ""
        return f"{self.by}{at} wrote {self.size} byte(s) at {self.addr:#x}: {self.old:#x} -> {self.new:#x}"


@dataclass
class Watchpoint:
    id: int
    name: str
    addr: int
    size: int
    hits: list[WatchHit] = field(default_factory=list)
    hook: object = field(default=None, repr=False)
    entry: tuple | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return f"watchpoint {self.id} on {self.name} [{self.addr:#x}, +{self.size}), {len(self.hits)} hit(s)"


@dataclass(frozen=True)
class Snapshot:
    """A point of a run: restoring replays the recipe to `position` (see the module note)."""

    position: int
    digest: str


class Debugger:
    """A system under the debugger.  `Debugger(sources, arch, **System options)`,
    `Debugger(binary_path, **ElfSystem options)` for a real executable (a Go binary:
    cpus=, env=, args=, seed=, policy= ...), or `Debugger.attach(system)`;
    `setup(system)` runs after each build (for example to schedule a peer's writes
    with `kernel.at`), so restores replay it too.

    `self.system` is replaced by a restore: keep the debugger, not the system."""

    def __init__(self, sources, arch: str | None = None, *, setup: Callable[[System], None] | None = None,
                 kinds=None, slices: bool = False, **options):
        options.pop("trace", None)
        elf = isinstance(sources, (str, os.PathLike)) and is_elf(sources)
        if not elf and arch is None:
            raise DebugError("Debugger: give the arch of the sources (or the path of an executable)")
        self._elf = elf
        self._recipe = (sources if elf else list(sources), arch, options, setup, kinds, slices)
        self._ids = itertools.count(1)
        self.breakpoints: dict[int, Breakpoint] = {}
        self.watchpoints: dict[int, Watchpoint] = {}
        self._suspended = False        # stops are ignored while replaying
        self._skip: tuple[int, int] | None = None   # (cpu, pc) to run past once on resume
        self._hit = None
        self.last: Stop | None = None
        self._focus: int | None = None  # the CPU shown (see `cpu`)
        self.history: list[int] = []   # the position before each command (for `back`)
        self._build()

    @classmethod
    def attach(cls, system: System, *, setup=None, kinds=None) -> "Debugger":
        """A debugger on a fresh copy of `system`, brought to the same position."""
        if isinstance(system, ElfSystem):
            d = cls(system.path, system.arch, setup=setup, kinds=kinds, **system.options)
        else:
            d = cls(system.sources, system.arch, setup=setup, kinds=kinds, **system.options)
        d.goto(system.machine.instructions)
        return d

    def _repr_html_(self) -> str:
        from .stepper import Panel
        return Panel(self).html(self.last or self.here())

    # ---- the system ----------------------------------------------------------------
    def _build(self) -> None:
        sources, arch, options, setup, kinds, slices = self._recipe
        self.recorder = DebugRecorder(kinds, slices=slices)
        if self._elf:
            self.system = ElfSystem(sources, arch, trace=self.recorder, **options)
            if self.system.go is not None:
                from .gobinary.tap import GoEventTap
                self.tap = GoEventTap(self.system, self.recorder)
        else:
            self.system = System(sources, arch, trace=self.recorder, **options)
        self.recorder.machine = self.system.machine
        if setup is not None:
            setup(self.system)
        for bp in self.breakpoints.values():
            self._install_breakpoint(bp)
        for wp in self.watchpoints.values():
            self._install_watchpoint(wp)

    @property
    def machine(self):
        return self.system.machine

    @property
    def kernel(self):
        return self.system.kernel

    @property
    def runtime(self):
        return self.system.runtime

    @property
    def image(self):
        return self.system.image

    @property
    def go(self):
        """The Go binary's tools (emu/gobinary) when debugging one, else None."""
        return self.system.go if isinstance(self.system, ElfSystem) else None

    @property
    def symbols(self):
        """Where names and lines come from: the assembler's image, or for a Go binary
        its .symtab (`.abi0` normalised) and DWARF line table."""
        go = self.go
        return go.symbols if go is not None else self.system.image

    def goroutines(self):
        """The real Go runtime's state now (emu/gobinary/state.py SchedState)."""
        if self.go is None:
            raise DebugError("Debugger.goroutines: not a Go binary (use SchedView for the teaching runtime)")
        return self.system.goruntime.snapshot()

    @property
    def arch(self) -> str:
        return self.system.arch

    @property
    def position(self) -> int:
        return self.machine.instructions

    @property
    def events(self) -> list[Event]:
        return self.recorder.events

    @property
    def cpu(self):
        """The CPU in focus: the one of the latest stop (CPU 0 before anything ran)."""
        cpus = self.machine.cpus
        return cpus[self._focus] if self._focus is not None and self._focus < len(cpus) else cpus[0]

    def focus(self, cpu: int) -> Stop:
        """Show (and step) CPU `cpu` from now on."""
        self._focus = self._cpu(cpu, "focus").id
        return self._stop("focus", self.cpu)

    def here(self) -> Stop:
        """Where the CPU in focus is, without running anything."""
        return self._stop("here", self.cpu)

    # ---- running -------------------------------------------------------------------
    def step(self, n: int = 1, cpu: int | None = None) -> Stop:
        """Execute `n` instructions: the next n of the whole machine (as the run's
        interleaving orders them), or with `cpu`, until that CPU has executed n more
        while the others run as they would."""
        if n < 1:
            raise DebugError(f"Debugger.step: n must be at least 1 (got {n})")
        if cpu is None:
            return self._resume("step", until=self.position + n)
        c = self._cpu(cpu, "step")
        count = [0]

        def on_insn(x):
            count[0] += 1
            if count[0] > n:
                x.stop_before_current()
        handle = c.add_code_hook(0, on_insn, 1 << 64)    # on this CPU only
        c.uc.ctl_flush_tb()
        try:
            return self._resume("step")
        finally:
            c.remove_hook(handle)
            c.uc.ctl_flush_tb()

    def next(self, cpu: int | None = None) -> Stop:
        """Step one instruction, stepping over calls: a call runs until it returns to this
        goroutine (its g register and stack pointer) or, in a --bare program, thread."""
        c = self._cpu(self.cpu.id if cpu is None else cpu, "next")
        insn = self.decode(c.pc)
        if insn is None or not _is_call(insn):
            return self.step(1, c.id)
        ret, sp0 = c.pc + insn.size, c.sp
        has_gs = not self.system.bare or self.go is not None
        greg = G_REGISTER[self.arch] if has_gs else None
        g0 = c.read(greg) if greg else None

        def returned(x) -> bool:
            same = x.read(greg) == g0 if greg else x is c
            return same and x.sp >= sp0
        return self.run_until(addr=ret, condition=returned, _reason="next")

    def cont(self, max_instructions: int | None = None) -> Stop:
        """Run until a breakpoint, a watchpoint, the end, or `max_instructions` more."""
        return self.run_until(max_instructions=max_instructions)

    def next_switch(self, max_instructions: int | None = None) -> Stop:
        """Run until the scheduler switches an M to a G (a SWITCH event: gogo follows)."""
        return self.run_until(event=ev.SWITCH, max_instructions=max_instructions)

    def run_until(self, *, symbol: str | None = None, line: str | None = None, addr: int | None = None,
                  condition: Callable | None = None, event=None, gstatus: str | None = None,
                  goid: int | None = None, time_ns: int | None = None,
                  predicate: Callable[[System], bool] | None = None, exact: bool = False,
                  max_instructions: int | None = None, _reason: str = "reached") -> Stop:
        """Run until the first of: an address (`symbol`, `line` "file.s:12", `addr`, with an
        optional `condition(cpu)`), an `event` (a kind or a predicate on Event), a G
        entering status `gstatus` (of `goid`, or any), the virtual time `time_ns` (checked
        at slice ends), `predicate(system)` (after each slice; after each instruction with
        `exact`), a breakpoint or watchpoint, the end, or `max_instructions` more."""
        temp = None
        if symbol is not None or line is not None or addr is not None:
            where = symbol if symbol is not None else line if line is not None else addr
            temp = self.break_at(where, condition=condition, temporary=True)
            temp.reason = _reason
        conds = self.recorder.conditions
        added = []
        if event is not None:
            added.append(event if callable(event) else (lambda e, k=event: e.kind == k))
        if gstatus is not None:
            added.append(lambda e: e.kind == ev.GSTATUS and e.args[2] == gstatus
                         and (goid is None or e.args[0] == goid))
        conds.extend(added)
        pause = None
        if time_ns is not None:
            target = self.machine.ns_to_cycles(time_ns)
            pause = lambda: self.machine.now() >= target    # noqa: E731
        if predicate is not None and not exact:
            prev = pause
            pause = lambda: predicate(self.system) or (prev is not None and prev())   # noqa: E731
        until = None if max_instructions is None else self.position + max_instructions
        try:
            if predicate is not None and exact:
                self.history.append(self.position)
                return self._until_exact(predicate, until)
            return self._resume("continue", until=until, pause=pause, time_ns=time_ns)
        finally:
            for c in added:
                conds.remove(c)
            if temp is not None and temp.id in self.breakpoints:
                self.delete(temp.id)

    def _until_exact(self, predicate, until) -> Stop:
        while True:
            stop = self._resume("step", until=self.position + 1, record=False)
            if stop.reason != "step" or predicate(self.system):
                return stop if stop.reason != "step" else self._stop("predicate", self.cpu)
            if until is not None and self.position >= until:
                return self._stop("budget", self.cpu)

    def _resume(self, command: str, *, until: int | None = None, pause=None, time_ns=None,
                record: bool = True) -> Stop:
        if record:
            self.history.append(self.position)
        focus = self.cpu
        self._skip = (focus.id, focus.pc) if focus.state == RUN else None
        self._hit, self.recorder.hit = None, None
        res = self.machine.run(until, pause=pause)
        self._skip = None
        return self._classify(res.reason, command, time_ns)

    def _classify(self, reason: str, command: str, time_ns) -> Stop:
        cpu = self.machine.last_cpu
        if reason == "halted":
            return self._stop("exit", cpu, f"exit status {self.kernel.exit_status}")
        if reason == "deadlock":
            return self._stop("deadlock", cpu, self.kernel.crash.splitlines()[0] if self.kernel.crash else None)
        if reason == "budget":
            return self._stop("step" if command == "step" else "budget", cpu)
        if reason == "paused":
            return self._stop("time" if time_ns is not None and self.machine.now() >= self.machine.ns_to_cycles(time_ns)
                              else "predicate", cpu)
        if self._hit is not None:
            kind, obj = self._hit
            if kind == "breakpoint" and obj.temporary:
                return self._stop(obj.reason, cpu)
            return self._stop(kind, cpu, obj)
        if self.recorder.hit is not None:
            return self._stop("event", cpu, self.recorder.hit)
        return self._stop("step" if command == "step" else "stopped", cpu)

    def _stop(self, reason: str, cpu, detail=None) -> Stop:
        if cpu is not None:
            self._focus = cpu.id
        pc = cpu.pc if cpu is not None else None
        stop = Stop(reason, self.position, cpu.id if cpu is not None else None, pc,
                    self.describe(pc) if pc is not None else "", self.machine.cycles_to_ns(self.machine.now()),
                    detail)
        self.last = stop
        return stop

    # ---- breakpoints and watchpoints -----------------------------------------------
    def break_at(self, where, *, condition: Callable | None = None, temporary: bool = False) -> Breakpoint:
        """A breakpoint at a symbol, "file:line" or an address; `condition(cpu)` filters hits."""
        addrs = self.resolve(where)
        bp = Breakpoint(next(self._ids), str(where) if not isinstance(where, int) else hex(where), addrs,
                        condition, temporary)
        self.breakpoints[bp.id] = bp
        self._install_breakpoint(bp)
        return bp

    def _install_breakpoint(self, bp: Breakpoint) -> None:
        def hit(cpu, bp=bp):
            if self._suspended:
                return
            if self._skip == (cpu.id, cpu.pc):
                self._skip = None
                return
            if bp.condition is not None and not bp.condition(cpu):
                return
            bp.hits += 1
            self._hit = ("breakpoint", bp)
            cpu.stop_before_current()
        bp.hooks = [self.machine.add_code_hook(a, hit) for a in bp.addrs]

    def watch(self, where, size: int = 8, *, name: str | None = None) -> Watchpoint:
        """Stop when the `size` bytes at `where` (an address or a data symbol) change, by
        machine code or by the kernel / runtime Python."""
        addr = where if isinstance(where, int) else self._data_symbol(where)
        if size < 1:
            raise DebugError(f"Debugger.watch: size must be positive (got {size})")
        wp = Watchpoint(next(self._ids), name or (where if isinstance(where, str) else hex(addr)), addr, size)
        self.watchpoints[wp.id] = wp
        self._install_watchpoint(wp)
        return wp

    def watch_field(self, view, field: str) -> Watchpoint:
        """Watch a runtime struct field by its layout name, e.g.
        `watch_field(dbg.g(1), "sched.sp")` (offsets from emu/runtime/layout.py, or
        for a real Go binary from its DWARF)."""
        f = view.layout[field]
        return self.watch(view.addr + f.offset, f.size,
                          name=f"{view.layout.name}({view.addr:#x}).{field}")

    def g(self, goid: int):
        """The runtime's G with this goid (a view into emulated memory)."""
        if self.go is not None:
            rt = self.system.goruntime
            for addr in rt.allgs():
                if rt.g(addr).goid == goid:
                    return rt.g(addr)
            raise DebugError(f"Debugger.g: no goroutine {goid} on allgs")
        rt = self.runtime
        if rt is None:
            raise DebugError("Debugger.g: a --bare program has no goroutines")
        for addr in walk(rt.sched.allg, lambda a: rt.g(a).alllink, "Debugger.g: sched.allg"):
            if rt.g(addr).goid == goid:
                return rt.g(addr)
        raise DebugError(f"Debugger.g: no goroutine {goid}")

    def _install_watchpoint(self, wp: Watchpoint) -> None:
        mem = self.machine.memory
        lo, hi = wp.addr, wp.addr + wp.size

        def changed(addr, size, value):
            old = int.from_bytes(mem.read(addr, min(size, 8)), "little")
            new = value & ((1 << (8 * min(size, 8))) - 1)
            return old, new

        def by_code(cpu, addr, size, value):
            if self._suspended:
                return
            old, new = changed(addr, size, value)
            if old != new:
                wp.hits.append(WatchHit(cpu.id, cpu.pc, addr, size, old, new, "machine code"))
                self._hit = ("watchpoint", wp.hits[-1])
                cpu.stop_after_current()

        def by_python(addr, size, value):
            if self._suspended:
                return
            old, new = changed(addr, size, value)
            if old != new:
                cpu = self.machine.last_cpu
                wp.hits.append(WatchHit(cpu.id if cpu else None, None, addr, size, old, new, "python"))
                self._hit = ("watchpoint", wp.hits[-1])
                self.machine.stop_requested = "watch"
        wp.hook = self.machine.add_write_hook(lo, hi, by_code)
        wp.entry = (lo, hi, by_python)
        mem.watches.append(wp.entry)

    def delete(self, ident: int) -> None:
        """Remove breakpoint or watchpoint `ident`."""
        if ident in self.breakpoints:
            for h in self.breakpoints.pop(ident).hooks:
                self.machine.remove_hook(h)
        elif ident in self.watchpoints:
            wp = self.watchpoints.pop(ident)
            self.machine.remove_hook(wp.hook)
            self.machine.memory.watches.remove(wp.entry)
        else:
            raise DebugError(f"Debugger.delete: no breakpoint or watchpoint {ident}")

    # ---- snapshots and going back --------------------------------------------------
    def snapshot(self) -> Snapshot:
        return Snapshot(self.position, self.digest())

    def restore(self, snap: Snapshot) -> Stop:
        """Bring the machine back (or forward) to `snap`, exactly: checked by its digest."""
        self._goto_focused(snap.position)
        got = self.digest()
        if got != snap.digest:
            raise DebugError(f"Debugger.restore: the replay to {snap.position} differs from the snapshot "
                             f"(digest {got} != {snap.digest}); was the system changed from outside?")
        return self._stop("restore", self.cpu)

    def goto(self, position: int) -> None:
        """Replay to `position` (rebuilding when it lies in the past), ignoring every stop."""
        if position < 0:
            raise DebugError(f"Debugger.goto: negative position {position}")
        if position < self.position:
            self.system.machine.close()
            self._build()
        self._suspended = True
        try:
            self.machine.run(position)
        finally:
            self._suspended = False
        if self.position < position:
            raise DebugError(f"Debugger.goto: the run ended at {self.position}, before {position}")

    def _goto_focused(self, position: int) -> None:
        """goto, then focus on the CPU whose latest instructions were undone (going back)
        or run (going forward): the CPU of the instruction at the new position."""
        before = [c.instructions for c in self.machine.cpus]
        self.goto(position)
        after = [c.instructions for c in self.machine.cpus]
        moved = [i for i in range(len(after)) if i >= len(before) or before[i] != after[i]]
        if moved:
            self._focus = moved[-1] if position >= self.position else moved[0]
        elif self.machine.last_cpu is not None:
            self._focus = self.machine.last_cpu.id

    def reverse_step(self, n: int = 1) -> Stop:
        """Go back `n` instructions (of the whole machine)."""
        if n < 1 or n > self.position:
            raise DebugError(f"Debugger.reverse_step: n must be in [1, {self.position}] (got {n})")
        self._goto_focused(self.position - n)
        return self._stop("reverse-step", self.cpu)

    def back(self) -> Stop:
        """Undo the latest stepping command (go back to where it started)."""
        if not self.history:
            raise DebugError("Debugger.back: nothing to undo")
        self._goto_focused(self.history.pop())
        return self._stop("back", self.cpu)

    def digest(self) -> str:
        """A hash of the machine's whole state: every CPU (registers, vector and FP state,
        clock, run state), every mapped byte and region, and the process's output.
        The bytes of PROT_NONE regions are left out (only their bounds count): nothing
        can read them, and a Go binary reserves hundreds of MiB that way."""
        h = hashlib.sha256()
        m = self.machine
        h.update(f"{m.instructions}".encode())
        for c in m.cpus:
            h.update(repr((c.id, c.state, c.cycles, sorted(c.context().items()))).encode())
        for r in m.memory.regions:
            h.update(repr((r.start, r.end, r.prot, r.name)).encode())
            if r.prot:
                h.update(m.memory.read(r.start, r.end - r.start))
        h.update(self.kernel.stdout + b"\0" + self.kernel.stderr)
        return h.hexdigest()[:16]

    # ---- symbols and code ----------------------------------------------------------
    def resolve(self, where) -> list[int]:
        """Addresses for a symbol, "file:line" (its instructions' first address) or an address."""
        img = self.symbols
        if isinstance(where, int):
            return [where]
        if where in img.symbols:
            return [img.symbols[where]]
        if ":" in where:
            file, _, num = where.rpartition(":")
            if num.isdigit() and self.go is not None:
                hits = img.addrs_of_line(file, int(num))
                if hits:
                    return [min(hits)]
                raise DebugError(f"Debugger: no instruction at {where}")
            if num.isdigit():
                hits = [sl.addr for sl in img.lines
                        if int(num) == sl.line and (sl.file == file or os.path.basename(sl.file) == file)]
                if hits:
                    return [min(hits)] if len({self._file_of(a) for a in hits}) == 1 else sorted(hits)
                raise DebugError(f"Debugger: no instruction at {where}")
        raise DebugError(f"Debugger: unknown symbol or line {where!r}")

    def _file_of(self, addr: int) -> str:
        sl = self.symbols.line_at(addr)
        return sl.file if sl else ""

    def _data_symbol(self, name: str) -> int:
        if name not in self.symbols.symbols:
            raise DebugError(f"Debugger.watch: unknown symbol {name!r}")
        return self.symbols.symbols[name]

    def describe(self, pc: int) -> str:
        """`sym+off (file:line)` for a code address."""
        img = self.symbols
        sym = img.symbol_at(pc)
        sl = img.line_at(pc)
        s = f"{sym[0]}+{sym[1]}" if sym else ""
        if sl:
            s += f" ({os.path.basename(sl.file)}:{sl.line})"
        return s

    def decode(self, pc: int):
        """The capstone instruction at `pc`, or None when it cannot be read or decoded."""
        try:
            raw = self.machine.memory.read(pc, 16)
        except Exception:
            return None
        return next(capstone_for(self.arch).disasm(raw, pc, 1), None)

    def _cpu(self, ident, who: str):
        cpus = self.machine.cpus
        if not isinstance(ident, int) or not 0 <= ident < len(cpus):
            raise DebugError(f"Debugger.{who}: no cpu {ident!r} (cpus 0..{len(cpus) - 1})")
        return cpus[ident]

    # ---- instruction tracing -------------------------------------------------------
    def trace_instructions(self, on: bool = True) -> None:
        """Emit INSN events (pc and the registers changed by the previous instruction on
        that CPU) and MEMWRITE events for every instruction: a Python call per
        instruction, so only for short stretches."""
        if not on:
            for h in getattr(self, "_insn_hooks", []):
                self.machine.remove_hook(h)
            self._insn_hooks = []
            return
        last: dict[int, dict] = {}
        rec = self.recorder

        def insn(cpu):
            regs = cpu.snapshot_regs()
            prev = last.get(cpu.id)
            changed = {k: v for k, v in regs.items() if prev is None or prev[k] != v}
            last[cpu.id] = regs
            rec.emit(cpu.cycles, cpu.id, ev.INSN, regs[cpu.isa.pc], changed)

        def write(cpu, addr, size, value):
            rec.emit(cpu.cycles, cpu.id, ev.MEMWRITE, cpu.pc, addr, size, value)
        self._insn_hooks = [self.machine.add_code_range_hook(0, 1 << 64, insn),
                            self.machine.add_write_hook(0, 1 << 64, write)]


def _is_call(insn) -> bool:
    return insn.mnemonic in ("call", "bl", "blr")
