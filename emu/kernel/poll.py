"""Poll event bits (include/uapi/asm-generic/poll.h, include/uapi/linux/eventpoll.h).

A file's `poll()` returns a mask of these; a wait-queue wakeup carries one as
its key (wait.py), which epoll's callback filters on.
"""

EPOLLIN, EPOLLPRI, EPOLLOUT, EPOLLERR, EPOLLHUP = 0x001, 0x002, 0x004, 0x008, 0x010
EPOLLRDNORM, EPOLLRDBAND, EPOLLWRNORM, EPOLLWRBAND = 0x040, 0x080, 0x100, 0x200
EPOLLMSG, EPOLLRDHUP = 0x400, 0x2000
EPOLLEXCLUSIVE, EPOLLWAKEUP, EPOLLONESHOT, EPOLLET = 1 << 28, 1 << 29, 1 << 30, 1 << 31

# The keys of the usual wakeups.
POLL_READ = EPOLLIN | EPOLLRDNORM
POLL_WRITE = EPOLLOUT | EPOLLWRNORM
