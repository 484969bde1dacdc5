"""read, write and close on the console file descriptors 0, 1, 2 (fs/read_write.c).

fd 0 reads from the bytes given to the kernel as stdin (EOF after them); fds 1
and 2 append to the captured output and stream it to `Kernel.on_output`.  A
file table with pipes, eventfd and sockets comes with the netpoll issue; other
descriptors are -EBADF until then.
"""
from __future__ import annotations

from .errno import EBADF, EINVAL, fail
from .syscalls import syscall

MAX_RW = 0x7FFFF000      # Linux's MAX_RW_COUNT


@syscall
def sys_write(k, t, fd, buf, count):
    if fd not in (1, 2) or fd in k.closed_fds:
        return fail(EBADF)
    if count > 1 << 62:
        return fail(EINVAL)
    count = min(count, MAX_RW)
    data = k.mem.copy_from_user(buf, count)
    k.output[fd] += data
    if k.on_output is not None:
        k.on_output(fd, data)
    return count


@syscall
def sys_read(k, t, fd, buf, count):
    if fd != 0 or fd in k.closed_fds:
        return fail(EBADF)
    count = min(count, MAX_RW, len(k.stdin))
    data = bytes(k.stdin[:count])
    k.mem.copy_to_user(buf, data)
    del k.stdin[:count]
    return count


@syscall
def sys_close(k, t, fd):
    if fd not in (0, 1, 2) or fd in k.closed_fds:
        return fail(EBADF)
    k.closed_fds.add(fd)
    return 0
