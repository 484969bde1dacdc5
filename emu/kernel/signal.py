"""Signals: sigaction, masks, sigaltstack, kill/tkill/tgkill, delivery with Linux's
exact rt_sigframe on both arches, rt_sigreturn, and CPU faults as signals
(kernel/signal.c, arch/x86/kernel/signal.c + signal_64.c + fpu/signal.c,
arch/arm64/kernel/signal.c).

Design note
  1. State lives where Linux keeps it.  Per process (`Kernel`): the action of
     every signal (`k.sighand`; threads share it: CLONE_SIGHAND is the only
     clone there is) and the queue of process-directed signals
     (`k.shared_pending`).  Per thread (`Task`): the blocked mask, the queue of
     thread-directed signals and the alternate stack.  A queue maps a signal
     number to its queued `SigInfo`s; a standard signal (1-31) that is already
     pending is not queued again, a real-time one (32-64) is.
  2. Sending (`send_signal`), as __send_signal + complete_signal:
       1. drop the signal if its action ignores it and the target does not
          block it (sig_ignored); a stop signal discards a pending SIGCONT and
          SIGCONT discards pending stop signals;
       2. queue it (on the thread, or on the process for kill());
       3. pick the thread that takes it: the named one, or for a
          process-directed signal the first thread (named thread first, then
          by tid) that does not block it; if none, it stays pending until one
          unblocks it (`set_current_blocked` looks);
       4. wake that thread (`signal_wake_up`): set its CPU's `kernel_work`, so
          the machine calls `Kernel.return_to_user` before its next slice, and
          end an interruptible wait (`Block.interrupt`: futex, nanosleep,
          clock_nanosleep) through `Kernel.interrupt`: the syscall returns
          -EINTR and the handler runs when the thread next returns to user.
  3. Delivery (`do_signal`, from `Kernel.return_to_user`), as get_signal +
     handle_signal: dequeue the lowest-numbered deliverable signal
     (synchronous fault signals first, the thread's queue before the
     process's), then
       SIG_IGN            drop it;
       SIG_DFL            ignore (SIGCHLD, SIGCONT, SIGURG, SIGWINCH), stop, or
                          kill the process (`Kernel.fatal_signal`: report,
                          exit status 128+sig);
       a handler          call `k.delivery_hooks`, build its frame, then
                          blocked |= sa_mask | sig (not sig under
                          SA_NODEFER); SA_RESETHAND resets the action to
                          SIG_DFL.
     The loop runs until nothing deliverable is left: two pending signals give
     two nested frames before either handler runs, as in Linux.  A thread
     whose epoll_pwait a signal ended still has the call's temporary mask and
     a `saved_sigmask`: the frame records the saved mask (sigmask_to_save), so
     the handler's return restores it; if no handler runs it is restored when
     nothing is left to deliver (restore_saved_sigmask).  A frame that
     cannot be written (bad stack, altstack overflow, no SA_RESTORER on
     x86_64) is force_sigsegv: SIGSEGV to the thread, fatal if the failed
     signal was SIGSEGV itself.
  4. Frames are Linux's byte for byte (offsets in the tables below).
       x86_64  sp = rsp-128 (red zone), or the altstack top under SA_ONSTACK
               when not already on it; a 512-byte fxsave image at
               round_down(sp-512, 64); frame = round_down(fpstate-440, 16)-8
               = {pretcode (sa_restorer), ucontext, siginfo}.  Entry: rdi=sig,
               rsi=&info, rdx=&uc, rax=0, rsp=frame, rip=handler, DF/TF/RF
               cleared, and the handler starts with a clean SSE state (xmm0-15
               zero, MXCSR 0x1f80), as fpu__clear_user_states.
       arm64   top = the altstack top (same rule) or sp (no red zone); the
               frame record {x29, x30} at round_down(top-16, 16); frame =
               record-4688 = {siginfo, ucontext} whose __reserved area holds
               an fpsimd_context and the terminator.  Entry: x0=sig, x1=&info
               and x2=&uc under SA_SIGINFO, sp=frame, x29=&record,
               x30=sa_restorer under SA_RESTORER else the trampoline
               `movz x8, #139; svc #0` on a "[vdso]" page mapped (r-x) on
               first use, pc=handler.
     uc_sigmask is the mask before delivery; uc_stack is the altstack as set
     (ss_flags as the thread set them, SS_DISABLE when it has none; Linux 4.7+
     writes the stored flags, not SS_ONSTACK).  The siginfo is written only
     under SA_SIGINFO, as in Linux.
  5. rt_sigreturn (frame = rsp-8 on x86_64, the 16-aligned sp on arm64)
     restores the mask (never SIGKILL/SIGSTOP), every integer register, the pc,
     the sp, the flags (x86: only FIX_EFLAGS; arm64: NZCV, and a pstate that is
     not EL0t with DAIF clear is refused), the SIMD state (x86: MXCSR, FCW and
     xmm0-15 from the fxsave image, or the initial state for a NULL fpstate;
     arm64: FPSR, FPCR and q0-31 from the fpsimd record, which must be there)
     and the altstack, and returns `NORETURN`: rax/x0 are the frame's.  A bad
     frame (unreadable, misaligned, bad pstate, no fpsimd record, bad MXCSR or
     fpstate) returns 0 and sends SIGSEGV, as Linux's badframe path: the
     handler if one is installed and unblocked, else the default action.
  6. Faults (`fault`, from `Kernel.trap`) are force_sig_fault: SIGSEGV
     (SEGV_MAPERR / SEGV_ACCERR, si_addr = the address), SIGILL (si_addr =
     pc), SIGFPE (x86 divide error), SIGTRAP (int3 / brk / single step).  With
     a handler that is not blocked the signal is queued on the thread and the
     saved pc is the faulting instruction, so returning retries it; blocked,
     ignored or default, the process dies at once with the crash report.
Deviations from Linux, each chosen for a reason:
  - Interrupted waits always return -EINTR, also an untimed futex WAIT under
    SA_RESTART (which Linux restarts) and waits whose signal turned out to be
    ignored (Linux restarts those): Go's futexsleep allows spurious wakeups,
    and there is no restart machinery to get subtly wrong.
  - Stop signals (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU) end the run with status
    128+sig and a report: no other process exists that could send SIGCONT.
  - Frames carry no esr_context (arm64) and no xsave extension (x86: uc_flags
    has no UC_FP_XSTATE, as on a CPU with fxsr only).  The fxsave image holds
    FCW, FSW and the abridged FTW but not the x87 data registers; the x87
    state is not reset for the handler and only FCW is restored (Go uses
    SSE only).  err/trapno/cr2 (x86) and fault_address
    (arm64) describe the fault being delivered, 0 for other signals (Linux
    leaves the thread's last fault there).  Unused frame words are zero, not
    old stack contents.
  - arm64 frames with extra_context or SVE records are refused; an unreadable
    frame leaves the registers alone before SIGSEGV (Linux zeroes the ones it
    could not read).
Rejected alternatives:
  - Delivering in the syscall handler (tgkill to self) or in `Kernel.trap`:
    Linux delivers on the way back to user mode, after the syscall's result
    is in rax/x0, which the frame must capture; the machine's return_to_user
    hook is that point for every CPU, blocked or running.
  - Killing the process at send time for a fatal signal (complete_signal's
    group exit): the target dies when it next runs instead, which is the
    same to every observer in a one-process machine and keeps one exit path.
  - A Python-side "signal context" kept between delivery and sigreturn: the
    frame in guest memory is the only record, so a handler may edit it (Go's
    pushCall) and rt_sigreturn must validate whatever it finds.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

from ..machine.cpu import BREAK, Trap
from ..machine.memory import PAGE, PROT_EXEC, PROT_READ, GuestFault
from ..trace import events as ev
from .errno import EINVAL, ENOMEM, EPERM, ESRCH, fail
from .syscalls import NORETURN, syscall
from .task import BLOCKED, DEAD, RUNNING

# ---- signal numbers (include/uapi/asm-generic/signal.h; x86_64 and arm64 agree) ---------
SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE = 1, 2, 3, 4, 5, 6, 7, 8
SIGKILL, SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGSTKFLT = 9, 10, 11, 12, 13, 14, 15, 16
SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGXCPU = 17, 18, 19, 20, 21, 22, 23, 24
SIGXFSZ, SIGVTALRM, SIGPROF, SIGWINCH, SIGIO, SIGPWR, SIGSYS = 25, 26, 27, 28, 29, 30, 31
SIGRTMIN, NSIG = 32, 64

_NAMES = ("HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT "
          "CHLD CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO PWR SYS").split()


def signame(sig: int) -> str:
    """``11`` -> ``"SIGSEGV"``; real-time signals read ``SIGRTMIN+n``."""
    if 1 <= sig < SIGRTMIN:
        return "SIG" + _NAMES[sig - 1]
    return f"SIGRTMIN+{sig - SIGRTMIN}" if SIGRTMIN <= sig <= NSIG else f"signal {sig}"


def sigmask(sig: int) -> int:
    """The bit of `sig` in a sigset_t (bit sig-1)."""
    return 1 << (sig - 1)


ALL = (1 << NSIG) - 1
UNBLOCKABLE = sigmask(SIGKILL) | sigmask(SIGSTOP)
SYNCHRONOUS = sum(sigmask(s) for s in (SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGSYS))
_IGNORE_BY_DEFAULT = sum(sigmask(s) for s in (SIGCONT, SIGCHLD, SIGWINCH, SIGURG))
_STOP_BY_DEFAULT = sum(sigmask(s) for s in (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU))

# sigaction (include/uapi/asm-generic/signal-defs.h, arch .../uapi/asm/signal.h)
SIG_DFL, SIG_IGN = 0, 1
SA_NOCLDSTOP, SA_NOCLDWAIT, SA_SIGINFO, SA_EXPOSE_TAGBITS = 0x1, 0x2, 0x4, 0x800
SA_RESTORER, SA_ONSTACK, SA_RESTART = 0x04000000, 0x08000000, 0x10000000
SA_NODEFER, SA_RESETHAND = 0x40000000, 0x80000000
UAPI_SA_FLAGS = (SA_NOCLDSTOP | SA_NOCLDWAIT | SA_SIGINFO | SA_EXPOSE_TAGBITS | SA_RESTORER
                 | SA_ONSTACK | SA_RESTART | SA_NODEFER | SA_RESETHAND)
SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2
SIGSET_SIZE = 8

# sigaltstack
SS_ONSTACK, SS_DISABLE, SS_AUTODISARM = 1, 2, 1 << 31
MINSIGSTKSZ = {"amd64": 2048, "arm64": 5120}

# si_code values (include/uapi/asm-generic/siginfo.h)
SI_USER, SI_KERNEL, SI_TKILL = 0, 0x80, -6
SEGV_MAPERR, SEGV_ACCERR = 1, 2
ILL_ILLOPC, ILL_ILLOPN = 1, 2
FPE_INTDIV = 1
TRAP_BRKPT, TRAP_TRACE = 1, 2
SI_CODE_NAMES = {SI_USER: "SI_USER", SI_KERNEL: "SI_KERNEL", SI_TKILL: "SI_TKILL"}

SIGINFO_SIZE = 128
_MASK64 = (1 << 64) - 1


# ---- records ---------------------------------------------------------------------------
class SigAction(NamedTuple):
    """struct k_sigaction as the guest writes it: handler@0, flags@8, restorer@16, mask@24."""

    handler: int = SIG_DFL
    flags: int = 0
    restorer: int = 0
    mask: int = 0


_SIGACTION = struct.Struct("<QQQQ")
_STACK_T = struct.Struct("<QiiQ")           # ss_sp@0, ss_flags@8 (int), pad, ss_size@16


def default_actions() -> list[SigAction]:
    """A process's action table at exec: SIG_DFL everywhere (index 0 unused)."""
    return [SigAction()] * (NSIG + 1)


