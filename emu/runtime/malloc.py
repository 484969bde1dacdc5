"""Memory for the runtime's own structures (Go: malloc.go persistentalloc, stack.go
stackalloc) -- carved from chunks the OS gives through mmap.

Design note
  1. persistentalloc: a bump pointer (sched.persistent_next/_end) over 1 MiB
     chunks; never freed (Gs, Ms, Ps, sudogs and channels are recycled on free
     lists instead, as in Go).
  2. stackalloc: fixed-size stacks (FIXED_STACK) carved 64 at a time from one
     mmap, recycled through a free list linked by the first word of each free
     stack (sched.stackpool).  One mapping per 64 stacks keeps the number of
     memory regions (and Unicorn's work) small with 10,000 goroutines.
Stack growth (guard pages, newstack, copystack) comes with the stacks issue.
"""
from __future__ import annotations

from .layout import FIXED_STACK
from .oslinux import sysAlloc

CHUNK = 1 << 20
STACKS_PER_CHUNK = 64


def persistentalloc(rt, size: int, align: int = 16):
    """`size` zeroed bytes that are never freed (generator)."""
    s = rt.sched
    p = (s.persistent_next + align - 1) & ~(align - 1)
    if p + size > s.persistent_end or not s.persistent_next:
        n = max(CHUNK, (size + 4095) & ~4095)
        p = yield from sysAlloc(rt, n)
        s.persistent_end = p + n
    s.persistent_next = p + size
    return p


def stackalloc(rt, n: int = FIXED_STACK):
    """A stack of n bytes; returns its lo (generator).  FIXED_STACK stacks come from
    the pool; other sizes (g0 stacks) get a mapping of their own."""
    if n != FIXED_STACK:
        return (yield from sysAlloc(rt, n))
    s = rt.sched
    if not s.stackpool:
        chunk = yield from sysAlloc(rt, n * STACKS_PER_CHUNK)
        for i in reversed(range(STACKS_PER_CHUNK)):
            lo = chunk + i * n
            rt.mem.write_u64(lo, s.stackpool)
            s.stackpool = lo
    lo = s.stackpool
    s.stackpool = rt.mem.read_u64(lo)
    rt.mem.write_u64(lo, 0)
    return lo


def stackfree(rt, lo: int) -> None:
    """Return a FIXED_STACK stack to the pool."""
    s = rt.sched
    rt.mem.write_u64(lo, s.stackpool)
    s.stackpool = lo
