"""socketpair(AF_UNIX, SOCK_STREAM): connected unix stream sockets
(net/socket.c, net/unix/af_unix.c, net/core/sock.c).

Design note
  1. A `UnixSock` is one end: its receive queue of skbs (one per write, or
     per 36544-byte piece of a larger one), the bytes it has sent that the
     other end has not read yet (`wmem`, charged in skb truesize), its
     shutdown bits, a pending error, and one wait queue that its readers,
     its writers and the epoll items on it all share (sk_wq).  The file
     (`SocketFile`) is O_RDWR.
  2. Buffering is Linux's: a write may go on while wmem < sndbuf (212992,
     net.core.wmem_default), so the last skb may overshoot; each skb costs its
     truesize (data rounded to the slab size plus sk_buff and shared-info
     overhead, computed as x86_64 Linux 6.x does: a 1-byte write costs 768).
     EPOLLOUT (`writable`) needs wmem * 4 <= sndbuf.  Reading frees whole
     skbs only; each freed skb gives its sender a write-space wakeup
     (EPOLLOUT) if it is writable again -- an edge for EPOLLET writers.
  3. write (unix_stream_sendmsg): -EPIPE and SIGPIPE once this end may not
     send (the other end closed); otherwise queue skbs on the other end, each
     with a data-ready wakeup (EPOLLIN), sleeping while wmem >= sndbuf unless
     O_NONBLOCK.  read (unix_stream_read_generic): take bytes from the queue up
     to the count; if empty: the pending error once (-ECONNRESET), 0 after
     the other end closed, -EAGAIN under O_NONBLOCK, else sleep.
  4. Closing an end (unix_release_sock): the other end gets both shutdown
     bits (EPOLLHUP|EPOLLRDHUP|EPOLLIN, EOF after its queued data, -EPIPE on
     write), -ECONNRESET pending if the closed end had unread data, and a
     wakeup of everyone on its queue; the closed end's queue is freed (write
     space for the other end).
  5. poll: EPOLLERR with an error pending, EPOLLHUP when both directions are
     shut, EPOLLRDHUP|EPOLLIN when receiving is shut, EPOLLIN with data
     queued, EPOLLOUT when writable -- the masks unix_poll builds.
Deviations: only AF_UNIX SOCK_STREAM pairs exist.  AF_UNIX with SOCK_DGRAM,
SOCK_SEQPACKET or SOCK_RAW (which Linux has) is -EOPNOTSUPP here; AF_INET and
AF_INET6 are -EOPNOTSUPP (Linux creates the sockets and then refuses to pair
them; a few type/protocol mixes fail earlier with another code there); every
other family is -EAFNOSUPPORT (as for a family the kernel was built
without).  No shutdown(2), MSG_OOB, SCM_RIGHTS or credentials.
Rejected: two pipes back to back (the brief's first idea): pipes count pages,
sockets count skbs, and EPOLLOUT, -EAGAIN and the wakeups would all differ.
"""
from __future__ import annotations

import struct

from ..machine.memory import GuestFault
from .errno import (EAFNOSUPPORT, EAGAIN, ECONNRESET, EFAULT, EINTR, EINVAL, ENOTCONN, EOPNOTSUPP, EPERM,
                    EPIPE, EPROTONOSUPPORT, ESOCKTNOSUPPORT, fail)
from .file import O_CLOEXEC, O_NONBLOCK, O_RDWR, File, s32
from .poll import (EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLPRI, EPOLLRDBAND, EPOLLRDHUP, EPOLLRDNORM,
                   EPOLLWRBAND, EPOLLWRNORM)
from .syscalls import syscall
from .wait import Interrupted, Sleep, WaitQueue

AF_UNIX, AF_INET, AF_INET6, AF_MAX = 1, 2, 10, 46
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET, SOCK_MAX, SOCK_TYPE_MASK = 1, 2, 3, 5, 11, 0xF
SOCK_NONBLOCK, SOCK_CLOEXEC = O_NONBLOCK, O_CLOEXEC
RCV_SHUTDOWN, SEND_SHUTDOWN, SHUTDOWN_MASK = 1, 2, 3
TCP_ESTABLISHED, TCP_CLOSE = 1, 7

SNDBUF = 212992                      # net.core.wmem_default
SKB_MAX_HEAD0 = 3776                 # SKB_MAX_HEAD(0): linear data in one 4 KiB slab
UNIX_SKB_FRAGS_SZ = 32768            # page fragments per skb
SKB_STRUCT, SKB_SHINFO = 256, 320    # SKB_DATA_ALIGN(sizeof sk_buff / skb_shared_info)
PAGE = 4096