@dataclass
class SigInfo:
    """One queued signal: the siginfo it will be delivered with, and for reports
    how it came.

    :ivar signo, code: si_signo, si_code (si_errno is always 0).
    :ivar pid, uid: si_pid@16, si_uid@20 (kill / tkill / tgkill).
    :ivar addr: si_addr@16 for faults (None: the pid/uid form).
    :ivar trap: the hardware fault behind a synchronous signal, if any.
    :ivar arch: x86_64 (err, trapno, cr2) for the sigcontext of a fault.
    :ivar why: where it came from, for the crash report of a fatal signal.
    """

    signo: int
    code: int
    pid: int = 0
    uid: int = 0
    addr: int | None = None
    trap: Trap | None = None
    arch: tuple[int, int, int] = (0, 0, 0)
    why: str = ""

    def pack(self) -> bytes:
        b = bytearray(SIGINFO_SIZE)
        struct.pack_into("<iii", b, 0, self.signo, 0, self.code)
        if self.addr is not None:
            struct.pack_into("<Q", b, 16, self.addr & _MASK64)
        else:
            struct.pack_into("<iI", b, 16, self.pid, self.uid)
        return bytes(b)


def _queued(q: dict[int, list[SigInfo]]) -> int:
    """The sigset of the signals in queue `q`."""
    m = 0
    for sig in q:
        m |= sigmask(sig)
    return m


