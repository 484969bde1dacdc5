"""The tools on real, unmodified Go binaries (emu/gobinary, and the debugger, views and
checker driving an ElfSystem), on both arches.

Symbols come from .symtab with `.abi0` normalised, lines from DWARF .debug_line,
struct layouts from DWARF .debug_info -- checked here against the offsets Go's own
assembly uses (gogo<> and mcall, decoded); the runtime-state reader walks
allgs/allm/allp/sched to exact values at breakpoints; the debugger's reverse step
is exact by digest; the preemption checker passes on the preempt fixture with real
async preemptions (and catches a corrupted register); the save/restore view,
G/M/P view, schedtrace (against the binary's own GODEBUG=schedtrace output) and the
Perfetto export work from hooks and memory.

The fixtures are tests/go's, built by tests/go/build.sh (see tests/test_gobinaries.py);
everything is skipped with the reason when `go` is missing.  About a minute in all.
"""
from __future__ import annotations

import collections
import json
import re
from pathlib import Path

from emu.analysis.preempt_check import PreemptionChecker
from emu.debug import Debugger
from emu.gobinary import go_binary
from emu.gobinary.symbols import goroot
from emu.gobinary.tap import GoEventTap
from emu.system import ElfSystem
from emu.trace import events as ev
from emu.views.disasm import DisasmView
from emu.views.gmp import GoSchedView, SchedView
from emu.views.perfetto import dumps, scheduler_spans, to_chrome_trace
from emu.views.saverestore import GoSaveRestoreRecorder, SaveRestoreRecorder
from emu.views.schedtrace import schedtrace

from test_gobinaries import gobin  # noqa: F401  (the session fixture that builds tests/go)

BUDGET = 400_000_000
G_REG = {"amd64": "r14", "arm64": "x28"}


# ---- symbols and lines -------------------------------------------------------------------
def test_symbols_normalise_abi0_and_lines_come_from_dwarf(gobin, arch):
    go = go_binary(gobin / arch / "hello")
    sym = go.symbols
    assert sym.addr_of("runtime.gogo") == sym.addr_of("runtime.gogo.abi0")
    assert sym.symbol_at(sym.addr_of("runtime.gogo") + 4) == ("runtime.gogo", 4)
    # an ABIInternal body and its ABI0 wrapper stay two names
    assert sym.symbol_at(sym.addr_of("runtime.asyncPreempt2"))[0] == "runtime.asyncPreempt2"
    assert sym.symbol_at(sym.addr_of("runtime.asyncPreempt2.abi0"))[0] == "runtime.asyncPreempt2.abi0"
    line = sym.line_at(sym.addr_of("runtime.schedule"))
    assert line.file == "runtime/proc.go"
    source = Path(goroot(), "src", "runtime", "proc.go").read_text().splitlines()
    assert source[line.line - 1].strip() == line.text == "func schedule() {"
    gogo = sym.line_at(sym.addr_of("runtime.gogo"))
    assert gogo.file == f"runtime/asm_{arch}.s" and gogo.text.startswith("MOVD" if arch == "arm64" else "MOVQ")
    assert go.version.startswith("go1.")


# ---- DWARF layouts against Go's own asm -----------------------------------------------------
def test_dwarf_gobuf_layout_is_the_one_gogo_and_mcall_use(gobin, arch):
    go = go_binary(gobin / arch / "hello")
    gobuf, g = go.types.struct("runtime.gobuf"), go.types.struct("runtime.g")
    assert [(f.name, f.offset, f.size) for f in gobuf.fields] == [
        ("sp", 0, 8), ("pc", 8, 8), ("g", 16, 8), ("ctxt", 24, 8), ("ret", 32, 8), ("lr", 40, 8), ("bp", 48, 8)]
    assert g["sched"].type.name == "runtime.gobuf" and g["sched.pc"].offset == g["sched"].offset + 8
    # gogo<> loads every slot from the offset DWARF gives (Go's go_asm.h says the same)
    loaded_into = {"amd64": {"sp": "rsp", "ret": "rax", "ctxt": "rdx", "bp": "rbp", "pc": "rbx"},
                   "arm64": {"sp": "x0", "bp": "x29", "lr": "x30", "ctxt": "x26", "pc": "x6"}}[arch]
    loads = go.gogo_loads()
    assert {gobuf[f].offset: r for f, r in loaded_into.items()}.items() <= loads.items()
    if arch == "arm64":
        assert [r for o, r in loads.items() if o == gobuf["ret"].offset] == ["x0"]
    # mcall stores the caller's pc, sp, bp (arm64: and 0 in lr) into g.sched through the g register
    stores = go.mcall_stores()
    want = {g["sched.pc"].offset, g["sched.sp"].offset, g["sched.bp"].offset}
    if arch == "arm64":
        want.add(g["sched.lr"].offset)
        assert stores[g["sched.lr"].offset] == "xzr"
    assert set(stores) == want
    # the fields the reader uses, with Go's types
    m, p, s = (go.types.struct(f"runtime.{n}") for n in ("m", "p", "schedt"))
    assert (m["alllink"].type.name, m["curg"].type.name, m["spinning"].kind) == ("*runtime.m", "*runtime.g", "bool")
    assert (p["runq"].type.name, p["runq"].count) == ("[256]runtime.guintptr", 256)
    assert s["runq"].type.name == "runtime.gQueue" and s["npidle"].size == 4
    assert go.types.constant("_Grunning") == 2 and go.types.constant("_Gscan") == 0x1000


