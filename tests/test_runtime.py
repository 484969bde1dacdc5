"""The goroutine scheduler on both arches: exact results with many goroutines, work
stealing, run-queue spill, legal G status transitions, registers across context
switches, determinism; and the layout table against Go's."""
from __future__ import annotations

import pytest

from emu.runtime import layout as L
from emu.runtime.view import GView, PView, SchedtView
from emu.trace import events as ev
from emu.trace.events import Recorder

from conftest import make_system, replay
from runtime_programs import CALLEE, MANY, SPILL

# Transitions Go's runtime makes (runtime2.go / proc.go), written out independently of emu.
GO_TRANSITIONS = {
    ("_Gidle", "_Gdead"), ("_Gdead", "_Grunnable"), ("_Grunnable", "_Grunning"),
    ("_Grunning", "_Grunnable"), ("_Grunning", "_Gwaiting"), ("_Gwaiting", "_Grunnable"),
    ("_Grunning", "_Gdead"), ("_Grunning", "_Gsyscall"), ("_Gsyscall", "_Grunning"),
    ("_Gsyscall", "_Grunnable"), ("_Grunning", "_Gcopystack"), ("_Gcopystack", "_Grunning"),
    ("_Grunning", "_Gpreempted"), ("_Gpreempted", "_Gwaiting"),
}


def runtime_system(arch, source, **kw):
    return make_system(arch, source, bare=False, **kw)


# ---- layout ----------------------------------------------------------------------------
def test_go_asm_inc_is_generated_from_the_layout_table():
    assert L.INC_PATH.read_text() == L.go_asm_inc(), "run: python -m emu.runtime.layout"


def test_layout_matches_go_where_go_defines_it():
    # gobuf (runtime2.go): sp, pc, g, ctxt, ret, lr, bp at 0..48; g.stack, stackguard0, m, sched.
    assert [L.GOBUF[f].offset for f in ("sp", "pc", "g", "ctxt", "ret", "lr", "bp")] == [0, 8, 16, 24, 32, 40, 48]
    assert [L.G[f].offset for f in ("stack", "stackguard0", "stackguard1", "m", "sched")] == [0, 16, 24, 48, 56]
    assert (L._Gidle, L._Grunnable, L._Grunning, L._Gsyscall, L._Gwaiting, L._Gdead, L._Gcopystack,
            L._Gpreempted, L._Gscan) == (0, 1, 2, 3, 4, 6, 8, 9, 0x1000)
    assert (L._Pidle, L._Prunning, L._Psyscall, L._Pgcstop, L._Pdead) == (0, 1, 2, 3, 4)
    assert L.STACK_PREEMPT == (1 << 64) - 1314 and L.STACK_GUARD == 928
    assert L.P["runq"].count == 256


def test_views_read_the_bytes_assembly_reads(arch):
    s = runtime_system(arch, SPILL[arch])
    g0 = GView(s.machine.memory, s.image.symbols["runtime.g0"])
    g0.sched.sp = 0x1234_5678
    g0.sched.callee[2] = 99
    mem = s.machine.memory
    assert mem.read_u64(g0.addr + s.image.constants["g_sched"] + s.image.constants["gobuf_sp"]) == 0x1234_5678
    assert mem.read_u64(g0.addr + L.G["sched.callee"].offset + 16) == 99


# ---- many goroutines ------------------------------------------------------------------
@pytest.mark.parametrize("procs,seed", [(4, 1), (1, 0)])
def test_ten_thousand_goroutines_sum_exactly(arch, procs, seed):
    rec = Recorder(kinds=[ev.NEWPROC, ev.SWITCH, ev.STEAL, ev.MSTART])
    s = runtime_system(arch, MANY[arch], procs=procs, seed=seed, trace=rec)
    out = s.run(400_000_000)
    assert (out.status, out.stdout) == (0, b"100000000\n"), (out.report, out.stderr, replay(s))
    assert len(rec.of(ev.NEWPROC)) == 10_001              # runtime.main + 10,000
    if procs == 4:
        steals = rec.of(ev.STEAL)
        assert steals, "no work stealing observed"
        ran_on = {e.args[1] for e in rec.of(ev.SWITCH)}
        assert ran_on == {0, 1, 2, 3}, ran_on             # created on P0, run on every P
        assert len(rec.of(ev.MSTART)) == 5                 # m0, sysmon, and three Ms made on demand


