"""The preemption transparency checker: an async preemption must be invisible.

For every async preemption in a run, it compares the *whole* register file of the
CPU at the interrupted PC -- general registers, SP, PC, flags, vector registers
and FP status -- with the register file at the moment the G resumes at that PC.
Any difference is a bug in the save/restore path (asyncPreempt, pushCall, the
signal frame, rt_sigreturn, gogo/mcall), and the report names the register.

Design note
  1. The interrupted state is taken from the CPU itself, by a kernel delivery
     hook that runs just before the kernel builds the signal frame -- not from the
     frame, so a kernel that saved a register wrongly is caught too.
  2. The delivery becomes a preemption only if the handler pushed a call to
     asyncPreempt: a one-address hook at asyncPreempt's entry arms the snapshot for
     that G (keyed by its g register).  Refused deliveries are simply replaced.
  3. At asyncPreempt's last instruction (`runtime.asyncPreempt.return`: `ret` on
     amd64, `br x27` on arm64) the state the G resumes with is the current one
     after that instruction: amd64 RIP = [RSP] and RSP + 8; arm64 PC = X27, and
     X27 itself is exempt (Go's REGTMP, clobbered by design and never live at a
     safe point), and so is the TLS base (fs_base / tpidr_el0), which belongs to the
     M: a G that resumes on another M must see that M's.  That state must equal the
     snapshot, register for register.
  4. `storm()` drives a run with preemption requests at seeded random instruction
     counts (acting as sysmon: gp.preempt, stackguard0 = stackPreempt, SIGURG to
     the M's thread), so the interrupted PCs are spread over the whole program.
  5. A real Go binary (an ElfSystem; Go 1.19) is checked the same way.  The
     arming hook is at runtime.asyncPreempt's entry and the check at the
     instruction that returns to the interrupted PC, found by disassembling the
     function (emu/gobinary: amd64 `ret`, arm64 `br x27`, Go's `JMP (R27)`); g
     is R14 / X28 there too, and goids come from the DWARF layout of runtime.g.
     Exempt besides the TLS base, as Go documents (preempt_arm64.s,
     mkpreempt.go): arm64 R27 (REGTMP, "load PC to REGTMP"), and the high 64
     bits of V0-V31 (asyncPreempt saves F0-F31 with FSTPD: Go code uses them
     as 64-bit scalars), so only their low halves are compared.  Everything else
     is compared, including what Go does not save because it never changes it
     (arm64 FPCR, R18; amd64 MXCSR and the x87 state).
Rejected: comparing only the GPRs Go's asyncPreempt saves (the point is to find
what it does not save); single-stepping around each preemption (slow, and it
would not see a register that is wrong only after the G migrated to another M).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..kernel import signal as ksignal
from ..runtime.layout import STACK_PREEMPT
from ..runtime.signal import SIGURG

# Registers compared beyond the ISA's integer register file.
_ARM64_EXTRA = ("fpsr", "fpcr")


@dataclass
class Difference:
    goid: int
    pc: int
    register: str
    before: int
    after: int

    def __str__(self) -> str:
        return (f"goroutine {self.goid} preempted at {self.pc:#x}: {self.register} was {self.before:#x}, "
                f"resumed with {self.after:#x}")


@dataclass
class Report:
    checked: int = 0                   # preemptions compared
    deliveries: int = 0                # SIGURGs delivered (some refused: unsafe PC)
    differences: list[Difference] = field(default_factory=list)
    pcs: set[int] = field(default_factory=set)

    def __str__(self) -> str:
        head = (f"{self.checked} async preemptions checked at {len(self.pcs)} distinct PCs "
                f"({self.deliveries} SIGURG deliveries): ")
        if not self.differences:
            return head + "no differences"
        return head + f"{len(self.differences)} differences\n" + "\n".join(map(str, self.differences[:20]))


class PreemptionChecker:
    """Attach to a runtime System before running it; read `.report` afterwards."""

    def __init__(self, system):
        self.system = system
        self.machine, self.kernel, self.rt = system.machine, system.kernel, system.runtime
        isa = self.isa = self.machine.isa
        self.report = Report()
        self._pending: dict[int, tuple[int, dict]] = {}      # cpu id -> (g, snapshot)
        self._armed: dict[int, dict] = {}                    # g -> snapshot
        # x27: Go's REGTMP; the TLS base: each M's own, so it differs when the G resumes
        # on another M (Go's g lives in TLS there, and g itself is compared)
        self._exempt = ({"x27"} if isa.name == "arm64" else set()) | {isa.tls}
        self._masks: dict[str, int] = {}                     # register -> the bits compared
        self.go = getattr(system, "go", None) if self.rt is None else None
        if self.rt is not None:
            sym = system.image.symbols
            self._entry, ret = sym["runtime.asyncPreempt"], sym["runtime.asyncPreempt.return"]
            self._goid = lambda g: self.rt.g(g).goid
        elif self.go is not None:                            # a real Go binary (design step 5)
            reader = system.goruntime
            self._entry = self.go.symbols.addr_of("runtime.asyncPreempt")
            ret = self.go.async_preempt_return()
            self._goid = lambda g: reader.g(g).goid
            if isa.name == "arm64":
                self._masks = {r.name: (1 << 64) - 1 for r in isa.vregs}
        else:
            raise ValueError("PreemptionChecker: the system runs no Go runtime (a --bare program or a "
                             "non-Go executable)")
        self.return_pc = ret
        self.kernel.delivery_hooks.append(self._on_delivery)
        self.machine.add_code_hook(self._entry, self._on_entry)
        self.machine.add_code_hook(ret, self._on_return)

    # ---- snapshots -------------------------------------------------------------------
    def _regs(self, cpu) -> dict[str, int]:
        regs = cpu.context()
        if self.isa.name == "arm64":
            from unicorn import arm64_const
            regs["fpsr"] = cpu.uc.reg_read(arm64_const.UC_ARM64_REG_FPSR)
            regs["fpcr"] = cpu.uc.reg_read(arm64_const.UC_ARM64_REG_FPCR)
        return regs

    def _on_delivery(self, task, sig: int) -> None:
        if sig != SIGURG:
            return
        cpu = task.cpu
        self.report.deliveries += 1
        if cpu.pc == self._entry:          # a second signal before asyncPreempt ran: keep the first
            return
        self._pending[cpu.id] = (cpu.read(self.isa.g), self._regs(cpu))

    def _on_entry(self, cpu) -> None:
        g = cpu.read(self.isa.g)
        pending = self._pending.pop(cpu.id, None)
        if pending and pending[0] == g:
            self._armed[g] = pending[1]

    def _on_return(self, cpu) -> None:
        g = cpu.read(self.isa.g)
        before = self._armed.pop(g, None)
        if before is None:
            return
        after = self._regs(cpu)
        if self.isa.name == "amd64":
            after["rip"] = self.machine.memory.read_u64(after["rsp"])
            after["rsp"] += 8
        else:
            after["pc"] = after["x27"]
        rep = self.report
        rep.checked += 1
        pc = before[self.isa.pc]
        rep.pcs.add(pc)
        goid = self._goid(g)
        masks = self._masks
        for name, value in before.items():
            if name in self._exempt:
                continue
            got = after.get(name, -1)
            if name in masks:
                value, got = value & masks[name], got & masks[name]
            if got != value:
                rep.differences.append(Difference(goid, pc, name, value, got))

    # ---- driving a storm of preemptions -------------------------------------------------
    def storm(self, points: int, seed: int, gap: tuple[int, int] = (50, 1500),
              max_instructions: int = 200_000_000):
        """Run the program, requesting a preemption of a running G at `points` seeded
        random instruction counts.  Returns the Outcome of the run."""
        if self.rt is None:
            raise ValueError("PreemptionChecker.storm: drives the teaching runtime only; a real Go "
                             "binary is preempted by its own sysmon")
        rng = random.Random(seed)
        m, rt = self.machine, self.rt
        requested = 0
        while requested < points and m.instructions < max_instructions:
            res = m.run(m.instructions + rng.randint(*gap))
            if res.reason != "budget":
                break
            victims = self._running_gs()
            if victims:
                self._request(*victims[rng.randrange(len(victims))])
                requested += 1
        return self.system.run(max_instructions)

    def _running_gs(self):
        rt = self.rt
        out = []
        for i in range(rt.sched.gomaxprocs):
            pp = rt.allp(i)
            if pp.m and rt.m(pp.m).curg:
                mp = rt.m(pp.m)
                out.append((mp, rt.g(mp.curg)))
        return out

    def _request(self, mp, gp) -> None:
        """What sysmon's preemptone + preemptM do, from outside."""
        gp.preempt = 1
        gp.stackguard0 = STACK_PREEMPT
        task = self.kernel.tasks.get(mp.procid)
        if task is None:
            return
        info = ksignal.SigInfo(SIGURG, ksignal.SI_TKILL, pid=self.kernel.pid)
        ksignal.send_signal(self.kernel, None, task, info)
