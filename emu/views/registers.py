"""The register file of one CPU: every integer register, what Go's ABI uses it
for, and which ones changed since a previous snapshot.

Design note
  1. A RegisterView is a snapshot: it reads the CPU's integer register file
     (`CPU.snapshot_regs`, one batch call) and the 32-bit FP status/control
     registers of the ISA (amd64 MXCSR; arm64 FPSR, FPCR) when it is built, so
     showing it later shows that moment.  `values` is a plain dict name -> value,
     and is what `previous` takes: keep one view's `values`, step, make the next.
  2. `changed` is the set of names whose value differs from `previous`; the text
     form marks those rows with `*`, the HTML form highlights them.
  3. Roles come from the ISA record (emu/machine/isa): pc, sp, frame pointer,
     link register, flags, thread pointer, g, Go's ABIInternal argument
     registers and the reserved ones -- data, not a second list that could drift.
     Only why a register is reserved is written here.
  4. Flags are decoded by name (amd64 CF PF AF ZF SF TF IF DF OF; arm64 N Z C V).
Rejected: vector registers in the same table (32 x 128 bits would drown the
rest; `CPU.context()` has them); reading registers lazily at render time (a view
shown after the next step would silently show the new values).
"""
from __future__ import annotations

from .html import Table, hex64

# Why the non-g reserved registers are reserved (README: the program contract).
RESERVED_WHY = {
    "x18": "platform register (reserved)",
    "x27": "REGTMP: the assembler's and asyncPreempt's scratch (reserved)",
}

# Flag bits by name, lowest first.
FLAG_BITS = {
    "amd64": (("CF", 0), ("PF", 2), ("AF", 4), ("ZF", 6), ("SF", 7), ("TF", 8), ("IF", 9),
              ("DF", 10), ("OF", 11)),
    "arm64": (("V", 28), ("C", 29), ("Z", 30), ("N", 31)),
}


def flag_names(arch: str, value: int) -> str:
    """The set flags of an RFLAGS / NZCV value, highest bit first: ``ZF PF IF``."""
    return " ".join(name for name, bit in reversed(FLAG_BITS[arch]) if value >> bit & 1)


def register_roles(isa) -> dict[str, str]:
    """name -> what the register is for, from the ISA's role fields (Go's ABI)."""
    roles: dict[str, list[str]] = {}

    def add(name, role):
        if name:
            roles.setdefault(name, []).append(role)

    add(isa.pc, "program counter")
    add(isa.sp, "stack pointer")
    add(isa.fp, "frame pointer: the frame-record chain")
    add(isa.lr, "link register: the return address")
    add(isa.flags, "flags")
    add(isa.g, "g: the current goroutine (Go ABI; reserved)")
    add(isa.tls, "thread pointer (TLS)" + (": fs:-8 holds g" if isa.name == "amd64" else ""))
    for name in isa.reserved:
        if name != isa.g:
            add(name, RESERVED_WHY.get(name, "reserved"))
    for i, name in enumerate(isa.abi_args):
        add(name, f"arg/result {i}")
    return {name: "; ".join(r) for name, r in roles.items()}


def extra_registers(isa) -> tuple[str, ...]:
    """The 32-bit FP status/control registers shown after the integer ones."""
    return tuple(r.name for r in isa.fp_control if r.size == 4)


class RegisterView:
    """Registers of `cpu` now, compared with `previous` (a name -> value dict, or
    another RegisterView).

    :ivar values: name -> value, integer registers in `isa.gprs` order, then the
        FP status/control registers.
    :ivar changed: names whose value differs from `previous` (empty without one).
    :ivar roles: name -> its role in Go's ABI ("" for a plain register).
    """

    def __init__(self, cpu, previous=None):
        if not hasattr(cpu, "snapshot_regs") or not hasattr(cpu, "isa"):
            raise TypeError(f"RegisterView: cpu must be an emulated CPU (system.machine.cpus[i]), "
                            f"not {type(cpu).__name__}")
        self.cpu_id = cpu.id
        self.isa = cpu.isa
        self.values: dict[str, int] = cpu.snapshot_regs()
        for name in extra_registers(cpu.isa):
            self.values[name] = cpu.read(name)
        self.previous: dict[str, int] | None = _as_values(previous, self.values)
        self.changed: frozenset[str] = frozenset(
            n for n, v in self.values.items() if self.previous is not None
            and n in self.previous and self.previous[n] != v)
        self.roles = register_roles(cpu.isa)

    def __getitem__(self, name: str) -> int:
        return self.values[name]

    @property
    def pc(self) -> int:
        return self.values[self.isa.pc]

    @property
    def sp(self) -> int:
        return self.values[self.isa.sp]

    def table(self) -> Table:
        names = list(self.values)
        cols = ("reg", "value", "role")
        if self.previous is not None:
            cols += ("was",)
        rows = []
        for n in names:
            role = self.roles.get(n, "")
            if n == self.isa.flags:
                role = f"{role} [{flag_names(self.isa.name, self.values[n])}]"
            row = (n, hex64(self.values[n]), role)
            if self.previous is not None:
                row += (hex64(self.previous[n]) if n in self.changed else "",)
            rows.append(row)
        changed = frozenset(i for i, n in enumerate(names) if n in self.changed)
        note = f"{len(self.changed)} changed: {' '.join(n for n in names if n in self.changed)}" \
            if self.previous is not None else ""
        return Table(f"cpu{self.cpu_id} registers ({self.isa.name})", cols, rows, changed, note)

    def text(self) -> str:
        return self.table().text()

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"<RegisterView cpu{self.cpu_id} {self.isa.name} pc={self.pc:#x} changed={sorted(self.changed)}>"


def _as_values(previous, current: dict[str, int]) -> dict[str, int] | None:
    """`previous` as a name -> value dict; names this ISA does not have are an error."""
    if previous is None:
        return None
    values = previous.values if isinstance(previous, RegisterView) else dict(previous)
    unknown = sorted(set(values) - set(current))
    if unknown:
        raise ValueError(f"RegisterView: previous names registers this CPU does not have: "
                         f"{', '.join(unknown[:5])} (a snapshot of another arch?)")
    return values