def _take(q: dict[int, list[SigInfo]], sig: int) -> SigInfo:
    infos = q[sig]
    info = infos.pop(0)
    if not infos:
        del q[sig]
    return info


def _lowest(m: int) -> int:
    return (m & -m).bit_length()


def default_action(sig: int) -> str:
    """"ignore", "stop" or "kill" (terminate, with or without a core dump)."""
    if sigmask(sig) & _IGNORE_BY_DEFAULT:
        return "ignore"
    if sigmask(sig) & _STOP_BY_DEFAULT:
        return "stop"
    return "kill"


def _ignored_action(act: SigAction, sig: int) -> bool:
    """sig_handler_ignored: SIG_IGN, or SIG_DFL whose default is to ignore."""
    return act.handler == SIG_IGN or (act.handler == SIG_DFL and default_action(sig) == "ignore")


def _fatal(k, sig: int) -> bool:
    """sig_fatal: delivering `sig` now would kill the process."""
    return sig == SIGKILL or (k.sighand[sig].handler == SIG_DFL and default_action(sig) == "kill")


# ---- sending -----------------------------------------------------------------------------
def _live(k):
    return [x for x in k.tasks.values() if x.state != DEAD]


def signal_wake_up(k, t, sig: int, sender=None) -> None:
    """Make `t` notice its pending signals: delivery before its next slice, and
    an interruptible wait (or any wait, for a fatal signal) ends now."""
    t.cpu.kernel_work = True
    if t.state == BLOCKED and (t.block.interrupt is not None or _fatal(k, sig)):
        k.interrupt(t, sender)


def send_signal(k, sender, target, info: SigInfo, *, group: bool = False) -> None:
    """Generate a signal for thread `target` (group=False: tkill/tgkill) or for
    its process (group=True: kill), as Linux's __send_signal + complete_signal.
    `sender` is the sending Task (None: the kernel)."""
    sig = info.signo
    # prepare_signal: stop signals and SIGCONT cancel each other's pending instances.
    if sigmask(sig) & _STOP_BY_DEFAULT:
        _flush(k, sigmask(SIGCONT))
    elif sig == SIGCONT:
        _flush(k, _STOP_BY_DEFAULT)
    if not target.blocked & sigmask(sig) and sig not in (SIGKILL, SIGSTOP) \
            and _ignored_action(k.sighand[sig], sig):
        return                                    # sig_ignored: dropped at once
    q = k.shared_pending if group else target.pending
    if sig < SIGRTMIN and sig in q:
        return                                    # legacy_queue: already pending
    q.setdefault(sig, []).append(info)
    if not group:
        if not target.blocked & sigmask(sig):
            signal_wake_up(k, target, sig, sender)
        return
    candidates = ([target] if target.state != DEAD else []) + [x for x in _live(k) if x is not target]
    for t in candidates:
        if not t.blocked & sigmask(sig):
            signal_wake_up(k, t, sig, sender)
            return


def _flush(k, mask: int) -> None:
    """Discard pending instances of the signals in `mask`, everywhere."""
    for q in [k.shared_pending] + [x.pending for x in k.tasks.values()]:
        for sig in [s for s in q if sigmask(s) & mask]:
            del q[sig]


def force_sig(k, t, info: SigInfo) -> None:
    """A kernel-forced synchronous signal (force_sig_info, HANDLER_CURRENT): if
    it is blocked or ignored, unblock it and reset its action to SIG_DFL, so it
    is either handled or fatal; queue it on `t`."""
    sig = info.signo
    act = k.sighand[sig]
    blocked = t.blocked & sigmask(sig)
    if blocked or act.handler == SIG_IGN:
        k.sighand[sig] = act._replace(handler=SIG_DFL)
        t.blocked &= ~sigmask(sig)
    q = t.pending
    if not (sig < SIGRTMIN and sig in q):
        q.setdefault(sig, []).append(info)
    t.cpu.kernel_work = True


def force_sigsegv(k, t, failed_sig: int, why: str) -> None:
    """Delivery of `failed_sig` failed (its frame could not be built): SIGSEGV,
    which kills at once if it was SIGSEGV that failed (force_sigsegv)."""
    if failed_sig == SIGSEGV:
        k.fatal_signal(t, SIGSEGV, why=why)
    else:
        force_sig(k, t, SigInfo(SIGSEGV, SI_KERNEL, why=why))


def exit_signals(k, t) -> None:
    """Thread `t` is exiting: process-directed signals it would have taken go
    to another thread that does not block them (retarget_shared_pending)."""
    _retarget(k, t, ~t.blocked & ALL)


