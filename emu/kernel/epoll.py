"""epoll: epoll_create1, epoll_ctl, epoll_pwait, epoll_wait (x86_64) (fs/eventpoll.c).

Design note
  1. An `Epoll` (struct eventpoll) holds its items by (file, fd) -- the file
     *and* the descriptor number it was added under, as Linux keys them -- a
     ready list, the queue its epoll_wait callers sleep on (`wq`, exclusive)
     and the queue outer epolls watch it on (`poll_wait`).  Its file is
     O_RDWR, pollable (EPOLLIN while an item is really ready), unreadable.
  2. An `EpItem` hooks the wait queues the file's poll() names (wait.py; a
     pipe read end: rd_wait ...) with `wake` as its callback -- Linux's
     ep_poll_callback: ignore the wakeup if the item is disabled (EPOLLONESHOT
     fired) or the key shares no bit with its events; else append it to the
     ready list unless already there, wake one epoll_wait sleeper, and wake
     outer epolls.  So what counts as an edge for EPOLLET is exactly what
     wakes the file's queue in Linux: every write to a pipe once it has been
     polled, every write to an eventfd (even of 0), every skb freed on a
     socket that is writable again, and a close (which wakes everyone).
  3. epoll_wait (ep_poll, ep_send_events): take the ready list; for each item,
     in order, poll the file now and report (events & interest) if not 0, with
     the data word verbatim; a level-triggered item goes back on the tail of
     the ready list, an edge-triggered one does not, a one-shot one is
     disabled until EPOLL_CTL_MOD.  Items left over by `maxevents` keep their
     place at the head.  With nothing ready: return 0 for timeout 0, else
     sleep until a callback, the deadline (virtual time, exact: no timer
     slack) or a signal (events first if there are some, else -EINTR, also
     under SA_RESTART as Linux).
  4. The ready-list order is Linux's, so results compare as lists: ADD / MOD
     of a ready file and callbacks append; wait queues call their entries
     newest-first for non-exclusive hooks (add_wait_queue adds at the head),
     so two items woken by one wakeup are queued in reverse order of their
     EPOLL_CTL_ADD, as on Linux.
  5. epoll_ctl checks in Linux's order: the event is read (unless DEL), then
     -EBADF for either fd, -EPERM for a file that cannot be polled (the
     console: fs.py), -EINVAL for epfd == fd, a non-epoll epfd, or a bad
     EPOLLEXCLUSIVE use, -ELOOP for a cycle of epolls or nesting deeper than
     4, then -EEXIST / -ENOENT / -EINVAL (unknown op).  EPOLLERR | EPOLLHUP
     are always added to the interest; EPOLLWAKEUP is dropped (no
     CAP_BLOCK_SUSPEND).  An item dies with the last reference to its file
     (not with the fd: a dup keeps it alive and reporting, as in Linux).
  6. struct epoll_event is 12 bytes, packed, on x86_64 (events u32 @0, data
     u64 @4) and 16 on arm64 (data @8; the padding is left as it was).
  7. epoll_pwait's signal mask replaces the thread's mask for the call; when
     the call ends with -EINTR the old mask comes back only after the signal
     was delivered (Task.saved_sigmask, signal.py), as sigsuspend-style calls
     do in Linux.
Deviations: no wakeup-path limits (reverse_path_check), no max_user_watches.
Rejected: re-polling every registered file on each epoll_wait (simple, but
edge-triggered semantics would then be guesses; the wakeup callback is where
Linux defines them).
"""
from __future__ import annotations

import struct

from ..machine.memory import GuestFault
from .errno import EBADF, EEXIST, EFAULT, EINTR, EINVAL, ELOOP, ENOENT, EPERM, fail
from .file import O_CLOEXEC, O_RDWR, File, access_ok, s32
from .poll import (EPOLLERR, EPOLLET, EPOLLEXCLUSIVE, EPOLLHUP, EPOLLIN, EPOLLONESHOT, EPOLLOUT,
                   EPOLLRDNORM, EPOLLWAKEUP)
from .syscalls import syscall
from .wait import Interrupted, Io, Sleep, WaitQueue, run_op

