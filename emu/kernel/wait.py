"""Wait queues, and blocking file operations that sleep on them
(kernel/sched/wait.c, include/linux/wait.h).

Design note
  1. A `WaitQueue` is Linux's wait_queue_head: an ordered list of entries, each
     with a wake function.  A non-exclusive entry is added at the head, an
     exclusive one at the tail (add_wait_queue / add_wait_queue_exclusive).
     `wake(key, nr_exclusive)` calls the entries in order and stops once
     `nr_exclusive` exclusive entries said they woke (0: wake everyone), as
     __wake_up_common.  The key is the poll mask of the event (EPOLLIN, ...):
     epoll's callback filters on it; a sleeping task ignores it and re-checks
     its own condition.
  2. A blocking file operation is written the way Linux writes it, as a loop
     around a wait: a generator that ``yield``s `Sleep(queue, exclusive)` where
     Linux calls schedule(), and returns its result.  `run_op` starts it; if it
     returns at once, that is the syscall's result; if it yields, the calling
     task blocks (a `Block`, task.py) with a `Waiter` on that queue.
  3. A wake removes the waiter from the queue (autoremove_wake_function) and
     puts it on `Kernel.woken`; the kernel resumes woken generators, in wake
     order, when the current kernel entry (a syscall, a peer call, a timer
     callback) is done -- as a woken Linux task runs after its waker let go,
     not in the middle of the waker's loop.  It resumes at the waker's virtual
     time and either finishes (the task wakes with the result) or sleeps again
     (queued again: at the tail if exclusive, at the head if not, as
     prepare_to_wait does).  An exclusive wake counts even if the sleeper finds
     nothing to do, as in Linux.  A signal first lets a woken-but-not-yet-run
     operation look again (wait_event checks its condition before the
     signal), then throws `Interrupted` into the generator at its yield: it
     returns what Linux returns then (a partial count, the events already
     available, or -EINTR for Linux's -ERESTARTSYS; signal.py explains why
     nothing restarts).  A deadline closes the generator and the syscall
     returns `Block.timeout_result`.
  4. While it sleeps the operation holds references on the files it works on,
     as fdget does, so a close() in another thread does not release the file
     under it (a pipe end stays open until the read returns).
  5. A side effect that needs the task running again -- SIGPIPE to a writer
     that was asleep -- is queued with `Io.defer` and runs after the syscall's
     result is set.  `on_result` sees the final result on every path
     (epoll_pwait restores the signal mask there).
Rejected alternatives:
  - resuming a woken operation inside the wake call: a reader freeing socket
    buffers would then read, in the same call, the data its own wakeup let a
    writer send (on Linux the writer runs after or beside it), and wakeups
    would nest inside wakeups;
  - a retry closure per operation: the state of a half-done pipe write would
    be scattered over closure variables; the generator reads like fs/pipe.c;
  - waking the task and re-running the whole syscall: a partial write would
    have to remember its progress outside the syscall, and Linux does not
    restart these loops either;
  - generator handlers for every syscall (task.py rejects that): only the
    file operations that can sleep are generators, and only inside.
"""
from __future__ import annotations

import sys
from types import GeneratorType
from typing import Callable

from .errno import EINTR, EIO, fail
from .task import BLOCKED, Block


class Interrupted(Exception):
    """Thrown into a sleeping operation when a signal ends its wait."""


class Sleep:
    """What a blocking operation yields: sleep on `queue` (exclusively or not)."""

    __slots__ = ("queue", "exclusive")

    def __init__(self, queue: "WaitQueue", exclusive: bool):
        self.queue, self.exclusive = queue, exclusive


class WaitQueue:
    """wait_queue_head_t.  Entries need `exclusive` and `wake(key) -> bool`."""

    __slots__ = ("entries",)

    def __init__(self):
        self.entries: list = []

    def add(self, entry) -> None:
        if entry.exclusive:
            self.entries.append(entry)
        else:
            self.entries.insert(0, entry)

    def remove(self, entry) -> None:
        for i, e in enumerate(self.entries):
            if e is entry:
                del self.entries[i]
                return

    def active(self) -> bool:
        """waitqueue_active: anyone waiting?"""
        return bool(self.entries)

    def wake(self, key: int = 0, nr_exclusive: int = 1) -> None:
        """__wake_up(key, nr_exclusive): call every entry in order, stopping after
        `nr_exclusive` exclusive entries woke (0 wakes all)."""
        for e in list(self.entries):
            if not any(x is e for x in self.entries):
                continue                      # an earlier callback removed it
            if e.wake(key) and e.exclusive:
                nr_exclusive -= 1
                if nr_exclusive == 0:
                    break

    def wake_all(self, key: int = 0) -> None:
        self.wake(key, 0)


class Io:
    """The context of one file operation.

    :ivar k: the kernel.
    :ivar t: the calling Task, or None for the Python-side peer (peer.py).
    :ivar nonblock: O_NONBLOCK semantics (the file's flag; always for the peer).
    :ivar deferred: callables to run once the syscall's result is set.
    """

    __slots__ = ("k", "t", "nonblock", "deferred")

    def __init__(self, k, t, nonblock: bool):
        self.k, self.t, self.nonblock = k, t, nonblock
        self.deferred: list[Callable[[], None]] = []

    def defer(self, fn: Callable[[], None]) -> None:
        self.deferred.append(fn)

    def sigpipe(self) -> None:
        """send_sig(SIGPIPE, current, 0), once the syscall has returned (the
        peer is no thread: it sees the -EPIPE only)."""
        t, k = self.t, self.k
        if t is not None:
            from .signal import SI_USER, SIGPIPE, SigInfo, send_signal
            self.defer(lambda: send_signal(k, t, t, SigInfo(
                SIGPIPE, SI_USER, pid=k.pid, why=f"write to a pipe or socket with no reader (thread {t.tid})")))

    def run_deferred(self) -> None:
        todo, self.deferred = self.deferred, []
        for fn in todo:
            fn()


