"""Channels of machine words (Go: chan.go makechan, chansend, chanrecv, closechan).

Design note
  1. An hchan is in guest memory: a ring buffer of `dataqsiz` words right after
     the header (as Go allocates it for pointer-free elements), qcount, sendx /
     recvx, wait queues of sudogs, closed, and a lock.
  2. Send: to a waiting receiver directly (copy into its elem, goready); else
     into the buffer if there is room; else block: a sudog whose elem is a slot
     on the sender's own stack, queued on sendq, gopark with the channel lock
     released by park_m only once the G is parked.  Receive mirrors it.
  3. A blocked G's value slot lives on its goroutine stack, 16 bytes below SP,
     reserved by moving SP down (and given back after the wakeup): the data a
     sudog points to is on the stack, exactly as in Go, so stack copying must
     relocate sudog.elem.
  4. close wakes every receiver (value 0, ok=false) and every sender (who then
     panics "send on closed channel", which Go treats as a fatal error here: no
     recover).
"""
from __future__ import annotations

from .layout import HCHAN
from .lock import lock, unlock
from .malloc import persistentalloc
from .park import gopark, goready
from .print import (panic_, waitReasonChanReceive, waitReasonChanReceiveNilChan, waitReasonChanSend,
                    waitReasonChanSendNilChan)
from .pycall import export
from .sudog import acquireSudog, dequeue, enqueue, releaseSudog
from .view import HchanView

MAXCAP = 1 << 24


_LOCK = HCHAN.offset("lock")


def _lock(c) -> int:
    return c.addr + _LOCK


def _slot(rt) -> int:
    """Reserve a 16-byte slot below SP on the current goroutine's stack."""
    rt.cpu.sp = rt.cpu.sp - 16
    return rt.cpu.sp


def _unslot(rt) -> None:
    rt.cpu.sp = rt.cpu.sp + 16


def chanparkcommit(rt, gp, lockaddr: int):
    gp.activeStackChans = 1
    gp.parkingOnChan = 0
    yield from unlock(rt, lockaddr)
    return True


@export("runtime.makechan", nresults=1)
def makechan(rt, size):
    """makechan(size) -> ch: a channel of words with a buffer of `size`."""
    if size >= 1 << 63 or size > MAXCAP:
        yield from panic_(rt, "makechan: size out of range")
    c = HchanView(rt.mem, (yield from persistentalloc(rt, HCHAN.size + 8 * size)))
    c.buf = c.addr + HCHAN.size
    c.dataqsiz = size
    c.elemsize = 8
    return c.addr


def _advance(c, x: int) -> int:
    x += 1
    return 0 if x == c.dataqsiz else x


@export("runtime.chansend")
def chansend(rt, caddr, v):
    """chansend(ch, word): send; blocks until a receiver or buffer space takes it."""
    mem = rt.mem
    if caddr == 0:
        yield from gopark(rt, None, 0, waitReasonChanSendNilChan)
        yield from panic_(rt, "unreachable")
    c = HchanView(mem, caddr)
    yield from lock(rt, _lock(c))
    if c.closed:
        yield from unlock(rt, _lock(c))
        yield from panic_(rt, "send on closed channel")
    sg = dequeue(rt, c.recvq)
    if sg:                                      # a receiver is waiting: hand it over
        if sg.elem:
            mem.write_u64(sg.elem, v)
        yield from _wake(rt, c, sg)
        return
    if c.qcount < c.dataqsiz:                   # room in the buffer
        mem.write_u64(c.buf + 8 * c.sendx, v)
        c.sendx = _advance(c, c.sendx)
        c.qcount = c.qcount + 1
        yield from unlock(rt, _lock(c))
        return
    # block on the channel
    gp = rt.getg()
    slot = _slot(rt)
    mem.write_u64(slot, v)
    mysg = yield from _enqueue_self(rt, c, gp, slot, c.sendq)
    yield from gopark(rt, chanparkcommit, _lock(c), waitReasonChanSend)
    closed = not mysg.success
    _finish(rt, mysg)
    if closed:
        yield from panic_(rt, "send on closed channel")


