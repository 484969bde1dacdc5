"""eventfd2 (fs/eventfd.c): a 64-bit counter behind a file.

Design note
  1. eventfd2(initval, flags): initval is an unsigned int; flags are
     EFD_CLOEXEC (O_CLOEXEC), EFD_NONBLOCK (O_NONBLOCK) and EFD_SEMAPHORE,
     anything else -EINVAL.  The file is O_RDWR (| O_NONBLOCK).
  2. read needs a buffer of at least 8 bytes (-EINVAL); with the counter at 0
     it is -EAGAIN under O_NONBLOCK, else it sleeps until the counter is not
     0.  It returns 8 and the counter (resetting it to 0), or 1 (decrementing
     it) in semaphore mode; then it wakes the queue with EPOLLOUT.  As in
     Linux the counter is taken before the copy to the user, so a bad buffer
     loses it and gets -EFAULT.
  3. write needs exactly 8 bytes (recent kernels refuse longer writes too, as
     the 6.x host of the differential test does); the value 0xffffffffffffffff is -EINVAL; a value
     that would take the counter to 0xffffffffffffffff or past it is -EAGAIN
     under O_NONBLOCK, else the writer sleeps until a read makes room.  A write
     returns 8 and wakes the queue with EPOLLIN -- also a write of 0, which
     makes an edge for EPOLLET even though nothing became readable.
  4. poll: EPOLLIN when the counter is not 0, EPOLLOUT while a write of 1
     would succeed (counter < 0xfffffffffffffffe), EPOLLERR at the maximum
     (only reachable from inside the kernel in Linux).
  5. Sleepers of both kinds share one non-exclusive queue with the epoll items:
     every wakeup wakes them all, each re-checks its condition
     (wait_event_interruptible_locked_irq).
Rejected: a queue per direction (Linux has one; a write's EPOLLIN wakeup also
reaches a writer that waits for room, which then sleeps again -- harmless, and
an EPOLLOUT-only epoll item ignores the key as in Linux).
"""
from __future__ import annotations

import struct

from ..machine.memory import GuestFault
from .errno import EAGAIN, EFAULT, EINTR, EINVAL, fail
from .file import O_CLOEXEC, O_NONBLOCK, O_RDWR, File, s32, u32
from .poll import EPOLLERR, EPOLLIN, EPOLLOUT
from .syscalls import syscall
from .wait import Interrupted, Sleep, WaitQueue

EFD_SEMAPHORE, EFD_NONBLOCK, EFD_CLOEXEC = 1, O_NONBLOCK, O_CLOEXEC
ULLONG_MAX = (1 << 64) - 1


class EventFile(File):
    """An eventfd: the counter and its wait queue."""

    kind = "eventfd"
    can_read = can_write = True

    def __init__(self, count: int, flags: int):
        super().__init__(O_RDWR | (flags & O_NONBLOCK))
        self.count = count
        self.semaphore = bool(flags & EFD_SEMAPHORE)
        self.wqh = WaitQueue()

    def read(self, io, it, count):
        if count < 8:
            return fail(EINVAL)
        if not self.count:
            if io.nonblock:
                return fail(EAGAIN)
            try:
                while not self.count:
                    yield Sleep(self.wqh, exclusive=False)
            except Interrupted:
                return fail(EINTR)
        value = 1 if self.semaphore else self.count
        self.count -= value
        if self.wqh.active():
            self.wqh.wake(EPOLLOUT)
        try:
            it.copy_out(struct.pack("<Q", value))
        except GuestFault:
            return fail(EFAULT)
        return 8

    def write(self, io, it, count):
        if count != 8:
            return fail(EINVAL)
        try:
            value = struct.unpack("<Q", it.copy_in(8))[0]
        except GuestFault:
            return fail(EFAULT)
        if value == ULLONG_MAX:
            return fail(EINVAL)
        if not ULLONG_MAX - self.count > value:
            if io.nonblock:
                return fail(EAGAIN)
            try:
                while not ULLONG_MAX - self.count > value:
                    yield Sleep(self.wqh, exclusive=False)
            except Interrupted:
                return fail(EINTR)
        self.count += value
        if self.wqh.active():
            self.wqh.wake(EPOLLIN)
        return 8

    def poll(self, k) -> int:
        mask = 0
        if self.count > 0:
            mask |= EPOLLIN
        if self.count == ULLONG_MAX:
            mask |= EPOLLERR
        if ULLONG_MAX - 1 > self.count:
            mask |= EPOLLOUT
        return mask

    def poll_queues(self) -> list:
        return [self.wqh]


@syscall
def sys_eventfd2(k, t, count, flags):
    count, flags = u32(count), s32(flags)
    if flags & ~(EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC):
        return fail(EINVAL)
    return k.files.alloc(EventFile(count, flags), cloexec=bool(flags & EFD_CLOEXEC))
