"""The register save/restore view: where every register goes when a goroutine stops
running -- on a context switch and on an async preemption -- and whether it comes back.

Design note
  1. Context switch (mcall saves the G in g.sched, gogo restores it).  Four
     one-address code hooks observe the machine and never change it:
       a. mcall's entry: the registers as the caller left them (keyed by CPU);
       b. mcall's call of fn, the save point (every store to g.sched is done):
          the bytes of each gobuf slot, read back from memory; the save then
          waits for its restore, keyed by the G;
       c. gogo's entry: the gobuf it is about to load (its first argument);
       d. `runtime.gogo.jump`: the registers after the restore, keyed by the g
          register; with the waiting save they make a SwitchRecord.
     A slot's name and address come from the layout table (g.sched.<field>,
     emu/runtime/layout.py) and the G's address, never from a literal offset.
     Registers a switch does not save are rows too, marked "not saved
     (caller-saved)": Go's ABI lets a call clobber them, so a new value after the
     switch is not an error.
  2. Async preemption.  ASYNC_FRAME mirrors the stores of asyncPreempt
     (runtime_asm/<arch>/asm.s) as (register, offset from the frame base, who
     stores it).  At asyncPreempt's call of asyncPreempt2 -- every store done,
     SP = the frame base -- each slot is read back.  The interrupted and the
     resumed register files come from the PreemptionChecker
     (emu/analysis/preempt_check.py), and so does the verdict: "transparent", or
     the registers that differ.  tests/test_saverestore.py proves the table
     against the running asm: over many preemptions of regstress.s (every
     register live and distinct), each slot holds the interrupted register.
  3. Records render twice from one `Table` (emu/views/html.py): `.text()` for a
     terminal and `._repr_html_()` for a notebook (inline styles, no JavaScript).
     Rows that are not ok are highlighted; `compact=True` folds the rows that
     need no attention (caller-saved registers, vector registers that match).
  4. A real Go binary (Go 1.19, an ElfSystem): `SaveRestoreRecorder(system)`
     returns a GoSaveRestoreRecorder.  Go's gobuf is sp pc g ctxt ret lr bp,
     with offsets from the binary's DWARF (runtime.g's sched); there is no
     callee[]: Go's ABIInternal keeps nothing but SP, the frame pointer and g
     across a call, so every other register is "not saved (caller-saved)".
     mcall saves pc, sp, bp (and stores 0 in lr on arm64) and calls fn through a
     funcval; gogo<> loads sp, bp, (lr,) ret, ctxt and jumps to pc, clearing
     the slots behind it, so the "in memory" column is read at mcall's save point
     and the restored pc is the jump's target register.  The hook places come
     from disassembly (emu/gobinary).  asyncPreempt's frame is Go's
     (GO_ASYNC_FRAME, from preempt_amd64.s / preempt_arm64.s): on arm64 F0-F31
     are stored as 64-bit D registers, so a vector register's row compares its
     low half only, as the checker does.
Rejected: decoding asyncPreempt's store instructions to find its frame layout (a
disassembler inside a view, for some fifty rows; a table checked by a test against
the running asm catches the same drift); single-stepping mcall and gogo (slow, and
it sees nothing the four hooks miss); a patched runtime that logs its own saves (the
view must show what the real code does, bugs included).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..analysis.preempt_check import PreemptionChecker
from ..runtime.layout import G, GOBUF_CALLEE
from .html import Table, page, page_text

# ---- the context switch: how mcall and gogo move each register ---------------------------
SAVED = "saved"            # mcall stores it in its slot, gogo loads it back
G_SLOT = "g"               # the slot is written once, by newproc; gogo loads g from it
CALLER = "caller-saved"    # not saved: Go's ABI lets a call clobber it

NOT_SAVED_CALLER = "not saved (caller-saved)"

# The closure-context register gogo loads from g.sched.ctxt (Go: DX / R26).
CTXT_REGISTER = {"amd64": "rdx", "arm64": "x26"}
_CALLER_NOTES = {"x18": "the platform register: never written", "rflags": "a call clobbers the flags",
                 "nzcv": "a call clobbers the flags"}


@dataclass(frozen=True)
class SwitchPlan:
    """One register on a context switch: its gobuf field ("" for none) and its role."""

    register: str
    field: str
    kind: str
    note: str


def callee_registers(isa) -> tuple[str, ...]:
    """The registers of g.sched.callee[], in slot order: the platform's callee-saved
    registers minus the frame pointer and g, which have their own slots."""
    regs = tuple(r for r in isa.callee_saved if r not in (isa.fp, isa.g))
    if len(regs) > GOBUF_CALLEE:
        raise ValueError(f"callee_registers: {isa.name} has {len(regs)} callee-saved registers, "
                         f"gobuf.callee holds {GOBUF_CALLEE}")
    return regs


def switch_plan(isa) -> list[SwitchPlan]:
    """Every register of `isa` and what mcall/gogo do with it (runtime_asm/<arch>/asm.s)."""
    ctxt = CTXT_REGISTER[isa.name]
    plan = [SwitchPlan(isa.pc, "pc", SAVED, "resumes as if mcall returned"),
            SwitchPlan(isa.sp, "sp", SAVED, "the caller's SP after the return"),
            SwitchPlan(isa.fp, "bp", SAVED, "frame pointer"),
            SwitchPlan(isa.g, "g", G_SLOT, "set by newproc; gogo loads g")]
    plan += [SwitchPlan(r, f"callee[{i}]", SAVED,
                        "callee-saved (ours); ctxt if not 0" if r == ctxt else "callee-saved (ours)")
             for i, r in enumerate(callee_registers(isa))]
    if isa.lr:
        plan.append(SwitchPlan(isa.lr, "lr", CALLER, "mcall stores 0 (pc has it)"))
    plan.append(SwitchPlan(isa.abi_args[0], "ret", CALLER, "gogo loads ret"))
    if ctxt not in {p.register for p in plan}:
        plan.append(SwitchPlan(ctxt, "ctxt", CALLER, "gogo loads ctxt (closure)"))
    named = {p.register for p in plan} | {isa.tls}
    plan += [SwitchPlan(r.name, "", CALLER, _CALLER_NOTES.get(r.name, "")) for r in isa.gprs if r.name not in named]
    vregs = f"{isa.vregs[0].name}-{isa.vregs[-1].name}"
    plan.append(SwitchPlan(vregs, "", CALLER, "Go's ABI: all vector registers"))
    for p in plan:                       # every slot named here must exist in the layout
        if p.field:
            gobuf_slot(p.field)
    return plan


def gobuf_slot(name: str) -> tuple[int, int]:
    """(offset in g, size) of g.sched.<name>; ``callee[3]`` indexes the array."""
    base, _, index = name.partition("[")
    f = G[f"sched.{base}"]
    i = int(index.rstrip("]")) if index else 0
    if not 0 <= i < f.count:
        raise KeyError(f"gobuf_slot: g.sched.{name} is outside the {f.count}-element array")
    return f.offset + i * f.size, f.size


@dataclass(frozen=True)
class SwitchRow:
    """One register across one context switch.

    :ivar slot: ``g.sched.sp`` ("" when the register has no slot); addr its address.
    :ivar saved: the register when mcall was called (pc: the return address;
        sp: the caller's SP after the return); None for a group of registers.
    :ivar stored: the slot's bytes right after mcall's stores (None: no slot).
    :ivar restored: the register at gogo's jump (pc: the jump's target).
    :ivar ok: True/False for registers the switch must keep; None when it need not.
    """

    register: str
    slot: str
    addr: int | None
    saved: int | None
    stored: int | None
    restored: int | None
    kind: str
    ok: bool | None
    note: str = ""

    @property
    def status(self) -> str:
        if self.ok is None:
            return NOT_SAVED_CALLER
        return "ok" if self.ok else "NOT OK"


@dataclass
class SwitchRecord:
    """One G's context switch: mcall's save and the gogo that resumed it."""

    arch: str
    g: int
    goid: int
    fn: str                   # mcall's fn: why the G stopped (runtime.gosched_m, runtime.park_m ...)
    saved_cycles: int
    restored_cycles: int
    saved_cpu: int
    restored_cpu: int
    resumed_at: str           # the pc it resumed at, symbolized
    rows: list[SwitchRow] = field(default_factory=list)

    def __repr__(self) -> str:          # short: the rows are in .text() and the HTML form
        return f"<SwitchRecord g{self.goid}: {len(self.rows)} registers, ok={self.ok}>"

    @property
    def ok(self) -> bool:
        return all(r.ok is not False for r in self.rows)

    def row(self, register: str) -> SwitchRow:
        return next(r for r in self.rows if r.register == register)

    def title(self) -> str:
        return f"g{self.goid} context switch [{self.arch}]: mcall({self.fn}) saves, gogo restores"

    def lines(self) -> list[str]:
        return [f"saved in g.sched of g {self.g:#x} on cpu{self.saved_cpu} at cycle {self.saved_cycles}; "
                f"restored on cpu{self.restored_cpu} at cycle {self.restored_cycles}",
                f"resumes at {self.resumed_at}; {_verdict_line(self.ok)}"]

    def table(self, compact: bool = False) -> Table:
        shown = [r for r in self.rows if not (compact and r.ok is None and not r.slot)]
        folded = [r.register for r in self.rows if r not in shown]
        rows = [(r.register, _slot_cell(r.slot, r.addr), _hex(r.saved), _hex(r.stored), _hex(r.restored),
                 r.status, r.note) for r in shown]
        note = f"{NOT_SAVED_CALLER}: {' '.join(folded)}" if folded else ""
        return Table("", ("register", "gobuf slot", "saved", "in memory", "restored", "ok", "note"), rows,
                     highlight={i for i, r in enumerate(shown) if r.ok is False}, note=note, mark="!")

    def text(self, compact: bool = False) -> str:
        return page_text(self.title(), [self.table(compact)], self.lines())

    def _repr_html_(self) -> str:
        return page(self.title(), [self.table()], self.lines())


# ---- the async preemption: asyncPreempt's frame ----------------------------------------
AP = "asyncPreempt"
PUSHCALL = "pushCall"
IMPLIED = "implied"
NOT_SAVED = "not saved"

_AMD64_GPRS = "rax rcx rdx rbx rsi rdi r8 r9 r10 r11 r12 r13 r14 r15".split()

# (register, offset from the frame base -- SP at the call of asyncPreempt2 --, who stores it).
# Mirrors runtime_asm/<arch>/asm.s; tests/test_saverestore.py checks it against the asm.
ASYNC_FRAME = {
    "amd64": (
        *[(r, 8 * i, AP) for i, r in enumerate(_AMD64_GPRS)],
        *[(f"xmm{i}", 112 + 16 * i, AP) for i in range(16)],
        ("rflags", 368, AP),              # pushfq, before anything can change the flags
        ("rbp", 376, AP),                 # push rbp
        ("rip", 384, PUSHCALL),           # the resume PC, pushed as a return address
    ),
    "arm64": (
        ("x29", 0, AP),                   # the frame record: caller's FP ...
        ("pc", 8, AP),                    # ... and LR, which pushCall set to the resume PC
        *[(f"x{i}", 16 + 8 * i, AP) for i in range(18)],
        *[(f"x{i}", 160 + 8 * (i - 19), AP) for i in range(19, 27)],
        ("nzcv", 224, AP), ("fpsr", 232, AP), ("fpcr", 240, AP),
        *[(f"q{i}", 256 + 16 * i, AP) for i in range(32)],
        ("x30", 768, PUSHCALL),           # the interrupted LR, pushed by pushCall
    ),
}
# The interrupted SP is not stored: it is the top of the frame (pushCall's words included).
FRAME_TOP = {"amd64": 392, "arm64": 784}

# Go 1.19's own asyncPreempt frame (runtime/preempt_<arch>.s, generated by mkpreempt.go):
# (register, offset from SP at the call of asyncPreempt2, who stores it, bytes stored).
GO_ASYNC_FRAME = {
    "amd64": tuple((r, off, by, 16 if r.startswith("xmm") else 8) for r, off, by in ASYNC_FRAME["amd64"]),
    "arm64": (
        ("pc", 0, AP, 8),                 # MOVD R30, -496(RSP): LR at entry = the resume PC
        ("x29", -8, AP, 8),               # MOVD R29, -8(RSP): the frame pointer, below the frame
        *[(f"x{i}", 8 + 8 * i, AP, 8) for i in range(18)],
        *[(f"x{i}", 152 + 8 * (i - 19), AP, 8) for i in range(19, 27)],
        ("nzcv", 216, AP, 8), ("fpsr", 224, AP, 8),
        *[(f"q{i}", 232 + 8 * i, AP, 8) for i in range(32)],     # FSTPD: the low 64 bits (D registers)
        ("x30", 496, PUSHCALL, 8),        # pushCall: the interrupted LR
    ),
}
GO_FRAME_TOP = {"amd64": 392, "arm64": 512}
GO_FRAME_NOTES = {"fpcr": "not saved: Go never changes it (mkpreempt.go: \"TODO: FPCR?\")",
                  "mxcsr": "not saved: Go never changes it (mkpreempt.go: \"TODO: MXCSR register?\")",
                  "x29": "MOVD R29, -8(RSP): below the frame"}
GO_VECTOR_NOTE = {"arm64": "FSTPD/FLDPD: the low 64 bits; the high half is not saved",
                  "amd64": "MOVUPS: all 128 bits"}
# What each row means (the note column); registers asyncPreempt leaves alone say why.
FRAME_NOTES = {
    "rflags": "pushfq, first: before anything changes the flags", "rbp": "push rbp",
    "rip": "pushCall: the resume PC, as a return address",
    "rsp": "not stored: the top of the frame", "sp": "not stored: the top of the frame",
    "x29": "the frame record", "pc": "LR at entry: pushCall set it to the resume PC",
    "x30": "pushCall: the interrupted LR", "nzcv": "mrs nzcv",
    "mxcsr": "not saved: Go code never changes it", "fpcw": "not saved: Go code never changes it",
    "fpsw": "not saved (x87 is unused)", "fptag": "not saved (x87 is unused)",
    "x18": "not saved: the platform register",
    "x27": "not saved: REGTMP, asyncPreempt returns through it",
    "x28": "not saved: g; the same G resumes (gogo loaded it)",
}
EXEMPT = {"x27"}


@dataclass(frozen=True)
class PreemptRow:
    """One register across one async preemption.

    :ivar slot: ``frame+0x58`` (relative to the frame base), addr its address.
    :ivar by: who stores it: asyncPreempt, pushCall, "implied" (SP: the frame's
        top) or "not saved".
    """

    register: str
    slot: str
    addr: int | None
    interrupted: int
    stored: int | None
    restored: int | None
    by: str
    ok: bool | None
    note: str = ""

    @property
    def status(self) -> str:
        if self.ok is None:
            return "exempt"
        return "ok" if self.ok else "NOT OK"


@dataclass
class PreemptRecord:
    """One async preemption: the registers at the interrupted PC, asyncPreempt's frame,
    and the registers when the G resumed there."""

    arch: str
    g: int
    goid: int
    pc: int
    where: str                # the interrupted pc, symbolized
    frame: int                # the frame base (SP at the call of asyncPreempt2)
    saved_cycles: int
    restored_cycles: int
    saved_cpu: int
    restored_cpu: int
    rows: list[PreemptRow] = field(default_factory=list)
    differences: list = field(default_factory=list)   # the checker's Difference records
    vector_bits: int = 128                             # how much of each vector register is saved

    def __repr__(self) -> str:          # short: the rows are in .text() and the HTML form
        return f"<PreemptRecord g{self.goid}: {len(self.rows)} registers, ok={self.ok}>"

    @property
    def verdict(self) -> str:
        if not self.differences:
            return "transparent"
        return "; ".join(f"{d.register} was {d.before:#x}, resumed with {d.after:#x}" for d in self.differences)

    @property
    def ok(self) -> bool:
        return not self.differences and all(r.ok is not False for r in self.rows)

    def row(self, register: str) -> PreemptRow:
        return next(r for r in self.rows if r.register == register)

    def title(self) -> str:
        return f"g{self.goid} async preemption [{self.arch}] at {self.where}"

    def lines(self) -> list[str]:
        return [f"asyncPreempt's frame at {self.frame:#x}: saved on cpu{self.saved_cpu} at cycle "
                f"{self.saved_cycles}, restored on cpu{self.restored_cpu} at cycle {self.restored_cycles}",
                f"checker: {self.verdict}"]

    def table(self, compact: bool = False) -> Table:
        vector = {r.name for r in _isa(self.arch).vregs}
        fold = [r for r in self.rows if compact and r.register in vector and r.ok]
        shown = [r for r in self.rows if r not in fold]
        rows = [(r.register, _slot_cell(r.slot, r.addr), _hex(r.interrupted), _hex(r.stored), _hex(r.restored),
                 r.status, r.note) for r in shown]
        note = ""
        if fold:
            note = (f"{fold[0].register}-{fold[-1].register} at {fold[0].slot}..{fold[-1].slot}: "
                    f"all {len(fold)} x {self.vector_bits} bits stored and restored, ok")
        return Table("", ("register", "frame slot", "interrupted", "stored", "restored", "ok", "note"),
                     rows, highlight={i for i, r in enumerate(shown) if r.ok is False}, note=note, mark="!")

    def text(self, compact: bool = False) -> str:
        return page_text(self.title(), [self.table(compact)], self.lines())

    def _repr_html_(self) -> str:
        return page(self.title(), [self.table()], self.lines())


def async_frame(arch: str):
    """ASYNC_FRAME[arch] with the registers asyncPreempt does not save appended."""
    isa = _isa(arch)
    stored = {r for r, _, _ in ASYNC_FRAME[arch]} | {isa.sp}
    skip = stored | {isa.tls}                     # TLS belongs to the M, not the G
    rest = [r.name for r in isa.gprs + isa.fp_control if r.name not in skip]
    return ASYNC_FRAME[arch], rest


# ---- the recorder ---------------------------------------------------------------------
@dataclass
class _Save:
    """A G's mcall save waiting for the gogo that restores it."""

    goid: int
    fn: str
    cycles: int
    cpu: int
    regs: dict
    stored: dict