EPOLL_CLOEXEC = O_CLOEXEC
EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD = 1, 2, 3
EP_PRIVATE_BITS = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE
EPOLLINOUT_BITS = EPOLLIN | EPOLLOUT
EPOLLEXCLUSIVE_OK_BITS = EPOLLINOUT_BITS | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE
EP_MAX_NESTS = 4
EVENT_SIZE = {"amd64": 12, "arm64": 16}
DATA_OFFSET = {"amd64": 4, "arm64": 8}
INT_MAX = (1 << 31) - 1


class EpItem:
    """One watched (file, fd): the interest mask, the data word, and its hooks."""

    __slots__ = ("ep", "file", "fd", "events", "data", "linked", "exclusive", "queues")

    def __init__(self, ep: "Epoll", file: File, fd: int, events: int, data: int):
        self.ep, self.file, self.fd, self.events, self.data = ep, file, fd, events, data
        self.linked = False                    # on the ready list
        self.exclusive = bool(events & EPOLLEXCLUSIVE)
        self.queues: list[WaitQueue] = []

    def __repr__(self) -> str:
        return f"<epitem fd {self.fd} events {self.events:#x} data {self.data:#x}>"

    def poll(self, k) -> int:
        """ep_item_poll: the file's mask now, limited to the interest."""
        return self.file.poll(k) & self.events

    def wake(self, key: int) -> bool:
        """ep_poll_callback (see the module note, 2).  Returns ewake."""
        ep = self.ep
        ewake = False
        if self.events & ~EP_PRIVATE_BITS and not (key and not key & self.events):
            if not self.linked:
                ep.link(self)
            if ep.wq.active():
                if self.events & EPOLLEXCLUSIVE:
                    bits = key & EPOLLINOUT_BITS
                    ewake = bits == 0 or (bits in (EPOLLIN, EPOLLOUT) and bool(self.events & bits))
                ep.wq.wake()
            if ep.poll_wait.active():
                ep.poll_wait.wake(EPOLLIN)
        return ewake or not self.events & EPOLLEXCLUSIVE


class Epoll:
    """struct eventpoll.  See the module note."""

    def __init__(self):
        self.items: dict[tuple[File, int], EpItem] = {}
        self.rdllist: list[EpItem] = []
        self.wq = WaitQueue()
        self.poll_wait = WaitQueue()
        self.file: EpollFile | None = None

    def link(self, epi: EpItem) -> None:
        epi.linked = True
        self.rdllist.append(epi)

    def unlink(self, epi: EpItem) -> None:
        if epi.linked:
            epi.linked = False
            self.rdllist = [e for e in self.rdllist if e is not epi]

    def events_available(self) -> bool:
        return bool(self.rdllist)

    def _ready_now(self, epi: EpItem) -> None:
        """The tail of ep_insert / ep_modify: a ready item joins the ready list."""
        if not epi.linked:
            self.link(epi)
            if self.wq.active():
                self.wq.wake()
            if self.poll_wait.active():
                self.poll_wait.wake(EPOLLIN)

    def insert(self, k, file: File, fd: int, events: int, data: int) -> None:
        epi = EpItem(self, file, fd, events, data)
        for q in file.poll_queues():
            q.add(epi)
            epi.queues.append(q)
        file.ep_links.append(epi)
        self.items[(file, fd)] = epi
        if epi.poll(k):
            self._ready_now(epi)

    def modify(self, k, epi: EpItem, events: int, data: int) -> None:
        epi.events, epi.data = events, data
        if epi.poll(k):
            self._ready_now(epi)

    def remove(self, k, epi: EpItem) -> None:
        """ep_remove: unhook, leave the ready list, forget the item."""
        for q in epi.queues:
            q.remove(epi)
        epi.queues = []
        self.unlink(epi)
        self.items.pop((epi.file, epi.fd), None)
        epi.file.ep_links = [e for e in epi.file.ep_links if e is not epi]

    def free(self, k) -> None:
        """ep_free: the epoll file is released."""
        for epi in list(self.items.values()):
            self.remove(k, epi)

    def poll_ready(self, k) -> int:
        """__ep_eventpoll_poll: EPOLLIN|EPOLLRDNORM if an item on the ready list is
        really ready; items found not ready leave the list on the way."""
        tx, self.rdllist = self.rdllist, []
        res, keep = 0, []
        for i, epi in enumerate(tx):
            if epi.poll(k):
                res, keep = EPOLLIN | EPOLLRDNORM, tx[i:]
                break
            epi.linked = False
        self.rdllist = keep + self.rdllist
        return res

    def send_events(self, k, uevents: int, maxevents: int) -> int:
        """ep_send_events: report up to `maxevents` ready items into the guest array."""
        size, doff = EVENT_SIZE[k.isa.name], DATA_OFFSET[k.isa.name]
        tx, self.rdllist = self.rdllist, []
        res = i = 0
        while i < len(tx) and res < maxevents:
            epi = tx[i]
            epi.linked = False
            revents = epi.poll(k)
            if not revents:
                i += 1
                continue
            at = uevents + res * size
            try:
                k.mem.copy_to_user(at, struct.pack("<I", revents))
                k.mem.copy_to_user(at + doff, struct.pack("<Q", epi.data))
            except GuestFault:
                epi.linked = True              # back at the head of what is left
                res = res or fail(EFAULT)
                break
            i += 1
            res += 1
            if epi.events & EPOLLONESHOT:
                epi.events &= EP_PRIVATE_BITS
            elif not epi.events & EPOLLET:
                self.link(epi)
        self.rdllist = tx[i:] + self.rdllist
        return res


