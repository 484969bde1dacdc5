"""Locks and notes on futexes (Go: lock_futex.go).

Design note
  1. A mutex word is 0 (unlocked), 1 (locked) or 2 (locked, with sleepers).
     lock takes it when 0; otherwise it marks it 2 and sleeps in futex(WAIT, 2).
     unlock stores 0 and, if it was 2, wakes one sleeper.  m.locks counts the
     locks an M holds (preemption checks it).
  2. A note is a one-shot event: notesleep waits until notewakeup sets it.  An M
     with nothing to do sleeps on m.park this way, the only way an M blocks.
  3. Runtime Python runs atomically between slices, so a lock is only contended
     while its holder is suspended in machine code -- the case Go's park path
     relies on (the channel lock is held through mcall until the G is parked).
"""
from __future__ import annotations

from .oslinux import futexsleep, futexwakeup

MUTEX_UNLOCKED, MUTEX_LOCKED, MUTEX_SLEEPING = 0, 1, 2


def lock(rt, l: int):
    """Acquire the mutex at address `l` (generator).

    As Go's lock2: a waiter that has slept takes the lock as MUTEX_SLEEPING, not
    MUTEX_LOCKED, because other sleepers may remain -- their wakeup must not be lost.
    """
    mem = rt.mem
    v = mem.read_u64(l)
    mem.write_u64(l, MUTEX_LOCKED)              # xchg(l, locked)
    while v != MUTEX_UNLOCKED:
        v = mem.read_u64(l)
        mem.write_u64(l, MUTEX_SLEEPING)        # xchg(l, sleeping)
        if v == MUTEX_UNLOCKED:
            break
        yield from futexsleep(rt, l, MUTEX_SLEEPING)
    m = rt.getm()
    m.locks = m.locks + 1


def unlock(rt, l: int):
    """Release the mutex at `l`; wakes a sleeper if there is one (generator)."""
    mem = rt.mem
    v = mem.read_u64(l)
    if v == MUTEX_UNLOCKED:
        from .print import throw
        yield from throw(rt, "unlock of unlocked lock")
    mem.write_u64(l, MUTEX_UNLOCKED)
    m = rt.getm()
    m.locks = m.locks - 1
    if v == MUTEX_SLEEPING:
        yield from futexwakeup(rt, l, 1)


def noteclear(rt, n: int) -> None:
    rt.mem.write_u64(n, 0)


def notesleep(rt, n: int):
    """Sleep until notewakeup(n) (generator).  Only the M that owns n sleeps on it."""
    m = rt.getm()
    m.blocked = 1
    while rt.mem.read_u64(n) == 0:
        yield from futexsleep(rt, n, 0)
    rt.getm().blocked = 0


def notewakeup(rt, n: int):
    """Wake the sleeper of note n (generator)."""
    if rt.mem.read_u64(n) != 0:
        from .print import throw
        yield from throw(rt, "notewakeup - double wakeup")
    rt.mem.write_u64(n, 1)
    yield from futexwakeup(rt, n, 1)
