"""Disassembly around a PC: each instruction with its address, symbol+offset,
bytes and text, and the source file:line and source text it was assembled from;
the instruction at the PC is marked.

Design note
  1. Instruction boundaries come from the image's line table (one SourceLine per
     instruction, sorted by address), so `before` instructions can be shown
     above the PC on amd64 too, where decoding backwards is ambiguous.
  2. The bytes are read from emulated memory, not from the image, and decoded
     with capstone: the view shows what the CPU will execute.
  3. A PC outside the line table (the arm64 signal trampoline page, a jump into
     the middle of an instruction) is decoded forward from the PC only; bytes
     that are not mapped end the listing.
  4. Everything is read when the view is built (a snapshot).
  5. A real Go binary has no per-instruction line table: the instructions
     before the PC are found by decoding from the start of its function
     (.symtab), and file:line comes from DWARF (emu/gobinary/symbols.py).
Rejected: `Image.disassemble` (it reads the image's bytes, returns formatted
strings with no columns to lay out, and cannot show what comes before the PC).
"""
from __future__ import annotations

import bisect
import os
from dataclasses import dataclass

from ..asm.image import capstone_for
from .html import Table, page

MAX_INSN = 16         # longest instruction on either ISA (amd64: 15 bytes)


@dataclass(frozen=True)
class Instruction:
    """One listed instruction.  `file`/`line`/`source` are empty/0 outside the line table."""

    addr: int
    size: int
    raw: bytes
    text: str
    symbol: str
    file: str
    line: int
    source: str
    current: bool

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file else ""


def symbol_text(image, addr: int) -> str:
    """``name+offset`` of addr, or "" when no symbol covers it."""
    sym = image.symbol_at(addr)
    return f"{sym[0]}+{sym[1]}" if sym else ""


def image_and_memory(source, who: str):
    """(image, memory) from a System or an (image, memory) pair."""
    if hasattr(source, "image") and hasattr(source, "machine"):
        go = getattr(source, "go", None)          # a real Go binary: its symbols and DWARF lines
        return (go.symbols if go is not None else source.image), source.machine.memory
    if isinstance(source, tuple) and len(source) == 2:
        return source
    raise TypeError(f"{who}: source must be a System or an (image, memory) pair, not {type(source).__name__}")


class DisasmView:
    """`before` instructions before the PC, the one at the PC, and `after` after it.

    The PC is `pc` when given, else `cpu.pc`.

    :ivar instructions: the listed `Instruction`s in address order.
    """

    def __init__(self, source, cpu=None, *, pc: int | None = None, before: int = 4, after: int = 8):
        if cpu is None and pc is None:
            raise ValueError("DisasmView: give a cpu (its pc is used) or a pc")
        if before < 0 or after < 0:
            raise ValueError("DisasmView: before and after count instructions and cannot be negative")
        self.image, self.memory = image_and_memory(source, "DisasmView")
        self.cpu_id = cpu.id if cpu is not None else None
        self.pc = pc if pc is not None else cpu.pc
        self.arch = self.image.arch
        spans = (self._spans_from_lines(before, after) or self._spans_from_function(before, after)
                 or self._spans_forward(after))
        self.instructions = [self._instruction(a, n) for a, n in spans]

    # ---- which instructions ----------------------------------------------------------------
    def _spans_from_lines(self, before: int, after: int) -> list[tuple[int, int]]:
        lines = self.image.lines
        i = bisect.bisect_right(lines, self.pc, key=lambda sl: sl.addr) - 1
        if i < 0 or lines[i].addr != self.pc:
            return []
        return [(sl.addr, sl.size) for sl in lines[max(0, i - before):i + after + 1]]

    def _spans_from_function(self, before: int, after: int) -> list[tuple[int, int]]:
        """Boundaries by decoding from the start of the function holding the PC (a
        binary without a per-instruction line table: a Go executable)."""
        sym = self.image.symbol_at(self.pc)
        if sym is None or sym[1] > 1 << 16:
            return []
        start = self.pc - sym[1]
        if self.memory.find(start) is None:
            return []
        cs = capstone_for(self.arch)
        spans, addr, cur = [], start, None
        while cur is None or len(spans) < cur + after + 1:
            region = self.memory.find(addr)
            if region is None:
                break
            raw = self.memory.read(addr, min(MAX_INSN, region.end - addr))
            insn = next(cs.disasm(raw, addr, 1), None)
            if insn is None or addr > self.pc and cur is None:
                break
            if addr == self.pc:
                cur = len(spans)
            spans.append((addr, insn.size))
            addr += insn.size
        if cur is None:
            return []                              # the PC is not on an instruction boundary
        return spans[max(0, cur - before):cur + after + 1]

    def _spans_forward(self, after: int) -> list[tuple[int, int]]:
        cs = capstone_for(self.arch)
        spans, addr = [], self.pc
        while len(spans) < after + 1:
            region = self.memory.find(addr)
            if region is None:
                break
            raw = self.memory.read(addr, min(MAX_INSN, region.end - addr))
            insn = next(cs.disasm(raw, addr, 1), None)
            size = insn.size if insn is not None else (4 if self.arch == "arm64" else 1)
            spans.append((addr, size))
            addr += size
        return spans or [(self.pc, 0)]

    def _instruction(self, addr: int, size: int) -> Instruction:
        raw, text = b"", "(not mapped)"
        if size and self.memory.find(addr) is not None and self.memory.find(addr + size - 1) is not None:
            raw = self.memory.read(addr, size)
            insn = next(capstone_for(self.arch).disasm(raw, addr, 1), None)
            text = f"{insn.mnemonic} {insn.op_str}".strip() if insn is not None else \
                ".byte " + ", ".join(f"{b:#04x}" for b in raw)
        sl = self.image.line_at(addr)
        return Instruction(addr, size, raw, text, symbol_text(self.image, addr),
                           os.path.basename(sl.file) if sl else "", sl.line if sl else 0,
                           sl.text if sl else "", addr == self.pc)

    # ---- rendering ----------------------------------------------------------------------
    @property
    def current(self) -> Instruction | None:
        return next((i for i in self.instructions if i.current), None)

    def table(self) -> Table:
        rows = [(f"{i.addr:#x}", i.symbol, i.raw.hex(" "), i.text, i.where, i.source)
                for i in self.instructions]
        marked = frozenset(n for n, i in enumerate(self.instructions) if i.current)
        who = f"cpu{self.cpu_id} " if self.cpu_id is not None else ""
        return Table(f"{who}pc {self.pc:#x} ({self.arch})",
                     ("addr", "symbol", "bytes", "instruction", "file:line", "source"), rows, marked, mark="=>")

    def text(self) -> str:
        return self.table().text()

    def _repr_html_(self) -> str:
        return page("disassembly", [self.table()])

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        cur = self.current
        return f"<DisasmView pc={self.pc:#x} {cur.symbol if cur else '?'}: {cur.text if cur else '?'}>"