class EpollFile(File):
    kind = "epoll"

    def __init__(self, ep: Epoll):
        super().__init__(O_RDWR)
        self.ep = ep
        ep.file = self

    def poll(self, k) -> int:
        return self.ep.poll_ready(k)

    def poll_queues(self) -> list:
        return [self.ep.poll_wait]

    def release(self, k) -> None:
        self.ep.free(k)


# ---- loops of epolls ------------------------------------------------------------------------
def _depth_below(ep: Epoll, inserting_into: Epoll) -> int:
    """How deep epolls nest under `ep`; more than EP_MAX_NESTS if `inserting_into` is among them."""
    result = 0
    for epi in ep.items.values():
        if isinstance(epi.file, EpollFile):
            sub = epi.file.ep
            d = EP_MAX_NESTS + 1 if sub is inserting_into else _depth_below(sub, inserting_into) + 1
            result = max(result, d)
            if result > EP_MAX_NESTS:
                break
    return result


def _depth_above(ep: Epoll) -> int:
    """How many epolls are stacked above `ep` (epolls watching its file, recursively)."""
    if ep.file is None:
        return 0
    return max((_depth_above(epi.ep) + 1 for epi in ep.file.ep_links), default=0)


def _loops(ep: Epoll, to: Epoll) -> bool:
    """ep_loop_check: would adding `to` under `ep` make a cycle or nest too deep?"""
    depth = _depth_below(to, ep)
    return depth > EP_MAX_NESTS or depth + 1 + _depth_above(ep) > EP_MAX_NESTS


# ---- syscalls ------------------------------------------------------------------------------
@syscall
def sys_epoll_create1(k, t, flags):
    flags = s32(flags)
    if flags & ~EPOLL_CLOEXEC:
        return fail(EINVAL)
    return k.files.alloc(EpollFile(Epoll()), cloexec=bool(flags & EPOLL_CLOEXEC))


@syscall
def sys_epoll_ctl(k, t, epfd, op, fd, event):
    epfd, op, fd = s32(epfd), s32(op), s32(fd)
    events = data = 0
    if op != EPOLL_CTL_DEL:
        try:
            raw = k.mem.copy_from_user(event, EVENT_SIZE[k.isa.name])
        except GuestFault:
            return fail(EFAULT)
        events = struct.unpack_from("<I", raw, 0)[0]
        data = struct.unpack_from("<Q", raw, DATA_OFFSET[k.isa.name])[0]
    f = k.files.get(epfd) if epfd >= 0 else None
    if f is None:
        return fail(EBADF)
    tf = k.files.get(fd) if fd >= 0 else None
    if tf is None:
        return fail(EBADF)
    if not tf.poll_queues():
        return fail(EPERM)
    events &= ~EPOLLWAKEUP                        # no CAP_BLOCK_SUSPEND
    if f is tf or not isinstance(f, EpollFile):
        return fail(EINVAL)
    if op != EPOLL_CTL_DEL and events & EPOLLEXCLUSIVE:
        if op == EPOLL_CTL_MOD:
            return fail(EINVAL)
        if op == EPOLL_CTL_ADD and (isinstance(tf, EpollFile) or events & ~EPOLLEXCLUSIVE_OK_BITS):
            return fail(EINVAL)
    ep = f.ep
    if op == EPOLL_CTL_ADD and isinstance(tf, EpollFile) and _loops(ep, tf.ep):
        return fail(ELOOP)
    epi = ep.items.get((tf, fd))
    if op == EPOLL_CTL_ADD:
        if epi is not None:
            return fail(EEXIST)
        ep.insert(k, tf, fd, events | EPOLLERR | EPOLLHUP, data)
        return 0
    if op == EPOLL_CTL_DEL:
        if epi is None:
            return fail(ENOENT)
        ep.remove(k, epi)
        return 0
    if op == EPOLL_CTL_MOD:
        if epi is None:
            return fail(ENOENT)
        if epi.events & EPOLLEXCLUSIVE:
            return fail(EINVAL)
        ep.modify(k, epi, events | EPOLLERR | EPOLLHUP, data)
        return 0
    return fail(EINVAL)


