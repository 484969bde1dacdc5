"""clone for threads, set_tid_address, gettid/getpid (kernel/fork.c, kernel/sys.c).

Design note
  1. Only threads are supported: the flags must share the address space, files,
     signal handlers and thread group, exactly the set Go passes
     (CLONE_VM|FS|FILES|SIGHAND|SYSVSEM|THREAD); anything else is -EINVAL.
  2. The child gets a new CPU of the machine with a copy of every register of
     the parent (integer and vector), 0 in the return register, the new stack
     pointer, and the TLS register when CLONE_SETTLS is set.  Its clock starts
     at the parent's time.
  3. CLONE_PARENT_SETTID / CLONE_CHILD_SETTID / CLONE_CHILD_CLEARTID work as in
     Linux, so a bare program can join a thread with a futex on its tid word.
  4. The child inherits the signal mask; it has no pending signals and no
     alternate signal stack (Linux resets it for CLONE_VM without CLONE_VFORK).
Argument order differs per arch: x86_64 (flags, stack, ptid, ctid, tls);
arm64 (flags, stack, ptid, tls, ctid).
"""
from __future__ import annotations

import struct

from ..trace import events as ev
from .errno import EINVAL, fail
from .syscalls import syscall

CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_THREAD, CLONE_SYSVSEM, CLONE_SETTLS = 0x10000, 0x40000, 0x80000
CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID = 0x100000, 0x200000, 0x1000000
CLONE_DETACHED = 0x400000

THREAD_FLAGS = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD
SUPPORTED = (THREAD_FLAGS | CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID
             | CLONE_CHILD_CLEARTID | CLONE_CHILD_SETTID | CLONE_DETACHED)
CSIGNAL = 0xFF


@syscall
def sys_clone(k, t, flags, stack, ptid, a3, a4):
    if k.isa.name == "amd64":
        ctid, tls = a3, a4
    else:
        tls, ctid = a3, a4
    if flags & THREAD_FLAGS != THREAD_FLAGS or flags & ~(SUPPORTED | CSIGNAL) or flags & CSIGNAL:
        return fail(EINVAL)
    tid_bytes = None
    parent_cpu = t.cpu
    ctx = parent_cpu.context()
    cpu = k.machine.new_cpu(cycles=parent_cpu.cycles)
    child = k.new_task(cpu)
    child.blocked = t.blocked
    tid_bytes = struct.pack("<I", child.tid)
    if flags & CLONE_PARENT_SETTID:
        k.mem.copy_to_user(ptid, tid_bytes)
    if flags & CLONE_CHILD_SETTID:
        k.mem.copy_to_user(ctid, tid_bytes)
    if flags & CLONE_CHILD_CLEARTID:
        child.clear_child_tid = ctid
    ctx[k.isa.syscall_ret] = 0
    if stack:
        ctx[k.isa.sp] = stack
    if flags & CLONE_SETTLS:
        ctx[k.isa.tls] = tls
    if k.isa.name == "amd64":
        ctx["rcx"], ctx["r11"] = ctx["rip"], ctx["rflags"]
    cpu.set_context(ctx)
    k.emit(t, ev.THREAD_NEW, child.tid, cpu.id)
    return child.tid


@syscall
def sys_set_tid_address(k, t, tidptr):
    t.clear_child_tid = tidptr
    return t.tid


@syscall
def sys_gettid(k, t):
    return t.tid


@syscall
def sys_getpid(k, t):
    return k.pid


@syscall
def sys_getppid(k, t):
    return 1
