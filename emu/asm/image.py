"""The assembled program: segments to map, symbols, and the source line of every instruction.

Mirrors what a linked ELF executable plus its symbol table and DWARF line
table give a debugger (`nm`, `addr2line`, `objdump -d -l`), reduced to what the
emulator, the trace and the notebooks ask: which symbol+offset is this PC,
which source line, where does line N start, what does this code say.

Invariants (checked in Image.__init__):
 - segments are sorted, page-aligned, non-overlapping, `size >= len(data)`;
   bytes past `data` up to `size` read as zero (.bss).
 - `lines` holds one SourceLine per instruction, sorted by address; lines
   produced by one macro call or pseudo-op share the caller's file:line.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass

import capstone

PAGE = 4096


@dataclass(frozen=True)
class SourceLine:
    """One instruction and the source line it came from."""
    file: str
    line: int
    text: str       # the source line, stripped
    addr: int
    size: int


@dataclass(frozen=True)
class Segment:
    """One mapping: `size` bytes at `addr`, of which `data` is the initialized start."""
    name: str
    addr: int
    data: bytes
    size: int
    prot: str       # "r-x", "r--" or "rw-"

    @property
    def end(self) -> int:
        return self.addr + self.size


_CS: dict[str, capstone.Cs] = {}


def capstone_for(arch: str) -> capstone.Cs:
    cs = _CS.get(arch)
    if cs is None:
        if arch == "amd64":
            cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
        else:
            cs = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
        _CS[arch] = cs
    return cs


MARKER_PREFIX = "__"      # symbols that mark places for tools, not functions: symbol_at skips them


class Image:
    """An assembled link unit.

    :ivar str arch: "amd64" or "arm64".
    :ivar list segments: Segment, in address order.
    :ivar dict symbols: every non-local label -> address (definition order).
    :ivar dict constants: every .equ/.set/= constant -> value.
    :ivar list lines: SourceLine per instruction, by address.
    :ivar int start: lowest segment address; end: highest segment end.
    """

    def __init__(self, arch: str, segments: list[Segment], symbols: dict[str, int],
                 constants: dict[str, int], lines: list[SourceLine], base: int = 0):
        self.arch = arch
        self.segments = sorted(segments, key=lambda s: s.addr)
        prev_end = None
        for s in self.segments:
            assert s.addr % PAGE == 0 and s.size % PAGE == 0 and s.size >= len(s.data), s
            assert prev_end is None or s.addr >= prev_end, "Image: overlapping segments"
            prev_end = s.end
        self.symbols = dict(symbols)
        self.constants = dict(constants)
        self.lines = sorted(lines, key=lambda sl: sl.addr)
        self.start = self.segments[0].addr if self.segments else base
        self.end = self.segments[-1].end if self.segments else base
        self._line_addrs = [sl.addr for sl in self.lines]
        first: dict[int, str] = {}
        for name, addr in self.symbols.items():
            if name.startswith(MARKER_PREFIX):   # generated markers (e.g. __stackcheck_N_lo) name no code
                continue
            first.setdefault(addr, name)         # several names at one address: the first defined
        self._sym_addrs = sorted(first)
        self._sym_names = [first[a] for a in self._sym_addrs]

    def __repr__(self) -> str:
        segs = ", ".join(f"{s.name}@{s.addr:#x}+{s.size:#x}" for s in self.segments)
        return f"<Image {self.arch} [{segs}] {len(self.symbols)} symbols, {len(self.lines)} instructions>"

    def segment_at(self, addr: int) -> Segment | None:
        for s in self.segments:
            if s.addr <= addr < s.end:
                return s
        return None

    def read(self, addr: int, size: int) -> bytes:
        """Bytes of the image at [addr, addr+size) within one segment."""
        s = self.segment_at(addr)
        if s is None or addr + size > s.end:
            raise ValueError(f"read: {addr:#x}+{size} is not inside one segment")
        off = addr - s.addr
        chunk = s.data[off:off + size]
        return chunk + bytes(size - len(chunk))

    def symbol_at(self, addr: int) -> tuple[str, int] | None:
        """The nearest symbol at or below addr in addr's segment: (name, offset)."""
        seg = self.segment_at(addr)
        if seg is None:
            return None
        i = bisect.bisect_right(self._sym_addrs, addr) - 1
        if i < 0 or self._sym_addrs[i] < seg.addr:
            return None
        return self._sym_names[i], addr - self._sym_addrs[i]

    def line_at(self, addr: int) -> SourceLine | None:
        """The SourceLine of the instruction containing addr."""
        i = bisect.bisect_right(self._line_addrs, addr) - 1
        if i >= 0 and addr < self.lines[i].addr + self.lines[i].size:
            return self.lines[i]
        return None

    def addr_of(self, file, line: int) -> int | None:
        """Address of the first instruction of file:line (file: full name or basename)."""
        file = os.fspath(file)
        best = None
        for sl in self.lines:
            if sl.line == line and (sl.file == file or os.path.basename(sl.file) == file):
                if best is None or sl.addr < best:
                    best = sl.addr
        return best

    def disassemble(self, addr: int, count: int) -> list[str]:
        """`count` instructions from addr, as `0x400010 <sym+16> mov rax, 0x38    ; file.s:12`."""
        cs = capstone_for(self.arch)
        out: list[str] = []
        while len(out) < count:
            seg = self.segment_at(addr)
            if seg is None:
                break
            raw = self.read(addr, min(16, seg.end - addr))
            insn = next(cs.disasm(raw, addr, 1), None)
            if insn is None:
                step = 4 if self.arch == "arm64" else 1
                text, size = ".byte " + ", ".join(f"{b:#04x}" for b in raw[:step]), step
            else:
                text, size = f"{insn.mnemonic} {insn.op_str}".strip(), insn.size
            sym = self.symbol_at(addr)
            where = f" <{sym[0]}+{sym[1]}>" if sym else ""
            sl = self.line_at(addr)
            src = f"    ; {os.path.basename(sl.file)}:{sl.line}" if sl else ""
            out.append(f"{addr:#x}{where} {text}{src}")
            addr += size
        return out
