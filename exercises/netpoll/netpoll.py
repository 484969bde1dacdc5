"""Exercise netpoll: parking a goroutine until its fd is ready (Go: runtime/netpoll.go
netpollblock, netpollblockcommit, netpollunblock).

Your functions replace emu.runtime.netpoll's everywhere: runtime.read / runtime.write
call netpollblock when the syscall says EAGAIN, park_m calls your commit once the G is
parked, and netpoll calls netpollunblock for every epoll event.  Read README.md first.

A pollDesc (address `pd`) is in guest memory; its rg (reader) and wg (writer) words
are each one small state machine:

    pdNil   0   nothing happened, nobody waits
    pdReady 1   the fd became ready and nobody has consumed that yet
    pdWait  2   a G is about to park (between its check and its commit)
    G addr      the G parked there, waiting

Read and write a word with rt.mem.read_u64(gpp) / rt.mem.write_u64(gpp, v).  Python
runs atomically between two slices of machine code, so where Go CASes you load and
store -- but `yield from gopark(...)` runs machine code (mcall), other Ms run meanwhile,
and the word may have changed by the time your commit runs.
"""
from __future__ import annotations

from emu.runtime.layout import POLLDESC
from emu.runtime.netpoll import pdNil, pdReady, pdWait, waitReasonIOWait  # noqa: F401 -- 0, 1, 2; 8
from emu.runtime.park import gopark                                      # noqa: F401


def gpp_of(pd: int, mode: str) -> int:
    """(given) The address of pd.rg (mode "r") or pd.wg (mode "w")."""
    return pd + POLLDESC.offset("rg" if mode == "r" else "wg")


_gpp = gpp_of                                   # (the name emu/runtime/netpoll.py uses)


def netpollblock(rt, pd: int, mode: str):
    """Wait until pd is ready for `mode` ("r" / "w"); return True if it is (generator:
    call it with `yield from`).  Go: netpollblock.

    1. If the word is pdReady, the readiness came before us: consume it (pdNil) and
       return True without parking.
    2. Otherwise set it to pdWait, count this G in rt.sched.nwaiters (+1: findRunnable and
       the idle M only poll while Gs wait), and park:
           yield from gopark(rt, netpollblockcommit, gpp, waitReasonIOWait)
       park_m calls netpollblockcommit(rt, gp, gpp) once the G is off its M.
    3. After gopark returns (woken, or never parked because the commit said no): take
       the G out of nwaiters again (-1), swap the word to pdNil, and return whether it was
       pdReady."""
    # TODO: the fast path, then pdWait + park, then consume what woke us.
    raise NotImplementedError("TODO: netpollblock")
    yield                                       # (keeps this a generator)


def netpollblockcommit(rt, gp, gpp: int):
    """park_m's unlock function: the G is parked (_Gwaiting, off its M); publish it in
    the word, or refuse (generator returning a bool; Go: netpollblockcommit).

    Only if the word is still pdWait: store gp.addr there and return True (the G stays
    parked until netpollunblock hands it back).  Anything else means the fd became ready
    since netpollblock's check: return False, and park_m runs the G again at once."""
    # TODO: the CAS pdWait -> G.
    raise NotImplementedError("TODO: netpollblockcommit")
    yield                                       # (keeps this a generator: park_m does `yield from`)


def netpollunblock(rt, pd: int, mode: str):
    """The fd is ready for `mode` (netpoll saw an epoll event): record it, and return the
    G parked on that word (as rt.g(addr)) for netpoll to make runnable, or None.  Go:
    netpollunblock(pd, mode, ioready=true).

    pdReady stays pdReady (None: already recorded); pdNil and pdWait become pdReady
    (None: nobody is parked yet); a G becomes pdReady and that G is returned -- once."""
    # TODO: the word's next state, and the G to wake.
    raise NotImplementedError("TODO: netpollunblock")