def _retarget(k, t, which: int) -> None:
    m = _queued(k.shared_pending) & which
    for x in _live(k):
        if not m:
            return
        if x is t or not m & ~x.blocked:
            continue
        signal_wake_up(k, x, _lowest(m & ~x.blocked), t)
        m &= x.blocked


def set_current_blocked(k, t, mask: int) -> None:
    """Change `t`'s mask (never SIGKILL/SIGSTOP); hand newly blocked process
    signals to other threads, and deliver newly unblocked pending ones."""
    mask &= ALL & ~UNBLOCKABLE
    newly = mask & ~t.blocked
    if newly & _queued(k.shared_pending):
        _retarget(k, t, newly)
    t.blocked = mask
    if (_queued(t.pending) | _queued(k.shared_pending)) & ~mask:
        t.cpu.kernel_work = True


def signal_pending(k, t) -> bool:
    """A signal `t` does not block is pending for it (on its queue or the process's)."""
    return bool((_queued(t.pending) | _queued(k.shared_pending)) & ~t.blocked)


# ---- delivery ----------------------------------------------------------------------------
def _dequeue(k, t) -> SigInfo | None:
    """The next signal to deliver to `t`: lowest number, synchronous ones first,
    the thread's queue before the process's (dequeue_signal)."""
    for q in (t.pending, k.shared_pending):
        m = _queued(q) & ~t.blocked
        if m:
            sync = m & SYNCHRONOUS
            return _take(q, _lowest(sync or m))
    return None


def do_signal(k, t) -> None:
    """Deliver every deliverable pending signal of `t` (see the module note, 3)."""
    while t.state == RUNNING:
        info = _dequeue(k, t)
        if info is None:
            if t.saved_sigmask is not None:           # restore_saved_sigmask: no handler ran
                mask, t.saved_sigmask = t.saved_sigmask, None
                set_current_blocked(k, t, mask)
                continue
            t.cpu.kernel_work = False
            return
        sig = info.signo
        act = k.sighand[sig]
        if act.handler == SIG_IGN:
            continue
        if act.handler == SIG_DFL:
            action = default_action(sig)
            if action == "ignore":
                continue
            if action == "stop":
                _stop_process(k, t, sig, info)
            else:
                k.fatal_signal(t, sig, info.trap, _why(info))
            return
        if act.flags & SA_RESETHAND:
            k.sighand[sig] = act._replace(handler=SIG_DFL)
        for hook in k.delivery_hooks:
            hook(t, sig)
        current = t.blocked
        if t.saved_sigmask is not None:               # sigmask_to_save(): the frame keeps the caller's
            t.blocked, t.saved_sigmask = t.saved_sigmask, None
        setup = _setup_frame_amd64 if k.isa.name == "amd64" else _setup_frame_arm64
        frame, trouble = setup(k, t, sig, act, info)
        if frame is None:
            why = f"cannot deliver {signame(sig)} to its handler {act.handler:#x}: {trouble}"
            if info.trap is not None and info.trap.access:
                tr = info.trap
                why += f"; {signame(sig)} came from a {tr.access} at {tr.reason} address {tr.addr:#x}"
            force_sigsegv(k, t, sig, why)
            continue
        on_altstack = bool(t.sas_ss_size) and _on_stack(t, frame)
        if t.sas_ss_flags & SS_AUTODISARM:
            t.sas_ss_sp, t.sas_ss_size, t.sas_ss_flags = 0, 0, SS_DISABLE
        blocked = current | act.mask | (0 if act.flags & SA_NODEFER else sigmask(sig))
        set_current_blocked(k, t, blocked)
        k.emit(t, ev.SIGNAL, sig, act.handler, frame, on_altstack)


def _why(info: SigInfo) -> str:
    if info.why:
        return info.why
    return f"si_code {SI_CODE_NAMES.get(info.code, info.code)}"


def _stop_process(k, t, sig: int, info: SigInfo) -> None:
    """A stop signal's default action.  No other process exists to send SIGCONT,
    so the stop ends the run (status 128+sig, as a shell reports a stopped job)."""
    why = f"{_why(info)}; no other process exists that could continue it with SIGCONT"
    report = k.crash_report(t, sig, None, why)
    k.crash = report.replace(f"killed by {signame(sig)}", f"stopped by {signame(sig)}", 1)
    k.exit_process(128 + sig, t)


# ---- the alternate stack -------------------------------------------------------------------
def _on_stack(t, sp: int) -> bool:
    """__on_sig_stack: sp in (ss_sp, ss_sp + ss_size]."""
    return sp > t.sas_ss_sp and sp - t.sas_ss_sp <= t.sas_ss_size


def on_sig_stack(t, sp: int) -> bool:
    return not t.sas_ss_flags & SS_AUTODISARM and _on_stack(t, sp)


def sas_ss_flags(t, sp: int) -> int:
    """What sigaltstack reports: SS_DISABLE without one, SS_ONSTACK on it, else 0."""
    if not t.sas_ss_size:
        return SS_DISABLE
    return SS_ONSTACK if on_sig_stack(t, sp) else 0


def do_sigaltstack(k, t, new: tuple[int, int, int] | None, sp: int) -> int:
    """Set `t`'s altstack to `new` = (ss_sp, ss_flags, ss_size) with `sp` the
    thread's stack pointer; 0 or -errno (kernel/signal.c do_sigaltstack)."""
    if new is None:
        return 0
    ss_sp, ss_flags, ss_size = new
    if on_sig_stack(t, sp):
        return fail(EPERM)
    mode = ss_flags & ~SS_AUTODISARM
    if mode not in (SS_DISABLE, SS_ONSTACK, 0):
        return fail(EINVAL)
    if (t.sas_ss_sp, t.sas_ss_size, t.sas_ss_flags) == (ss_sp, ss_size, ss_flags):
        return 0
    if mode == SS_DISABLE:
        ss_sp = ss_size = 0
    elif ss_size < MINSIGSTKSZ[k.isa.name]:
        return fail(ENOMEM)
    t.sas_ss_sp, t.sas_ss_size, t.sas_ss_flags = ss_sp, ss_size, ss_flags
    return 0


