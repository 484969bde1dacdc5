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
PYRET = "pyret"            # ... and it returned to machine code: symbol, result (only with slices on)
NEWPROC = "newproc"        # a G was created: goid, start pc
MSTART = "mstart"          # an M started running: m id, tid
TIMER = "timer"            # a timer fired: goid, now ns, when ns
NETPOLL = "netpoll"        # netpoll(delay ms) returned: delay, n events, [goids made ready]
NETPOLLBREAK = "netpollbreak"  # netpollBreak woke the poller: its pollUntil ns
STACKGROW = "stackgrow"    # copystack moved a G's stack: goid, old lo, hi, new lo, hi, moved, used
ENTERSYSCALL = "entersyscall"  # a G entered a blocking syscall: goid, p
EXITSYSCALL = "exitsyscall"    # it came back: goid, p (-1: none), fast/slow/...
HANDOFF = "handoff"        # a P was handed off to another M: p
RETAKE = "retake"          # sysmon retook a P: p, goid, ns in the syscall
PUSHCALL = "pushcall"      # the SIGURG handler pushed a call to asyncPreempt: goid, pc, sp
ASYNCPREEMPT = "asyncpreempt"  # asyncPreempt saved a G's registers: goid, sp
ASYNCRESUME = "asyncresume"    # ... and restored them: goid, sp
# Debugger-only events (emu/debug.py; a Python call per instruction, off by default).
INSN = "insn"              # an instruction is about to run: pc, {register: new value} since the last
MEMWRITE = "memwrite"      # machine code wrote memory: pc, addr, size, value

# How each kind reads in a text trace ({0} is the first argument ...).
FORMATS = {
    SIGNAL: "signal {0} to handler {1:#x}, frame {2:#x}, on altstack: {3}",
    SIGRETURN: "sigreturn to pc {0:#x}, sp {1:#x}",
    GSTATUS: "g{0} {1} -> {2}",
    SWITCH: "m{0} p{1} runs g{2}",
    STEAL: "p{0} stole {2} G(s) from p{1}",
    NEWPROC: "g{0} created, fn {1:#x}",
    MSTART: "m{0} started on thread {1}",
    TIMER: "timer of g{0} fired at {1} ns (due {2} ns)",
    NETPOLL: "netpoll({0} ms): {1} event(s), ready {2}",
    ENTERSYSCALL: "g{0} enters a syscall, p{1} -> _Psyscall",
    HANDOFF: "p{0} handed off",
    PUSHCALL: "g{0}: pushCall(asyncPreempt) at pc {1:#x}, sp {2:#x}",
    ASYNCPREEMPT: "g{0} registers saved by asyncPreempt, sp {1:#x}",
    ASYNCRESUME: "g{0} registers restored, sp {1:#x}",
    INSN: "pc {0:#x} {1}",
    RETAKE: "sysmon retook p{0} from g{1} after {2} ns",
    STACKGROW: "g{0} stack [{1:#x}, {2:#x}) moved to [{3:#x}, {4:#x}), {6} bytes in use",
    BLOCK: "blocked in {0}",
    WAKE: "woken from {0}: {1}",
    EXITSYSCALL: "g{0} leaves the syscall, p{1} ({2})",
    MEMWRITE: "pc {0:#x} wrote {2} byte(s) at {1:#x}: {3:#x}",
}


class Event(NamedTuple):
    cycles: int
    cpu: int
    kind: str
    args: tuple

    def _repr_html_(self) -> str:
        from ..views.html import events_html
        return events_html([self])

    def body(self) -> str:
        """What happened, in words (FORMATS), without the time and CPU."""
        fmt = FORMATS.get(self.kind)
        return fmt.format(*self.args) if fmt else " ".join(map(_fmt, self.args))

    def __str__(self) -> str:
        return f"{self.cycles:>12} cpu{self.cpu} {self.kind:<11} {self.body()}"


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

    def select(self, kinds=None, *, cpu: int | None = None, since: int | None = None,
               until: int | None = None, where=None) -> list[Event]:
        """The events of `kinds` (all if None) on `cpu`, with since <= cycles < until,
        for which `where(event)` holds."""
        kinds = None if kinds is None else frozenset([kinds] if isinstance(kinds, str) else kinds)
        return [e for e in self.events
                if (kinds is None or e.kind in kinds) and (cpu is None or e.cpu == cpu)
                and (since is None or e.cycles >= since) and (until is None or e.cycles < until)
                and (where is None or where(e))]

    def text(self) -> str:
        return "\n".join(map(str, self.events))

    def _repr_html_(self) -> str:
        from ..views.html import events_html
        return events_html(self.events, title=f"{len(self.events)} events")
