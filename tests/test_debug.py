"""The debugger on both arches: stepping never changes the run, breakpoints and
watchpoints stop at exact positions, snapshots and reverse steps restore the exact
machine state (checked by digest), and run-until conditions stop where they say."""
from __future__ import annotations

import random

import pytest

from emu.debug import Debugger, DebugError
from emu.system import System
from emu.trace import events as ev
from emu.trace.events import Recorder


def prog(arch: str, name: str) -> str:
    return f"programs/{arch}/{name}.s"


def plain_run(arch, name, **kw):
    rec = Recorder(slices=False)
    s = System([prog(arch, name)], arch, trace=rec, **kw)
    out = s.run()
    return s, out, rec


@pytest.mark.parametrize("policy", ["round-robin", "random"])
def test_chunking_never_changes_the_run(arch, policy):
    """Stepping in seeded random chunks reaches, at every position, the state one run
    reaches: same digest, same events (procs 2, so the interleaving matters)."""
    kw = dict(bare=False, procs=2, seed=7, policy=policy, quantum=300)
    whole = Debugger([prog(arch, "fanout")], arch, **kw)
    whole.cont()
    end = whole.position
    rng = random.Random(3)
    marks = sorted(rng.sample(range(1, end), 6))
    chunked = Debugger([prog(arch, "fanout")], arch, **kw)
    for m in marks:
        while chunked.position < m:
            chunked.step(min(m - chunked.position, rng.choice([1, 2, 17, 500])))
        ref = Debugger([prog(arch, "fanout")], arch, **kw)
        ref.goto(m)
        assert chunked.digest() == ref.digest(), f"position {m} (seed 7, policy {policy})"
    chunked.cont()
    assert chunked.position == end and chunked.digest() == whole.digest()
    strip = lambda evs: [e for e in evs if e.kind != ev.SLICE]    # noqa: E731
    assert strip(chunked.events) == strip(whole.events)
    _, out, rec = plain_run(arch, "fanout", **kw)
    assert out.instructions == end and strip(rec.events) == strip(whole.events)


def test_a_breakpoint_stops_before_the_instruction_at_every_call(arch):
    """A breakpoint on runtime.gogo is hit once per scheduling of a G (a SWITCH event
    precedes every gogo), with the PC on gogo's first instruction, not yet executed."""
    _, out, rec = plain_run(arch, "pingpong", bare=False, procs=1)
    switches = len(rec.of(ev.SWITCH))
    d = Debugger([prog(arch, "pingpong")], arch, bare=False, procs=1)
    bp = d.break_at("runtime.gogo")
    gogo = d.image.symbols["runtime.gogo"]
    stops = []
    while True:
        st = d.cont()
        if st.reason != "breakpoint":
            break
        assert d.cpu.pc == gogo and st.pc == gogo and st.where.startswith("runtime.gogo+0")
        stops.append(st.position)
    assert st.reason == "exit" and d.position == out.instructions
    assert bp.hits == switches == len(stops) and stops == sorted(set(stops))


def test_a_watchpoint_sees_mcall_save_and_gogo_clear_g_sched_sp(arch):
    d = Debugger([prog(arch, "pingpong")], arch, bare=False, procs=1)
    d.run_until(gstatus="_Grunning", goid=1)
    wp = d.watch_field(d.g(1), "sched.sp")
    hits = []
    for _ in range(8):
        st = d.cont()
        assert st.reason == "watchpoint", st
        h = st.detail
        hits.append((d.image.symbol_at(h.pc)[0], h.new != 0))
    # G1 was just made _Grunning: gogo clears its saved sp as it switches to it.  Then
    # newproc runs on g0 through systemstack, which saves sp (gosave_systemstack_switch)
    # and clears it on the way back; each park saves it in mcall and gogo clears it.
    assert hits == [("runtime.gogo", False), ("gosave_systemstack_switch", True), ("runtime.systemstack", False),
                    ("runtime.mcall", True), ("runtime.gogo", False), ("runtime.mcall", True),
                    ("runtime.gogo", False), ("runtime.mcall", True)]
    sp_field = d.g(1).addr + d.g(1).layout["sched.sp"].offset
    assert len(wp.hits) == 8 and all(h.addr == sp_field and h.by == "machine code" for h in wp.hits)


def test_a_watchpoint_sees_the_python_runtime_write(arch):
    """newproc (Python) puts the new G in runnext: a watchpoint on p.runnext sees it."""
    d = Debugger([prog(arch, "pingpong")], arch, bare=False, procs=1)
    d.run_until(symbol="main.main")
    pp = d.runtime.allp(0)
    d.watch_field(pp, "runnext")
    st = d.cont()
    assert st.reason == "watchpoint" and st.detail.by == "python"
    assert (st.detail.old, st.detail.new) == (0, d.g(2).addr)


def test_snapshot_restore_and_reverse_step_are_exact(arch):
    d = Debugger([prog(arch, "gosched_rr")], arch, bare=False, procs=2, seed=5)
    d.next_switch()
    d.step(40)
    snap = d.snapshot()
    trail = []
    for _ in range(5):
        trail.append((d.position, d.digest()))
        d.step()
    for pos, dig in reversed(trail):
        st = d.reverse_step()
        assert st.reason == "reverse-step" and (d.position, d.digest()) == (pos, dig)
    d.cont(max_instructions=5_000)
    assert d.restore(snap).position == snap.position and d.digest() == snap.digest
    d.cont()
    assert d.kernel.exit_status == 0


