"""The runtime's view of Linux (Go: os_linux.go): futexsleep/futexwakeup, threads,
memory, output -- every one a call into a machine-code syscall wrapper
(runtime_asm/<arch>/sys_linux.s), never a shortcut into the kernel."""
from __future__ import annotations

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


def newosproc(rt, mp, stk: int):
    """Start an OS thread for mp on stack stk, running mstart with g = mp.g0."""
    ret = yield from call("runtime.clone", CLONE_FLAGS, stk, mp.addr, mp.g0, rt.addr("runtime.mstart"))
    if ret >= 1 << 63:
        from .print import throw
        yield from throw(rt, f"newosproc: clone failed, errno {-(ret - (1 << 64))}")


def write(rt, fd: int, p: int, n: int):
    return (yield from call("runtime.write1", fd, p, n))


def exit_(rt, code: int):
    yield from call_noreturn("runtime.exit", code)


def gettid(rt):
    return (yield from call("runtime.gettid"))