DATA_READY = EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND
WRITE_SPACE = EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND


def _page_align(n: int) -> int:
    return (n + PAGE - 1) & ~(PAGE - 1)


def skb_truesize(size: int) -> int:
    """The memory one skb of `size` payload bytes is charged for (see the note)."""
    data_len = min(size, _page_align(max(0, size - SKB_MAX_HEAD0)))
    head = ((size - data_len + 63) & ~63) + SKB_SHINFO
    slab = max(512, 1 << (head - 1).bit_length())          # kmalloc's size classes
    return SKB_STRUCT + slab + _page_align(data_len)


class Skb:
    __slots__ = ("data", "truesize", "sender")

    def __init__(self, data: bytes, truesize: int, sender: "UnixSock"):
        self.data, self.truesize, self.sender = bytearray(data), truesize, sender


class UnixSock:
    """One end of a connected pair.  See the module note."""

    def __init__(self):
        self.rx: list[Skb] = []
        self.wmem = 0
        self.sndbuf = SNDBUF
        self.shutdown = 0
        self.err = 0
        self.state = TCP_ESTABLISHED
        self.dead = False                   # released (sock_orphan): no more wakeups
        self.peer: UnixSock | None = None
        self.wq = WaitQueue()
        self.file: SocketFile | None = None  # the open file of this end (sk_socket->file)

    def writable(self, extra: int = 0) -> bool:
        """unix_writable: (sk_wmem_alloc << 2) <= sndbuf (the refcount starts at 1)."""
        return (self.wmem + 1 + extra) << 2 <= self.sndbuf

    def sock_error(self) -> int:
        err, self.err = self.err, 0
        return -err

    def free_skb(self, skb: Skb) -> None:
        """sock_wfree: uncharge the sender, then its write_space callback (which
        runs while one unit of the charge is still held)."""
        sender = skb.sender
        sender.wmem -= skb.truesize
        if not sender.dead and sender.writable(extra=1) and sender.wq.active():
            sender.wq.wake(WRITE_SPACE)

    def data_ready(self) -> None:
        if not self.dead and self.wq.active():
            self.wq.wake(DATA_READY)

    def state_change(self) -> None:
        if not self.dead and self.wq.active():
            self.wq.wake_all()


class SocketFile(File):
    kind = "socket"
    can_read = can_write = True

    def __init__(self, sock: UnixSock, flags: int):
        super().__init__(O_RDWR | (flags & O_NONBLOCK))
        self.sock = sock
        sock.file = self

    def read(self, io, it, count):
        return unix_read(io, self.sock, it, count)

    def write(self, io, it, count):
        return unix_write(io, self.sock, it, count)

    def poll(self, k) -> int:
        sk = self.sock
        mask = 0
        if sk.err:
            mask |= EPOLLERR
        if sk.shutdown == SHUTDOWN_MASK:
            mask |= EPOLLHUP
        if sk.shutdown & RCV_SHUTDOWN:
            mask |= EPOLLRDHUP | EPOLLIN | EPOLLRDNORM
        if sk.rx:
            mask |= EPOLLIN | EPOLLRDNORM
        if sk.state == TCP_CLOSE:
            mask |= EPOLLHUP
        if sk.writable():
            mask |= WRITE_SPACE
        return mask

    def poll_queues(self) -> list:
        return [self.sock.wq]

    def release(self, k) -> None:
        """unix_release_sock (see the module note, 4)."""
        sk = self.sock
        sk.dead = True
        sk.shutdown = SHUTDOWN_MASK
        sk.state = TCP_CLOSE
        other, sk.peer = sk.peer, None
        if other is not None:
            other.shutdown = SHUTDOWN_MASK
            if sk.rx:
                other.err = ECONNRESET
            other.state_change()
        queued, sk.rx = sk.rx, []
        for skb in queued:
            sk.free_skb(skb)


def unix_read(io, sk: UnixSock, it, size: int):
    """unix_stream_read_generic (a generator when it may sleep)."""
    if size == 0:
        return 0                                       # sock_read_iter: a null read
    if sk.state != TCP_ESTABLISHED:
        return fail(EINVAL)
    copied = err = 0
    while True:
        if not sk.rx:
            if copied:
                break
            err = sk.sock_error()
            if err or sk.shutdown & RCV_SHUTDOWN:
                break
            if io.nonblock:
                err = fail(EAGAIN)
                break
            try:
                while not sk.rx and not sk.err and not sk.shutdown & RCV_SHUTDOWN:
                    yield Sleep(sk.wq, exclusive=False)          # unix_stream_data_wait
            except Interrupted:
                return fail(EINTR)
            continue
        skb = sk.rx[0]
        chunk = min(len(skb.data), size)
        try:
            it.copy_out(bytes(skb.data[:chunk]))
        except GuestFault:
            copied = copied or fail(EFAULT)
            break
        copied += chunk
        size -= chunk
        del skb.data[:chunk]
        if skb.data:
            break
        sk.rx.pop(0)
        sk.free_skb(skb)
        if not size:
            break
    return copied or err