# ---- the run queue spills to the global queue ----------------------------------------------
def test_local_run_queue_of_more_than_256_spills_half_to_the_global_queue(arch):
    rec = Recorder(kinds=[ev.NEWPROC])
    s = runtime_system(arch, SPILL[arch], procs=1, trace=rec)
    res = s.machine.run(50_000_000, pause=lambda: len(rec.events) == 301)
    assert res.reason == "paused"
    mem, sym = s.machine.memory, s.image.symbols
    sched = SchedtView(mem, sym["runtime.sched"])
    p0 = PView(mem, mem.read_u64(sched.allp))
    # 300 newprocs, each into runnext: g1..g256 fill the ring; g257 overflows it, moving
    # g1..g128 plus g257 (129) to the global queue; g258..g299 follow in the ring; g300 is runnext.
    goid = lambda a: GView(mem, a).goid
    ring = [p0.runq[(p0.runqhead + i) % 256] for i in range((p0.runqtail - p0.runqhead) & 0xFFFFFFFF)]
    assert sched.runqsize == 129
    assert len(ring) == 170 and goid(p0.runnext) == 301
    glob, a = [], sched.runq_head
    while a:
        glob.append(goid(a))
        a = GView(mem, a).schedlink
    assert glob == list(range(2, 130)) + [258]          # goid = index + 1 (runtime.main is goroutine 1)
    assert [goid(a) for a in ring] == list(range(130, 258)) + list(range(259, 301))
    out = s.run(50_000_000)
    assert out.status == 0, out.report


# ---- G status transitions ------------------------------------------------------------------
def test_every_g_status_transition_is_one_go_makes(arch):
    rec = Recorder(kinds=[ev.GSTATUS])
    unbuffered = MANY[arch].replace("mov eax, N\n", "mov eax, 0\n").replace("mov x0, #N\n", "mov x0, #0\n")
    assert unbuffered != MANY[arch]
    s = runtime_system(arch, unbuffered.replace("10000", "500"), procs=3, seed=2, trace=rec)
    out = s.run(100_000_000)
    assert out.status == 0, out.report
    seen = {(e.args[1], e.args[2]) for e in rec.events}
    assert seen <= GO_TRANSITIONS, seen - GO_TRANSITIONS
    assert {("_Grunning", "_Gwaiting"), ("_Gwaiting", "_Grunnable"), ("_Grunning", "_Gdead")} <= seen
    # per goroutine, each transition starts from the status the previous one left
    last = {}
    for e in rec.events:
        goid, old, new, g = e.args
        if g in last:
            assert last[g] == old, (goid, last[g], old, new)
        last[g] = new


def test_illegal_transition_throws_like_go(arch, monkeypatch):
    """With yielding made illegal, gosched's _Grunning -> _Grunnable must throw, and the
    guest must print Go's fatal error with a goroutine dump and exit 2."""
    from emu.runtime import g as gmod
    monkeypatch.delitem(gmod.ALLOWED, (L._Grunning, L._Grunnable))
    s = runtime_system(arch, CALLEE[arch], procs=1)
    out = s.run(20_000_000)
    assert out.status == 2 and out.stdout == b""
    err = out.stderr.decode()
    assert err.startswith("fatal error: casgstatus: illegal transition _Grunning -> _Grunnable\n\n")
    assert "goroutine 1 [running]:" in err


# ---- registers across context switches --------------------------------------------------------
def _callee_names(arch):
    return ["rbx", "r12", "r13", "r15"] if arch == "amd64" else [f"x{i}" for i in range(19, 28)]