class _Checker(PreemptionChecker):
    """The transparency checker, telling the recorder about each comparison it makes.
    (It reads the checker's snapshot of the interrupted registers and captures the
    resumed file it builds, so both come from the checker itself.)"""

    def __init__(self, system, on_check):
        super().__init__(system)
        self._on_check = on_check
        self._last: dict | None = None

    def _regs(self, cpu):
        self._last = super()._regs(cpu)
        return self._last

    def _on_return(self, cpu) -> None:
        g = cpu.read(self.isa.g)
        before = self._armed.get(g)
        n = len(self.report.differences)
        super()._on_return(cpu)
        if before is not None:
            self._on_check(cpu, g, before, self._last, self.report.differences[n:])


class SaveRestoreRecorder:
    """Attach to a runtime System before (or while) running it; read `.switches` and
    `.preemptions`.  `.checker` is the PreemptionChecker it uses (`.checker.storm()`
    drives a storm of preemptions, `.checker.report` sums them up)."""

    def __new__(cls, system):
        if cls is SaveRestoreRecorder and system.runtime is None and getattr(system, "go", None) is not None:
            cls = GoSaveRestoreRecorder
        return super().__new__(cls)

    # where the two runtimes differ (GoSaveRestoreRecorder overrides these)
    frames = ASYNC_FRAME
    frame_top = FRAME_TOP

    def _goid(self, g: int) -> int:
        return self.rt.g(g).goid

    def _slot_of(self, name: str) -> tuple[int, int]:
        return gobuf_slot(name)

    def _gobuf_arg(self, cpu) -> int:
        return cpu.read(self.isa.abi_args[0])

    def _jump_target(self, cpu, g: int) -> int:
        return self._slot(g, "pc")                # gogo does not clear it

    def _fn_code(self, fn: int) -> int:
        return fn

    def _frame(self):
        return [(r, off, by, 16 if self.isa.reg(r).vector else 8) for r, off, by in self.frames[self.arch]]

    def __init__(self, system):
        if system.runtime is None:
            raise ValueError("SaveRestoreRecorder: a runtime program is needed (this one is --bare)")
        self.system, self.machine, self.rt = system, system.machine, system.runtime
        self.isa, self.mem, self.image = self.machine.isa, self.machine.memory, system.image
        self.arch = self.isa.name
        self.switches: list[SwitchRecord] = []
        self.preemptions: list[PreemptRecord] = []
        self.plan = switch_plan(self.isa)
        self._entries: dict[int, tuple] = {}      # cpu id -> (regs, fn, cycles) at mcall's entry
        self._saves: dict[int, _Save] = {}        # g -> its save, until gogo restores it
        self._gogo: dict[int, int] = {}           # cpu id -> the gobuf gogo is loading
        self._frames: dict[int, tuple] = {}       # g -> (frame base, slot values, cycles, cpu id)
        sym = self.image.symbols
        self._goexit0 = sym.get("runtime.goexit0")
        m = self.machine
        m.add_code_hook(sym["runtime.mcall"], self._on_mcall)
        m.add_code_hook(first_call(self.image, "runtime.mcall"), self._on_mcall_saved)
        m.add_code_hook(sym["runtime.gogo"], self._on_gogo)
        m.add_code_hook(sym["runtime.gogo.jump"], self._on_gogo_jump)
        m.add_code_hook(first_call(self.image, "runtime.asyncPreempt"), self._on_async_saved)
        self.checker = _Checker(system, self._on_check)

    # ---- context switch -----------------------------------------------------------------
    def _on_mcall(self, cpu) -> None:
        regs = cpu.snapshot_regs()
        self._entries[cpu.id] = (regs, self._fn_code(regs[self.isa.abi_args[0]]), _now(cpu))

    def _on_mcall_saved(self, cpu) -> None:
        entry = self._entries.pop(cpu.id, None)
        if entry is None:
            return
        regs, fn, cycles = entry
        if fn == self._goexit0:                   # the G ends here: nothing will restore it
            return
        g = regs[self.isa.g]
        stored = {p.field: self._slot(g, p.field) for p in self.plan if p.field}
        self._saves[g] = _Save(self._goid(g), self._name(fn), cycles, cpu.id, regs, stored)

    def _on_gogo(self, cpu) -> None:
        self._gogo[cpu.id] = self._gobuf_arg(cpu)

    def _on_gogo_jump(self, cpu) -> None:
        buf = self._gogo.pop(cpu.id, None)
        g = cpu.read(self.isa.g)
        save = self._saves.pop(g, None)
        if save is None or buf != g + self._slot_of("sp")[0] or self._goid(g) != save.goid:
            return                                # a first start (newproc), or after morestack
        after = cpu.snapshot_regs()
        after[self.isa.pc] = self._jump_target(cpu, g)
        rows = [self._switch_row(p, g, save, after) for p in self.plan]
        self.switches.append(SwitchRecord(self.arch, g, save.goid, save.fn, save.cycles, _now(cpu), save.cpu,
                                          cpu.id, self._symbol(after[self.isa.pc]), rows))

    def _switch_row(self, p: SwitchPlan, g: int, save: _Save, after: dict) -> SwitchRow:
        addr = g + self._slot_of(p.field)[0] if p.field else None
        stored = save.stored.get(p.field)
        if p.register not in after:               # a group (the vector registers)
            return SwitchRow(p.register, "", None, None, None, None, p.kind, None, p.note)
        before = self._caller_view(p.register, save.regs)
        ok = None if p.kind == CALLER else before == stored == after[p.register]
        slot = f"g.sched.{p.field}" if p.field else ""
        return SwitchRow(p.register, slot, addr, before, stored, after[p.register], p.kind, ok, p.note)

    def _caller_view(self, register: str, regs: dict) -> int:
        """A register as mcall's caller sees it after the call returns: pc is the
        return address and sp is above it (amd64's call pushed it)."""
        isa = self.isa
        sp = regs[isa.sp]
        if register == isa.pc:
            return self.mem.read_u64(sp) if isa.call_pushes_ret else regs[isa.lr]
        if register == isa.sp and isa.call_pushes_ret:
            return sp + 8
        return regs[register]

    def _slot(self, g: int, name: str) -> int:
        off, size = self._slot_of(name)
        return int.from_bytes(self.mem.read(g + off, size), "little")

    # ---- async preemption ---------------------------------------------------------------
    def _on_async_saved(self, cpu) -> None:
        base = cpu.read(self.isa.sp)
        values = {reg: int.from_bytes(self.mem.read(base + off, size), "little")
                  for reg, off, _, size in self._frame()}
        self._frames[cpu.read(self.isa.g)] = (base, values, _now(cpu), cpu.id)

    def _on_check(self, cpu, g: int, before: dict, after: dict, differences: list) -> None:
        frame = self._frames.pop(g, None)
        if frame is None:
            return
        base, values, cycles, saved_cpu = frame
        frame_layout = self._frame()
        stored = {r for r, *_ in frame_layout} | {self.isa.sp}
        unsaved = [r.name for r in self.isa.gprs + self.isa.fp_control if r.name not in stored | {self.isa.tls}]
        top = self.frame_top[self.arch]
        rows = [self._frame_row(reg, off, by, base, values[reg], before, after) for reg, off, by, _ in frame_layout]
        rows.append(self._frame_row(self.isa.sp, top, IMPLIED, base, base + top, before, after))
        rows += [PreemptRow(r, "", None, before[r], None, after.get(r), NOT_SAVED,
                            None if r in EXEMPT else before[r] == after.get(r), self._note(r) or "not saved")
                 for r in unsaved]
        pc = before[self.isa.pc]
        bits = min((8 * size for r, _, _, size in frame_layout if self.isa.reg(r).vector), default=128)
        self.preemptions.append(PreemptRecord(self.arch, g, self._goid(g), pc, self._symbol(pc), base,
                                              cycles, _now(cpu), saved_cpu, cpu.id, rows, list(differences),
                                              bits))

    def _note(self, reg: str) -> str:
        return FRAME_NOTES.get(reg, "")

    def _frame_row(self, reg, off, by, base, value, before, after) -> PreemptRow:
        a, b = before[reg], after.get(reg)
        mask = self.checker._masks.get(reg)
        if mask is not None:                      # only these bits are saved (and compared)
            a, b = a & mask, (b & mask if b is not None else None)
        slot = f"frame+{off:#x}" if off >= 0 else f"frame-{-off:#x}"
        return PreemptRow(reg, slot, base + off, a, value, b, by, a == value == b, self._note(reg))

    def _name(self, addr: int) -> str:
        s = self.image.symbol_at(addr)
        return s[0] if s and not s[1] else f"{addr:#x}"

    def _symbol(self, addr: int) -> str:
        return symbolize(self.image, addr)


