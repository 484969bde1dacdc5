"""Physical memory: one host buffer, mapped at the same guest addresses into every CPU.

Design note
  1. A single anonymous host mapping (the "arena") backs a contiguous range of guest
     addresses.  The OS commits its pages only when touched, so a large arena costs
     nothing until used; `discard` hands pages back (MADV_DONTNEED) and they read
     as zero again, which is exactly what a fresh anonymous mapping must look like.
     The mapping is MAP_NORESERVE, so even an arena far larger than the host's
     memory (the terabyte a real Go binary runs in, emu/kernel/elf.py) is only
     address space: host memory is what the guest touched (~110 MB for the
     largest Go fixture), not what it reserved.
  2. Guest mappings are named regions (text, data, stack, guard, mmap ...), kept in
     a sorted list that is the one source of truth for what is mapped and with
     which protection.  Every change is applied to every attached CPU with
     `mem_map_ptr` on the same host bytes, so all CPUs see each store at once:
     that is what makes `lock xadd` / `ldaxr`-`stlxr` atomics across CPUs real.
  3. Python reads and writes guest memory through a memoryview of the arena
     (~0.1 us for 8 bytes) instead of `uc.mem_read` (~6 us).
Rejected: one `mem_map` per CPU with copying (CPUs would not share stores); a host
buffer per region (no single view, and a region split by mprotect would have to
be re-backed).
"""
from __future__ import annotations

import bisect
import ctypes
import gc
import mmap
import struct
import sys
from dataclasses import dataclass

PAGE = 4096
# Linux's MAP_NORESERVE (Python's mmap module only names it from 3.13?): no swap is
# reserved, so an arena of a terabyte costs nothing until its pages are touched.
MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000 if sys.platform.startswith("linux") else 0)

PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC = 0, 1, 2, 4

_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")


def page_down(x: int) -> int:
    return x & ~(PAGE - 1)


def page_up(x: int) -> int:
    return (x + PAGE - 1) & ~(PAGE - 1)


def prot_str(prot: int) -> str:
    return "".join(c if prot & b else "-" for c, b in (("r", PROT_READ), ("w", PROT_WRITE), ("x", PROT_EXEC)))


def parse_prot(text: str) -> int:
    """``"r-x"`` -> PROT_READ | PROT_EXEC."""
    return sum(b for c, b in (("r", PROT_READ), ("w", PROT_WRITE), ("x", PROT_EXEC)) if c in text)


def _reserve(size: int) -> mmap.mmap:
    """The host mapping behind an arena.  An arena is unmapped only when its Memory is
    garbage collected (machines are full of reference cycles), so when the host's
    address space is used up by dead ones, collect them and try once more."""
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE
    try:
        return mmap.mmap(-1, size, flags=flags)
    except OSError:
        gc.collect()
    try:
        return mmap.mmap(-1, size, flags=flags)
    except OSError as e:
        raise MemoryError_(f"Memory: cannot reserve a {size / 2**30:.1f} GiB arena on the host ({e}); "
                           "a limit on address space (ulimit -v) or vm.overcommit_memory=2 refuses it") from None


class MemoryError_(Exception):
    """A mapping request the hardware cannot satisfy (outside the arena, misaligned)."""


class GuestFault(Exception):
    """A Python-side access to guest memory that the guest itself could not make.

    The kernel turns it into -EFAULT; it never escapes to the user.
    """

    def __init__(self, addr: int, size: int, write: bool):
        super().__init__(f"{'write' if write else 'read'} of {size} bytes at {addr:#x}")
        self.addr, self.size, self.write = addr, size, write


@dataclass
class Region:
    """A mapped guest range [start, end) with one protection and a name."""

    start: int
    end: int
    prot: int
    name: str

    @property
    def size(self) -> int:
        return self.end - self.start

    def __repr__(self) -> str:
        return f"Region({self.start:#x}-{self.end:#x} {prot_str(self.prot)} {self.name})"