def test_registers_survive_every_context_switch(arch):
    """At mcall (the save) record SP, FP, g and the callee-saved registers of the G;
    at the jump of gogo (the restore) they must be back, for every switch."""
    s = runtime_system(arch, CALLEE[arch], procs=2, seed=3)
    m, sym = s.machine, s.image.symbols
    isa = m.isa
    names = _callee_names(arch) + [isa.fp, isa.g]
    saved, checked, mismatches = {}, [], []

    def on_save(cpu):
        r = cpu.snapshot_regs()
        sp_after = r[isa.sp] + (8 if arch == "amd64" else 0)   # the SP mcall records
        pc = m.memory.read_u64(r[isa.sp]) if arch == "amd64" else r["x30"]
        saved[r[isa.g]] = ({n: r[n] for n in names}, sp_after, pc)

    def on_restore(cpu):
        r = cpu.snapshot_regs()
        g = r[isa.g]
        if g not in saved:
            return                                              # a G's first run: nothing saved
        regs, sp, pc = saved.pop(g)
        target = m.memory.read_u64(r["r11"] + 8) if arch == "amd64" else r["x6"]
        now = {n: r[n] for n in names}
        checked.append(g)
        if now != regs or r[isa.sp] != sp or target != pc:
            mismatches.append((hex(g), regs, now, hex(sp), hex(r[isa.sp])))

    m.add_code_hook(sym["runtime.mcall"], on_save)
    m.add_code_hook(sym["runtime.gogo.jump"], on_restore)
    out = s.run(20_000_000)
    assert (out.status, out.stdout) == (0, b"7\n"), (out.report, out.stderr)
    assert not mismatches, mismatches[:3]
    # main: 3 goscheds + a blocking receive; sender: 3 goscheds, then goexit's mcall, which
    # is saved and never restored (the G is dead).
    assert len(checked) == 7 and len(saved) == 1


def test_callee_saved_registers_survive_from_the_programs_point_of_view(arch):
    for procs, seed in [(1, 0), (2, 5), (4, 9)]:
        s = runtime_system(arch, CALLEE[arch], procs=procs, seed=seed)
        out = s.run(20_000_000)
        assert (out.status, out.stdout) == (0, b"7\n"), (out.report, replay(s))


def test_a_gogo_that_forgets_callee_saved_registers_is_caught(arch, tmp_path):
    """Mutation: gogo without its callee-saved restores; the program-level check fails."""
    from emu import system as sysmod
    from emu.runtime import pycall
    root = sysmod.runtime_sources(arch)[0].parent
    asm = (root / "asm.s").read_text()
    restores = [ln + "\n" for ln in asm.splitlines() if "gobuf_callee" in ln and
                (ln.lstrip().startswith("ldp") or ln.lstrip().startswith("ldr") or "[r11 + gobuf_callee" in ln)]
    assert len(restores) == (5 if arch == "arm64" else 4)
    mutated = asm
    for ln in restores:
        mutated = mutated.replace(ln, "", 1)
    (tmp_path / "asm.s").write_text(mutated)
    (tmp_path / "sys_linux.s").write_text((root / "sys_linux.s").read_text())
    (tmp_path.parent / "go_asm.inc").write_text((root.parent / "go_asm.inc").read_text())
    srcs = [tmp_path / "asm.s", tmp_path / "sys_linux.s", ("pytext.s", pycall.pytext_source(
        __import__("emu.machine.isa", fromlist=["get_isa"]).get_isa(arch)))]
    orig = sysmod.runtime_sources
    sysmod.runtime_sources = lambda a: srcs
    try:
        s = runtime_system(arch, CALLEE[arch], procs=1)
        out = s.run(20_000_000)
    finally:
        sysmod.runtime_sources = orig
    assert out.status == 1 and out.stdout == b""


# ---- determinism ---------------------------------------------------------------------------------
def test_same_seed_same_scheduler_event_stream(arch):
    def stream(seed):
        rec = Recorder(slices=True)
        s = runtime_system(arch, MANY[arch].replace("10000", "300"), procs=4, seed=seed, policy="random",
                           quantum=200, trace=rec)
        assert s.run(100_000_000).stdout == b"90000\n", replay(s)
        return rec.events
    a, b, c = stream(4), stream(4), stream(5)
    assert a == b and a != c


def test_a_python_exception_in_the_runtime_is_a_go_fatal_error_not_a_host_crash(arch, monkeypatch):
    from emu.runtime import sched
    def broken(rt, gpaddr):
        raise KeyError("planted")
        yield
    monkeypatch.setattr(sched, "goschedImpl", lambda rt, gp: broken(rt, gp.addr))
    s = runtime_system(arch, CALLEE[arch], procs=1)
    out = s.run(20_000_000)
    assert out.status == 2
    err = out.stderr.decode()
    assert err.startswith("fatal error: runtime internal error in runtime.gosched_m: KeyError: 'planted' "
                          "(test_runtime.py:"), err
    assert "goroutine 1 [" in err
