"""mmap, munmap, mprotect, madvise, brk for anonymous memory (mm/mmap.c, mm/mprotect.c).

Design note
  1. The machine's region map (emu/machine/memory.py) is the one record of what
     is mapped; these handlers only check Linux's rules and call it.
  2. Placement without MAP_FIXED is top-down below the main stack, as Linux's
     default layout; a hint is used when its range is free anywhere in the
     machine's memory (Go's heap hints, 0xc000000000 on amd64 and
     0x4000000000 on arm64, lie far above the mmap area: the ELF machine's
     memory is a sparse terabyte, see emu/kernel/elf.py).  MAP_FIXED replaces
     whatever is there; MAP_FIXED_NOREPLACE fails with -EEXIST instead.
  3. New anonymous memory reads as zero; the host pages are only committed when
     touched, so a large PROT_NONE reservation costs nothing.
Only anonymous mappings exist (no files are mappable yet): a file mapping is -ENODEV.
"""
from __future__ import annotations

from ..machine.memory import PAGE, MemoryError_, page_up
from .errno import EEXIST, EINVAL, ENODEV, ENOMEM, EBADF, fail
from .syscalls import syscall

PROT_MASK = 0x7
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x01, 0x02, 0x10, 0x20
MAP_NORESERVE, MAP_FIXED_NOREPLACE = 0x4000, 0x100000
MAP_GROWSDOWN, MAP_DENYWRITE, MAP_EXECUTABLE, MAP_LOCKED, MAP_POPULATE, MAP_NONBLOCK, MAP_STACK = (
    0x100, 0x800, 0x1000, 0x2000, 0x8000, 0x10000, 0x20000)
MADV_DONTNEED, MADV_FREE = 4, 8


@syscall
def sys_mmap(k, t, addr, length, prot, flags, fd, offset):
    kind = flags & 0x3
    if kind not in (MAP_SHARED, MAP_PRIVATE) or length == 0 or prot & ~PROT_MASK:
        return fail(EINVAL)
    if not flags & MAP_ANONYMOUS:
        return fail(EBADF) if fd >= 1 << 31 else fail(ENODEV)
    if offset % PAGE:
        return fail(EINVAL)
    size = page_up(length)
    if size >= 1 << 47:
        return fail(ENOMEM)
    fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)
    if fixed:
        if addr % PAGE:
            return fail(EINVAL)
        if not k.mem.base <= addr <= k.mem.limit - size:
            return fail(ENOMEM)
        if flags & MAP_FIXED_NOREPLACE and not flags & MAP_FIXED and k.mem.overlapping(addr, addr + size):
            return fail(EEXIST)
        k.mem.unmap(addr, size)
        start = addr
    else:
        start = _place(k, addr, size)
        if start is None:
            return fail(ENOMEM)
    k.mem.map(start, size, prot, "mmap")
    return start


def _place(k, hint: int, size: int) -> int | None:
    """get_unmapped_area: the hint (rounded up to a page) wherever it is free in the
    machine's memory, else the highest free range of the mmap area."""
    hint = page_up(hint)
    if hint and k.mem.base <= hint and hint + size <= k.mem.limit and not k.mem.overlapping(hint, hint + size):
        return hint
    return k.mem.free_range(size, k.mmap_min, k.mmap_top)


@syscall
def sys_munmap(k, t, addr, length):
    if addr % PAGE or length == 0:
        return fail(EINVAL)
    size = page_up(length)
    end = min(addr + size, k.mem.limit)
    start = max(addr, k.mem.base)
    if start < end:
        k.mem.unmap(start, end - start)
    return 0


@syscall
def sys_mprotect(k, t, addr, length, prot):
    if addr % PAGE or prot & ~PROT_MASK:
        return fail(EINVAL)
    size = page_up(length)
    if size == 0:
        return 0
    if not k.mem.fully_mapped(addr, addr + size):
        return fail(ENOMEM)
    try:
        k.mem.protect(addr, size, prot)
    except MemoryError_:
        return fail(ENOMEM)
    return 0


@syscall
def sys_madvise(k, t, addr, length, advice):
    if addr % PAGE:
        return fail(EINVAL)
    size = page_up(length)
    if size and not k.mem.fully_mapped(addr, addr + size):
        return fail(ENOMEM)
    if advice in (MADV_DONTNEED, MADV_FREE) and size:
        k.mem.discard(addr, size)       # anonymous private pages read as zero again
    return 0


@syscall
def sys_brk(k, t, addr):
    """No heap segment: report the current break (0), as a kernel that refuses to grow it."""
    return 0
