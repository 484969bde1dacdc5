"""Signal handling in the runtime (Go: signal_unix.go, signal_linux_*.go, os_linux.go).

Design note
  1. initsig installs the runtime's handler `sigtramp` (asm) for SIGURG with the
     flags Go uses: SA_SIGINFO | SA_ONSTACK | SA_RESTART, plus SA_RESTORER on
     amd64 (the restorer is sigreturn__sigaction), and every signal blocked while
     it runs.
  2. Every M gets a 32 KiB gsignal stack (allocm) which minit installs with
     sigaltstack on the M's own thread, then unblocks signals; newosproc blocks
     them around clone so a new thread never takes a signal before that.
  3. The kernel delivers a signal by building its rt_sigframe on the gsignal stack
     and entering sigtramp (asm), which calls sigtrampgo here.  sigtrampgo finds
     the interrupted g (the g register is untouched by the kernel), switches g to
     gsignal as Go does, runs sighandler, and switches back; sigtramp then returns
     into rt_sigreturn, which resumes whatever the ucontext now says.
  4. The ucontext is read and edited in guest memory at the kernel's offsets
     (`Ucontext` below): that is how doSigPreempt redirects the G (preempt.py).
"""
from __future__ import annotations

from .layout import _Gdead
from .oslinux import sigaction, sigaltstack, sigprocmask
from .pycall import export

SIGSEGV, SIGURG = 11, 23
SA_SIGINFO, SA_ONSTACK, SA_RESTART, SA_RESTORER = 0x4, 0x08000000, 0x10000000, 0x04000000
ALL_SIGNALS = 0xFFFF_FFFF_FFFF_FFFF

# Where the interrupted registers are in the kernel's ucontext (arch/*/include/uapi/asm/sigcontext.h).
_AMD64_GREGS = ["r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rdi", "rsi", "rbp", "rbx",
                "rdx", "rax", "rcx", "rsp", "rip", "eflags"]
UC_OFFSETS = {
    "amd64": {name: 40 + 8 * i for i, name in enumerate(_AMD64_GREGS)},
    "arm64": {**{f"x{i}": 176 + 8 + 8 * i for i in range(31)}, "sp": 176 + 256, "pc": 176 + 264,
              "pstate": 176 + 272},
}
# The three a preemption reads and writes, by role.
UC_ROLES = {"amd64": {"pc": "rip", "sp": "rsp", "lr": None, "fp": "rbp"},
            "arm64": {"pc": "pc", "sp": "sp", "lr": "x30", "fp": "x29"}}


class Ucontext:
    """The interrupted register state, in the kernel's ucontext in guest memory."""

    def __init__(self, rt, addr: int):
        self.mem, self.addr = rt.mem, addr
        self.offsets = UC_OFFSETS[rt.isa.name]
        self.roles = UC_ROLES[rt.isa.name]

    def __getitem__(self, reg: str) -> int:
        return self.mem.read_u64(self.addr + self.offsets[self.roles.get(reg) or reg])

    def __setitem__(self, reg: str, value: int) -> None:
        self.mem.write_u64(self.addr + self.offsets[self.roles.get(reg) or reg], value)


def handler_flags(isa) -> int:
    flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART
    return flags | SA_RESTORER if isa.name == "amd64" else flags


def initsig(rt):
    """Install the runtime's signal handlers: SIGURG (preemption) and SIGSEGV (stack
    growth through the guard page, and Go's fault reports) (generator)."""
    restorer = rt.addr("runtime.sigreturn__sigaction") if rt.isa.name == "amd64" else 0
    for sig in (SIGURG, SIGSEGV):
        yield from sigaction(rt, sig, rt.addr("runtime.sigtramp"), handler_flags(rt.isa), restorer, ALL_SIGNALS)


def minitSignals(rt):
    """On the M's own thread: its alternate signal stack, then an empty signal mask."""
    mp = rt.getm()
    gs = rt.g(mp.gsignal)
    yield from sigaltstack(rt, gs.stack.lo, gs.stack.hi - gs.stack.lo)
    yield from sigprocmask(rt, mp.sigmask)


def setg(rt, g: int) -> None:
    """Make g the current g: the g register, and on amd64 the TLS slot m.tls[0]."""
    rt.cpu.write(rt.isa.g, g)
    if rt.isa.name == "amd64" and g:
        m = rt.g(g).m
        if m:
            rt.m(m).tls[0] = g
    rt._g = rt._m = None


@export("runtime.sigtrampgo")
def sigtrampgo(rt, sig, info, ctx):
    """sigtrampgo(sig, info, ctx): the Go half of sigtramp, on the signal stack."""
    from .preempt import doSigPreempt
    gp = rt.getg()
    if not gp or gp.atomicstatus == _Gdead and not gp.m:
        return                                    # not a Go thread: drop it (Go: sigFetchG nil)
    mp = rt.m(gp.m)
    setg(rt, mp.gsignal)
    if sig == SIGURG:
        yield from doSigPreempt(rt, gp, Ucontext(rt, ctx))
    elif sig == SIGSEGV:
        yield from sigsegv(rt, gp, info, Ucontext(rt, ctx))
    setg(rt, gp.addr)


def sigsegv(rt, gp, info: int, uc):
    """A fault: stack growth if it hit the running G's guard page, else Go's report."""
    from .stack import grow_from_fault, is_stack_fault
    addr = rt.mem.read_u64(info + 16)
    code = rt.mem.read_u32(info + 8)
    mp = rt.m(gp.m)
    if gp.addr == mp.curg and is_stack_fault(gp, addr):
        yield from grow_from_fault(rt, gp, uc, GREGS[rt.isa.name])
        return
    yield from sigpanic_report(rt, gp, addr, code, uc["pc"])


GREGS = {"amd64": [n for n in _AMD64_GREGS if n not in ("rip", "eflags")],
         "arm64": [f"x{i}" for i in range(31)] + ["sp"]}


def sigpanic_report(rt, gp, addr: int, code: int, pc: int):
    """What Go prints for a fault in Go code: a nil dereference panics, anything else
    is "unexpected fault address"; both exit 2."""
    from .print import fatal, panic_, gwrite
    sigline = f"[signal SIGSEGV: segmentation violation code={code:#x} addr={addr:#x} pc={pc:#x}]"
    if addr < 0x1000:
        yield from panic_(rt, "runtime error: invalid memory address or nil pointer dereference\n" + sigline)
    yield from gwrite(rt, 2, f"unexpected fault address {addr:#x}\n".encode())
    yield from fatal(rt, "fault\n" + sigline)