def _pack_stack_t(sp: int, flags: int, size: int) -> bytes:
    return _STACK_T.pack(sp & _MASK64, _s32(flags), 0, size & _MASK64)


def _unpack_stack_t(raw: bytes) -> tuple[int, int, int]:
    sp, flags, _, size = _STACK_T.unpack(raw)
    return sp, flags & 0xFFFFFFFF, size


def _s32(x: int) -> int:
    """A syscall's `int` argument: the low 32 bits, signed."""
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x >> 31 else x


# ---- x86_64 frames (arch/x86/kernel/signal_64.c, uapi/asm/sigcontext.h) ------------------
#   rt_sigframe          ucontext (at frame+8)            sigcontext (at uc+40)
#   /*   0 */ pretcode   /*   0 */ uc_flags               /*   0 */ r8 .. r15, rdi, rsi, rbp,
#   /*   8 */ uc         /*   8 */ uc_link                          rbx, rdx, rax, rcx, rsp,
#   /* 312 */ info       /*  16 */ uc_stack {sp,flags,size}         rip, eflags (8 bytes each)
#   /* 440 */ (size)     /*  40 */ uc_mcontext            /* 144 */ cs, gs, fs, ss (u16)
#                        /* 296 */ uc_sigmask             /* 152 */ err, trapno, oldmask, cr2
#                        /* 304 */ (size)                 /* 184 */ fpstate (pointer)
#                                                         /* 192 */ reserved1[8]
X86_GREGS = ("r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rdi", "rsi", "rbp", "rbx",
             "rdx", "rax", "rcx", "rsp", "rip", "rflags")
X86_FRAME_SIZE, X86_UC, X86_INFO = 440, 8, 312
X86_UC_STACK, X86_MCONTEXT, X86_SIGMASK = 16, 40, 296       # in the ucontext
X86_FPSTATE = 184                                          # in the sigcontext
X86_SIGCONTEXT_SIZE = 192                                  # up to reserved1
FXSAVE_SIZE = 512                                          # fcw@0 fsw@2 ftw@4 mxcsr@24 xmm@160
UC_FP_XSTATE, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS = 1, 2, 4
USER_CS, USER_DS = 0x33, 0x2B
X86_CF, X86_PF, X86_AF, X86_ZF, X86_SF, X86_TF = 0x1, 0x4, 0x10, 0x40, 0x80, 0x100
X86_DF, X86_OF, X86_RF, X86_AC = 0x400, 0x800, 0x10000, 0x40000
FIX_EFLAGS = X86_AC | X86_OF | X86_DF | X86_TF | X86_SF | X86_ZF | X86_AF | X86_PF | X86_CF | X86_RF
MXCSR_DEFAULT, MXCSR_MASK = 0x1F80, 0xFFFF


def _fxsave(cpu) -> bytes:
    """The 512-byte fxsave image of the thread's FP/SSE state."""
    img = bytearray(FXSAVE_SIZE)
    tag = cpu.read("fptag")
    ftw = sum(1 << i for i in range(8) if (tag >> 2 * i) & 3 != 3)   # abridged tag word
    struct.pack_into("<HHB", img, 0, cpu.read("fpcw"), cpu.read("fpsw"), ftw)
    struct.pack_into("<II", img, 24, cpu.read("mxcsr"), MXCSR_MASK)
    img[160:416] = cpu.vector_bytes()
    return bytes(img)


def _setup_frame_amd64(k, t, sig, act, info):
    """Build the x86_64 rt_sigframe; returns (frame, None) or (None, trouble)."""
    cpu = t.cpu
    regs = cpu.snapshot_regs()
    rsp = regs["rsp"]
    nested = on_sig_stack(t, rsp)
    sp = (rsp - 128) & _MASK64                    # skip the red zone
    entering = False
    if act.flags & SA_ONSTACK and sas_ss_flags(t, sp) == 0:
        sp, entering = t.sas_ss_sp + t.sas_ss_size, True
    fpstate = (sp - FXSAVE_SIZE) & ~63 & _MASK64
    frame = (((fpstate - X86_FRAME_SIZE) & ~15) - 8) & _MASK64
    if (nested or entering) and not _on_stack(t, frame):
        return None, f"the frame at {frame:#x} overflows the alternate signal stack"
    if not act.flags & SA_RESTORER:
        return None, "no SA_RESTORER (an x86_64 handler returns through sa_restorer)"
    err, trapno, cr2 = info.arch if info.trap is not None else (0, 0, 0)
    buf = bytearray(X86_INFO)
    uc = X86_UC
    struct.pack_into("<QQQ", buf, 0, act.restorer, UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS, 0)
    buf[uc + X86_UC_STACK:uc + X86_UC_STACK + 24] = _pack_stack_t(t.sas_ss_sp, t.sas_ss_flags, t.sas_ss_size)
    mc = uc + X86_MCONTEXT
    struct.pack_into("<18Q", buf, mc, *(regs[r] for r in X86_GREGS))
    struct.pack_into("<HHHH", buf, mc + 144, USER_CS, 0, 0, USER_DS)
    struct.pack_into("<QQQQQ", buf, mc + 152, err, trapno, t.blocked, cr2, fpstate)
    struct.pack_into("<Q", buf, uc + X86_SIGMASK, t.blocked)
    try:
        k.mem.copy_to_user(fpstate, _fxsave(cpu))
        k.mem.copy_to_user(frame, bytes(buf))
        if act.flags & SA_SIGINFO:
            k.mem.copy_to_user(frame + X86_INFO, info.pack())
    except GuestFault as e:
        return None, f"cannot write the frame at {frame:#x} ({e})"
    cpu.load_regs({"rdi": sig, "rsi": frame + X86_INFO, "rdx": frame + X86_UC, "rax": 0,
                   "rsp": frame, "rip": act.handler,
                   "rflags": regs["rflags"] & ~(X86_DF | X86_RF | X86_TF)})
    # fpu__clear_user_states: the handler starts with the initial SSE state.
    cpu.write("mxcsr", MXCSR_DEFAULT)
    cpu.set_vector_bytes(bytes(256))
    return frame, None