# ---- the runtime state at breakpoints --------------------------------------------------------
def test_runtime_state_at_runtime_main_and_main_main(gobin, arch):
    d = Debugger(gobin / arch / "hello")
    stop = d.cont() if d.break_at("runtime.main") else None
    assert stop.reason == "breakpoint" and stop.where.startswith("runtime.main+0 (proc.go:")
    st = d.goroutines()
    assert [(g.goid, g.status_name, g.m) for g in st.gs] == [(1, "_Grunning", 0)]
    assert [(m.id, m.curg, m.p, m.procid) for m in st.ms] == [(0, 1, 0, 1000)]
    assert [(p.id, p.status_name, p.m, p.runq, p.runnext) for p in st.ps] == [(0, "_Prunning", 0, (), None)]
    assert (st.gomaxprocs, st.mcount, st.runq) == (1, 1, ())
    d.break_at("main.main")
    assert d.cont().reason == "breakpoint"
    st = d.goroutines()
    assert [(g.goid, g.status_name, g.waitreason) for g in st.gs] == [
        (1, "_Grunning", ""), (2, "_Gwaiting", "force gc (idle)"), (3, "_Gwaiting", "GC sweep wait"),
        (4, "_Gwaiting", "GC scavenge wait"), (5, "_Grunnable", "")]
    assert [(m.id, m.curg, m.p, m.procid) for m in st.ms] == [
        (3, None, None, 1003), (2, None, None, 1002), (1, None, None, 1001), (0, 1, 0, 1000)]
    assert [(p.id, p.status_name, p.m, p.runq, p.runnext) for p in st.ps] == [(0, "_Prunning", 0, (), 5)]
    assert st.mcount == 4 and st.g(1).addr == d.cpu.read(G_REG[arch])
    g1 = st.g(1)
    assert g1.stack_lo < d.cpu.sp < g1.stack_hi
    view = SchedView(d.system)
    assert isinstance(view, GoSchedView) and [m.sysmon for m in view.ms] == [False, False, True, False]
    assert view.g(5).start == "runtime.runfinq" and view.g(5).where == "P0 runnext"
    assert "goroutines (allgs)" in view.text()


# ---- the debugger on a real binary -------------------------------------------------------------
def test_break_describe_and_disassemble_runtime_gogo(gobin, arch):
    d = Debugger(gobin / arch / "hello")
    d.break_at("runtime.gogo")
    stop = d.cont()
    assert stop.reason == "breakpoint" and stop.where.startswith(f"runtime.gogo+0 (asm_{arch}.s:")
    view = DisasmView(d.system, d.cpu, before=2, after=3)
    assert view.current.text == ("mov rbx, qword ptr [rsp + 8]" if arch == "amd64" else "ldr x5, [sp, #8]")
    assert view.current.source.startswith("MOVQ\tbuf+0(FP), BX" if arch == "amd64" else "MOVD\tbuf+0(FP), R5")
    d.step(2, cpu=d.cpu.id)                    # two instructions in: the view shows what came before
    view = DisasmView(d.system, d.cpu, before=2, after=1)
    assert [i.symbol for i in view.instructions[:3]] == ["runtime.gogo+0", f"runtime.gogo+{view.instructions[1].addr - view.instructions[0].addr}", view.current.symbol]
    assert view.instructions[2].current