class Memory:
    """The shared guest memory of one machine.  See the module note."""

    def __init__(self, base: int, size: int):
        if base % PAGE or size % PAGE or size <= 0:
            raise MemoryError_(f"Memory: arena {base:#x}+{size:#x} must be page aligned")
        self.base, self.size, self.limit = base, size, base + size
        self._buf = _reserve(size)
        self._host = ctypes.addressof(ctypes.c_char.from_buffer(self._buf))
        self.view = memoryview(self._buf)
        self.regions: list[Region] = []          # sorted by start, never overlapping
        self._starts: list[int] = []
        self._cpus: list = []                    # attached unicorn.Uc instances
        # Python-side watchpoints (emu/debug.py): (lo, hi, fn(addr, size, value)) called
        # before a write by the kernel or the Python runtime lands in [lo, hi)
        self.watches: list[tuple[int, int, object]] = []

    # ---- CPUs --------------------------------------------------------------------
    def attach(self, uc) -> None:
        """Map every current region into a new CPU."""
        for r in self.regions:
            self._map_into(uc, r)
        self._cpus.append(uc)

    def detach(self, uc) -> None:
        self._cpus.remove(uc)

    def _map_into(self, uc, r: Region) -> None:
        uc.mem_map_ptr(r.start, r.size, r.prot, self._host + (r.start - self.base))

    # ---- mapping -----------------------------------------------------------------
    def _check_range(self, start: int, size: int, who: str) -> None:
        if start % PAGE or size % PAGE or size <= 0:
            raise MemoryError_(f"{who}: range {start:#x}+{size:#x} is not page aligned")
        if start < self.base or start + size > self.limit:
            raise MemoryError_(f"{who}: range {start:#x}+{size:#x} is outside the arena "
                               f"{self.base:#x}-{self.limit:#x}")

    def map(self, start: int, size: int, prot: int, name: str, *, zero: bool = True) -> Region:
        """Map [start, start+size) in every CPU.  The range must be free."""
        self._check_range(start, size, "Memory.map")
        if self.overlapping(start, start + size):
            raise MemoryError_(f"Memory.map: {start:#x}+{size:#x} overlaps {self.overlapping(start, start + size)[0]}")
        if zero:
            self.discard(start, size)
        r = Region(start, start + size, prot, name)
        i = bisect.bisect(self._starts, start)
        self.regions.insert(i, r)
        self._starts.insert(i, start)
        for uc in self._cpus:
            self._map_into(uc, r)
        return r

    def unmap(self, start: int, size: int) -> None:
        """Unmap whatever is mapped in [start, start+size) (holes are fine)."""
        self._check_range(start, size, "Memory.unmap")
        end = start + size
        for r in self._split(start, end):
            self._remove(r)
        self.discard(start, size)

    def protect(self, start: int, size: int, prot: int) -> None:
        """Change the protection of [start, start+size), which must be fully mapped."""
        self._check_range(start, size, "Memory.protect")
        if not self.fully_mapped(start, start + size):
            raise MemoryError_(f"Memory.protect: {start:#x}+{size:#x} is not fully mapped")
        for r in self._split(start, start + size):
            r.prot = prot
            for uc in self._cpus:
                uc.mem_protect(r.start, r.size, prot)

    def rename(self, start: int, end: int, name: str) -> None:
        for r in self._split(start, end):
            r.name = name

    def _remove(self, r: Region) -> None:
        i = self.regions.index(r)
        del self.regions[i]
        del self._starts[i]
        for uc in self._cpus:
            uc.mem_unmap(r.start, r.size)

    def _split(self, start: int, end: int) -> list[Region]:
        """Split regions at `start` and `end`; return those inside [start, end)."""
        for cut in (start, end):
            r = self.find(cut)
            if r and r.start < cut:
                lo, hi = Region(r.start, cut, r.prot, r.name), Region(cut, r.end, r.prot, r.name)
                i = self.regions.index(r)
                self.regions[i:i + 1] = [lo, hi]
                self._starts[i:i + 1] = [lo.start, hi.start]
                # Unicorn splits its own region when we unmap and remap the halves.
                for uc in self._cpus:
                    uc.mem_unmap(r.start, r.size)
                    self._map_into(uc, lo)
                    self._map_into(uc, hi)
        return self.overlapping(start, end)

    def discard(self, start: int, size: int) -> None:
        """Give the host pages of [start, start+size) back; they read as zero after."""
        off = start - self.base
        self._buf.madvise(mmap.MADV_DONTNEED, off, size)

    # ---- queries -----------------------------------------------------------------
    def find(self, addr: int) -> Region | None:
        i = bisect.bisect(self._starts, addr) - 1
        if i >= 0 and addr < self.regions[i].end:
            return self.regions[i]
        return None

    def overlapping(self, start: int, end: int) -> list[Region]:
        i = max(bisect.bisect(self._starts, start) - 1, 0)
        out = []
        for r in self.regions[i:]:
            if r.start >= end:
                break
            if r.end > start:
                out.append(r)
        return out

    def fully_mapped(self, start: int, end: int) -> bool:
        at = start
        for r in self.overlapping(start, end):
            if r.start > at:
                return False
            at = r.end
        return at >= end

    def free_range(self, size: int, lo: int, hi: int) -> int | None:
        """Highest page-aligned start of `size` free bytes within [lo, hi) (top-down, as Linux)."""
        top = hi
        for r in reversed(self.overlapping(lo, hi)):
            if top - r.end >= size and r.end >= lo:
                return top - size
            top = min(top, r.start)
        return top - size if top - size >= lo else None

    def accessible(self, addr: int, size: int, prot: int) -> bool:
        """True when the guest could access [addr, addr+size) with `prot`."""
        if size <= 0:
            return size == 0
        at, end = addr, addr + size
        while at < end:
            r = self.find(at)
            if r is None or (r.prot & prot) != prot:
                return False
            at = r.end
        return True

    # ---- Python-side access (the kernel's copy_from_user / copy_to_user) -----------
    def _off(self, addr: int, size: int) -> int:
        off = addr - self.base
        if off < 0 or off + size > self.size:
            raise GuestFault(addr, size, False)
        return off

    def read(self, addr: int, size: int) -> bytes:
        """Raw read, no permission check (the hardware's view)."""
        off = self._off(addr, size)
        return bytes(self.view[off:off + size])

    def write(self, addr: int, data: bytes) -> None:
        """Raw write, no permission check (the hardware's view)."""
        off = self._off(addr, len(data))
        if self.watches:
            self.note_write(addr, len(data), int.from_bytes(data[:8], "little"))
        self.view[off:off + len(data)] = data

    def note_write(self, addr: int, size: int, value: int) -> None:
        """Tell the Python-side watchpoints that [addr, addr+size) is about to be written."""
        for lo, hi, fn in self.watches:
            if addr < hi and lo < addr + size:
                fn(addr, size, value)

    def read_u64(self, addr: int) -> int:
        return _U64.unpack_from(self._buf, self._off(addr, 8))[0]

    def write_u64(self, addr: int, value: int) -> None:
        if self.watches:
            self.note_write(addr, 8, value)
        _U64.pack_into(self._buf, self._off(addr, 8), value & 0xFFFF_FFFF_FFFF_FFFF)

    def read_u32(self, addr: int) -> int:
        return _U32.unpack_from(self._buf, self._off(addr, 4))[0]

    def write_u32(self, addr: int, value: int) -> None:
        if self.watches:
            self.note_write(addr, 4, value)
        _U32.pack_into(self._buf, self._off(addr, 4), value & 0xFFFF_FFFF)

    def copy_from_user(self, addr: int, size: int) -> bytes:
        """Read as the guest would (needs PROT_READ); GuestFault otherwise."""
        if not self.accessible(addr, size, PROT_READ):
            raise GuestFault(addr, size, False)
        return self.read(addr, size)

    def copy_to_user(self, addr: int, data: bytes) -> None:
        """Write as the guest would (needs PROT_WRITE); GuestFault otherwise."""
        if not self.accessible(addr, len(data), PROT_WRITE):
            raise GuestFault(addr, len(data), True)
        self.write(addr, data)

    def read_cstring(self, addr: int, limit: int = 4096) -> bytes:
        out = bytearray()
        while len(out) < limit:
            b = self.copy_from_user(addr + len(out), 1)
            if b == b"\0":
                break
            out += b
        return bytes(out)

    def close(self) -> None:
        """Forget the attached CPUs.  The arena itself is freed with this object
        (ctypes holds an export of it, so it cannot be closed explicitly)."""
        self._cpus.clear()