def _sigreturn_amd64(k, t):
    cpu = t.cpu
    frame = (cpu.sp - 8) & _MASK64                # `ret` popped pretcode
    try:
        uc = k.mem.copy_from_user(frame + X86_UC, X86_SIGMASK + 8)
    except GuestFault:
        return _badframe(k, t, f"rt_sigreturn: no readable signal frame at {frame:#x}")
    set_current_blocked(k, t, struct.unpack_from("<Q", uc, X86_SIGMASK)[0])
    mc = X86_MCONTEXT
    vals = struct.unpack_from("<18Q", uc, mc)
    new = dict(zip(X86_GREGS, vals))
    new["rflags"] = (cpu.read("rflags") & ~FIX_EFLAGS) | (new["rflags"] & FIX_EFLAGS)
    cpu.load_regs(new)
    fpstate = struct.unpack_from("<Q", uc, mc + X86_FPSTATE)[0]
    trouble = _restore_fpstate_amd64(k, cpu, fpstate)
    if trouble:
        return _badframe(k, t, f"rt_sigreturn: {trouble} (frame {frame:#x})")
    do_sigaltstack(k, t, _unpack_stack_t(uc[X86_UC_STACK:X86_UC_STACK + 24]), cpu.sp)
    k.emit(t, ev.SIGRETURN, new["rip"], new["rsp"])
    return NORETURN


def _restore_fpstate_amd64(k, cpu, fpstate: int) -> str:
    """fpu__restore_sig: "" when restored, else what was wrong."""
    if fpstate == 0:                              # no FP state: the initial one
        cpu.write("mxcsr", MXCSR_DEFAULT)
        cpu.write("fpcw", 0x37F)
        cpu.set_vector_bytes(bytes(256))
        return ""
    if fpstate % 16:
        return f"fpstate {fpstate:#x} is not 16-byte aligned"
    try:
        img = k.mem.copy_from_user(fpstate, FXSAVE_SIZE)
    except GuestFault:
        return f"fpstate {fpstate:#x} is not readable"
    fcw, = struct.unpack_from("<H", img, 0)
    mxcsr, = struct.unpack_from("<I", img, 24)
    if mxcsr & ~MXCSR_MASK:
        return f"MXCSR {mxcsr:#x} has reserved bits set"
    cpu.write("fpcw", fcw)
    cpu.write("mxcsr", mxcsr)
    cpu.set_vector_bytes(img[160:416])
    return ""


# ---- arm64 frames (arch/arm64/kernel/signal.c, uapi/asm/sigcontext.h) ---------------------
#   rt_sigframe         ucontext (at frame+128)        sigcontext (at uc+176)
#   /*    0 */ info     /*   0 */ uc_flags              /*   0 */ fault_address
#   /*  128 */ uc       /*   8 */ uc_link               /*   8 */ regs[31]
#   /* 4688 */ (size)   /*  16 */ uc_stack              /* 256 */ sp
#                       /*  40 */ uc_sigmask (+120)     /* 264 */ pc
#                       /* 176 */ uc_mcontext           /* 272 */ pstate
#                                                       /* 288 */ __reserved[4096]:
#   fpsimd_context {magic 0x46508001, size 528, fpsr@8, fpcr@12, vregs[32]@16}, then {0, 0}
A64_FRAME_SIZE, A64_UC = 4688, 128
A64_UC_STACK, A64_SIGMASK, A64_MCONTEXT = 16, 40, 176      # in the ucontext
A64_RESERVED, A64_RESERVED_SIZE = 288, 4096                 # in the sigcontext
FPSIMD_MAGIC, FPSIMD_SIZE, ESR_MAGIC = 0x46508001, 528, 0x45535201
PSR_MODE_MASK, PSR_MODE32, PSR_DAIF, PSR_NZCV = 0xF, 0x10, 0x3C0, 0xF0000000
SIGTRAMP_CODE = struct.pack("<II", 0xD2801168, 0xD4000001)  # movz x8, #139 (rt_sigreturn); svc #0


def _sigtramp(k) -> int:
    """The return trampoline for handlers without SA_RESTORER (the vDSO's
    __kernel_rt_sigreturn), on an r-x page mapped once per process."""
    if k.sigtramp is None:
        at = k.mem.free_range(PAGE, k.mmap_min, k.mmap_top)
        if at is None:
            return 0
        k.mem.map(at, PAGE, PROT_READ | PROT_EXEC, "[vdso]")
        k.mem.write(at, SIGTRAMP_CODE)
        k.sigtramp = at
    return k.sigtramp


def _setup_frame_arm64(k, t, sig, act, info):
    """Build the arm64 rt_sigframe; returns (frame, None) or (None, trouble)."""
    cpu = t.cpu
    regs = cpu.snapshot_regs()
    top = regs["sp"]
    if act.flags & SA_ONSTACK and sas_ss_flags(t, top) == 0:
        top = t.sas_ss_sp + t.sas_ss_size
    record = ((top - 16) & ~15) & _MASK64
    frame = (record - A64_FRAME_SIZE) & _MASK64
    buf = bytearray(A64_FRAME_SIZE - A64_UC)      # the ucontext (info is written apart)
    buf[A64_UC_STACK:A64_UC_STACK + 24] = _pack_stack_t(t.sas_ss_sp, t.sas_ss_flags, t.sas_ss_size)
    struct.pack_into("<Q", buf, A64_SIGMASK, t.blocked)
    mc = A64_MCONTEXT
    fault_address = info.addr if info.trap is not None and info.addr is not None else 0
    struct.pack_into("<Q31QQQQ", buf, mc, fault_address, *(regs[f"x{i}"] for i in range(31)),
                     regs["sp"], regs["pc"], regs["nzcv"] & PSR_NZCV)
    fp = mc + A64_RESERVED
    struct.pack_into("<IIII", buf, fp, FPSIMD_MAGIC, FPSIMD_SIZE, cpu.read("fpsr"), cpu.read("fpcr"))
    buf[fp + 16:fp + 16 + 512] = cpu.vector_bytes()
    # the terminator {0, 0} after the record is already zero
    restorer = act.restorer if act.flags & SA_RESTORER else _sigtramp(k)
    if not act.flags & SA_RESTORER and not restorer:
        return None, "no free page for the signal return trampoline"
    try:
        k.mem.copy_to_user(frame + A64_UC, bytes(buf))
        k.mem.copy_to_user(record, struct.pack("<QQ", regs["x29"], regs["x30"]))
        if act.flags & SA_SIGINFO:
            k.mem.copy_to_user(frame, info.pack())
    except GuestFault as e:
        return None, f"cannot write the frame at {frame:#x} ({e})"
    new = {"x0": sig, "sp": frame, "x29": record, "x30": restorer, "pc": act.handler}
    if act.flags & SA_SIGINFO:
        new["x1"], new["x2"] = frame, frame + A64_UC
    cpu.load_regs(new)
    return frame, None