def test_step_on_one_cpu_counts_that_cpus_instructions(arch):
    d = Debugger([prog(arch, "fanout")], arch, bare=False, procs=2)
    # both Ps busy: cpu0 (m0) and cpu2 (the M started for P1; cpu1 is sysmon)
    d.run_until(predicate=lambda s: len(s.machine.cpus) >= 3 and s.machine.cpus[2].instructions > 100)
    for cpu in (0, 2, 0):
        c = d.machine.cpus[cpu]
        before, pos = c.instructions, d.position
        st = d.step(25, cpu=cpu)
        assert st.reason == "step" and st.cpu == cpu and c.instructions - before == 25
        assert d.position >= pos + 25


def test_next_steps_over_a_runtime_call_back_to_the_same_goroutine(arch):
    """`next` over `call runtime.chansend` (a Python function that parks the G) stops
    at the next instruction of main, in goroutine 1, whatever ran in between."""
    d = Debugger([prog(arch, "pingpong")], arch, bare=False, procs=2)
    d.break_at("main.loop")
    d.cont()
    g = {"amd64": "r14", "arm64": "x28"}[arch]
    while True:
        insn = d.decode(d.cpu.pc)
        if insn.mnemonic in ("call", "bl"):
            break
        d.next()
    call_at, g1 = d.cpu.pc, d.cpu.read(g)
    before = d.position
    st = d.next()
    assert st.reason == "next" and st.pc == call_at + insn.size and d.cpu.read(g) == g1
    assert d.position - before > 50     # the scheduler and the ponger ran in between


def test_run_until_time_status_and_exact_predicate(arch):
    d = Debugger([prog(arch, "pingpong")], arch, bare=False, procs=1)
    st = d.run_until(time_ns=30_000)
    assert st.reason == "time" and d.machine.cycles_to_ns(d.machine.now()) >= 30_000
    st = d.run_until(gstatus="_Gwaiting", goid=2)
    assert st.reason == "event" and st.detail.args[0] == 2 and st.detail.args[2] == "_Gwaiting"
    lines, start = d.kernel.stdout.count(b"\n"), d.position
    st = d.run_until(predicate=lambda s: s.kernel.stdout.count(b"\n") > lines, exact=True)
    assert st.reason == "predicate" and d.kernel.stdout.count(b"\n") == lines + 1
    assert d.decode(st.pc - (2 if arch == "amd64" else 4)).mnemonic in ("syscall", "svc")
    d.reverse_step()
    assert d.kernel.stdout.count(b"\n") == lines     # the write syscall is undone
    assert d.back().position == start                  # undo the whole run_until


def test_instruction_tracing_reports_changed_registers(arch):
    d = Debugger([prog(arch, "bare_counter")], arch, bare=True)
    d.trace_instructions()
    d.step(6)
    d.trace_instructions(False)
    insns = [e for e in d.events if e.kind == ev.INSN]
    assert len(insns) == 6
    # every INSN after the first names only registers that really changed
    prev = None
    for e in insns:
        if prev is not None:
            assert e.args[1] and "pc" in e.args[1] or d.machine.cpus[0].isa.pc in e.args[1]
        prev = e
    n = len(d.events)
    d.step(5)
    assert not [e for e in d.events[n:] if e.kind == ev.INSN]     # off again


def test_bad_requests_name_the_function_and_the_rule(arch):
    d = Debugger([prog(arch, "pingpong")], arch, bare=False)
    with pytest.raises(DebugError, match="unknown symbol or line 'nosuch'"):
        d.break_at("nosuch")
    with pytest.raises(DebugError, match="no instruction at pingpong.s:1$"):
        d.break_at("pingpong.s:1")
    with pytest.raises(DebugError, match="Debugger.step: n must be at least 1"):
        d.step(0)
    with pytest.raises(DebugError, match="Debugger.delete: no breakpoint or watchpoint 99"):
        d.delete(99)
    with pytest.raises(DebugError, match="Debugger.reverse_step"):
        d.reverse_step()
    with pytest.raises(DebugError, match="no cpu 7"):
        d.step(1, cpu=7)


def test_python_runtime_calls_are_traced_in_and_out(arch):
    """With slices on, every PYRET closes an earlier PYCALL of the same symbol."""
    d = Debugger([prog(arch, "pingpong")], arch, bare=False, slices=True)
    d.cont()
    open_calls: dict[str, int] = {}
    rets = 0
    for e in d.events:
        if e.kind == ev.PYCALL:
            open_calls[e.args[0]] = open_calls.get(e.args[0], 0) + 1
        elif e.kind == ev.PYRET:
            assert open_calls.get(e.args[0], 0) > 0, e
            open_calls[e.args[0]] -= 1
            rets += 1
    assert rets > 20 and open_calls.get("runtime.newproc", 0) == 0


def test_an_event_made_before_a_slice_stops_before_that_slice(arch):
    """A signal is delivered (its frame built) just before the thread's next slice: a
    stop on the SIGNAL event leaves the CPU on the handler's first instruction, and the
    run goes on exactly as if it had not stopped."""
    d = Debugger([prog(arch, "spin")], arch, bare=False)
    st = d.run_until(event=ev.SIGNAL)
    assert st.reason == "event" and st.detail.kind == ev.SIGNAL
    handler = st.detail.args[1]
    assert d.machine.cpus[st.detail.cpu].pc == handler == d.image.symbols["runtime.sigtramp"]
    d.cont()
    whole = Debugger([prog(arch, "spin")], arch, bare=False)
    whole.cont()
    assert (d.position, d.digest()) == (whole.position, whole.digest())
