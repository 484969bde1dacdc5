"""System call numbers of both arches and the handler registry.

Design note
  1. Numbers are Linux's (arch/x86/entry/syscalls/syscall_64.tbl and
     include/uapi/asm-generic/unistd.h for arm64), by name, in one table.
  2. Handlers are plain functions named ``sys_<name>`` in the module of their
     syscall family (futex.py, mman.py, time.py ...), registered with
     `@syscall`.  The dispatch table number -> handler is built per arch from
     the two, so a handler is written once for both arches.
  3. A name with no handler, or a number with no name, returns -ENOSYS and
     leaves a trace event (reported once per number).
  4. A handler returns its result (negative = -errno), a `Block`, None when
     the calling thread is gone (exit), or `NORETURN` when it has set the
     thread's registers itself (rt_sigreturn): then no return value is written.
Rejected: a method per syscall on one Kernel class (one file for everything);
per-arch handler copies (the arches differ in numbers and in a few layouts only).
"""
from __future__ import annotations

import inspect
from typing import Callable

# name: (x86_64, arm64); None where the arch lacks the call.
NUMBERS: dict[str, tuple[int | None, int | None]] = {
    "read": (0, 63), "write": (1, 64), "close": (3, 57), "pipe": (22, None), "pipe2": (293, 59),
    "dup": (32, 23), "dup3": (292, 24), "fcntl": (72, 25), "openat": (257, 56),
    "mmap": (9, 222), "mprotect": (10, 226), "munmap": (11, 215), "madvise": (28, 233), "brk": (12, 214),
    "rt_sigaction": (13, 134), "rt_sigprocmask": (14, 135), "rt_sigreturn": (15, 139),
    "sigaltstack": (131, 132), "kill": (62, 129), "tkill": (200, 130), "tgkill": (234, 131),
    "clone": (56, 220), "exit": (60, 93), "exit_group": (231, 94),
    "gettid": (186, 178), "getpid": (39, 172), "getppid": (110, 173),
    "futex": (202, 98), "nanosleep": (35, 101), "clock_gettime": (228, 113), "clock_nanosleep": (230, 115),
    "sched_yield": (24, 124), "sched_getaffinity": (204, 123),
    "epoll_create1": (291, 20), "epoll_ctl": (233, 21), "epoll_pwait": (281, 22), "epoll_wait": (232, None),
    "eventfd2": (290, 19), "socketpair": (53, 199),
    "arch_prctl": (158, None), "getrlimit": (97, 163), "prlimit64": (302, 261),
    "uname": (63, 160), "getuid": (102, 174), "set_tid_address": (218, 96),
    "open": (2, None), "setrlimit": (160, 164), "geteuid": (107, 175), "getgid": (104, 176),
    "getegid": (108, 177),
}

_ARCH_COLUMN = {"amd64": 0, "arm64": 1}

HANDLERS: dict[str, Callable] = {}

# A handler that raises is a kernel bug: the kernel reports it and returns -EIO, so the
# host survives.  The autograder sets this (in its forked child) so that the exception of
# a student's kernel function stops the run and is reported with its file and line.
RAISE_BUGS = False


class _NoReturn:
    """The type of `NORETURN` (a singleton)."""

    def __repr__(self) -> str:
        return "NORETURN"


NORETURN = _NoReturn()   # a handler's result: "the registers are set; write no return value"


def syscall(fn: Callable) -> Callable:
    """Register `fn` (named ``sys_<name>``) as the handler of syscall <name>."""
    name = fn.__name__
    if not name.startswith("sys_"):
        raise NameError(f"syscall handler {name} must be named sys_<syscall name>")
    name = name[4:]
    if name not in NUMBERS:
        raise NameError(f"syscall handler sys_{name}: no such syscall in NUMBERS")
    # Arity without the (kernel, task) pair: how many argument registers to pass.
    fn.nargs = len(inspect.signature(fn).parameters) - 2
    HANDLERS[name] = fn
    return fn


def numbers(arch: str) -> dict[int, str]:
    """number -> name for `arch`."""
    col = _ARCH_COLUMN[arch]
    return {nrs[col]: name for name, nrs in NUMBERS.items() if nrs[col] is not None}


def number_of(arch: str, name: str) -> int:
    nr = NUMBERS[name][_ARCH_COLUMN[arch]]
    if nr is None:
        raise KeyError(f"{arch} has no syscall {name}")
    return nr