def test_reverse_step_and_restore_are_exact_on_a_real_binary(gobin, arch):
    d = Debugger(gobin / arch / "preempt", cpus=2, policy="random", seed=3)
    d.run_until(symbol="runtime.gogo")
    d.step(25)
    snap = d.snapshot()
    trail = []
    for _ in range(4):
        trail.append((d.position, d.digest()))
        d.step()
    for pos, dig in reversed(trail):
        st = d.reverse_step()
        assert st.reason == "reverse-step" and (d.position, d.digest()) == (pos, dig)
    d.cont(max_instructions=20_000)
    assert d.restore(snap).position == snap.position and d.digest() == snap.digest
    assert d.cont().reason == "exit" and d.kernel.stdout == b"preempted the spinner\n"


def test_watch_a_real_g_field_and_stop_at_switches(gobin, arch):
    d = Debugger(gobin / arch / "hello")
    d.break_at("main.main")
    d.cont()
    wp = d.watch_field(d.g(1), "sched.sp")
    assert wp.name.startswith("runtime.g(") and wp.size == 8
    st = d.cont()
    assert st.reason == "watchpoint" and st.detail.by == "machine code"
    # the first save of main's SP: systemstack's (gosave_systemstack_switch writes g.sched)
    assert d.symbols.symbol_at(st.detail.pc)[0] == "gosave_systemstack_switch"
    assert st.detail.new == d.g(1)["sched.sp"]
    d.delete(wp.id)
    st = d.next_switch()
    assert st.reason == "event" and st.detail.kind == ev.SWITCH
    m, p, goid = st.detail.args
    assert p == 0 and m in {x.id for x in d.goroutines().ms} and goid in {g.goid for g in d.goroutines().gs}
    st = d.run_until(gstatus="_Gdead")
    assert st.reason in ("event", "exit")


# ---- the preemption checker ---------------------------------------------------------------
def test_checker_passes_on_preempt_with_real_async_preemptions(gobin, arch):
    s = ElfSystem(gobin / arch / "preempt")
    checker = PreemptionChecker(s)
    out = s.run(BUDGET)
    rep = checker.report
    assert out.stdout == b"preempted the spinner\n", out.report
    assert rep.checked >= 1 and not rep.differences, str(rep)
    assert rep.deliveries >= rep.checked
    assert {s.go.symbols.symbol_at(pc)[0] for pc in rep.pcs} == {"main.spin"}
    ret = s.go.code("runtime.asyncPreempt")
    last = next(i for i in ret if i.addr == checker.return_pc)
    assert last.text == ("ret" if arch == "amd64" else "br x27")


def test_checker_catches_a_register_asyncpreempt_did_not_restore(gobin, arch):
    """A hook corrupts one register at asyncPreempt's entry: asyncPreempt saves the bad
    value and restores it, so the G resumes with it and the checker must say so."""
    s = ElfSystem(gobin / arch / "preempt")
    checker = PreemptionChecker(s)
    reg = "rbx" if arch == "amd64" else "x19"
    s.machine.add_code_hook(s.go.symbols.addr_of("runtime.asyncPreempt"),
                            lambda cpu: cpu.write(reg, cpu.read(reg) ^ 0x5A5A))
    s.run(BUDGET)
    rep = checker.report
    assert rep.checked >= 1 and {d.register for d in rep.differences} == {reg}
    assert all(d.after == d.before ^ 0x5A5A for d in rep.differences)


# ---- the save/restore view ------------------------------------------------------------------
def test_save_restore_view_on_real_go(gobin, arch):
    s = ElfSystem(gobin / arch / "preempt")
    view = SaveRestoreRecorder(s)
    assert isinstance(view, GoSaveRestoreRecorder)
    out = s.run(BUDGET)
    assert out.status == 0
    fns = collections.Counter(r.fn for r in view.switches)
    assert fns["runtime.park_m"] >= 1 and fns["runtime.gopreempt_m"] >= 1, fns
    g_t = s.go.types.struct("runtime.g")
    isa = s.machine.isa
    for rec in view.switches:
        assert rec.ok, rec.text()
        kept = {r.register: r for r in rec.rows if r.ok is not None}
        assert set(kept) == {isa.pc, isa.sp, isa.fp, isa.g}
        for reg, slot in ((isa.pc, "pc"), (isa.sp, "sp"), (isa.fp, "bp"), (isa.g, "g")):
            assert kept[reg].slot == f"g.sched.{slot}" and kept[reg].addr == rec.g + g_t[f"sched.{slot}"].offset
            assert kept[reg].saved == kept[reg].stored == kept[reg].restored
    assert view.preemptions and all(p.verdict == "transparent" and p.ok for p in view.preemptions)
    rec = view.preemptions[0]
    assert rec.vector_bits == (64 if arch == "arm64" else 128)
    assert rec.row(isa.pc).by == "pushCall" if arch == "amd64" else rec.row("x30").by == "pushCall"
    assert rec.row(isa.sp).restored == rec.frame + (392 if arch == "amd64" else 512)


