"""The Linux-like kernel: syscall dispatch, blocking, faults, process exit.

Design note
  1. The kernel is entered only the way Linux is: a `syscall` / `svc #0` trap
     with the arch's registers, or a CPU fault.  It never reads a runtime struct;
     it knows the guest's memory only through copy_from_user / copy_to_user.
  2. Dispatch: number -> `sys_<name>` (syscalls.py); arguments come from the
     arch's registers; the handler returns a result (negative = -errno) or a
     `Block`.  Bad pointers become -EFAULT through `GuestFault`, never a Python
     error; a handler that raises anything else is a kernel bug, reported as such
     with the guest's place, and the guest gets -EIO rather than a host crash.
  3. A fault becomes a signal to the faulting thread (signal.py): a handler
     runs with the PC of the faulting instruction; with none (or the signal
     blocked) the process ends as Linux's default action would, with a report
     naming the thread, PC, symbol+line, address and access kind, and a
     frame-pointer backtrace.  Every fatal signal ends the run that way, with
     exit status 128+sig.
  4. Signals are delivered in `return_to_user`, which the machine calls before
     a slice of a CPU whose `kernel_work` a sender set; a signal also ends an
     interruptible wait (`interrupt`).
  5. Files live in a per-process table (file.py): descriptors 0-2 are the
     console (fs.py: output to 1 and 2 is captured and also streamed to
     `on_output`), and pipes, eventfds, unix sockets and epolls join them.
     `current` is the thread whose syscall the kernel is running (None
     outside one).  Sleeping file operations woken during a kernel entry
     (`woken`) are resumed when it ends, at the waker's time (wait.py).
  6. The world outside the process is Python (peer.py): `peer(fd)` is the far
     end of a guest's pipe or socket, `peer_pipe()` / `peer_socket()` make
     one, and `at(ns, fn)` calls fn when the virtual clock reaches ns.
Rejected: calling Python runtime code from here (the kernel must be able to run
a real Go binary one day; it cannot know our runtime).
"""
from __future__ import annotations

import sys
from typing import Callable

from ..machine.cpu import BREAK, CPU, FAULT, HALT, SYSCALL, Trap
from ..machine.memory import GuestFault
from ..machine.smp import Machine
from ..trace import events as ev
from . import syscalls
from .errno import EINTR, EIO, ENOSYS, fail, strerror
from .syscalls import NORETURN
from .task import BLOCKED, DEAD, RUNNING, Block, Task

# Families register their handlers on import.
from . import exit as _exit, fork as _fork, fs as _fs, futex as _futex, mman as _mman  # noqa: F401,E402
from . import sched as _sched, time as _time, sysinfo as _sysinfo  # noqa: F401,E402
from . import file as _file, pipe as _pipe, eventfd as _eventfd, unix as _unix, epoll as _epoll  # noqa: F401,E402
from . import peer as _peer  # noqa: E402
from .file import FdTable  # noqa: E402
from .fs import console_files  # noqa: E402
from . import signal  # noqa: E402
from .signal import SIGSEGV, signame  # noqa: E402

FIRST_PID = 1000


