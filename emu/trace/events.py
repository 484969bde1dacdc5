"""Typed trace events and the recorder.

Design note
  1. An event is a small immutable record: virtual time (cycles of the CPU it
     happened on), CPU id, kind, and kind-specific fields.  Records compare and
     print byte for byte alike across runs of the same seed, which is what the
     determinism tests check.
  2. Producers test `recorder is not None` (and `recorder.slices` for the
     per-slice events) before building an event, so tracing costs nothing when off.
Rejected: Python `logging` (formatting cost on the hot path, global state).
"""
from __future__ import annotations

from typing import NamedTuple

# Event kinds produced so far (later layers add theirs).
SLICE = "slice"            # a CPU ran n instructions from pc
SYSCALL = "syscall"        # a thread entered the kernel: nr, name, args
SYSRET = "sysret"          # the kernel returned to the thread: result
BLOCK = "block"            # a thread blocked: reason, deadline
WAKE = "wake"              # a thread became runnable: reason
THREAD_NEW = "thread_new"  # clone created a thread (child tid, cpu)
THREAD_EXIT = "thread_exit"
FAULT = "fault"            # a CPU fault: access, addr, reason
ENOSYS = "enosys"          # an unimplemented syscall number
EXIT = "exit"              # the process ended: status
SIGNAL = "signal"          # a handler was entered: sig, handler, frame address, on the altstack
SIGRETURN = "sigreturn"    # rt_sigreturn restored a frame: pc, sp
# Scheduler events (emitted by emu/runtime).
GSTATUS = "gstatus"        # a G changed status: goid, old, new, g address
SWITCH = "switch"          # an M switched to a G: m id, p id, goid
STEAL = "steal"            # a P stole work: thief p, victim p, how many
PYCALL = "pycall"          # machine code called Python: symbol, args (only with slices on)
NEWPROC = "newproc"        # a G was created: goid, start pc
MSTART = "mstart"          # an M started running: m id, tid

# How each kind reads in a text trace ({0} is the first argument ...).
FORMATS = {
    SIGNAL: "signal {0} to handler {1:#x}, frame {2:#x}, on altstack: {3}",
    SIGRETURN: "sigreturn to pc {0:#x}, sp {1:#x}",
    GSTATUS: "g{0} {1} -> {2}",
    SWITCH: "m{0} p{1} runs g{2}",
    STEAL: "p{0} stole {2} G(s) from p{1}",
    NEWPROC: "g{0} created, fn {1:#x}",
    MSTART: "m{0} started on thread {1}",
}


class Event(NamedTuple):
    cycles: int
    cpu: int
    kind: str
    args: tuple

    def __str__(self) -> str:
        fmt = FORMATS.get(self.kind)
        body = fmt.format(*self.args) if fmt else " ".join(map(_fmt, self.args))
        return f"{self.cycles:>12} cpu{self.cpu} {self.kind:<11} {body}"


def _fmt(x) -> str:
    return hex(x) if isinstance(x, int) and not isinstance(x, bool) and abs(x) > 9 else str(x)


class Recorder:
    """Collects events.  `kinds` limits what is kept; `slices` enables SLICE events."""

    def __init__(self, kinds=None, *, slices: bool = True):
        self.kinds = frozenset(kinds) if kinds else None
        self.slices = slices and (self.kinds is None or SLICE in self.kinds)
        self.events: list[Event] = []

    def emit(self, cycles: int, cpu: int, kind: str, *args) -> None:
        if self.kinds is None or kind in self.kinds:
            self.events.append(Event(cycles, cpu, kind, args))

    def of(self, *kinds: str) -> list[Event]:
        return [e for e in self.events if e.kind in kinds]

    def text(self) -> str:
        return "\n".join(map(str, self.events))