def unix_write(io, sk: UnixSock, it, total: int):
    """unix_stream_sendmsg with sock_alloc_send_pskb's wait (a generator when it may sleep)."""
    other = sk.peer
    if other is None and not sk.shutdown & SEND_SHUTDOWN:
        return fail(ENOTCONN)
    if sk.shutdown & SEND_SHUTDOWN:
        io.sigpipe()
        return fail(EPIPE)
    sent = 0
    while sent < total:
        size = min(total - sent, (sk.sndbuf >> 1) - 64, SKB_MAX_HEAD0 + UNIX_SKB_FRAGS_SZ)
        signalled = False
        while True:                                    # sock_alloc_send_pskb
            err = sk.sock_error()
            if err:
                return sent or err
            if sk.shutdown & SEND_SHUTDOWN:
                return sent or fail(EPIPE)
            if sk.wmem < sk.sndbuf:
                break
            if io.nonblock:
                return sent or fail(EAGAIN)
            if signalled:
                return sent or fail(EINTR)
            try:
                while sk.wmem >= sk.sndbuf and not sk.shutdown & SEND_SHUTDOWN and not sk.err:
                    yield Sleep(sk.wq, exclusive=False)          # sock_wait_for_wmem
            except Interrupted:
                signalled = True
        skb = Skb(b"", skb_truesize(size), sk)
        sk.wmem += skb.truesize
        try:
            skb.data += it.copy_in(size)
        except GuestFault:
            sk.free_skb(skb)
            return sent or fail(EFAULT)
        if other.dead or other.shutdown & RCV_SHUTDOWN:
            if not sent:
                io.sigpipe()
            sk.free_skb(skb)
            return sent or fail(EPIPE)
        other.rx.append(skb)
        other.data_ready()
        sent += size
    return sent


def create_socketpair(flags: int = 0) -> tuple[SocketFile, SocketFile]:
    """Two connected ends (no references taken yet)."""
    a, b = UnixSock(), UnixSock()
    a.peer, b.peer = b, a
    return SocketFile(a, flags), SocketFile(b, flags)


def _create_error(family: int, type_: int, protocol: int) -> int:
    """What sock_create + ->socketpair say about (family, type, protocol): 0 for
    an AF_UNIX stream pair, else -errno (see the module note's deviations)."""
    if not 0 <= family < AF_MAX:
        return fail(EAFNOSUPPORT)
    if not 0 <= type_ < SOCK_MAX:
        return fail(EINVAL)
    if family == AF_UNIX:
        if protocol not in (0, AF_UNIX):
            return fail(EPROTONOSUPPORT)
        if type_ == SOCK_STREAM:
            return 0
        if type_ in (SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET):
            return fail(EOPNOTSUPP)
        return fail(ESOCKTNOSUPPORT)
    if family in (AF_INET, AF_INET6):
        if type_ == SOCK_RAW:
            return fail(EPERM)                         # needs CAP_NET_RAW
        return fail(EOPNOTSUPP)
    return fail(EAFNOSUPPORT)


@syscall
def sys_socketpair(k, t, family, type_, protocol, usockvec):
    """socketpair(int family, int type, int protocol, int sv[2]): as Linux, the
    descriptors are reserved and written to sv before the sockets are made."""
    family, type_, protocol = s32(family), s32(type_), s32(protocol)
    flags = type_ & ~SOCK_TYPE_MASK
    if flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK):
        return fail(EINVAL)
    type_ &= SOCK_TYPE_MASK
    fd1 = k.files.lowest_free()
    if fd1 < 0:
        return fd1
    fd2 = k.files.lowest_free(fd1 + 1)
    if fd2 < 0:
        return fd2
    try:
        k.mem.copy_to_user(usockvec, struct.pack("<i", fd1))
        k.mem.copy_to_user(usockvec + 4, struct.pack("<i", fd2))
    except GuestFault:
        return fail(EFAULT)
    err = _create_error(family, type_, protocol)
    if err:
        return err
    a, b = create_socketpair(flags)
    cloexec = bool(flags & SOCK_CLOEXEC)
    k.files.install(fd1, a, cloexec)
    k.files.install(fd2, b, cloexec)
    return 0