class Kernel:
    """One process (a thread group) on one machine.  See the module note."""

    def __init__(self, machine: Machine, *, ncpus: int = 1, stdin: bytes = b"",
                 on_output: Callable[[int, bytes], None] | None = None,
                 symbolizer=None, syscall_cycles: int = 100,
                 realtime_epoch_ns: int = 1_767_225_600_000_000_000):
        self.machine = machine
        self.isa = machine.isa
        self.mem = machine.memory
        self.ncpus = ncpus
        self.on_output = on_output
        self.symbolizer = symbolizer          # an emu.asm.Image, for reports
        self.syscall_cycles = syscall_cycles  # modelled cost of entering the kernel
        self.realtime_epoch_ns = realtime_epoch_ns   # CLOCK_REALTIME at cycle 0 (2026-01-01)
        self.recorder = machine.recorder
        self.table = {nr: syscalls.HANDLERS.get(name) for nr, name in syscalls.numbers(self.isa.name).items()}
        self.names = syscalls.numbers(self.isa.name)
        self.enosys_reported: set[int] = set()
        self.tasks: dict[int, Task] = {}
        self.by_cpu: dict[int, Task] = {}
        self.next_tid = FIRST_PID
        self.pid = FIRST_PID
        self.stdin = bytearray(stdin)
        self.output: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
        self.exit_status: int | None = None
        self.crash: str | None = None        # the report of a fatal signal or a deadlock
        self.futex_queues: dict[int, list[tuple[Task, int]]] = {}
        # Signals (signal.py): the actions are per process (threads share them,
        # CLONE_SIGHAND), as is the queue of process-directed signals; masks,
        # thread-directed queues and alternate stacks are per Task.
        self.sighand: list = signal.default_actions()
        self.shared_pending: dict[int, list] = {}
        self.sigtramp: int | None = None     # arm64 return trampoline page, mapped on first use
        # Observers called as hook(task, sig) just before a handler's frame is
        # built, with the interrupted registers still in the CPU (analysis tools).
        self.delivery_hooks: list[Callable[[Task, int], None]] = []
        # Files (file.py): the descriptor table, the console on 0, 1, 2.
        self.files = FdTable()
        for fd, f in enumerate(console_files()):
            self.files.install(fd, f)
        self.current: Task | None = None     # the thread in a syscall now (Linux's `current`)
        self.woken: list = []                # sleeping operations woken, to resume (wait.py)
        self.alarm = _peer.Alarm(self)
        self.rlimits = _sysinfo.default_rlimits()   # resource -> [cur, max] (sysinfo.py)
        self.vfs: dict[str, bytes] = dict(_fs.VFS)   # the read-only files openat finds (fs.py)
        # mmap placement window (set by exec): below the main thread's stack.
        self.mmap_min, self.mmap_top = self.mem.base, self.mem.limit
        gprs = [r.name for r in self.isa.gprs]
        self._arg_idx = [gprs.index(n) for n in self.isa.syscall_args]
        self._nr_idx = gprs.index(self.isa.syscall_nr)
        self._ret_id = self.isa.reg(self.isa.syscall_ret).uc_id
        machine.handler = self

    # ---- tasks ---------------------------------------------------------------------
    def new_task(self, cpu: CPU) -> Task:
        t = Task(self.next_tid, cpu)
        self.next_tid += 1
        self.tasks[t.tid] = t
        self.by_cpu[cpu.id] = t
        return t

    def now(self, t: Task) -> int:
        """The calling thread's time in cycles."""
        return t.cpu.cycles

    @property
    def stdout(self) -> bytes:
        return bytes(self.output[1])

    @property
    def stderr(self) -> bytes:
        return bytes(self.output[2])

    def emit(self, t: Task | None, kind: str, *args) -> None:
        if self.recorder is not None:
            cpu = t.cpu if t is not None else None
            self.recorder.emit(cpu.cycles if cpu else self.machine.now(), cpu.id if cpu else -1, kind, *args)

    # ---- traps -----------------------------------------------------------------------
    def trap(self, cpu: CPU, trap: Trap) -> None:
        """Entry from the hardware (TrapHandler protocol)."""
        t = self.by_cpu[cpu.id]
        if trap.kind == SYSCALL:
            self.syscall(t)
        elif trap.kind in (FAULT, BREAK):
            signal.fault(self, t, trap)
        elif trap.kind == HALT:
            self.fatal_signal(t, SIGSEGV, Trap(FAULT, pc=trap.pc, access="insn", addr=trap.pc,
                                               reason="cpu stopped unexpectedly"))
        else:
            raise AssertionError(f"Kernel.trap: unknown trap kind {trap.kind!r} "
                                 "(a new trap type in emu/machine/cpu.py needs a case here)")

    def syscall(self, t: Task) -> None:
        regs = t.cpu.regs.read_all()
        nr = regs[self._nr_idx]
        handler = self.table.get(nr)
        t.syscalls += 1
        t.cpu.cycles += self.syscall_cycles
        if handler is None:
            self._enosys(t, nr)
            return
        args = [regs[i] for i in self._arg_idx[:handler.nargs]]
        if self.recorder is not None:
            self.emit(t, ev.SYSCALL, self.names[nr], *args)
        self.current = t
        try:
            result = handler(self, t, *args)
        except GuestFault:
            result = fail(14)   # EFAULT
        except Exception as e:  # a kernel bug: report it, keep the host alive
            if syscalls.RAISE_BUGS:
                raise
            print(f"gosched-emu: kernel bug in sys_{self.names[nr]}: {type(e).__name__}: {e} "
                  f"(tid {t.tid}, pc {t.cpu.pc:#x})", file=sys.stderr)
            result = fail(EIO)
        finally:
            self.current = None
        if isinstance(result, Block):
            self._block(t, result)
        elif result is not None and result is not NORETURN:   # None: the task is gone (exit)
            self.set_return(t, result)
        if self.woken:
            self.run_woken()

    def run_woken(self) -> None:
        """Resume the sleeping operations woken so far, in wake order (wait.py).
        Kernel entries call it when they are done; Python code that closes or
        changes files directly calls it too."""
        while self.woken:
            self.woken.pop(0).resume()

    def set_return(self, t: Task, result: int) -> None:
        """Write a syscall result the way the arch returns it."""
        t.cpu.regs.write(self._ret_id, result)
        if self.isa.name == "amd64":
            # `syscall` leaves the return RIP in RCX and RFLAGS in R11.
            t.cpu.write("rcx", t.cpu.pc)
            t.cpu.write("r11", t.cpu.read("rflags"))
        if self.recorder is not None:
            self.emit(t, ev.SYSRET, strerror(result) if result < 0 else result)

    def _enosys(self, t: Task, nr: int) -> None:
        name = self.names.get(nr, "?")
        self.emit(t, ev.ENOSYS, nr, name)
        if nr not in self.enosys_reported:
            self.enosys_reported.add(nr)
            print(f"gosched-emu: syscall {nr} ({name}) is not implemented on {self.isa.name}; "
                  f"returning -ENOSYS (tid {t.tid}, pc {t.cpu.pc:#x})", file=sys.stderr)
        self.set_return(t, fail(ENOSYS))

    def return_to_user(self, cpu: CPU) -> None:
        """Work to do before `cpu` runs user code again (TrapHandler protocol):
        deliver its thread's pending signals."""
        cpu.kernel_work = False
        t = self.by_cpu.get(cpu.id)
        if t is not None and t.state == RUNNING:
            signal.do_signal(self, t)

    # ---- blocking --------------------------------------------------------------------
    def _block(self, t: Task, b: Block) -> None:
        t.state, t.block = BLOCKED, b
        self.emit(t, ev.BLOCK, b.reason, *b.detail)
        self.machine.block(t.cpu, b.deadline, lambda cpu: self._timeout(t))

    def _timeout(self, t: Task) -> None:
        b = t.block
        t.state, t.block = RUNNING, None
        if b.cancel is not None:
            b.cancel()
        self.emit(t, ev.WAKE, b.reason, "timeout")
        self.set_return(t, b.timeout_result)
        self.run_woken()

    def wake(self, t: Task, result: int, waker: Task | None = None) -> None:
        """End `t`'s wait with `result` as its syscall's return value."""
        if t.state != BLOCKED:
            raise RuntimeError(f"Kernel.wake: task {t.tid} is {t.state}, not blocked")
        self._end_wait(t, result, waker, "woken")

    def interrupt(self, t: Task, sender: Task | None = None) -> None:
        """A signal ends `t`'s wait: the syscall returns what Block.interrupt says
        (-EINTR without one: only a fatal signal interrupts such a wait, and the
        thread never sees it); then it leaves its wait queues (Block.cancel)."""
        if t.state != BLOCKED:
            raise RuntimeError(f"Kernel.interrupt: task {t.tid} is {t.state}, not blocked")
        b = t.block
        at = sender.cpu.cycles if sender is not None else self.machine.now()
        result = b.interrupt(max(at, t.cpu.cycles)) if b.interrupt is not None else fail(EINTR)
        if b.cancel is not None:
            b.cancel()
        self._end_wait(t, result, sender, "signal")
        self.run_woken()

    def _end_wait(self, t: Task, result: int, waker: Task | None, how: str) -> None:
        b = t.block
        t.state, t.block = RUNNING, None
        at = waker.cpu.cycles if waker is not None else self.machine.now()
        self.machine.wake(t.cpu, at)
        self.emit(t, ev.WAKE, b.reason, how)
        self.set_return(t, result)

    # ---- the world outside (peer.py) ------------------------------------------------
    def peer(self, fd: int) -> "_peer.Peer":
        """The far end of the pipe, socket or eventfd at `fd`: read / write / close it from Python."""
        return _peer.peer_of(self, fd)

    def peer_pipe(self, guest_end: str = "r", flags: int = 0) -> tuple[int, "_peer.Peer"]:
        """A pipe whose `guest_end` ("r" / "w") gets the lowest free fd; returns (fd, peer)."""
        return _peer.peer_pipe(self, guest_end, flags)

    def peer_socket(self, flags: int = 0) -> tuple[int, "_peer.Peer"]:
        """A unix stream socket at the lowest free fd, connected to the returned peer."""
        return _peer.peer_socket(self, flags)

    def at(self, ns: int, fn: Callable[[], None]) -> None:
        """Call fn() when the virtual clock reaches `ns` nanoseconds (see peer.py)."""
        self.alarm.at(ns, fn)

    # ---- ending --------------------------------------------------------------------
    def exit_task(self, t: Task, code: int) -> None:
        """The thread is gone (exit); the process ends with its last thread."""
        from .futex import futex_wake
        t.state, t.exit_code = DEAD, code
        self.emit(t, ev.THREAD_EXIT, t.tid, code)
        signal.exit_signals(self, t)
        if t.clear_child_tid:
            try:
                self.mem.copy_to_user(t.clear_child_tid, b"\0\0\0\0")
                futex_wake(self, t, t.clear_child_tid, 1)
            except GuestFault:
                pass
        self.machine.power_off(t.cpu)
        del self.by_cpu[t.cpu.id]
        if all(x.state == DEAD for x in self.tasks.values()):
            self.exit_process(code, t)

    def exit_process(self, status: int, t: Task | None = None) -> None:
        """exit_group: every thread ends; the machine halts."""
        self.exit_status = status & 0xFF if status >= 0 else status
        for x in self.tasks.values():
            if x.state != DEAD:
                x.state = DEAD
                self.machine.power_off(x.cpu)
        self.emit(t, ev.EXIT, self.exit_status)
        self.machine.halt()

    def fatal_signal(self, t: Task, sig: int, trap: Trap | None = None, why: str = "") -> None:
        """Default action of a fatal signal in thread `t`: kill the process with
        exit status 128+sig, and report it.  `trap` is the hardware fault behind
        the signal, if any; otherwise `why` says where the signal came from."""
        if trap is not None:
            self.emit(t, ev.FAULT, signame(sig), trap.access, trap.addr, trap.reason)
        self.crash = self.crash_report(t, sig, trap, why)
        self.exit_process(128 + sig, t)

    def deadlock(self) -> None:
        """Every thread waits with no deadline: nothing can ever run again."""
        waits = ", ".join(f"tid {t.tid} in {t.block.reason}{_detail(t.block)}"
                          for t in self.tasks.values() if t.state == BLOCKED)
        self.crash = f"gosched-emu: deadlock: every thread is blocked with no timeout ({waits})"
        self.exit_status = None

    # ---- reports ---------------------------------------------------------------------
    def where(self, addr: int) -> str:
        """``0x401020 <main.main+32> prog.s:14  mov rax, [rbx]`` (as much as is known)."""
        out = f"{addr:#x}"
        img = self.symbolizer
        if img is None:
            return out
        sym = img.symbol_at(addr)
        if sym:
            out += f" <{sym[0]}+{sym[1]}>" if sym[1] else f" <{sym[0]}>"
        line = img.line_at(addr)
        if line:
            out += f" {line.file}:{line.line}  {line.text}"
        return out

    def backtrace(self, cpu: CPU, limit: int = 16) -> list[int]:
        """Return addresses found by walking the frame-pointer chain (platform frame records)."""
        fp = cpu.read(self.isa.fp)
        out = [cpu.read(self.isa.lr)] if self.isa.lr and cpu.read(self.isa.lr) else []
        for _ in range(limit):
            if fp == 0 or fp % 8 or not self.mem.accessible(fp, 16, 1):
                break
            nxt, ret = self.mem.read_u64(fp), self.mem.read_u64(fp + 8)
            if ret == 0:
                break
            out.append(ret)
            if nxt <= fp:
                break
            fp = nxt
        return out

    def crash_report(self, t: Task, sig: int, trap: Trap | None = None, why: str = "") -> str:
        head = f"gosched-emu: thread {t.tid} (cpu {t.cpu.id}) killed by {signame(sig)}"
        if trap is None:
            lines = [f"{head}: {why}" if why else head, f"  pc  {self.where(t.cpu.pc)}"]
        elif trap.kind == BREAK:
            lines = [f"{head}: breakpoint", f"  pc  {self.where(trap.pc)}"]
        else:
            what = {"read": "read from", "write": "write to", "exec": "execute at",
                    "insn": "instruction at"}.get(trap.access, trap.access)
            code = ("SEGV_MAPERR" if trap.reason == "unmapped" else
                    "SEGV_ACCERR" if trap.reason == "protected" else "")
            lines = [head + (f" ({code})" if code and sig == SIGSEGV else "")
                     + f": {what} {trap.reason} address {trap.addr:#x}",
                     f"  pc  {self.where(trap.pc)}"]
        for i, ret in enumerate(self.backtrace(t.cpu)):
            lines.append(f"  #{i}  {self.where(ret)}")
        return "\n".join(lines)


def _detail(b: Block) -> str:
    return "(" + ", ".join(hex(x) if isinstance(x, int) else str(x) for x in b.detail) + ")" if b.detail else ""