@export("runtime.chanrecv", nresults=2)
def chanrecv(rt, caddr):
    """chanrecv(ch) -> (word, ok): receive; ok is false once ch is closed and drained."""
    mem = rt.mem
    if caddr == 0:
        yield from gopark(rt, None, 0, waitReasonChanReceiveNilChan)
        yield from panic_(rt, "unreachable")
    c = HchanView(mem, caddr)
    yield from lock(rt, _lock(c))
    if c.closed and c.qcount == 0:
        yield from unlock(rt, _lock(c))
        return 0, 0
    sg = dequeue(rt, c.sendq)
    if sg:                                      # a sender is waiting
        if c.dataqsiz == 0:                     # unbuffered: take its value
            v = mem.read_u64(sg.elem)
        else:                                   # full buffer: take the head, the sender's value to the tail
            at = c.buf + 8 * c.recvx
            v = mem.read_u64(at)
            mem.write_u64(at, mem.read_u64(sg.elem))
            c.recvx = _advance(c, c.recvx)
            c.sendx = c.recvx
        yield from _wake(rt, c, sg)
        return v, 1
    if c.qcount > 0:                            # take from the buffer
        at = c.buf + 8 * c.recvx
        v = mem.read_u64(at)
        mem.write_u64(at, 0)
        c.recvx = _advance(c, c.recvx)
        c.qcount = c.qcount - 1
        yield from unlock(rt, _lock(c))
        return v, 1
    # block on the channel
    gp = rt.getg()
    slot = _slot(rt)
    mem.write_u64(slot, 0)
    mysg = yield from _enqueue_self(rt, c, gp, slot, c.recvq)
    yield from gopark(rt, chanparkcommit, _lock(c), waitReasonChanReceive)
    ok = mysg.success
    v = mem.read_u64(mysg.elem)
    _finish(rt, mysg)
    return v, ok


@export("runtime.closechan")
def closechan(rt, caddr):
    """closechan(ch): close; wakes every waiting receiver (ok=false) and sender (panics)."""
    mem = rt.mem
    if caddr == 0:
        yield from panic_(rt, "close of nil channel")
    c = HchanView(mem, caddr)
    yield from lock(rt, _lock(c))
    if c.closed:
        yield from unlock(rt, _lock(c))
        yield from panic_(rt, "close of closed channel")
    c.closed = 1
    glist = []
    for q in (c.recvq, c.sendq):
        while True:
            sg = dequeue(rt, q)
            if not sg:
                break
            if q.addr == c.recvq.addr and sg.elem:
                mem.write_u64(sg.elem, 0)
            sg.success = 0
            gp = rt.g(sg.g)
            gp.param = sg.addr
            glist.append(gp)
    yield from unlock(rt, _lock(c))
    for gp in glist:
        yield from goready(rt, gp)


def _enqueue_self(rt, c, gp, slot: int, q):
    mysg = yield from acquireSudog(rt)
    mysg.elem, mysg.g, mysg.c = slot, gp.addr, c.addr
    gp.waiting = mysg.addr
    gp.param = 0
    enqueue(rt, q, mysg)
    gp.parkingOnChan = 1
    return mysg


def _wake(rt, c, sg):
    """Complete a waiting sudog's operation: mark it, unlock, ready its G."""
    sg.success = 1
    gp = rt.g(sg.g)
    gp.param = sg.addr
    yield from unlock(rt, _lock(c))
    yield from goready(rt, gp)


def _finish(rt, mysg) -> None:
    """After the wakeup: forget the sudog and give the stack slot back."""
    gp = rt.getg()
    gp.waiting = 0
    gp.activeStackChans = 0
    gp.param = 0
    mysg.elem = mysg.g = mysg.c = 0
    releaseSudog(rt, mysg)
    _unslot(rt)
