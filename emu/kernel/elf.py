"""Loading statically linked ELF executables: what execve does for one
(fs/binfmt_elf.c, load_elf_binary and create_elf_tables).

Design note
  1. Accepted: ELF64, little-endian, ET_EXEC, no PT_INTERP (statically linked:
     Go's CGO_ENABLED=0 binaries), e_machine EM_X86_64 (amd64) or EM_AARCH64
     (arm64).  Anything else is refused with the reason, before anything runs.
  2. Each PT_LOAD is mapped at its virtual address with its p_flags as the
     protection, from the page below p_vaddr to the page above p_vaddr+p_memsz:
     the file bytes are copied in, the rest (.bss) reads as zero.  A page two
     segments share gets the union of their protections (binfmt_elf maps the
     later segment over it; the union keeps both working).  p_align (64 KiB on
     arm64) only says how the file was laid out; pages here are 4 KiB, as on a
     4K-page arm64 kernel.
  3. The initial stack is exec.py's, with the auxiliary vector Linux gives a
     static binary, in Linux's order: AT_HWCAP, AT_PAGESZ, AT_CLKTCK, AT_PHDR,
     AT_PHENT, AT_PHNUM, AT_BASE (0: no interpreter), AT_FLAGS, AT_ENTRY,
     AT_UID/EUID/GID/EGID (0), AT_SECURE (0), AT_RANDOM (16 bytes from the
     seeded RNG), AT_HWCAP2 (arm64: 0), AT_EXECFN, AT_PLATFORM, AT_NULL.
     AT_HWCAP is emu/machine/idregs.py's (arm64: FP | ASIMD).  There is no vDSO
     (no AT_SYSINFO_EHDR), so Go calls clock_gettime through the kernel.
  4. The symbol table (.symtab, when the binary has one) makes crash reports
     name functions (`symbol_at`); stripped binaries report bare addresses.
  5. On amd64 every RDTSC / RDTSCP in an executable segment is handed to the
     machine to read the virtual clock (Machine.virtualize_timestamps).
Rejected: ET_DYN (static-pie and dynamic binaries: a load bias and, for the
latter, an interpreter); mapping the file lazily (the whole image is ~2 MB).
"""
from __future__ import annotations

import bisect
import io
from dataclasses import dataclass, field
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.common.exceptions import ELFError

from ..machine import idregs
from ..machine.memory import PAGE, PROT_EXEC, page_down, page_up, prot_str
from .exec import (AT_BASE, AT_CLKTCK, AT_EGID, AT_ENTRY, AT_EUID, AT_EXECFN, AT_FLAGS, AT_GID,
                   AT_HWCAP, AT_HWCAP2, AT_PAGESZ, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PLATFORM, AT_RANDOM,
                   AT_SECURE, AT_UID, RANDOM, exec_image)
from .task import Task

ELF_MAGIC = b"\x7fELF"
EM_X86_64, EM_AARCH64 = 62, 183
ARCH_OF_MACHINE = {EM_X86_64: "amd64", EM_AARCH64: "arm64"}
PF_X, PF_W, PF_R = 1, 2, 4

# Where an ELF process's memory lies (the machine's arena): from Linux's
# mmap_min_addr (64 KiB, where arm64 Go binaries start) up to 1 TiB, a sparse
# host reservation that costs nothing until touched.  Go's heap hints
# (0xc000000000 on amd64, 0x4000000000 on arm64) fall inside it, and the main
# stack sits at its top with the mmap area below (see emu/system.py).
ELF_ARENA_BASE = 0x10000
ELF_ARENA_LIMIT = 1 << 40


class ElfLoadError(ValueError):
    """The file is not an executable this kernel can load (the message says why)."""


