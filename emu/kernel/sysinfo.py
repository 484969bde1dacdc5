"""Resource limits and the user ids (kernel/sys.c): getrlimit, prlimit64,
setrlimit, getuid and friends.

Design note
  1. The limits are Linux's defaults for a process started from a login shell,
     one table per process (`k.rlimits`, resource -> [cur, max]): RLIMIT_STACK
     8 MiB (hard: unlimited), RLIMIT_NOFILE 1024/1024 (the file table's size,
     file.py: soft == hard, so Go 1.19's os package, which raises the soft
     limit to the hard one, has nothing to raise), everything else unlimited.
     prlimit64 may read and set them (pid 0 or our own); raising a hard limit
     is -EPERM (no CAP_SYS_RESOURCE), cur > max is -EINVAL.  A new limit is
     only remembered: nothing but RLIMIT_NOFILE's table size acts on one, and
     that stays 1024.
  2. The process runs as root (uid = gid = 0).
uname stays unimplemented (-ENOSYS): Go's runtime never asks.
"""
from __future__ import annotations

import struct

from .errno import EINVAL, EPERM, ESRCH, fail
from .syscalls import syscall

RLIM_INFINITY = (1 << 64) - 1
RLIMIT_STACK, RLIMIT_NOFILE, RLIM_NLIMITS = 3, 7, 16
_RLIMIT = struct.Struct("<QQ")


def default_rlimits() -> dict[int, list[int]]:
    limits = {r: [RLIM_INFINITY, RLIM_INFINITY] for r in range(RLIM_NLIMITS)}
    limits[RLIMIT_STACK] = [8 << 20, RLIM_INFINITY]
    limits[RLIMIT_NOFILE] = [1024, 1024]
    return limits


def _limits(k) -> dict[int, list[int]]:
    return k.rlimits


def do_prlimit(k, resource: int, new: tuple[int, int] | None) -> tuple[int, int] | int:
    """The old (cur, max) of `resource` after setting `new` (if any), or -errno."""
    resource &= 0xFFFFFFFF
    if resource >= RLIM_NLIMITS:
        return fail(EINVAL)
    lim = _limits(k)[resource]
    old = tuple(lim)
    if new is not None:
        cur, mx = new
        if cur > mx:
            return fail(EINVAL)
        if mx > lim[1]:
            return fail(EPERM)
        lim[:] = [cur, mx]
    return old


@syscall
def sys_getrlimit(k, t, resource, rlim):
    old = do_prlimit(k, resource, None)
    if isinstance(old, int):
        return old
    k.mem.copy_to_user(rlim, _RLIMIT.pack(*old))
    return 0


@syscall
def sys_setrlimit(k, t, resource, rlim):
    old = do_prlimit(k, resource, _RLIMIT.unpack(k.mem.copy_from_user(rlim, 16)))
    return old if isinstance(old, int) else 0


@syscall
def sys_prlimit64(k, t, pid, resource, new_rlim, old_rlim):
    pid &= 0xFFFFFFFF
    if pid not in (0, k.pid) and pid not in k.tasks:
        return fail(ESRCH)
    new = _RLIMIT.unpack(k.mem.copy_from_user(new_rlim, 16)) if new_rlim else None
    old = do_prlimit(k, resource, new)
    if isinstance(old, int):
        return old
    if old_rlim:
        k.mem.copy_to_user(old_rlim, _RLIMIT.pack(*old))
    return 0


@syscall
def sys_getuid(k, t):
    return 0


@syscall
def sys_geteuid(k, t):
    return 0


@syscall
def sys_getgid(k, t):
    return 0


@syscall
def sys_getegid(k, t):
    return 0