def run_op(io: Io, op, *, reason: str, hold=(), detail: tuple = (), deadline: int | None = None,
           timeout_result: int = 0, on_result: Callable[[int], None] | None = None):
    """Run a file operation for a syscall: `op` is a result or a generator (see the
    module note).  Returns the syscall's result, or a Block when it sleeps.
    `hold` are the files to keep referenced while asleep."""
    if not isinstance(op, GeneratorType):
        result = op
    else:
        try:
            req = next(op)
        except StopIteration as stop:
            result = stop.value
        else:
            if io.t is None:
                op.close()
                raise AssertionError("run_op: a peer operation tried to sleep (peer I/O is always non-blocking)")
            return Waiter(io, op, req, reason=reason, hold=hold, detail=detail, deadline=deadline,
                          timeout_result=timeout_result, on_result=on_result).block
    if on_result is not None:
        on_result(result)
    io.run_deferred()
    return result


class _Later:
    """Work for `Kernel.run_woken` that is no operation to resume."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], None]):
        self.fn = fn

    def resume(self) -> None:
        self.fn()


class Waiter:
    """A task asleep in a blocking operation: the entry it keeps on a wait queue
    and the `Block` the kernel parks it with."""

    def __init__(self, io: Io, gen, req: Sleep, *, reason, hold, detail, deadline, timeout_result, on_result):
        self.io, self.gen, self.on_result = io, gen, on_result
        self.hold = [f.get() for f in hold]
        self.queue: WaitQueue | None = None
        self.exclusive = False
        self.done = False
        self.pending = False                   # woken, on Kernel.woken, not resumed yet
        self.waker = None
        self.block = Block(reason, deadline=deadline, timeout_result=timeout_result, cancel=self._cancel,
                           detail=detail, interrupt=self._interrupt)
        self._sleep(req)

    def _sleep(self, req: Sleep) -> None:
        if not isinstance(req, Sleep):
            raise AssertionError(f"Waiter: a blocking operation yielded {req!r}, not a Sleep")
        self.queue, self.exclusive = req.queue, req.exclusive
        req.queue.add(self)

    def _unqueue(self) -> None:
        if self.queue is not None:
            self.queue.remove(self)
            self.queue = None

    def _release(self) -> None:
        hold, self.hold = self.hold, []
        for f in hold:
            f.put(self.io.k)

    def _stale(self) -> bool:
        t = self.io.t
        return self.done or t.state != BLOCKED or t.block is not self.block   # (the process exited)

    def wake(self, key: int) -> bool:
        """The wake function (autoremove): leave the queue, get resumed later."""
        self._unqueue()
        if not self._stale() and not self.pending:
            k = self.io.k
            self.pending, self.waker = True, k.current
            k.woken.append(self)
        return True

    def _unpend(self) -> None:
        if self.pending:
            self.pending = False
            k = self.io.k
            k.woken = [w for w in k.woken if w is not self]

    def resume(self) -> None:
        """Run the woken operation on (from `Kernel.run_woken`)."""
        self.pending = False
        if self._stale():
            return
        try:
            req = self.gen.send(None)
        except StopIteration as stop:
            self._finish(stop.value)
        except Exception as e:                 # a kernel bug: report it, as Kernel.syscall does
            from . import syscalls
            if syscalls.RAISE_BUGS:
                raise
            t = self.io.t
            print(f"gosched-emu: kernel bug in {self.block.reason} resumed: {type(e).__name__}: {e} "
                  f"(tid {t.tid}, pc {t.cpu.pc:#x})", file=sys.stderr)
            self._finish(fail(EIO))
        else:
            self._sleep(req)

    def _finish(self, result: int) -> None:
        k, io = self.io.k, self.io
        self.done = True
        self._release()
        if self.on_result is not None:
            self.on_result(result)
        k.wake(io.t, result, waker=self.waker)
        io.run_deferred()

    def _interrupt(self, now: int) -> int:
        """Block.interrupt: a signal ends the wait (the kernel calls `_cancel` next)."""
        self._unqueue()
        result = None
        if self.pending:                       # woken already: its condition comes first
            self._unpend()
            try:
                req = self.gen.send(None)
            except StopIteration as stop:
                result = stop.value
        self.done = True
        if result is None:
            try:
                self.gen.throw(Interrupted())
            except StopIteration as stop:
                result = stop.value
            except Interrupted:
                result = fail(EINTR)
            else:
                self.gen.close()
                raise AssertionError("Waiter: an interrupted operation slept again")
        if self.io.deferred:                   # runs once the wait has ended (Kernel.interrupt)
            self.io.k.woken.append(_Later(self.io.run_deferred))
        if self.on_result is not None:
            self.on_result(result)
        return result

    def _cancel(self) -> None:
        """Block.cancel: after `_interrupt`, or when the deadline passed."""
        self._unqueue()
        self._unpend()
        if not self.done:                      # the deadline: the operation never returns
            self.done = True
            self.gen.close()
            if self.on_result is not None:
                self.on_result(self.block.timeout_result)
        self._release()