def is_elf(path) -> bool:
    """True if the file starts with the ELF magic."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == ELF_MAGIC
    except OSError:
        return False


@dataclass
class Segment:
    """One page-aligned piece of the image, in the shape exec_image maps
    (name, addr, data, size, prot as "r-x")."""

    name: str
    addr: int
    data: bytes
    size: int
    prot: str


@dataclass
class ElfImage:
    """A loaded-to-be executable: see the module note.

    :ivar arch: "amd64" or "arm64" (from e_machine).
    :ivar segments: page-aligned pieces to map, in address order.
    :ivar symbols: name -> address of every function and object in .symtab.
    """

    path: str
    arch: str
    entry: int
    phdr: int
    phent: int
    phnum: int
    segments: list[Segment]
    symbols: dict[str, int] = field(default_factory=dict)
    _sym_addrs: list[int] = field(default_factory=list, repr=False)
    _sym_entries: list[tuple[int, int, str]] = field(default_factory=list, repr=False)

    @property
    def executable_ranges(self) -> list[tuple[int, int]]:
        return [(s.addr, s.addr + s.size) for s in self.segments if "x" in s.prot]

    def symbol_at(self, addr: int) -> tuple[str, int] | None:
        """(name, offset) of the symbol containing `addr`, or None."""
        i = bisect.bisect(self._sym_addrs, addr) - 1
        if i < 0:
            return None
        start, size, name = self._sym_entries[i]
        if size == 0 or addr < start + size:
            return name, addr - start
        return None

    def line_at(self, addr: int):
        """No line table is read (DWARF is not used): always None."""
        return None


def load_elf(source) -> ElfImage:
    """Read and check an executable (a path or its bytes); see the module note, 1."""
    if isinstance(source, (bytes, bytearray)):
        raw, path = bytes(source), "<bytes>"
    else:
        path = str(source)
        try:
            raw = Path(source).read_bytes()
        except OSError as e:
            raise ElfLoadError(f"{path}: {e.strerror}") from None
    if raw[:4] != ELF_MAGIC:
        raise ElfLoadError(f"{path}: not an ELF file")
    try:
        elf = ELFFile(io.BytesIO(raw))
        return _image(elf, raw, path)
    except ELFError as e:
        raise ElfLoadError(f"{path}: malformed ELF file ({e})") from None


def _image(elf: ELFFile, raw: bytes, path: str) -> ElfImage:
    h = elf.header
    if elf.elfclass != 64 or not elf.little_endian:
        raise ElfLoadError(f"{path}: only 64-bit little-endian executables are supported")
    machine = elf["e_machine"]
    machines = {"EM_X86_64": EM_X86_64, "EM_AARCH64": EM_AARCH64}
    arch = ARCH_OF_MACHINE.get(machines.get(machine, machine))
    if arch is None:
        raise ElfLoadError(f"{path}: e_machine {machine} is neither x86-64 nor AArch64")
    for seg in elf.iter_segments():
        if seg["p_type"] == "PT_INTERP":
            raise ElfLoadError(f"{path}: dynamically linked (interpreter {seg.get_interp_name()}): "
                               "only static executables run here (for Go: CGO_ENABLED=0)")
    if h["e_type"] != "ET_EXEC":
        raise ElfLoadError(f"{path}: e_type {h['e_type']}: only statically linked executables (ET_EXEC) "
                           "are supported (for Go: CGO_ENABLED=0, no -buildmode=pie)")
    loads, phdr = [], None
    for seg in elf.iter_segments():
        kind = seg["p_type"]
        if kind == "PT_PHDR":
            phdr = seg["p_vaddr"]
        if kind == "PT_LOAD" and seg["p_memsz"]:
            loads.append(seg)
    if not loads:
        raise ElfLoadError(f"{path}: no PT_LOAD segment")
    if phdr is None:           # the headers' address: inside the PT_LOAD that maps file offset e_phoff
        for seg in loads:
            if seg["p_offset"] <= h["e_phoff"] < seg["p_offset"] + seg["p_filesz"]:
                phdr = seg["p_vaddr"] + h["e_phoff"] - seg["p_offset"]
                break
    image = ElfImage(path, arch, h["e_entry"], phdr or 0, h["e_phentsize"], h["e_phnum"],
                     _segments(loads, raw, path))
    _read_symbols(elf, image)
    return image


def _segments(loads, raw: bytes, path: str) -> list[Segment]:
    """Page-aligned pieces of the PT_LOADs; a page shared by two gets both protections."""
    name = Path(path).name
    pages: dict[int, int] = {}         # page -> protection bits
    for seg in loads:
        lo, hi = page_down(seg["p_vaddr"]), page_up(seg["p_vaddr"] + seg["p_memsz"])
        if seg["p_filesz"] > seg["p_memsz"] or seg["p_offset"] + seg["p_filesz"] > len(raw):
            raise ElfLoadError(f"{path}: PT_LOAD at {seg['p_vaddr']:#x} has a bad size or offset")
        prot = (1 if seg["p_flags"] & PF_R else 0) | (2 if seg["p_flags"] & PF_W else 0) | \
               (PROT_EXEC if seg["p_flags"] & PF_X else 0)
        for p in range(lo, hi, PAGE):
            pages[p] = pages.get(p, 0) | prot
    # runs of contiguous pages with one protection
    runs: list[list[int]] = []
    for p in sorted(pages):
        if runs and runs[-1][1] == p and runs[-1][2] == pages[p]:
            runs[-1][1] = p + PAGE
        else:
            runs.append([p, p + PAGE, pages[p]])
    out = []
    for lo, hi, prot in runs:
        data = bytearray(hi - lo)
        for seg in loads:
            v, n, off = seg["p_vaddr"], seg["p_filesz"], seg["p_offset"]
            a, b = max(v, lo), min(v + n, hi)
            if a < b:
                data[a - lo:b - lo] = raw[off + (a - v):off + (b - v)]
        out.append(Segment(f"{name} {prot_str(prot)}", lo, bytes(data.rstrip(b"\0")), hi - lo, prot_str(prot)))
    return out


def _read_symbols(elf: ELFFile, image: ElfImage) -> None:
    tab = elf.get_section_by_name(".symtab")
    if tab is None:
        return
    entries = []
    for sym in tab.iter_symbols():
        if sym["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT") and sym.name and sym["st_value"]:
            image.symbols.setdefault(sym.name, sym["st_value"])
            if sym["st_info"]["type"] == "STT_FUNC":
                entries.append((sym["st_value"], sym["st_size"], sym.name))
    entries.sort()
    image._sym_entries = entries
    image._sym_addrs = [e[0] for e in entries]


def exec_elf(k, image: ElfImage, argv=("prog",), envp=()) -> Task:
    """Map `image` into the process and start its main thread at the entry point;
    returns the main task (see the module note)."""
    if image.arch != k.isa.name:
        raise ElfLoadError(f"{image.path} is an {image.arch} executable; this machine is {k.isa.name}")
    for seg in image.segments:
        if not (k.mem.base <= seg.addr and seg.addr + seg.size <= k.mem.limit):
            raise ElfLoadError(f"{image.path}: segment {seg.addr:#x}-{seg.addr + seg.size:#x} lies outside "
                               f"the machine's memory {k.mem.base:#x}-{k.mem.limit:#x}")
    arch = image.arch
    execfn = argv[0] if argv else image.path
    auxv = [(AT_HWCAP, idregs.HWCAP[arch]), (AT_PAGESZ, PAGE), (AT_CLKTCK, 100),
            (AT_PHDR, image.phdr), (AT_PHENT, image.phent), (AT_PHNUM, image.phnum),
            (AT_BASE, 0), (AT_FLAGS, 0), (AT_ENTRY, image.entry),
            (AT_UID, 0), (AT_EUID, 0), (AT_GID, 0), (AT_EGID, 0), (AT_SECURE, 0),
            (AT_RANDOM, RANDOM)]
    if arch == "arm64":
        auxv.append((AT_HWCAP2, 0))
    auxv += [(AT_EXECFN, execfn), (AT_PLATFORM, idregs.PLATFORM[arch])]
    task = exec_image(k, image, image.entry, argv=argv, envp=envp, auxv=auxv)
    for lo, hi in image.executable_ranges:
        k.machine.virtualize_timestamps(lo, hi)
    return task