class GoSaveRestoreRecorder(SaveRestoreRecorder):
    """The save/restore recorder for a real Go binary (module note, 4).  Same records
    (SwitchRecord, PreemptRecord) and the same rendering as for the teaching runtime."""

    frames = None
    frame_top = GO_FRAME_TOP

    def __init__(self, system):
        go = getattr(system, "go", None)
        if go is None:
            raise ValueError("GoSaveRestoreRecorder: the system is not running a Go binary")
        self.system, self.machine, self.rt, self.go = system, system.machine, None, go
        self.reader = system.goruntime
        self.isa, self.mem, self.image = self.machine.isa, self.machine.memory, go.symbols
        self.arch = self.isa.name
        self.switches: list[SwitchRecord] = []
        self.preemptions: list[PreemptRecord] = []
        self.plan = go_switch_plan(self.isa)
        self._entries, self._saves, self._gogo, self._frames = {}, {}, {}, {}
        self._sched = self.reader.G["sched"].offset
        self._goexit0 = go.symbols.symbols.get("runtime.goexit0")
        jump = next(i for i in go.code(go.gogo_body()) if i.addr == go.gogo_jump())
        self._target = jump.op_str.strip()        # the register gogo<> jumps through (rbx / x6)
        sym = go.symbols
        m = self.machine
        m.add_code_hook(sym.addr_of("runtime.mcall"), self._on_mcall)
        m.add_code_hook(go.mcall_save_point(), self._on_mcall_saved)
        m.add_code_hook(sym.addr_of("runtime.gogo"), self._on_gogo)
        m.add_code_hook(go.gogo_jump(), self._on_gogo_jump)
        call = next(i.addr for i in go.code("runtime.asyncPreempt") if i.mnemonic in ("call", "bl"))
        m.add_code_hook(call, self._on_async_saved)
        self.checker = _Checker(system, self._on_check)

    def _goid(self, g: int) -> int:
        return self.reader.g(g).goid

    def _slot_of(self, name: str) -> tuple[int, int]:
        f = self.reader.G[f"sched.{name}"]
        return f.offset, f.size

    def _gobuf_arg(self, cpu) -> int:
        return self.mem.read_u64(cpu.sp + 8)      # gogo is ABI0: buf+0(FP) = 8(SP) on both arches

    def _jump_target(self, cpu, g: int) -> int:
        return cpu.read(self._target)             # gogo<> cleared the slots; pc is in the register

    def _fn_code(self, fn: int) -> int:
        return self.mem.read_u64(fn) if fn else 0  # mcall's fn is a funcval: its code pointer first

    def _frame(self):
        return list(GO_ASYNC_FRAME[self.arch])

    def _note(self, reg: str) -> str:
        if self.isa.reg(reg).vector:
            return GO_VECTOR_NOTE[self.arch]
        return GO_FRAME_NOTES.get(reg) or FRAME_NOTES.get(reg, "")


