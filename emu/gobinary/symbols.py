"""A Go binary's symbols and source lines, in the shape the tools already read
(the teaching assembler's Image: `symbols`, `symbol_at`, `line_at`, `lines`, `arch`).

Design note
  1. Names come from the ELF `.symtab` (Go's linker writes one unless -s).  Go's
     linker suffixes an assembly function's ABI0 symbol with `.abi0`
     (runtime.gogo.abi0) and, for a Go function called from assembly, adds an
     ABI0 *wrapper* beside the ABIInternal body (runtime.asyncPreempt2 and
     runtime.asyncPreempt2.abi0).  Normalised: a `.abi0` name is shown and
     looked up without its suffix unless an ABIInternal symbol of the same name
     exists (then it is that function's wrapper and keeps the suffix, so the
     two are never confused).  Both spellings resolve (`addr_of`).
  2. `symbol_at` finds the function containing an address by bisection over the
     STT_FUNC symbols and their sizes (local ones too: `gogo<>` is `gogo`).
  3. Source lines come from DWARF `.debug_line` (pyelftools), read on the first
     `line_at` and kept: every row (address, file, line), the file as
     "<package dir>/<file>" (runtime/proc.go).  A row covers the addresses up to
     the next row.  The source text is read from $GOROOT/src when that file is
     there (golang-go installs it), else it is empty.
  4. `lines` is empty: Go's line table has no per-instruction rows, so the
     disassembly view finds instruction boundaries by decoding from the
     function's start instead (emu/views/disasm.py).
Rejected: .gopclntab (Go's own table; it would need a decoder per Go version,
while .symtab and DWARF are standard and pyelftools reads them); keeping
`.abi0` everywhere (every breakpoint on an assembly function would need it).
"""
from __future__ import annotations

import bisect
import os
import subprocess
from dataclasses import dataclass
from functools import lru_cache

ABI0 = ".abi0"


@dataclass(frozen=True)
class GoLine:
    """One source line, as the tools read it (the teaching Image's SourceLine shape)."""

    file: str       # "runtime/proc.go"
    line: int
    text: str       # the source line, stripped ("" when the source is not here)
    addr: int       # the first address of this row of the line table
    size: int       # bytes up to the next row


def normalise(name: str, plain: set[str]) -> str:
    """`runtime.gogo.abi0` -> `runtime.gogo` unless `runtime.gogo` itself is in `plain`."""
    if name.endswith(ABI0):
        base = name[: -len(ABI0)]
        if base not in plain:
            return base
    return name


class GoSymbols:
    """The symbols and lines of one statically linked Go executable (module note).

    :ivar symbols: name -> address, normalised names and the raw `.abi0` ones.
    :ivar functions: (start, size, name) of every function, sorted by address.
    """

    def __init__(self, elf, arch: str, path: str = "<bytes>"):
        self.arch, self.path = arch, path
        self._elf = elf
        self.symbols: dict[str, int] = {}
        self.sizes: dict[str, int] = {}
        self.lines: list = []
        tab = elf.get_section_by_name(".symtab")
        raw = []
        if tab is not None:
            for sym in tab.iter_symbols():
                kind = sym["st_info"]["type"]
                if kind in ("STT_FUNC", "STT_OBJECT") and sym.name and sym["st_value"]:
                    raw.append((sym.name, sym["st_value"], sym["st_size"], kind))
        plain = {n for n, *_ in raw if not n.endswith(ABI0)}
        funcs = []
        for name, addr, size, kind in raw:
            shown = normalise(name, plain)
            self.symbols.setdefault(shown, addr)
            self.symbols.setdefault(name, addr)
            self.sizes.setdefault(shown, size)
            if kind == "STT_FUNC":
                funcs.append((addr, size, shown))
        funcs.sort()
        self.functions = funcs
        self._starts = [f[0] for f in funcs]
        self.end = max((a + s for a, s, _ in funcs), default=0)
        self._rows: list[tuple[int, str, int]] | None = None
        self._row_addrs: list[int] = []

    # ---- symbols -------------------------------------------------------------------
    def addr_of(self, name: str) -> int:
        """The address of `name` (either spelling of an ABI0 symbol); KeyError if none."""
        if name in self.symbols:
            return self.symbols[name]
        raise KeyError(f"no symbol {name!r} in {os.path.basename(self.path)}")

    def symbol_at(self, addr: int) -> tuple[str, int] | None:
        """(name, offset) of the function containing `addr`, or None."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i < 0:
            return None
        start, size, name = self.functions[i]
        if addr < start + max(size, 1):
            return name, addr - start
        return None

    def function(self, name: str) -> tuple[int, int]:
        """(start, end) of the function `name`."""
        start = self.addr_of(name)
        sym = self.symbol_at(start)
        size = next(s for a, s, n in self.functions if a == start and n == sym[0])
        return start, start + size

    # ---- lines ---------------------------------------------------------------------
    def _load_lines(self) -> None:
        rows: dict[int, tuple[str, int]] = {}
        if self._elf.has_dwarf_info():
            dwarf = self._elf.get_dwarf_info()
            for cu in dwarf.iter_CUs():
                prog = dwarf.line_program_for_CU(cu)
                if prog is None:
                    continue
                files, dirs = prog["file_entry"], prog["include_directory"]
                names = {}
                for entry in prog.get_entries():
                    st = entry.state
                    if st is None or st.end_sequence:
                        continue
                    name = names.get(st.file)
                    if name is None:
                        fe = files[st.file - 1]
                        d = dirs[fe.dir_index - 1].decode() if fe.dir_index and dirs else ""
                        name = names[st.file] = f"{d}/{fe.name.decode()}" if d else fe.name.decode()
                    rows.setdefault(st.address, (name, st.line))
        self._rows = sorted((a, f, n) for a, (f, n) in rows.items())
        self._row_addrs = [r[0] for r in self._rows]

    def line_at(self, addr: int) -> GoLine | None:
        """The source line of the instruction at `addr` (DWARF .debug_line), or None."""
        if self._rows is None:
            self._load_lines()
        i = bisect.bisect_right(self._row_addrs, addr) - 1
        if i < 0 or self.symbol_at(addr) is None:
            return None
        a, file, line = self._rows[i]
        nxt = self._row_addrs[i + 1] if i + 1 < len(self._rows) else a + 1
        return GoLine(file, line, source_line(file, line), a, nxt - a)

    def addrs_of_line(self, file: str, line: int) -> list[int]:
        """Addresses of the rows for `file`:`line` (`file` may be a base name)."""
        if self._rows is None:
            self._load_lines()
        return [a for a, f, n in self._rows
                if n == line and (f == file or os.path.basename(f) == file)]


@lru_cache(maxsize=None)
def goroot() -> str | None:
    """$GOROOT of the `go` on PATH (None without one)."""
    env = os.environ.get("GOROOT")
    if env:
        return env
    try:
        out = subprocess.run(["go", "env", "GOROOT"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@lru_cache(maxsize=256)
def _source_file(file: str) -> tuple[str, ...]:
    root = goroot()
    if not root:
        return ()
    path = os.path.join(root, "src", file)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return tuple(f.read().splitlines())
    except OSError:
        return ()


def source_line(file: str, line: int) -> str:
    """Line `line` of a Go source file of the standard library, stripped ("" if absent)."""
    text = _source_file(file)
    return text[line - 1].strip() if 0 < line <= len(text) else ""
