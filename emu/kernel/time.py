"""nanosleep, clock_nanosleep, clock_gettime on the virtual clock (kernel/time/).

Time comes from the calling CPU's cycle count (emu/machine/smp.py), never the
host: CLOCK_MONOTONIC counts from boot, CLOCK_REALTIME adds a fixed epoch.
A sleep is interruptible: a signal ends it with -EINTR, having written the time
left to `rem` (relative sleeps only), even under SA_RESTART, as in Linux.
"""
from __future__ import annotations

import struct

from ..machine.memory import GuestFault
from .errno import EFAULT, EINTR, EINVAL, fail
from .syscalls import syscall
from .task import Block

CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID = 0, 1, 2, 3
CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME = 4, 5, 6, 7
TIMER_ABSTIME = 1
NSEC = 1_000_000_000
_TIMESPEC = struct.Struct("<qq")


def read_timespec(k, addr: int) -> int | None:
    """A `struct timespec` from the guest in ns; None if its fields are invalid (EINVAL)."""
    sec, nsec = _TIMESPEC.unpack(k.mem.copy_from_user(addr, 16))
    if sec < 0 or not 0 <= nsec < NSEC:
        return None
    return sec * NSEC + nsec


def write_timespec(k, addr: int, ns: int) -> None:
    k.mem.copy_to_user(addr, _TIMESPEC.pack(ns // NSEC, ns % NSEC))


def clock_ns(k, t, clock: int) -> int | None:
    """The value of `clock` for the calling thread, or None for an unknown clock."""
    mono = k.machine.cycles_to_ns(k.now(t))
    if clock in (CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME):
        return mono
    if clock in (CLOCK_REALTIME, CLOCK_REALTIME_COARSE):
        return k.realtime_epoch_ns + mono
    if clock == CLOCK_THREAD_CPUTIME_ID:
        return k.machine.cycles_to_ns(t.cpu.instructions)
    if clock == CLOCK_PROCESS_CPUTIME_ID:
        return k.machine.cycles_to_ns(sum(x.cpu.instructions for x in k.tasks.values()))
    return None


def sleep_until(k, t, deadline_ns_mono: int, reason: str, rem: int = 0) -> Block:
    """Sleep until the monotonic deadline; a signal ends the sleep early with
    -EINTR and the time left in `rem` (if not 0), as Linux's do_nanosleep."""
    deadline = k.machine.ns_to_cycles(deadline_ns_mono)

    def interrupted(now: int) -> int:
        left = deadline_ns_mono - k.machine.cycles_to_ns(now)
        if left <= 0:
            return 0
        if rem:
            try:
                write_timespec(k, rem, left)
            except GuestFault:
                return fail(EFAULT)
        return fail(EINTR)

    return Block(reason, deadline=max(deadline, k.now(t)), timeout_result=0, detail=(deadline_ns_mono,),
                 interrupt=interrupted)


@syscall
def sys_clock_gettime(k, t, clock, tp):
    ns = clock_ns(k, t, clock)
    if ns is None:
        return fail(EINVAL)
    write_timespec(k, tp, ns)
    return 0


@syscall
def sys_nanosleep(k, t, req, rem):
    ns = read_timespec(k, req)
    if ns is None:
        return fail(EINVAL)
    now = k.machine.cycles_to_ns(k.now(t))
    return sleep_until(k, t, now + ns, "nanosleep", rem)


@syscall
def sys_clock_nanosleep(k, t, clock, flags, req, rem):
    ns = read_timespec(k, req)
    now = clock_ns(k, t, clock)
    if ns is None or now is None or clock in (CLOCK_THREAD_CPUTIME_ID, CLOCK_PROCESS_CPUTIME_ID):
        return fail(EINVAL)
    offset = now - k.machine.cycles_to_ns(k.now(t))      # realtime epoch, if any
    target = ns - offset if flags & TIMER_ABSTIME else k.machine.cycles_to_ns(k.now(t)) + ns
    return sleep_until(k, t, target, "clock_nanosleep", 0 if flags & TIMER_ABSTIME else rem)