# ---- G/M/P, schedtrace, Perfetto -----------------------------------------------------------------
def _norm(block: str) -> str:
    block = re.sub(r"^SCHED \d+ms", "SCHED", block)
    return re.sub(r"(?m)^(  M1: .*) locks=\d+", r"\1 locks=?", block)   # sysmon's own locks: it is printing


def test_schedtrace_matches_what_the_binary_prints_itself(gobin, arch):
    """Go 1.19's schedtrace, read from memory at the entry of runtime.schedtrace, against
    the lines the same binary prints under GODEBUG=schedtrace=1,scheddetail=1.  Blocks
    printed while another M was changing the state differ (Go reads without stopping
    anyone); the rest are equal but for the printing M's (sysmon's) own lock count."""
    s = ElfSystem(gobin / arch / "preempt", env=("GODEBUG=schedtrace=1,scheddetail=1",))
    ours = []
    s.machine.add_code_hook(s.go.symbols.addr_of("runtime.schedtrace"),
                            lambda cpu: ours.append(schedtrace(s, detailed=True)))
    out = s.run(BUDGET)
    theirs = [b for b in re.split(r"(?=^SCHED )", out.stderr.decode(), flags=re.M) if b.startswith("SCHED")]
    assert len(ours) == len(theirs) >= 10
    same = [_norm(a) == _norm(b) for a, b in zip(ours, theirs)]
    assert sum(same) >= len(same) // 2, same
    assert ours[0].startswith("SCHED 0ms: gomaxprocs=1 idleprocs=0 threads=2")
    assert schedtrace(s).startswith("SCHED 0ms: gomaxprocs=1 ") and schedtrace(s).endswith(" [0]\n")


def test_perfetto_g_tracks_from_the_event_tap(gobin, arch):
    binary = gobin / arch / "fanin"
    s = ElfSystem(binary, cpus=1, trace=True)
    GoEventTap(s)
    out = s.run(BUDGET)
    plain = ElfSystem(binary, cpus=1).run(BUDGET)
    assert (out.instructions, out.cycles, out.stdout) == (plain.instructions, plain.cycles, plain.stdout)
    spans = scheduler_spans(s.recorder.events, s)
    producers = sorted(g for g, name in spans.gname.items() if name == "main.main.func3")
    assert len(producers) == 8 and spans.gname[1] == "runtime.main"
    ran = {r.goid for r in spans.runs}
    assert set(producers) <= ran and 1 in ran
    assert {r.p for r in spans.runs} == {0, 1, 2, 3}                   # fanin sets GOMAXPROCS(4)
    trace = to_chrome_trace(s.recorder.events, s)
    names = {e["args"]["name"] for e in trace["traceEvents"] if e.get("name") == "thread_name"}
    assert {f"G{g} main.main.func3" for g in producers} <= names
    json.loads(dumps(trace))


# ---- the terminal stepper on a real binary ----------------------------------------------------
def test_the_terminal_stepper_steps_a_real_go_binary(gobin, arch, tmp_path):
    import subprocess
    import sys
    script = tmp_path / "cmds"
    script.write_text("b runtime.gogo\nc\ng\nS 3\nrs 3\nq\n")
    out = subprocess.run([sys.executable, "-m", "emu", "step", str(gobin / arch / "preempt"), "--script", str(script)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"gosched-emu step: {arch}" in out.stdout
    brk = next(line for line in out.stdout.splitlines() if line.startswith("[breakpoint]"))
    assert " runtime.gogo+0 (asm_" in brk
    assert "G1  _Grunning" in out.stdout and "allgs" in out.stdout         # G/M/P from DWARF
    pos = int(brk.split("@")[1].split()[0])
    assert f"[reverse-step] @{pos}" in out.stdout                          # back where it stopped