def go_switch_plan(isa) -> list[SwitchPlan]:
    """Every register of `isa` and what Go 1.19's mcall / gogo do with it (asm_<arch>.s)."""
    ctxt = CTXT_REGISTER[isa.name]
    plan = [SwitchPlan(isa.pc, "pc", SAVED, "mcall: the caller's return address; gogo jumps there"),
            SwitchPlan(isa.sp, "sp", SAVED, "the caller's SP after the return"),
            SwitchPlan(isa.fp, "bp", SAVED, "frame pointer"),
            SwitchPlan(isa.g, "g", G_SLOT, "set by newproc; gogo loads g")]
    if isa.lr:
        plan.append(SwitchPlan(isa.lr, "lr", CALLER, "mcall stores 0 (pc has it); gogo loads it"))
    plan.append(SwitchPlan(isa.abi_args[0], "ret", CALLER, "gogo loads ret"))
    plan.append(SwitchPlan(ctxt, "ctxt", CALLER, "gogo loads ctxt (the closure context)"))
    named = {p.register for p in plan} | {isa.tls}
    plan += [SwitchPlan(r.name, "", CALLER, _CALLER_NOTES.get(r.name, "Go's ABIInternal: caller-saved"))
             for r in isa.gprs if r.name not in named]
    plan.append(SwitchPlan(f"{isa.vregs[0].name}-{isa.vregs[-1].name}", "", CALLER,
                           "Go's ABI: all vector registers"))
    return plan