def _sigreturn_arm64(k, t):
    cpu = t.cpu
    frame = cpu.sp
    if frame % 16:
        return _badframe(k, t, f"rt_sigreturn: sp {frame:#x} is not 16-byte aligned", frame)
    try:
        raw = k.mem.copy_from_user(frame, A64_FRAME_SIZE)
    except GuestFault:
        return _badframe(k, t, f"rt_sigreturn: no readable signal frame at {frame:#x}", frame)
    uc = A64_UC
    set_current_blocked(k, t, struct.unpack_from("<Q", raw, uc + A64_SIGMASK)[0])
    mc = uc + A64_MCONTEXT
    vals = struct.unpack_from("<31QQQQ", raw, mc + 8)
    new = {f"x{i}": vals[i] for i in range(31)}
    new["sp"], new["pc"], pstate = vals[31], vals[32], vals[33]
    new["nzcv"] = pstate & PSR_NZCV
    cpu.load_regs(new)
    if pstate & (PSR_MODE_MASK | PSR_MODE32 | PSR_DAIF):
        return _badframe(k, t, f"rt_sigreturn: pstate {pstate:#x} is not EL0t with DAIF clear "
                               f"(frame {frame:#x})", new["sp"])
    fpsimd = _find_fpsimd(raw, mc + A64_RESERVED)
    if fpsimd is None:
        return _badframe(k, t, f"rt_sigreturn: no valid fpsimd_context record (frame {frame:#x})",
                         new["sp"])
    fpsr, fpcr = struct.unpack_from("<II", raw, fpsimd + 8)
    cpu.write("fpsr", fpsr)
    cpu.write("fpcr", fpcr)
    cpu.set_vector_bytes(raw[fpsimd + 16:fpsimd + 16 + 512])
    do_sigaltstack(k, t, _unpack_stack_t(raw[uc + A64_UC_STACK:uc + A64_UC_STACK + 24]), cpu.sp)
    k.emit(t, ev.SIGRETURN, new["pc"], new["sp"])
    return NORETURN


def _find_fpsimd(raw: bytes, base: int) -> int | None:
    """Walk the __reserved records (parse_user_sigframe); the offset of the one
    fpsimd_context, or None if the records are malformed or it is missing."""
    off, found = 0, None
    while True:
        if A64_RESERVED_SIZE - off < 8 or off % 16:
            return None
        magic, size = struct.unpack_from("<II", raw, base + off)
        if magic == 0:
            return found if size == 0 else None
        if magic == FPSIMD_MAGIC:
            if found is not None or size != FPSIMD_SIZE:
                return None
            found = base + off
        elif magic != ESR_MAGIC:
            return None                           # SVE, extra_context ...: not supported
        if size < 8 or A64_RESERVED_SIZE - off < size:
            return None
        off += size


def _badframe(k, t, why: str, sp: int | None = None):
    """rt_sigreturn's badframe: return 0 and send SIGSEGV (x86: SI_KERNEL; arm64:
    SEGV_MAPERR/ACCERR at the stack pointer, as arm64_notify_segfault).  Only
    rax/x0 is written: the other registers keep what was restored."""
    t.cpu.write(k.isa.syscall_ret, 0)
    if sp is None:
        info = SigInfo(SIGSEGV, SI_KERNEL, why=why)
    else:
        above = any(r.end > sp for r in k.mem.regions)      # find_vma
        info = SigInfo(SIGSEGV, SEGV_ACCERR if above else SEGV_MAPERR, addr=sp, why=why)
    force_sig(k, t, info)
    return NORETURN


# ---- faults ------------------------------------------------------------------------------
def fault(k, t, trap: Trap) -> None:
    """A CPU fault or breakpoint in `t` becomes a synchronous signal
    (force_sig_fault); see the module note, 6."""
    info, pc = _fault_info(k, trap)
    sig = info.signo
    act = k.sighand[sig]
    if t.blocked & sigmask(sig) or act.handler in (SIG_DFL, SIG_IGN):
        k.fatal_signal(t, sig, trap)              # blocked, ignored or default: death
        return
    k.emit(t, ev.FAULT, signame(sig), trap.access, trap.addr, trap.reason)
    t.cpu.pc = pc
    force_sig(k, t, info)


