"""Exercise `epoll`: the ready list -- level-triggered, edge-triggered, one-shot
(Linux: fs/eventpoll.c, ep_poll_callback and ep_send_events).

Write the two functions marked TODO.  The grader installs them as
emu.kernel.epoll.EpItem.wake and Epoll.send_events, so `epi` and `ep` are the
kernel's own objects (read emu/kernel/epoll.py for the rest of epoll: epoll_ctl,
the wait loop ep_poll, and insert/modify, which put an already-ready item on the
ready list).  The helpers below are given.  README.md explains the contract; grade
with

    gosched-emu grade epoll --solution DIR      (DIR holds your copy of this file)

What you work with:
  epi.ep        the Epoll the item belongs to
  epi.events    the interest mask (EPOLLIN, EPOLLOUT, ... plus the private bits
                EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE, EPOLLWAKEUP); always
                includes EPOLLERR | EPOLLHUP
  epi.data      the 64-bit data word, reported verbatim
  epi.linked    whether the item is on ep.rdllist
  epi.poll(k)   the file's readiness now, limited to the interest (0: not ready)
  ep.rdllist    the ready list: a Python list of EpItems, oldest first
  ep.link(epi)  append epi to the ready list (and set epi.linked)
"""
from __future__ import annotations

import struct

from emu.kernel.epoll import DATA_OFFSET, EP_PRIVATE_BITS, EVENT_SIZE, EPOLLINOUT_BITS
from emu.kernel.errno import EFAULT, fail
from emu.kernel.poll import EPOLLET, EPOLLEXCLUSIVE, EPOLLIN, EPOLLONESHOT, EPOLLOUT
from emu.machine.memory import GuestFault


def ep_poll_callback(epi, key: int) -> bool:
    """A wait queue of epi's file was woken with `key` (the poll bits of the event:
    EPOLLIN for a write into a pipe, EPOLLOUT when space was freed, 0 for "anything",
    as a close sends).  This is where an *edge* is born.  Returns what
    wake_waiters returns when the item was queued, or `not epi.exclusive` when the
    wakeup is ignored."""
    # TODO:
    #   1. Ignore the wakeup if the item is disabled: a one-shot item that fired has
    #      no event bits left besides the private ones (epi.events & ~EP_PRIVATE_BITS
    #      == 0) until EPOLL_CTL_MOD.
    #   2. Ignore it if key is not 0 and shares no bit with epi.events.
    #   3. Otherwise put the item on the ready list unless it is already there, and
    #      return wake_waiters(epi, key).
    raise NotImplementedError("TODO: ep_poll_callback: queue the item on a matching wakeup")


def ep_send_events(ep, k, uevents: int, maxevents: int) -> int:
    """epoll_wait's harvest: report up to `maxevents` ready items into the guest's
    array at `uevents`; return how many (or -EFAULT if not even the first fits)."""
    # TODO: take the whole ready list (ep.rdllist = [] while you go through it) and,
    # in order, until `maxevents` are reported:
    #   - the item leaves the list (epi.linked = False); poll it now: revents =
    #     epi.poll(k); if 0 the file is no longer ready: drop the item, report nothing;
    #   - report it: put_event(k, uevents, n, revents, epi.data) (False: the array is
    #     not writable: the item stays at the head (epi.linked = True), and the result
    #     is what was reported so far, or fail(EFAULT) if nothing was);
    #   - then: a one-shot item is disabled (keep only its EP_PRIVATE_BITS); a
    #     level-triggered item goes back on the tail of the ready list; an
    #     edge-triggered item does not.
    # Items you did not get to keep their place at the head of the ready list, before
    # anything queued meanwhile: ep.rdllist = not_reached + ep.rdllist.
    raise NotImplementedError("TODO: ep_send_events: report ready items; re-queue level-triggered ones")


# ---- given ---------------------------------------------------------------------------------------
def wake_waiters(epi, key: int) -> bool:
    """After queuing epi: wake one epoll_wait sleeper of its epoll and the epolls
    that watch this one; the wait-queue return value (EPOLLEXCLUSIVE's rule)."""
    ep = epi.ep
    ewake = False
    if ep.wq.active():
        if epi.events & EPOLLEXCLUSIVE:
            bits = key & EPOLLINOUT_BITS
            ewake = bits == 0 or (bits in (EPOLLIN, EPOLLOUT) and bool(epi.events & bits))
        ep.wq.wake()
    if ep.poll_wait.active():
        ep.poll_wait.wake(EPOLLIN)
    return ewake or not epi.events & EPOLLEXCLUSIVE


def put_event(k, uevents: int, n: int, revents: int, data: int) -> bool:
    """Write struct epoll_event number n of the guest array (12 bytes, packed, on
    x86_64; 16 on arm64).  False if the array is not writable there."""
    size, doff = EVENT_SIZE[k.isa.name], DATA_OFFSET[k.isa.name]
    at = uevents + n * size
    try:
        k.mem.copy_to_user(at, struct.pack("<I", revents))
        k.mem.copy_to_user(at + doff, struct.pack("<Q", data))
    except GuestFault:
        return False
    return True

