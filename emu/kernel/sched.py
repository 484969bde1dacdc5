"""sched_yield, sched_getaffinity (kernel/sched/core.c) and arch_prctl
(arch/x86/kernel/process_64.c)."""
from __future__ import annotations

from .errno import EINVAL, ESRCH, fail
from .syscalls import syscall

ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_FS, ARCH_GET_GS = 0x1001, 0x1002, 0x1003, 0x1004


@syscall
def sys_sched_yield(k, t):
    """Give up the rest of the slice: the machine picks again after every trap."""
    return 0


@syscall
def sys_sched_getaffinity(k, t, pid, size, mask):
    """The CPU mask has `ncpus` bits set (Go sizes GOMAXPROCS from it).

    Linux: -EINVAL if the buffer holds fewer bits than nr_cpu_ids or its size is
    not a multiple of sizeof(long); returns the bytes written (cpumask size).
    """
    if pid not in (0, k.pid) and pid not in k.tasks:
        return fail(ESRCH)
    nbytes = max(8, (k.ncpus + 63) // 64 * 8)
    if size * 8 < k.ncpus or size % 8:
        return fail(EINVAL)
    bits = (1 << k.ncpus) - 1
    k.mem.copy_to_user(mask, bits.to_bytes(nbytes, "little"))
    return nbytes


@syscall
def sys_arch_prctl(k, t, code, addr):
    """x86_64 only: set or get the FS/GS base."""
    if code == ARCH_SET_FS:
        t.cpu.write("fs_base", addr)
        return 0
    if code == ARCH_GET_FS:
        k.mem.copy_to_user(addr, t.cpu.read("fs_base").to_bytes(8, "little"))
        return 0
    if code in (ARCH_SET_GS, ARCH_GET_GS):
        t.extra.setdefault("gs_base", 0)
        if code == ARCH_SET_GS:
            t.extra["gs_base"] = addr
        else:
            k.mem.copy_to_user(addr, t.extra["gs_base"].to_bytes(8, "little"))
        return 0
    return fail(EINVAL)
