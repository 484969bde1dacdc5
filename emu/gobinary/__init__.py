"""Real Go binaries, seen by the tools: symbols (.symtab, `.abi0` normalised),
source lines (DWARF .debug_line), the runtime's struct layouts and constants
(DWARF .debug_info), a reader of the live scheduler state in emulated memory, and
the places in the runtime's machine code the tools hook (found by disassembling).

Design note
  1. `GoBinary` is what a tool needs to know about one executable file, read once
     per file version (`go_binary(path)` caches by path, mtime and size): a
     Debugger that rebuilds its ElfSystem on every reverse step pays nothing more.
  2. The places to hook are found in the code, not written down: the last
     instruction of runtime.asyncPreempt (amd64 `ret`; arm64 `br x27`, Go's
     `JMP (R27)`), mcall's indirect call of fn (its save point: every store to
     g.sched done), the indirect jump that ends gogo<> (`jmp rbx` / `br x6`),
     and the gobuf fields gogo<> loads, register by register (`gogo_loads`):
     a test checks those offsets against the DWARF layout.
  3. Layers: this package reads memory and code; it knows nothing of views.  The
     views (emu/views) and the debugger (emu/debug.py) use it for ElfSystems.
Rejected: hard-coding Go 1.19's offsets or addresses (a rebuilt binary moves
every function, and another Go release moves the fields).
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from functools import lru_cache

from elftools.elf.elffile import ELFFile

from ..asm.image import capstone_for
from ..kernel.elf import load_elf
from .dwarf import DwarfError, GoTypes, Struct, go_types
from .state import GoRuntime, GState, MState, PState, SchedState, StructView
from .symbols import GoLine, GoSymbols

G_REGISTER = {"amd64": "r14", "arm64": "x28"}
# The register gogo<> holds the gobuf in (Go's asm: BX / R5), and the one that
# holds the closure context after it (DX / R26).
GOBUF_REGISTER = {"amd64": "rbx", "arm64": "x5"}
CTXT_REGISTER = {"amd64": "rdx", "arm64": "x26"}


class NotGoBinary(ValueError):
    """The executable has no Go runtime the tools can read."""


@dataclass(frozen=True)
class Insn:
    """One decoded instruction of a function."""

    addr: int
    size: int
    mnemonic: str
    op_str: str

    @property
    def text(self) -> str:
        return f"{self.mnemonic} {self.op_str}".strip()


class GoBinary:
    """One Go executable (module note).  `types` (the DWARF) is read on first use."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self.image = load_elf(self.path)
        self.arch = self.image.arch
        with open(self.path, "rb") as f:
            self._elf = ELFFile(io.BytesIO(f.read()))
        self.symbols = GoSymbols(self._elf, self.arch, self.path)
        if "runtime.main" not in self.symbols.symbols or "runtime.gogo" not in self.symbols.symbols:
            raise NotGoBinary(f"{os.path.basename(self.path)}: no runtime.main / runtime.gogo in .symtab "
                              f"(not a Go binary, or stripped with -s)")
        self._types: GoTypes | None = None

    @property
    def types(self) -> GoTypes:
        if self._types is None:
            self._types = go_types(self.path)
        return self._types

    def runtime(self, memory) -> GoRuntime:
        """A reader of this binary's runtime state in `memory` (a running process's)."""
        return GoRuntime(self.types, self.symbols, memory)

    # ---- static data ---------------------------------------------------------------
    def read(self, addr: int, size: int) -> bytes:
        """Bytes of the file's image at `addr` (initialised data and code)."""
        for seg in self.image.segments:
            if seg.addr <= addr < seg.addr + seg.size:
                off = addr - seg.addr
                return seg.data[off:off + size].ljust(min(size, seg.size - off), b"\0")
        raise KeyError(f"{addr:#x} is outside {os.path.basename(self.path)}'s image")

    @property
    def version(self) -> str:
        """runtime.buildVersion ("go1.19.8"), read from the image's data."""
        addr = self.symbols.addr_of("runtime.buildVersion")
        ptr, n = int.from_bytes(self.read(addr, 8), "little"), int.from_bytes(self.read(addr + 8, 8), "little")
        return self.read(ptr, n).decode()

    # ---- code ----------------------------------------------------------------------
    def code(self, name: str) -> list[Insn]:
        """The instructions of function `name`, decoded from its start to its size."""
        start, end = self.symbols.function(name)
        raw = self.read(start, end - start)
        return [Insn(i.address, i.size, i.mnemonic, i.op_str) for i in capstone_for(self.arch).disasm(raw, start)]

    def async_preempt_return(self) -> int:
        """asyncPreempt's last instruction, the one that returns to the interrupted PC:
        amd64 `ret`; arm64 `br x27` (Go's `JMP (R27)`)."""
        want = ("ret", "") if self.arch == "amd64" else ("br", "x27")
        hits = [i.addr for i in self.code("runtime.asyncPreempt") if (i.mnemonic, i.op_str) == want]
        if not hits:
            raise NotGoBinary(f"runtime.asyncPreempt has no {' '.join(want)}")
        return hits[-1]

    def mcall_save_point(self) -> int:
        """mcall's indirect call of fn (`call r12` / `blr x4`): every store to g.sched done."""
        for i in self.code("runtime.mcall"):
            if i.mnemonic in ("call", "blr") and not i.op_str.startswith("0x") and not i.op_str.startswith("#"):
                return i.addr
        raise NotGoBinary("runtime.mcall has no indirect call")

    def gogo_body(self) -> str:
        """The name of the function runtime.gogo jumps to (Go's gogo<>, local `gogo`)."""
        first = self.code("runtime.gogo")
        last = first[-1]
        target = int(last.op_str.lstrip("#"), 16)
        sym = self.symbols.symbol_at(target)
        return sym[0] if sym else "runtime.gogo"

    def gogo_jump(self) -> int:
        """The indirect jump that ends gogo<> (`jmp rbx` / `br x6`): into the G."""
        body = self.code(self.gogo_body())
        for i in reversed(body):
            if i.mnemonic in ("jmp", "br") and not i.op_str.startswith(("0x", "#")):
                return i.addr
        raise NotGoBinary("gogo<> ends with no indirect jump")

    def gogo_loads(self) -> dict[int, str]:
        """gobuf offset -> the register gogo<> loads it into, by decoding its loads
        through the gobuf register (BX / R5), first load of each offset: sp, ret,
        ctxt, bp, (lr,) pc.  (arm64 loads sp into R0 first, then moves it to RSP.)"""
        base = GOBUF_REGISTER[self.arch]
        out: dict[int, str] = {}
        for i in self.code(self.gogo_body()):
            if i.mnemonic not in ("mov", "ldr"):
                continue
            dst, _, src = i.op_str.partition(", ")
            src = src.strip()
            if self.arch == "amd64" and src.startswith(f"qword ptr [{base}"):
                disp = src[len("qword ptr ["):-1].partition("+")[2]
            elif self.arch == "arm64" and src.startswith(f"[{base}"):
                disp = src[1:-1].partition(",")[2]
            else:
                continue
            disp = disp.strip().lstrip("#")
            out.setdefault(int(disp, 16) if disp else 0, dst.strip())
        return out

    def mcall_stores(self) -> dict[int, str]:
        """offset from g -> the register mcall stores there (its stores into g.sched
        through the g register), e.g. amd64 {0x40: "rbx", 0x38: "rbx", 0x68: "rbp"}."""
        g = G_REGISTER[self.arch]
        out: dict[int, str] = {}
        for i in self.code("runtime.mcall"):
            a, _, b = i.op_str.partition(", ")
            if self.arch == "amd64" and i.mnemonic == "mov" and a.startswith(f"qword ptr [{g}"):
                mem, reg, sep = a[len("qword ptr ["):-1], b.strip(), "+"
            elif self.arch == "arm64" and i.mnemonic == "str" and b.startswith(f"[{g}"):
                mem, reg, sep = b[1:-1], a.strip(), ","
            else:
                continue
            disp = mem.partition(sep)[2].strip().lstrip("#")
            out.setdefault(int(disp, 16) if disp else 0, reg)
        return out


@lru_cache(maxsize=16)
def _go_binary(path: str, mtime: float, size: int) -> GoBinary:
    return GoBinary(path)


def go_binary(path) -> GoBinary:
    """The GoBinary of the file at `path`, read once per file version."""
    st = os.stat(path)
    return _go_binary(os.fspath(path), st.st_mtime, st.st_size)


def go_runtime(system) -> GoRuntime:
    """The runtime-state reader of an ElfSystem running a Go binary."""
    go = getattr(system, "go", None)
    if go is None:
        raise NotGoBinary("not a Go binary on an ElfSystem")
    return go.runtime(system.machine.memory)


__all__ = ["GoBinary", "GoRuntime", "GoSymbols", "GoTypes", "GoLine", "Struct", "StructView", "GState",
           "MState", "PState", "SchedState", "DwarfError", "NotGoBinary", "go_binary", "go_runtime",
           "G_REGISTER", "GOBUF_REGISTER", "CTXT_REGISTER", "Insn"]
