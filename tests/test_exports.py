"""Exports of a run: the Perfetto / Chrome trace, Go's schedtrace lines, the matplotlib
timeline, and the CLI flags that write them (emu/views/{perfetto,schedtrace,timeline}.py)."""
from __future__ import annotations

import io
import json
import re
from collections import defaultdict

import pytest

from emu.cli import main, program_path
from emu.system import System
from emu.trace.events import Recorder
from emu.views.perfetto import KINDS, dumps, scheduler_spans, to_chrome_trace, write_chrome_trace
from emu.views.schedtrace import ScheduleTracer, schedtrace

_RUNS: dict = {}


def recorded(arch: str, prog: str, procs: int, seed: int = 0, policy: str = "round-robin"):
    """(system, recorder) of a finished run of programs/<arch>/<prog>; cached (read-only use)."""
    key = (arch, prog, procs, seed, policy)
    if key not in _RUNS:
        rec = Recorder(slices=False)
        s = System([program_path(arch, prog)], arch, bare=False, procs=procs, seed=seed, policy=policy, trace=rec)
        out = s.run(200_000_000)
        assert out.status == 0, out.report
        _RUNS[key] = (s, rec)
    return _RUNS[key]


# ---- the structure any viewer needs ------------------------------------------------------
def check_chrome_trace(trace: dict) -> dict:
    """Assert the trace is well formed (see the checks); returns counts by phase."""
    assert json.loads(json.dumps(trace)) == trace                      # JSON round trip
    assert trace["displayTimeUnit"] == "ns"
    events = trace["traceEvents"]
    meta = [e for e in events if e["ph"] == "M"]
    procs = {e["pid"] for e in meta if e["name"] == "process_name"}
    threads = {(e["pid"], e["tid"]) for e in meta if e["name"] == "thread_name"}
    tids = defaultdict(set)
    for pid, tid in threads:
        tids[tid].add(pid)
    assert all(len(p) == 1 for p in tids.values()), "a tid is reused across processes"
    by_track = defaultdict(list)
    flows = defaultdict(list)
    counts = defaultdict(int)
    for e in events:
        counts[e["ph"]] += 1
        if e["ph"] == "M":
            continue
        assert e["pid"] in procs and (e["pid"], e["tid"]) in threads, f"no names for {e}"
        assert isinstance(e["ts"], float) and e["ts"] >= 0
        assert e["ph"] in ("X", "i", "s", "f"), e                       # no B/E to leave unmatched
        if e["ph"] == "X":
            assert isinstance(e["dur"], float) and e["dur"] >= 0 and e["name"], e
            by_track[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"], e["name"]))
        elif e["ph"] == "i":
            assert e["s"] == "t"
        else:
            flows[(e["id"], e["cat"], e["name"])].append(e["ph"])
            if e["ph"] == "f":
                assert e["bp"] == "e"
    for track, slices in by_track.items():
        slices.sort()
        for (s0, e0, n0), (s1, e1, n1) in zip(slices, slices[1:]):
            assert e0 <= s1 + 1e-6, f"overlapping slices on {track}: {n0} [{s0}, {e0}] and {n1} [{s1}, {e1}]"
    assert all(sorted(v) == ["f", "s"] for v in flows.values()), "a flow start without its finish"
    return counts


def test_pingpong_with_one_p_alternates_exactly_on_m0(arch):
    s, rec = recorded(arch, "pingpong.s", 1)
    spans = scheduler_spans(rec.events, s)
    runs = [r for r in spans.runs if r.m == 0]
    assert [(r.goid, r.p, r.why) for r in runs] == [(1, 0, "block"), (2, 0, "block")] * 10 + [(1, 0, "still running")]
    assert all(a.end == b.start for a, b in zip(runs, runs[1:]))       # the one P never idles
    assert runs[0].start == s.machine.cycles_to_ns(rec.of("switch")[0].cycles)
    assert spans.gname == {1: "runtime.main", 2: "ponger"}
    # every switch but the first is a wakeup by the other G: 20 arrows (newproc + 19 readies)
    assert [(f.cat, f.name) for f in spans.flows] == [("create", "go G2")] + [
        ("wake", f"ready G{1 + (i % 2 == 0)}") for i in range(1, 20)]
    for f in spans.flows:        # from the waker's run, at the wakeup, to the woken G's next run
        waker = next(r for r in runs if r.start <= f.ts <= r.end)
        assert f.src == ("M", 0) and f.dst.goid == int(f.name.split("G")[1]) != waker.goid
        assert f.dst.start >= f.ts


def test_fanout_trace_is_well_formed_with_steals_and_wakeups(arch):
    s, rec = recorded(arch, "fanout.s", 4)
    trace = to_chrome_trace(rec.events, s)
    counts = check_chrome_trace(trace)
    spans = scheduler_spans(rec.events, s)
    events = trace["traceEvents"]
    names = {e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert {"M0 (thread 1000)", "P0", "P3", "G1 runtime.main", "G1001 worker"} <= names
    assert counts["X"] == 2 * len(spans.runs) + len(spans.gstates) + len(spans.syscalls)
    assert counts["s"] == counts["f"] == len(spans.flows)
    steals = [e for e in events if e["ph"] == "i" and e["cat"] == "steal"]
    assert len(steals) == len(rec.of("steal")) > 0
    cats = {f.cat for f in spans.flows}
    assert {"create", "wake", "steal"} <= cats
    # a steal arrow ends where the thief P next runs a G, on the thief's track
    for f in spans.flows:
        if f.cat == "steal":
            assert f.dst_kind == "P" and f.src[0] == "P" and f.src[1] != f.dst.p
    # G state slices: each G starts runnable; running slices match the runs
    g_running = sum(1 for sl in spans.gstates if sl.name == "running")
    assert g_running == len(spans.runs)
    assert {sl.name for sl in spans.gstates} <= {"running", "runnable", "waiting", "syscall", "copystack",
                                                 "preempted"}


def test_the_same_seed_gives_byte_identical_json(tmp_path):
    texts = []
    for i in range(2):
        rec = Recorder(kinds=KINDS)
        s = System([program_path("arm64", "pingpong.s")], "arm64", bare=False, procs=2, seed=7,
                   policy="random", trace=rec)
        s.run(50_000_000)
        write_chrome_trace(tmp_path / f"t{i}.json", rec.events, s)
        texts.append((tmp_path / f"t{i}.json").read_bytes())
    assert texts[0] == texts[1]
    assert json.loads(texts[0])["traceEvents"]


def test_dumps_is_json_with_one_event_per_line(arch):
    s, rec = recorded(arch, "pingpong.s", 1)
    trace = to_chrome_trace(rec.events, s)
    text = dumps(trace)
    assert json.loads(text) == trace
    assert text.count("\n") == len(trace["traceEvents"]) + 2


def test_preemption_and_signal_instants(arch):
    s, rec = recorded(arch, "spin.s", 1)
    trace = to_chrome_trace(rec.events, s)
    check_chrome_trace(trace)
    inst = [(e["cat"], e["name"]) for e in trace["traceEvents"] if e["ph"] == "i"]
    assert ("preempt", "sysmon preempts G2") in inst
    assert ("preempt", "pushCall asyncPreempt into G2") in inst
    assert ("signal", "SIGURG") in inst
    spans = scheduler_spans(rec.events, s)
    assert [r.why for r in spans.runs if r.goid == 2][0] == "yield/preempt"


def test_a_blocking_syscall_ends_the_run_and_the_g_resumes_where_exitsyscall_says(arch):
    from test_syscall import BLOCKING       # g2 sleeps 50 ms in nanosleep; sysmon hands its P to M2
    rec = Recorder(kinds=KINDS)
    s = System([("block.s", BLOCKING[arch])], arch, bare=False, procs=1, trace=rec)
    assert s.run(50_000_000).status == 0
    spans = scheduler_spans(rec.events, s)
    assert [(r.goid, r.m, r.p, r.why) for r in spans.runs] == [
        (1, 0, 0, "yield/preempt"), (1, 0, 0, "yield/preempt"), (2, 0, 0, "syscall"), (1, 2, 0, "block"),
        (2, 0, 0, "exit"), (1, 0, 0, "still running")]
    states = [sl for sl in spans.gstates if sl.track == ("G", 2)]
    assert [sl.name for sl in states] == ["runnable", "running", "syscall", "running"]
    sleep = next(sl for sl in spans.syscalls if sl.name == "nanosleep" and sl.track == ("T", 0))
    assert sleep.end - sleep.start == 50_000_000 and states[2].start <= sleep.start < sleep.end <= states[2].end
    assert [(i.track, i.name) for i in spans.instants] == [(("P", 0), "sysmon hands off P0")]
    check_chrome_trace(to_chrome_trace(rec.events, s))


# ---- schedtrace ------------------------------------------------------------------------------
SPIN_TRACE = "".join(
    f"SCHED {ms}ms: gomaxprocs=1 idleprocs=0 threads={1 if ms == 0 else 2} spinningthreads=0 needspinning=0 "
    f"idlethreads=0 runqueue={0 if ms == 0 else 1} [0]\n" for ms in range(0, 11, 2))

FIRST_DETAIL = (
    "SCHED 0ms: gomaxprocs=1 idleprocs=0 threads=1 spinningthreads=0 needspinning=0 idlethreads=0 runqueue=0 "
    "gcwaiting=false nmidlelocked=0 stopwait=0 sysmonwait=false\n"
    "  P0: status=1 schedtick=0 syscalltick=0 m=0 runqsize=0 gfreecnt=0 timerslen=0\n"
    "  M0: p=0 curg=1 mallocing=0 throwing=0 preemptoff= locks=0 dying=0 spinning=false blocked=false lockedg=nil\n"
    "  G1: status=2() m=0 lockedm=nil\n")


def test_schedtrace_lines_of_spin_every_2ms(arch):
    # main yields to the spinner and waits on the global run queue until sysmon preempts it
    s = System([program_path(arch, "spin.s")], arch, bare=False, procs=1)
    tracer = ScheduleTracer(s, 2_000_000)
    out = tracer.run(100_000_000)
    assert out.status == 0 and out.stdout == b"1\n"
    assert tracer.text == SPIN_TRACE
    times = [t for t, _ in tracer.samples]
    assert times == [times[0] + 2_000_000 * k for k in range(6)]


def test_schedtrace_detail_at_start_and_while_every_thread_sleeps(arch):
    s = System([("sleep.s", SLEEP[arch])], arch, bare=False, procs=1)
    tracer = ScheduleTracer(s, 1_000_000, detailed=True)
    out = tracer.run(100_000_000)
    assert out.status == 0 and out.stdout == b"7\n"
    assert len(tracer.samples) == 6 and tracer.samples[0][1] == FIRST_DETAIL
    asleep = (
        "SCHED {}ms: gomaxprocs=1 idleprocs=1 threads=2 spinningthreads=0 needspinning=0 idlethreads=0 runqueue=0 "
        "gcwaiting=false nmidlelocked=0 stopwait=0 sysmonwait=false\n"
        "  P0: status=0 schedtick=0 syscalltick=0 m=nil runqsize=0 gfreecnt=0 timerslen=1\n"
        "  M1: p=nil curg=nil mallocing=0 throwing=0 preemptoff= locks=0 dying=0 spinning=false blocked=false "
        "lockedg=nil\n"
        "  M0: p=nil curg=nil mallocing=0 throwing=0 preemptoff= locks=0 dying=0 spinning=false blocked=false "
        "lockedg=nil\n"
        "  G1: status=4(sleep) m=nil lockedm=nil\n")
    assert [text for _, text in tracer.samples[1:]] == [asleep.format(ms) for ms in range(1, 6)]


SUMMARY = re.compile(r"SCHED \d+ms: gomaxprocs=\d+ idleprocs=-?\d+ threads=\d+ spinningthreads=-?\d+ "
                     r"needspinning=0 idlethreads=\d+ runqueue=\d+ \[\d+( \d+)*\]\n")
DETAIL = [
    re.compile(r"SCHED \d+ms: .* runqueue=\d+ gcwaiting=false nmidlelocked=\d+ stopwait=0 sysmonwait=false"),
    re.compile(r"  P\d+: status=[0-4] schedtick=\d+ syscalltick=\d+ m=(\d+|nil) runqsize=\d+ gfreecnt=\d+ "
               r"timerslen=\d+"),
    re.compile(r"  M\d+: p=(\d+|nil) curg=(\d+|nil) mallocing=0 throwing=0 preemptoff= locks=\d+ dying=0 "
               r"spinning=(true|false) blocked=(true|false) lockedg=nil"),
    re.compile(r"  G\d+: status=\d+\([a-zA-Z ()]*\) m=(\d+|nil) lockedm=nil"),
]


def test_tracing_does_not_change_the_run_and_every_line_has_go_s_format(arch):
    def run(traced: bool):
        rec = Recorder(slices=False)
        s = System([program_path(arch, "fanout.s")], arch, bare=False, procs=2, seed=3, policy="random", trace=rec)
        tracer = ScheduleTracer(s, 50_000, detailed=True) if traced else None
        out = tracer.run(100_000_000) if traced else s.run(100_000_000)
        return rec.text(), out, tracer
    plain, out0, _ = run(False)
    traced, out1, tracer = run(True)
    assert plain == traced and out0.stdout == out1.stdout == b"332833500\n" and out0.ns == out1.ns
    times = [t for t, _ in tracer.samples]                            # every 50 us until the exit
    assert times == [times[0] + 50_000 * k for k in range(len(times))] and times[-1] <= out1.ns < times[-1] + 100_000
    for _, text in tracer.samples:
        lines = text.splitlines()
        assert DETAIL[0].fullmatch(lines[0]), lines[0]
        kinds = [line[2] for line in lines[1:]]
        assert kinds == sorted(kinds, key="PMG".index) and kinds.count("P") == 2
        for line in lines[1:]:
            assert DETAIL["PMG".index(line[2]) + 1].fullmatch(line), line
    assert SUMMARY.fullmatch(schedtrace(tracer.system))


def test_schedtrace_needs_the_runtime_and_a_positive_interval():
    s = System([program_path("amd64", "bare_counter.s")], "amd64", bare=True)
    with pytest.raises(ValueError, match="no Go runtime"):
        schedtrace(s)
    s = System([program_path("amd64", "pingpong.s")], "amd64", bare=False)
    with pytest.raises(ValueError, match="positive"):
        ScheduleTracer(s, 0)


# ---- the matplotlib timeline -----------------------------------------------------------------------
def test_timeline_renders_headless_with_one_bar_per_run_on_each_row_kind(arch):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from emu.views.timeline import plot_timeline
    s, rec = recorded(arch, "fanout.s", 4)
    fig = plot_timeline(rec.events, s)
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    spans = scheduler_spans(rec.events, s)
    ax = fig.axes[0]
    bars = defaultdict(int)
    for c in ax.collections:
        gid = c.get_gid() or ""
        if gid.startswith("runs:"):
            bars[gid[5]] += len(c.get_paths())
    assert bars["M"] == bars["P"] == len(spans.runs)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["M0", "M1", "M2", "M3", "M4", "P0", "P1", "P2", "P3"]
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"steal", "syscall"}


def test_timeline_draws_into_a_given_axes():
    from matplotlib.figure import Figure
    from emu.views.timeline import plot_timeline
    s, rec = recorded("amd64", "spin.s", 1)
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_timeline(rec.events, s, ax=ax) is fig
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"preemption", "syscall"}


