"""One emulated processor: a Unicorn engine, its slice counter and its trap hooks.

Design note
  1. A CPU runs a *slice*: at most `limit` instructions from its current PC.  The
     native counter hook stops it when the slice is used up and says exactly how
     many instructions ran, also when a trap ends the slice early.
  2. Control reaches Python only through a closed set of traps (`Trap.kind`):
     SYSCALL (`syscall` / `svc #0`), FAULT (unmapped or protected access, invalid
     instruction, privileged instruction), BREAK (a breakpoint hook or `brk`/`int3`),
     HALT (the CPU stopped for no reason the hardware knows: a bug to report).
     Hooks only record the trap and stop the CPU; the machine loop acts on it,
     because changing PC from inside a Unicorn hook is fragile.
  3. The register file is read and written in one libunicorn batch call.
  4. Identification and timestamps are the CPU's own business, not traps
     (idregs.py): CPUID (amd64) and MRS of the counter registers (arm64) are
     answered inside their Unicorn hooks from fixed tables and the virtual
     clock; an RDTSC(P) whose address the machine trapped ends `emu_start`, is
     emulated, and the slice goes on.
Rejected: handling syscalls inside the Unicorn hook (a blocking call would have
to unwind the C stack of emu_start; the loop is simpler and as fast).
"""
from __future__ import annotations

from dataclasses import dataclass

import unicorn
from unicorn import arm64_const, x86_const

from . import idregs
from .isa import ISA
from .memory import Memory
from .native import RegisterFile, VectorFile, install_counter

# Trap kinds (closed set; see module note).
SYSCALL, FAULT, BREAK, HALT = "syscall", "fault", "break", "halt"

# Unicorn access types -> (what, why) for fault reports.
_ACCESS = {
    unicorn.UC_MEM_READ_UNMAPPED: ("read", "unmapped"),
    unicorn.UC_MEM_WRITE_UNMAPPED: ("write", "unmapped"),
    unicorn.UC_MEM_FETCH_UNMAPPED: ("exec", "unmapped"),
    unicorn.UC_MEM_READ_PROT: ("read", "protected"),
    unicorn.UC_MEM_WRITE_PROT: ("write", "protected"),
    unicorn.UC_MEM_FETCH_PROT: ("exec", "protected"),
}

_ARM64_EXCP_SWI, _ARM64_EXCP_UDEF, _ARM64_EXCP_BKPT = 2, 1, 7


@dataclass(slots=True)
class Trap:
    """Why a slice ended before its limit.

    :ivar kind: SYSCALL, FAULT, BREAK or HALT.
    :ivar pc: for SYSCALL the address after the instruction; for FAULT the
        faulting instruction (restartable); for BREAK the breakpoint address.
    :ivar access: for FAULT, "read" / "write" / "exec" / "insn".
    :ivar addr: for FAULT, the faulting data address (or pc for exec / insn faults).
    :ivar reason: for FAULT, "unmapped", "protected", "invalid", "privileged".
    """

    kind: str
    pc: int = 0
    access: str = ""
    addr: int = 0
    reason: str = ""
    detail: dict | None = None


