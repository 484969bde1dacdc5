"""Tasks (threads) and blocking, as in Linux's task_struct and wait queues.

Design note
  1. One Task per kernel thread, pinned to one CPU of the machine for its whole
     life (the emulator has a CPU per thread, so there is no kernel scheduler:
     the machine's interleaving policy plays that part).
  2. A syscall that must wait returns a `Block`.  The kernel parks the task
     (blocks its CPU, with an optional deadline) and the syscall's result is
     decided by whoever ends the wait: `Kernel.wake(task, result)`, or the
     deadline, which returns `Block.timeout_result` after running `Block.cancel`
     (to leave a futex queue, say), or a signal (`Kernel.interrupt`): an
     interruptible wait (Linux's TASK_INTERRUPTIBLE) has a `Block.interrupt`
     that gives the syscall's result, normally -EINTR.
  3. Signal state that Linux keeps in task_struct lives on the Task (blocked,
     pending, the alternate stack); emu/kernel/signal.py owns it.
Rejected: generator-based syscall handlers (every handler would pay for the few
that block; a Block record is explicit and easy to trace).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

RUNNING, BLOCKED, DEAD = "running", "blocked", "dead"


@dataclass
class Block:
    """A wait a syscall asks for.

    :ivar reason: what the task waits for ("futex", "nanosleep" ...), for traces.
    :ivar deadline: virtual time in cycles at which the wait ends by itself, or None.
    :ivar timeout_result: the syscall's result when the deadline ends the wait.
    :ivar cancel: called when the wait ends without a wake (leave wait queues).
    :ivar interrupt: makes the wait interruptible: when a signal ends it,
        ``interrupt(now_cycles)`` gives the syscall's result (-EINTR, after
        writing nanosleep's remaining time, say).  None: only a fatal signal
        ends the wait.
    """

    reason: str
    deadline: int | None = None
    timeout_result: int = 0
    cancel: Callable[[], None] | None = None
    detail: tuple = ()
    interrupt: Callable[[int], int] | None = None


@dataclass(eq=False)
class Task:
    """A kernel thread.  Owned by the kernel; the CPU is owned by the machine.

    :ivar tid: thread id (the first task's tid is the pid).
    :ivar cpu: the machine CPU this thread runs on.
    :ivar clear_child_tid: CLONE_CHILD_CLEARTID address: zeroed and futex-woken at exit.
    :ivar blocked: the signal mask (bit sig-1 set = blocked); clone copies it.
    :ivar pending: thread-directed signals not yet delivered: sig -> queued
        `signal.SigInfo`s (lowest number first when dequeued).
    :ivar sas_ss_sp, sas_ss_size, sas_ss_flags: the alternate signal stack
        (sigaltstack); a new thread has none (SS_DISABLE = 2).
    :ivar saved_sigmask: the mask to restore after the next signal delivery
        (epoll_pwait ended by a signal under its temporary mask; Linux's
        saved_sigmask with TIF_RESTORE_SIGMASK), or None.
    """

    tid: int
    cpu: object
    state: str = RUNNING
    block: Block | None = None
    clear_child_tid: int = 0
    exit_code: int = 0
    syscalls: int = 0
    extra: dict = field(default_factory=dict)
    # Signals (signal.py).  Only the thread itself changes `blocked` and its
    # alternate stack; any thread may queue into `pending`.
    blocked: int = 0
    pending: dict = field(default_factory=dict)
    sas_ss_sp: int = 0
    sas_ss_size: int = 0
    sas_ss_flags: int = 2
    saved_sigmask: int | None = None

    def __repr__(self) -> str:
        return f"Task(tid={self.tid}, cpu{self.cpu.id}, {self.state})"
