"""futex WAIT / WAKE with timeouts on the virtual clock (kernel/futex/).

Design note
  1. The key is the futex word's address (one process: private and shared
     futexes share the key space).  Waiters queue in FIFO order per key, so who
     is woken is deterministic.
  2. WAIT checks `*uaddr == val` and queues atomically with respect to the
     guest (the kernel runs between slices, so no CPU runs meanwhile); a
     mismatch is -EAGAIN.  The timeout is relative (FUTEX_WAIT); expiry leaves
     the queue and returns -ETIMEDOUT.  WAKE wakes up to `val` waiters and
     returns how many.
  3. WAIT_BITSET / WAKE_BITSET match waiters by bitset (WAIT_BITSET's timeout
     is absolute, as in Linux).
  4. A wait is interruptible: a signal the thread does not block ends it with
     -EINTR after leaving the queue (Linux restarts an untimed WAIT under
     SA_RESTART instead; Go's futexsleep accepts either, see signal.py).
"""
from __future__ import annotations

from .errno import EAGAIN, EINTR, EINVAL, ENOSYS, ETIMEDOUT, fail
from .syscalls import syscall
from .task import Block
from .time import read_timespec, CLOCK_MONOTONIC, clock_ns

FUTEX_WAIT, FUTEX_WAKE, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 0, 1, 9, 10
FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME = 128, 256
FUTEX_BITSET_MATCH_ANY = 0xFFFFFFFF


@syscall
def sys_futex(k, t, uaddr, op, val, timeout, uaddr2, val3):
    cmd = op & ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)
    val &= 0xFFFFFFFF
    if cmd in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        bitset = FUTEX_BITSET_MATCH_ANY if cmd == FUTEX_WAIT else val3 & 0xFFFFFFFF
        return futex_wait(k, t, uaddr, val, timeout, bitset, absolute=cmd == FUTEX_WAIT_BITSET,
                          realtime=bool(op & FUTEX_CLOCK_REALTIME))
    if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
        bitset = FUTEX_BITSET_MATCH_ANY if cmd == FUTEX_WAKE else val3 & 0xFFFFFFFF
        if uaddr % 4:
            return fail(EINVAL)
        return futex_wake(k, t, uaddr, val, bitset)
    return fail(ENOSYS)


def futex_wait(k, t, uaddr, val, timeout, bitset, *, absolute=False, realtime=False):
    if uaddr % 4 or bitset == 0:
        return fail(EINVAL)
    current = k.mem.read_u32(uaddr) if k.mem.accessible(uaddr, 4, 1) else None
    if current is None:
        return fail(14)
    deadline = None
    if timeout:
        ns = read_timespec(k, timeout)
        if ns is None:
            return fail(EINVAL)
        now_mono = k.machine.cycles_to_ns(k.now(t))
        if absolute:
            base = clock_ns(k, t, 0 if realtime else CLOCK_MONOTONIC) - now_mono
            target = ns - base
        else:
            target = now_mono + ns
        deadline = max(k.machine.ns_to_cycles(target), k.now(t))
    if current != val:
        return fail(EAGAIN)
    queue = k.futex_queues.setdefault(uaddr, [])
    entry = (t, bitset)
    queue.append(entry)

    def leave():
        queue.remove(entry)
        if not queue:
            k.futex_queues.pop(uaddr, None)

    return Block("futex", deadline=deadline, timeout_result=fail(ETIMEDOUT), cancel=leave,
                 detail=(uaddr,), interrupt=_eintr)


def _eintr(now: int) -> int:
    return fail(EINTR)


def futex_wake(k, t, uaddr, count, bitset=FUTEX_BITSET_MATCH_ANY) -> int:
    """Wake up to `count` waiters on `uaddr` (FIFO) whose bitset matches; return how many."""
    queue = k.futex_queues.get(uaddr, [])
    woken = [e for e in queue if e[1] & bitset][:count]
    for e in woken:
        queue.remove(e)
        k.wake(e[0], 0, waker=t)
    if not queue:
        k.futex_queues.pop(uaddr, None)
    return len(woken)