class CPU:
    """One Unicorn CPU attached to the machine's shared memory."""

    def __init__(self, cpu_id: int, isa: ISA, memory: Memory, clock_hz: int = 100_000_000):
        self.id = cpu_id
        self.clock_hz = clock_hz       # CNTFRQ_EL0 (arm64): the virtual clock's rate
        self.cycles = 0                # the virtual clock at the start of the slice (set by the machine)
        self.isa = isa
        self.uc = unicorn.Uc(isa.uc_arch, isa.uc_mode)
        memory.attach(self.uc)
        self.memory = memory
        self.counter = install_counter(self.uc)
        self.regs = RegisterFile(self.uc, [r.uc_id for r in isa.gprs])
        self.vregs = VectorFile(self.uc, [r.uc_id for r in isa.vregs])
        self.reg_names = [r.name for r in isa.gprs]
        self._pc_id = isa.reg(isa.pc).uc_id
        self._sp_id = isa.reg(isa.sp).uc_id
        self.trap: Trap | None = None
        self._mem_fault: tuple[int, int, int] | None = None
        self.instructions = 0          # retired on this CPU since it was created
        self.kernel_work = False       # set by the kernel: call it before the next slice
        self.debug_stop = False        # a debugger hook ended the current slice (emu/debug.py)
        self._timestamp: bytes | None = None   # an RDTSC(P) to emulate before going on (idregs.py)
        self._install_trap_hooks()

    # ---- registers ---------------------------------------------------------------
    @property
    def pc(self) -> int:
        return self.regs.read(self._pc_id)

    @pc.setter
    def pc(self, value: int) -> None:
        self.regs.write(self._pc_id, value)

    @property
    def sp(self) -> int:
        return self.regs.read(self._sp_id)

    @sp.setter
    def sp(self, value: int) -> None:
        self.regs.write(self._sp_id, value)

    def read(self, name: str) -> int:
        """One register by name (vector registers come back as 128-bit ints)."""
        r = self.isa.reg(name)
        if r.vector or r.size != 8:
            # The batch path reads into a u64 that Unicorn fills only partly for
            # narrower registers (MXCSR, FPSR ...): use the wrapper for those.
            return self.uc.reg_read(r.uc_id)
        return self.regs.read(r.uc_id)

    def write(self, name: str, value: int) -> None:
        r = self.isa.reg(name)
        if r.vector:
            self.uc.reg_write(r.uc_id, value)
        else:
            self.regs.write(r.uc_id, value)

    def snapshot_regs(self) -> dict[str, int]:
        """The whole integer register file in one batch call."""
        return dict(zip(self.reg_names, self.regs.read_all()))

    def read_all(self) -> list[int]:
        """The integer register file as a list in `isa.gprs` order (fastest form)."""
        return self.regs.read_all()

    def load_regs(self, values: dict[str, int]) -> None:
        cur = self.snapshot_regs()
        cur.update(values)
        self.regs.write_all([cur[n] for n in self.reg_names])

    def vector_bytes(self) -> bytes:
        """Every vector register, 16 little-endian bytes each in `isa.vregs` order
        (the layout of fxsave's xmm area and arm64's fpsimd_context vregs)."""
        return self.vregs.read_all()

    def set_vector_bytes(self, raw: bytes) -> None:
        self.vregs.write_all(raw)

    def context(self) -> dict[str, int]:
        """Every register a thread owns (integer, vector, FP control), for clone and snapshots."""
        ctx = self.snapshot_regs()
        raw = self.vregs.read_all()
        for i, r in enumerate(self.isa.vregs):
            ctx[r.name] = int.from_bytes(raw[16 * i:16 * i + 16], "little")
        for r in self.isa.fp_control:
            ctx[r.name] = self.uc.reg_read(r.uc_id)
        return ctx

    def set_context(self, ctx: dict[str, int]) -> None:
        gprs = set(self.reg_names)
        self.load_regs({k: v for k, v in ctx.items() if k in gprs})
        for r in self.isa.vregs + self.isa.fp_control:
            if r.name in ctx:
                self.uc.reg_write(r.uc_id, ctx[r.name])

    def _repr_html_(self) -> str:
        from ..views.registers import RegisterView
        return RegisterView(self)._repr_html_()

    # ---- running -----------------------------------------------------------------
    def run(self, limit: int) -> int:
        """Run at most `limit` instructions; return how many ran.

        Afterwards `self.trap` is None when the slice was used up, else the trap.
        """
        c = self.counter
        c.executed, c.limit, c.stopped = 0, limit, 0
        self.trap = None
        self.debug_stop = False
        self._mem_fault = None
        start = self.pc
        while True:
            self._timestamp = None
            try:
                self.uc.emu_start(start, 0)
            except unicorn.UcError as e:
                self.trap = self._fault_trap(e)
            if self._timestamp is None or self.trap is not None or self.debug_stop:
                break
            start = self._emulate_timestamp()     # RDTSC(P) retired; the slice goes on
            if c.executed >= limit:
                break
        ran = c.executed
        if self.trap is None and ran < limit and not self.debug_stop:
            self.trap = self._unexplained_stop()
        elif self.trap is not None and self.trap.kind == FAULT:
            ran -= 1     # the faulting instruction did not retire
        self.instructions += ran
        return ran

    def _fault_trap(self, e: unicorn.UcError) -> Trap:
        pc = self.pc
        if self._mem_fault is not None:
            access, addr, size = self._mem_fault
            what, why = _ACCESS.get(access, ("access", "invalid"))
            return Trap(FAULT, pc=pc, access=what, addr=addr, reason=why, detail={"size": size})
        if e.errno == unicorn.UC_ERR_INSN_INVALID:
            return Trap(FAULT, pc=pc, access="insn", addr=pc, reason="invalid")
        if e.errno in (unicorn.UC_ERR_FETCH_UNMAPPED, unicorn.UC_ERR_FETCH_PROT):
            return Trap(FAULT, pc=pc, access="exec", addr=pc,
                        reason="unmapped" if e.errno == unicorn.UC_ERR_FETCH_UNMAPPED else "protected")
        return Trap(FAULT, pc=pc, access="insn", addr=pc, reason=f"unicorn: {e}")

    def _unexplained_stop(self) -> Trap:
        # amd64 `hlt` (and other privileged instructions) stop Unicorn without an
        # error; Linux would deliver SIGSEGV (#GP in user mode).
        pc = self.pc
        if self.isa.name == "amd64":
            prev = self.memory.read(pc - 1, 1) if self.memory.find(pc - 1) else b""
            if prev == b"\xf4":
                return Trap(FAULT, pc=pc - 1, access="insn", addr=pc - 1, reason="privileged")
        return Trap(HALT, pc=pc)

    # ---- hooks (record and stop; the machine loop acts) --------------------------
    def _install_trap_hooks(self) -> None:
        uc = self.uc
        if self.isa.name == "amd64":
            uc.hook_add(unicorn.UC_HOOK_INSN, self._on_syscall_amd64, None, 1, 0, x86_const.UC_X86_INS_SYSCALL)
            uc.hook_add(unicorn.UC_HOOK_INTR, self._on_intr_amd64)
            uc.hook_add(unicorn.UC_HOOK_INSN, self._on_cpuid, None, 1, 0, x86_const.UC_X86_INS_CPUID)
        else:
            uc.hook_add(unicorn.UC_HOOK_INTR, self._on_intr_arm64)
            uc.hook_add(unicorn.UC_HOOK_INSN, self._on_mrs, None, 1, 0, arm64_const.UC_ARM64_INS_MRS)
        uc.hook_add(unicorn.UC_HOOK_MEM_INVALID, self._on_mem_invalid)

    # ---- identification and timestamps (idregs.py) --------------------------------
    def timestamp(self) -> int:
        """The virtual clock at the instruction running now (from a hook): the count at
        the start of the slice plus the instructions counted so far, this one included."""
        return self.cycles + self.counter.executed

    def _on_cpuid(self, uc, _user) -> int:
        regs = self.regs
        leaf = regs.read(x86_const.UC_X86_REG_RAX) & 0xFFFFFFFF
        sub = regs.read(x86_const.UC_X86_REG_RCX) & 0xFFFFFFFF
        for r, v in zip((x86_const.UC_X86_REG_RAX, x86_const.UC_X86_REG_RBX, x86_const.UC_X86_REG_RCX,
                         x86_const.UC_X86_REG_RDX), idregs.cpuid(leaf, sub, self.id)):
            regs.write(r, v)              # CPUID zero-extends into the 64-bit registers
        return 1                          # handled: skip the engine's own CPUID

    def _on_mrs(self, uc, reg, cp, _user) -> int:
        key = (cp.op0, cp.op1, cp.crn, cp.crm, cp.op2)
        if key in (idregs.CNTVCT_EL0, idregs.CNTPCT_EL0):
            value = self.timestamp()
        elif key == idregs.CNTFRQ_EL0:
            value = self.clock_hz & 0xFFFFFFFF
        else:
            return 0                      # every other system register: the engine's
        if reg != arm64_const.UC_ARM64_REG_XZR:
            uc.reg_write(reg, value)
        return 1

    def trap_timestamp(self) -> None:
        """From a code hook at an RDTSC / RDTSCP (Machine.virtualize_timestamps): end the
        run before it executes; `run` emulates it from the virtual clock and goes on."""
        if self.counter.stopped:          # the slice already ends before this instruction
            return
        code = self.memory.read(self.pc, 3)
        if code.startswith(idregs.RDTSC) or code == idregs.RDTSCP:
            self._timestamp = code[:2] if code.startswith(idregs.RDTSC) else code
            self.uc.emu_stop()

    def _emulate_timestamp(self) -> int:
        """Retire the RDTSC(P) at PC (already counted); returns the next PC."""
        tsc = self.timestamp()
        regs, insn = self.regs, self._timestamp
        regs.write(x86_const.UC_X86_REG_RAX, tsc & 0xFFFFFFFF)
        regs.write(x86_const.UC_X86_REG_RDX, (tsc >> 32) & 0xFFFFFFFF)
        if insn == idregs.RDTSCP:
            regs.write(x86_const.UC_X86_REG_RCX, self.id)      # IA32_TSC_AUX
        pc = self.pc + len(insn)
        self.pc = pc
        self._timestamp = None
        return pc

    def _on_syscall_amd64(self, uc, _user) -> None:
        # RIP still points at the `syscall`; Unicorn advances it by 2 after the hook.
        self.trap = Trap(SYSCALL, pc=self.pc + 2)
        uc.emu_stop()

    def _on_intr_amd64(self, uc, intno, _user) -> None:
        if intno == 3:       # int3: RIP is after the 1-byte instruction
            self.trap = Trap(BREAK, pc=self.pc - 1)
        elif intno == 6:     # #UD
            self.trap = Trap(FAULT, pc=self.pc, access="insn", addr=self.pc, reason="invalid")
        else:
            self.trap = Trap(FAULT, pc=self.pc, access="insn", addr=self.pc, reason=f"interrupt {intno}")
        uc.emu_stop()

    def _on_intr_arm64(self, uc, intno, _user) -> None:
        pc = self.pc
        if intno == _ARM64_EXCP_SWI:       # svc: PC is already after the instruction
            self.trap = Trap(SYSCALL, pc=pc)
        elif intno == _ARM64_EXCP_BKPT:    # brk: PC is the brk itself
            self.trap = Trap(BREAK, pc=pc)
        elif intno == _ARM64_EXCP_UDEF:
            self.trap = Trap(FAULT, pc=pc, access="insn", addr=pc, reason="invalid")
        else:
            self.trap = Trap(FAULT, pc=pc, access="insn", addr=pc, reason=f"exception {intno}")
        uc.emu_stop()

    def _on_mem_invalid(self, uc, access, addr, size, _value, _user) -> bool:
        self._mem_fault = (access, addr, size)
        return False

    def add_code_hook(self, addr: int, fn, end: int | None = None) -> int:
        """fn(self) runs before the instruction at `addr` executes (a one-address hook; with
        `end`, before every instruction in [addr, end): a Python call per instruction, for
        tracing only).  Returns the Unicorn handle (for `remove_hook`)."""
        last = addr if end is None else end - 1
        return self.uc.hook_add(unicorn.UC_HOOK_CODE, lambda _uc, _a, _s, _u: fn(self), None, addr, last)

    def add_write_hook(self, lo: int, hi: int, fn) -> int:
        """fn(self, addr, size, value) runs when an instruction is about to write bytes in
        [lo, hi) (Unicorn calls it before the store).  Returns the handle."""
        return self.uc.hook_add(unicorn.UC_HOOK_MEM_WRITE,
                                lambda _uc, _acc, a, size, v, _u: fn(self, a, size, v), None, lo, hi - 1)

    def remove_hook(self, handle: int) -> None:
        self.uc.hook_del(handle)

    # ---- debugger stops (only from hooks; see emu/debug.py) ----------------------
    def stop_before_current(self) -> None:
        """From a code hook: end the slice *before* the hooked instruction executes.
        The counting hook (installed first, so it ran first) has already counted it."""
        c = self.counter
        c.executed -= 1
        c.limit = c.executed
        c.stopped = 1
        self.debug_stop = True
        self.uc.emu_stop()

    def stop_after_current(self) -> None:
        """From a memory hook: let the current instruction retire, stop before the next
        one (the counting hook sees the limit reached)."""
        self.counter.limit = self.counter.executed
        self.debug_stop = True

    def flush_code_cache(self) -> None:
        """Forget translated blocks (after code in memory changed)."""
        self.uc.ctl_remove_cache(self.memory.base, self.memory.limit)

    def close(self) -> None:
        self.memory.detach(self.uc)