# ---- helpers ----------------------------------------------------------------------------
def first_call(image, symbol: str) -> int:
    """Address of the first call instruction of the routine at `symbol` (mcall's call
    of fn, asyncPreempt's call of asyncPreempt2): its save point."""
    start = image.symbols[symbol]
    end = min((a for a in image.symbols.values() if a > start), default=image.end)
    for ln in image.lines:
        if start <= ln.addr < end and ln.text.split()[0] in ("call", "bl", "blr"):
            return ln.addr
    raise ValueError(f"first_call: {symbol} calls nothing, so it has no save point to observe")


def symbolize(image, addr: int) -> str:
    """``0x4007f8 <worker+268>`` (just the address outside every symbol)."""
    s = image.symbol_at(addr)
    if s is None:
        return f"{addr:#x}"
    return f"{addr:#x} <{s[0]}+{s[1]}>" if s[1] else f"{addr:#x} <{s[0]}>"


def _now(cpu) -> int:
    """The CPU's virtual time inside a slice: its clock plus what ran of the slice."""
    return cpu.cycles + cpu.counter.executed


def _isa(arch: str):
    from ..machine.isa import get_isa
    return get_isa(arch)


def _hex(value: int | None) -> str:
    return "-" if value is None else f"{value:#x}"


def _slot_cell(slot: str, addr: int | None) -> str:
    return f"{slot} @ {addr:#x}" if slot else "-"


def _verdict_line(ok: bool) -> str:
    return ("every register the switch must keep came back" if ok
            else "SOME REGISTERS DID NOT COME BACK (rows marked !)")
