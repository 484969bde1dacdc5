"""The runtime's view of Linux (Go: os_linux.go): futexsleep/futexwakeup, threads,
memory, output -- every one a call into a machine-code syscall wrapper
(runtime_asm/<arch>/sys_linux.s), never a shortcut into the kernel."""
from __future__ import annotations

from .layout import M
from .pycall import call, call_noreturn

FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE = 128, 129
CLONE_FLAGS = 0x100 | 0x200 | 0x400 | 0x800 | 0x40000 | 0x10000   # VM|FS|FILES|SIGHAND|SYSVSEM|THREAD
PROT_READ, PROT_WRITE = 1, 2
MAP_PRIVATE, MAP_ANON = 0x02, 0x20


def futexsleep(rt, addr: int, val: int):
    """Sleep while *addr == val (spurious wakeups allowed, as in Go)."""
    yield from call("runtime.futex", addr, FUTEX_WAIT_PRIVATE, val, 0, 0, 0)


def futexwakeup(rt, addr: int, cnt: int):
    yield from call("runtime.futex", addr, FUTEX_WAKE_PRIVATE, cnt, 0, 0, 0)


def sysAlloc(rt, n: int):
    """Fresh zeroed memory from the OS (Go: sysAlloc -> mmap)."""
    p = yield from call("runtime.mmap", 0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON, 0xFFFFFFFF, 0)
    if p >= 1 << 63:
        from .print import throw
        yield from throw(rt, f"runtime: cannot allocate memory (mmap errno {-(p - (1 << 64))})")
    return p


def mprotect(rt, addr: int, n: int, prot: int):
    r = yield from call("runtime.mprotect", addr, n, prot)
    if r:
        from .print import throw
        yield from throw(rt, f"runtime: mprotect({addr:#x}, {n}) failed")


def newosproc(rt, mp, stk: int):
    """Start an OS thread for mp on stack stk, running mstart with g = mp.g0.
    Signals are blocked around clone, so the thread takes none before minit."""
    yield from sigprocmask(rt, 0xFFFF_FFFF_FFFF_FFFF)
    ret = yield from call("runtime.clone", CLONE_FLAGS, stk, mp.addr, mp.g0, rt.addr("runtime.mstart"))
    yield from sigprocmask(rt, rt.getm().sigmask)
    if ret >= 1 << 63:
        from .print import throw
        yield from throw(rt, f"newosproc: clone failed, errno {-(ret - (1 << 64))}")


def write(rt, fd: int, p: int, n: int):
    return (yield from call("runtime.write1", fd, p, n))


def exit_(rt, code: int):
    yield from call_noreturn("runtime.exit", code)


def gettid(rt):
    return (yield from call("runtime.gettid"))


# ---- time, signals (Go: os_linux.go, signal_unix.go) -------------------------------------
SIG_SETMASK = 2
CLOCK_MONOTONIC = 1


_SCRATCH = M.offset("scratch")


def scratch(rt) -> int:
    """The current M's scratch words (syscall arguments that need memory)."""
    return rt.getm().addr + _SCRATCH


def nanotime(rt):
    """Monotonic time in ns, from clock_gettime (generator)."""
    ts = scratch(rt)
    yield from call("runtime.clock_gettime", CLOCK_MONOTONIC, ts)
    return rt.mem.read_u64(ts) * 1_000_000_000 + rt.mem.read_u64(ts + 8)


def usleep(rt, usec: int):
    ts = scratch(rt)
    rt.mem.write_u64(ts, usec // 1_000_000)
    rt.mem.write_u64(ts + 8, usec % 1_000_000 * 1000)
    yield from call("runtime.nanosleep", ts)


def sigaltstack(rt, lo: int, size: int):
    st = scratch(rt)
    rt.mem.write_u64(st, lo)
    rt.mem.write_u64(st + 8, 0)
    rt.mem.write_u64(st + 16, size)
    r = yield from call("runtime.sigaltstack", st, 0)
    if r:
        from .print import throw
        yield from throw(rt, f"sigaltstack failed: {r - (1 << 64) if r >> 63 else r}")


def sigprocmask(rt, mask: int):
    """Set the thread's blocked mask (SIG_SETMASK) (generator)."""
    p = scratch(rt)
    rt.mem.write_u64(p, mask)
    yield from call("runtime.rtsigprocmask", SIG_SETMASK, p, 0, 8)


def sigaction(rt, sig: int, handler: int, flags: int, restorer: int, mask: int):
    act = scratch(rt)
    for i, v in enumerate((handler, flags, restorer, mask)):
        rt.mem.write_u64(act + 8 * i, v)
    r = yield from call("runtime.rt_sigaction", sig, act, 0, 8)
    if r:
        from .print import throw
        yield from throw(rt, f"sigaction failed for signal {sig}")


def tgkill(rt, tgid: int, tid: int, sig: int):
    return (yield from call("runtime.tgkill", tgid, tid, sig))


def getpid(rt):
    return (yield from call("runtime.getpid"))