def ep_poll(io: Io, ep: Epoll, uevents: int, maxevents: int, timeout: int):
    """ep_poll: the wait loop of epoll_wait (a generator when it sleeps)."""
    from .signal import signal_pending
    k, t = io.k, io.t
    timed_out = timeout == 0
    eavail = ep.events_available()
    while True:
        if eavail:
            res = ep.send_events(k, uevents, maxevents)
            if res:
                return res
        if timed_out:
            return 0
        if signal_pending(k, t):
            return fail(EINTR)
        if not ep.events_available():
            try:
                yield Sleep(ep.wq, exclusive=True)
            except Interrupted:
                return ep.send_events(k, uevents, maxevents) or fail(EINTR)
        eavail = True


def do_epoll_wait(k, t, epfd, events, maxevents, timeout, on_result=None):
    epfd, maxevents, timeout = s32(epfd), s32(maxevents), s32(timeout)
    size = EVENT_SIZE[k.isa.name]
    err = 0
    f = k.files.get(epfd) if epfd >= 0 else None
    if maxevents <= 0 or maxevents > INT_MAX // size:
        err = fail(EINVAL)
    elif not access_ok(k, events, maxevents * size):
        err = fail(EFAULT)
    elif f is None:
        err = fail(EBADF)
    elif not isinstance(f, EpollFile):
        err = fail(EINVAL)
    if err:
        if on_result is not None:
            on_result(err)
        return err
    deadline = None
    if timeout > 0:
        now_ns = k.machine.cycles_to_ns(k.now(t))
        deadline = max(k.machine.ns_to_cycles(now_ns + timeout * 1_000_000), k.now(t))
    io = Io(k, t, nonblock=False)
    return run_op(io, ep_poll(io, f.ep, events, maxevents, timeout), reason="epoll_wait", hold=(f,),
                  detail=(f"epfd {epfd}",), deadline=deadline, timeout_result=0, on_result=on_result)


@syscall
def sys_epoll_wait(k, t, epfd, events, maxevents, timeout):
    """epoll_wait (x86_64 only; arm64 has epoll_pwait alone)."""
    return do_epoll_wait(k, t, epfd, events, maxevents, timeout)


@syscall
def sys_epoll_pwait(k, t, epfd, events, maxevents, timeout, sigmask, sigsetsize):
    """epoll_wait with `sigmask` as the thread's mask for the call (NULL: none);
    see the module note, 7."""
    if not sigmask:
        return do_epoll_wait(k, t, epfd, events, maxevents, timeout)
    from .signal import SIGSET_SIZE, set_current_blocked
    if sigsetsize != SIGSET_SIZE:
        return fail(EINVAL)
    try:
        mask = struct.unpack("<Q", k.mem.copy_from_user(sigmask, 8))[0]
    except GuestFault:
        return fail(EFAULT)
    saved = t.blocked
    set_current_blocked(k, t, mask)

    def restore(result: int) -> None:
        if result == fail(EINTR):
            t.saved_sigmask = saved            # restored once the signal is delivered
        else:
            set_current_blocked(k, t, saved)

    return do_epoll_wait(k, t, epfd, events, maxevents, timeout, on_result=restore)