# ---- the CLI -----------------------------------------------------------------------------------
def test_cli_run_writes_perfetto_and_prints_schedtrace(arch, tmp_path, capfd):
    out = tmp_path / "pp.json"
    status = main(["run", str(program_path(arch, "pingpong.s")), "--arch", arch, "--procs", "2",
                   "--perfetto", str(out), "--schedtrace", "20000", "--scheddetail"])
    cap = capfd.readouterr()
    assert status == 0 and cap.out == "".join(f"{i}\n" for i in range(1, 11))
    assert cap.err.startswith("SCHED 0ms: gomaxprocs=2 idleprocs=1 threads=1 ")
    assert cap.err.count("SCHED ") >= 3 and "  P1: status=" in cap.err and "  G2: status=" in cap.err
    trace = json.loads(out.read_text())
    check_chrome_trace(trace)
    names = {e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "thread_name"}
    assert {"M0 (thread 1000)", "P0", "P1", "G1 runtime.main", "G2 ponger"} <= names


def test_cli_perfetto_is_the_same_with_trace_on_and_for_bare_programs(tmp_path, capfd):
    path = str(program_path("amd64", "pingpong.s"))
    assert main(["run", path, "--arch", "amd64", "--perfetto", str(tmp_path / "a.json")]) == 0
    assert main(["run", path, "--arch", "amd64", "--perfetto", str(tmp_path / "b.json"), "--trace"]) == 0
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert "gstatus" in capfd.readouterr().err
    bare = str(program_path("arm64", "bare_counter.s"))
    assert main(["run", bare, "--arch", "arm64", "--bare", "--perfetto", str(tmp_path / "c.json")]) == 0
    trace = json.loads((tmp_path / "c.json").read_text())
    check_chrome_trace(trace)
    assert {e["name"] for e in trace["traceEvents"] if e["ph"] == "X"} >= {"clone", "futex", "write"}


def test_cli_refuses_schedtrace_without_the_runtime_or_detail_alone(capfd):
    bare = str(program_path("amd64", "bare_counter.s"))
    assert main(["run", bare, "--arch", "amd64", "--bare", "--schedtrace", "1000"]) == 2
    assert "needs the Go runtime" in capfd.readouterr().err
    path = str(program_path("amd64", "pingpong.s"))
    assert main(["run", path, "--arch", "amd64", "--scheddetail"]) == 2
    assert "--scheddetail goes with --schedtrace" in capfd.readouterr().err
    assert main(["run", path, "--arch", "amd64", "--schedtrace", "0"]) == 2


SLEEP = {   # main sleeps 5 ms of virtual time, then prints 7
    "amd64": """
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    mov rax, 5000000
    call runtime.sleep
    mov rax, 7
    call runtime.printint
    pop rbp
    ret
""",
    "arm64": """
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    movz x0, #0x4b40                // 5,000,000 = 0x4c4b40
    movk x0, #0x4c, lsl #16
    bl runtime.sleep
    mov x0, #7
    bl runtime.printint
    ldp x29, x30, [sp], #16
    ret
"""}
