"""The netpoller on both arches: a G reading an empty pipe parks in netpollblock
(IO wait) and is woken through epoll -- by another goroutine's write, or by the
far end of the pipe driven from Python at a chosen virtual time while every
goroutine waits (the last M then blocks in epoll_pwait)."""
from __future__ import annotations

from pathlib import Path

from emu.asm import with_equ
from emu.system import System
from emu.trace import events as ev
from emu.trace.events import Recorder

ROOT = Path(__file__).resolve().parents[1]


# main makes a pipe and a channel, starts a reader, [writes "abc" itself], and waits for
# the reader's report: the byte count (printed by the reader) and the first byte.
def program(arch, selfwrite, spin=1, nap=0):
    """programs/<arch>/netpoll_reader.s: main writes itself or not, spins `spin`
    iterations and then sleeps `nap` ns (0: no sleep) before it prints 1."""
    return with_equ((ROOT / "programs" / arch / "netpoll_reader.s").read_text(),
                    SELFWRITE=selfwrite, SPIN=spin, NAP=nap)


def test_reader_parks_in_io_wait_and_a_write_wakes_it(arch):
    for procs in (1, 2):
        rec = Recorder(kinds=[ev.GSTATUS, "netpoll"])
        s = System([("np.s", program(arch, 1))], arch, bare=False, procs=procs, trace=rec)
        out = s.run(20_000_000)
        assert (out.status, out.stdout, out.stderr) == (0, b"1\n3\n97\n", b""), out.report
        g2 = [e.args[1:3] for e in rec.of(ev.GSTATUS) if e.args[0] == 2]
        assert ("_Grunning", "_Gwaiting") in g2 and ("_Gwaiting", "_Grunnable") in g2
        woke = [e for e in rec.of("netpoll") if e.args[2] == [2]]
        assert len(woke) == 1


def test_the_far_end_writes_at_a_virtual_time_and_the_blocked_netpoll_wakes(arch):
    rec = Recorder(kinds=["netpoll"])
    s = System([("np.s", program(arch, 0))], arch, bare=False, procs=1, trace=rec)
    k = s.kernel
    # fds: 3 epoll, 4/5 the netpoller's break pipe, 6/7 the program's pipe
    k.at(7_000_000, lambda: k.peer(6).write(b"xyz"))
    out = s.run(20_000_000)
    assert (out.status, out.stdout, out.stderr) == (0, b"1\n3\n120\n", b""), out.report
    blocking = [e for e in rec.of("netpoll") if e.args[0] == -1]
    assert blocking and blocking[-1].args[2] == [2]
    assert s.machine.cycles_to_ns(blocking[-1].cycles) >= 7_000_000


def test_a_write_made_after_runtime_sleep_wakes_the_parked_reader(arch):
    for procs in (1, 2):
        rec = Recorder(kinds=["netpoll", "timer"])
        s = System([("np.s", program(arch, 1, nap=3_000_000))], arch, bare=False, procs=procs, trace=rec)
        out = s.run(40_000_000)
        assert (out.status, out.stdout, out.stderr) == (0, b"1\n3\n97\n", b""), out.report
        (fired,) = rec.of("timer")
        goid, now, when = fired.args
        assert goid == 1 and when <= now < when + 1_000_000 + 100_000
        (woke,) = [e for e in rec.of("netpoll") if e.args[2] == [2]]
        assert woke.cycles > fired.cycles         # the reader wakes after main's sleep ends


def test_netpoll_break_wakes_an_m_blocked_in_epoll_when_an_earlier_timer_is_added(arch):
    """With 2 Ps the reader parks, the idle M blocks in epoll_pwait(-1) (no timers yet);
    main then sleeps 5 ms: the new timer is earlier than the poller's wakeup (never), so
    netpollBreak writes the break pipe, the poller wakes empty-handed, takes an idle P,
    recomputes its delay and sleeps 5 ms in epoll.  Without the break the timer would
    wait for the far end's write at 20 ms."""
    rec = Recorder(kinds=["netpoll", "netpollbreak", "timer"])
    s = System([("np.s", program(arch, 0, spin=200_000, nap=5_000_000))], arch, bare=False, procs=2, trace=rec)
    k = s.kernel
    k.at(20_000_000, lambda: k.peer(6).write(b"xyz"))
    out = s.run(40_000_000)
    assert (out.status, out.stdout, out.stderr) == (0, b"1\n3\n120\n", b""), out.report
    kinds = [(e.kind, e.args[0]) for e in rec.events]
    i = kinds.index(("netpollbreak", 0))                # the poller slept with no deadline
    assert kinds[i + 1] == ("netpoll", -1)              # ... and its epoll_pwait(-1) returns
    assert rec.events[i + 1].args[1:] == (1, [])        # one event (the break pipe), no G
    assert ("netpoll", 5) in kinds[i + 2:]              # it sleeps again, now for 5 ms
    (fired,) = rec.of("timer")
    goid, now, when = fired.args
    assert goid == 1 and when <= now < when + 1_000_000 + 100_000    # epoll rounds up to ms
    assert now < 10_000_000                             # long before the far end's write


# 100 readers, each parked on its own empty pipe; main then writes one byte to each.
def test_a_hundred_readers_on_their_own_pipes_are_all_woken(arch):
    src = (ROOT / "programs" / arch / "netpoll_hundred.s").read_text()
    # (4 Ps under the random interleaving: two Ms polling at once once shared one event
    # buffer, and one's events overwrote the other's: readers were never woken)
    for procs, policy, seed in ((1, "round-robin", 0), (4, "round-robin", 0), (4, "random", 1), (4, "random", 2),
                                (4, "random", 3)):
        rec = Recorder(kinds=["netpoll"])
        s = System([("hundred.s", src)], arch, bare=False, procs=procs, trace=rec, policy=policy, seed=seed)
        out = s.run(100_000_000)
        assert (out.status, out.stdout, out.stderr) == (0, b"100\n", b""), (procs, policy, seed, out.report,
                                                                           out.stderr[:300])
        woken = [g for e in rec.of("netpoll") for g in e.args[2]]
        # readers that parked were woken once each (a reader that ran after its byte
        # arrived read it without parking); all 100 reported
        assert len(woken) == len(set(woken)) and set(woken) <= set(range(2, 102)) and woken
