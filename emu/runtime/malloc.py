"""Memory for the runtime's own structures (Go: malloc.go persistentalloc, stack.go
stackalloc) -- carved from chunks the OS gives through mmap.

Design note
  1. persistentalloc: a bump pointer (sched.persistent_next/_end) over 1 MiB
     chunks; never freed (Gs, Ms, Ps, sudogs and channels are recycled on free
     lists instead, as in Go).
  Goroutine stacks have their own allocator, with guard pages: stack.py.
"""
from __future__ import annotations

from .oslinux import sysAlloc

CHUNK = 1 << 20


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
