"""exit and exit_group (kernel/exit.c)."""
from __future__ import annotations

from .syscalls import syscall


@syscall
def sys_exit(k, t, status):
    """End the calling thread (CLONE_CHILD_CLEARTID is honoured); the process ends
    with its last thread."""
    k.exit_task(t, status & 0xFF)
    return None


@syscall
def sys_exit_group(k, t, status):
    """End every thread of the process with `status`."""
    k.exit_process(status & 0xFF, t)
    return None
