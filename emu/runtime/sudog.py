"""sudogs and wait queues (Go: runtime2.go sudog, proc.go acquireSudog/releaseSudog,
chan.go waitq).

A sudog is a G waiting on a channel: which G, and where its data element is
(`elem` points into that G's stack, so copystack must adjust it).  Free sudogs
are recycled through sched.sudogcache.
"""
from __future__ import annotations

from .layout import SUDOG
from .malloc import persistentalloc
from .view import SudogView, Waitq


def acquireSudog(rt):
    """A zeroed sudog (generator: it may allocate)."""
    s = rt.sched
    if s.sudogcache:
        sg = SudogView(rt.mem, s.sudogcache)
        s.sudogcache = sg.next
        sg.zero()
        return sg
    return SudogView(rt.mem, (yield from persistentalloc(rt, SUDOG.size)))


def releaseSudog(rt, sg) -> None:
    if sg.elem or sg.next or sg.prev or sg.waitlink:
        raise AssertionError("releaseSudog: sudog still in use")
    s = rt.sched
    sg.zero()
    sg.next = s.sudogcache
    s.sudogcache = sg.addr


def enqueue(rt, q: Waitq, sg) -> None:
    sg.next = 0
    if q.last:
        sg.prev = q.last
        SudogView(rt.mem, q.last).next = sg.addr
    else:
        sg.prev = 0
        q.first = sg.addr
    q.last = sg.addr


def dequeue(rt, q: Waitq):
    """The first sudog of q, unlinked; None if q is empty."""
    if not q.first:
        return None
    sg = SudogView(rt.mem, q.first)
    q.first = sg.next
    if sg.next:
        SudogView(rt.mem, sg.next).prev = 0
    else:
        q.last = 0
    sg.next = sg.prev = 0
    return sg