def _fault_info(k, trap: Trap) -> tuple[SigInfo, int]:
    """(siginfo, pc to resume at) for a trap, as Linux's trap handlers fill them."""
    amd64 = k.isa.name == "amd64"
    pc = trap.pc
    if trap.kind == BREAK:
        if amd64:                                 # int3 is a trap: resume after it
            return SigInfo(SIGTRAP, SI_KERNEL, trap=trap, arch=(0, 3, 0)), pc + 1
        return SigInfo(SIGTRAP, TRAP_BRKPT, addr=pc, trap=trap), pc
    reason = trap.reason
    if reason in ("unmapped", "protected"):
        code = SEGV_MAPERR if reason == "unmapped" else SEGV_ACCERR
        err = ((1 if reason == "protected" else 0) | (2 if trap.access == "write" else 0) | 4
               | (16 if trap.access == "exec" else 0))    # x86 page-fault error code, user mode
        return SigInfo(SIGSEGV, code, addr=trap.addr, trap=trap, arch=(err, 14, trap.addr)), pc
    if reason == "invalid":
        return SigInfo(SIGILL, ILL_ILLOPN if amd64 else ILL_ILLOPC, addr=pc, trap=trap,
                       arch=(0, 6, 0)), pc
    if amd64 and reason == "interrupt 0":         # #DE: divide error
        return SigInfo(SIGFPE, FPE_INTDIV, addr=pc, trap=trap, arch=(0, 0, 0)), pc
    if amd64 and reason == "interrupt 1":         # #DB after a single step (TF)
        return SigInfo(SIGTRAP, TRAP_TRACE, addr=pc, trap=trap, arch=(0, 1, 0)), pc
    if amd64:                                     # #GP (hlt, privileged, unknown interrupts)
        return SigInfo(SIGSEGV, SI_KERNEL, trap=trap, arch=(0, 13, 0)), pc
    return SigInfo(SIGILL, ILL_ILLOPC, addr=pc, trap=trap), pc


# ---- system calls ------------------------------------------------------------------------
def _valid(sig: int) -> bool:
    return 1 <= sig <= NSIG


@syscall
def sys_rt_sigaction(k, t, sig, act, oact, sigsetsize):
    """Set and/or get the process-wide action of `sig`."""
    if sigsetsize != SIGSET_SIZE:
        return fail(EINVAL)
    new = SigAction(*_SIGACTION.unpack(k.mem.copy_from_user(act, 32))) if act else None
    sig = _s32(sig)
    if not _valid(sig) or (new is not None and sig in (SIGKILL, SIGSTOP)):
        return fail(EINVAL)
    old = k.sighand[sig]
    if new is not None:
        new = new._replace(flags=new.flags & UAPI_SA_FLAGS, mask=new.mask & ~UNBLOCKABLE)
        k.sighand[sig] = new
        if _ignored_action(new, sig):
            _flush(k, sigmask(sig))               # POSIX: setting SIG_IGN discards pending ones
    if oact:
        k.mem.copy_to_user(oact, _SIGACTION.pack(old.handler, old.flags & UAPI_SA_FLAGS,
                                                  old.restorer, old.mask))
    return 0


@syscall
def sys_rt_sigprocmask(k, t, how, nset, oset, sigsetsize):
    """Change and/or get the calling thread's blocked mask."""
    if sigsetsize != SIGSET_SIZE:
        return fail(EINVAL)
    old = t.blocked
    if nset:
        s, = struct.unpack("<Q", k.mem.copy_from_user(nset, 8))
        how = _s32(how)
        if how == SIG_BLOCK:
            mask = old | s
        elif how == SIG_UNBLOCK:
            mask = old & ~s
        elif how == SIG_SETMASK:
            mask = s
        else:
            return fail(EINVAL)
        set_current_blocked(k, t, mask)
    if oset:
        k.mem.copy_to_user(oset, struct.pack("<Q", old))
    return 0


@syscall
def sys_sigaltstack(k, t, uss, uoss):
    """Set and/or get the calling thread's alternate signal stack."""
    new = _unpack_stack_t(k.mem.copy_from_user(uss, 24)) if uss else None
    sp = t.cpu.sp
    old = _pack_stack_t(t.sas_ss_sp, sas_ss_flags(t, sp) | (t.sas_ss_flags & SS_AUTODISARM), t.sas_ss_size)
    err = do_sigaltstack(k, t, new, sp)
    if err == 0 and uoss:
        k.mem.copy_to_user(uoss, old)
    return err


@syscall
def sys_rt_sigreturn(k, t):
    """Return from a handler: restore the context saved in the frame at the stack pointer."""
    return _sigreturn_amd64(k, t) if k.isa.name == "amd64" else _sigreturn_arm64(k, t)


def _thread(k, tid: int):
    x = k.tasks.get(tid)
    return x if x is not None and x.state != DEAD else None


def _send_to_thread(k, t, tgid: int, tid: int, sig: int, name: str) -> int:
    target = _thread(k, tid)
    if target is None or (tgid > 0 and tgid != k.pid):
        return fail(ESRCH)
    if not 0 <= sig <= NSIG:
        return fail(EINVAL)
    if sig:
        send_signal(k, t, target, SigInfo(sig, SI_TKILL, pid=k.pid,
                                          why=f"sent by {name} from thread {t.tid}"))
    return 0


@syscall
def sys_tgkill(k, t, tgid, tid, sig):
    """Send `sig` to thread `tid` of process `tgid` (sig 0: only check it exists)."""
    tgid, tid = _s32(tgid), _s32(tid)
    if tgid <= 0 or tid <= 0:
        return fail(EINVAL)
    return _send_to_thread(k, t, tgid, tid, _s32(sig), "tgkill")


@syscall
def sys_tkill(k, t, tid, sig):
    """Send `sig` to thread `tid` (sig 0: only check it exists)."""
    tid = _s32(tid)
    if tid <= 0:
        return fail(EINVAL)
    return _send_to_thread(k, t, 0, tid, _s32(sig), "tkill")


@syscall
def sys_kill(k, t, pid, sig):
    """Send `sig` to a process: `pid` (any of its thread ids), 0 or -pid (our
    process group: this process).  -1 ("every other process") finds none."""
    pid, sig = _s32(pid), _s32(sig)
    if pid > 0:
        target = _thread(k, pid) or (next(iter(_live(k)), None) if pid == k.pid else None)
    elif pid == 0 or pid == -k.pid:
        target = _thread(k, k.pid) or next(iter(_live(k)), None)
    else:
        target = None
    if target is None:
        return fail(ESRCH)
    if not 0 <= sig <= NSIG:
        return fail(EINVAL)
    if sig:
        send_signal(k, t, target, SigInfo(sig, SI_USER, pid=k.pid, why=f"sent by kill from thread {t.tid}"),
                    group=True)
    return 0
