"""A run as a Perfetto / Chrome trace (Go: internal/trace and cmd/trace, whose viewer is
fed the same Chrome Trace Event JSON; runtime/trace's GoCreate, GoStart, GoBlock,
GoUnblock, GoSysCall and ProcSteal are the vocabulary of the slices and flows below).

Design note
  1. One pass over the recorder's events, in emission order (which is the causal
     order), rebuilds the spans (`scheduler_spans`):
       - a *run*: G on M and P, from SWITCH until the G leaves _Grunning in a
         GSTATUS event (a trip through _Gcopystack does not end it; exitsyscall
         starts a new run on the same M, on the P the "exitsyscall" event names);
       - a G's *state*: running / runnable / waiting / syscall / ..., one slice
         per GSTATUS transition;
       - a thread's *syscalls*: SYSCALL .. SYSRET, named by the syscall;
       - *instants*: steals, preemptions, signals, timer fires, netpoll wakes;
       - *flows*: the G that made another G runnable (ready, newproc) -> where the
         woken G next runs; a steal's victim P -> the thief P's next run.
  2. `to_chrome_trace` turns the spans into {"traceEvents": [...]}: four processes
     (Ms, Ps, Gs, kernel threads), one track (tid) per M, P, G and thread, named
     with "M" metadata events; "X" complete slices, "i" instants, "s"/"f" flows
     (bp "e": the finish binds to the slice that starts there).  Time stamps are
     microseconds of virtual time (floats), from `machine.cycles_to_ns`.
  3. Every CPU keeps its own clock (machine/smp.py), so a P or a G that moves
     between CPUs can see its next event stamped earlier than its last one, by up
     to a slice.  Each track is therefore clamped: a slice never starts before the
     previous slice on its track ended, so slices on one track never overlap.
     An M's track has one CPU's clock and is never moved.
  4. tids are unique across processes (an M's track is 1,000,000 + m.id, a P's
     2,000,000 + p.id, a G's 3,000,000 + goid, a kernel thread's is its Linux tid),
     so no viewer can mistake one track for another.
Rejected: B/E pairs (an E lost at the end of a run breaks the nesting of its whole
track); Perfetto's protobuf format (needs a protobuf library, and chrome://tracing
opens only JSON); one track per CPU (a CPU is a thread: the M is what one looks for);
syscalls nested inside the M's run slices (a syscall that outlives the G's run, a
blocking one, would overlap instead of nest).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..trace import events as ev

# Event kinds the export reads: a Recorder(kinds=KINDS) keeps just these.
KINDS = frozenset({
    ev.GSTATUS, ev.SWITCH, ev.STEAL, ev.NEWPROC, ev.MSTART, ev.SYSCALL, ev.SYSRET,
    ev.SIGNAL, ev.SIGRETURN, ev.THREAD_NEW, "exitsyscall", "retake", "handoff", "pushcall",
    "preempt_refused", "asyncpreempt", "asyncresume", "syncpreempt", "preemptpark", "timer",
    "netpoll", "netpollbreak", "stackgrow", "guardgrow",
})

PID_M, PID_P, PID_G, PID_T = 1, 2, 3, 4
PROCESS_NAMES = {PID_M: "Ms (threads running Go code)", PID_P: "Ps (processors)",
                 PID_G: "Gs (goroutines)", PID_T: "kernel threads (syscalls, signals)"}
TID_BASE = {"M": 1_000_000, "P": 2_000_000, "G": 3_000_000, "T": 0}
PID_OF = {"M": PID_M, "P": PID_P, "G": PID_G, "T": PID_T}

# How a run ends, by the status its G goes to (go tool trace: GoBlock, GoSched ...).
RUN_END = {"_Gwaiting": "block", "_Grunnable": "yield/preempt", "_Gdead": "exit",
           "_Gsyscall": "syscall", "_Gpreempted": "preempted"}
G_STATE = {"_Grunning": "running", "_Grunnable": "runnable", "_Gwaiting": "waiting",
           "_Gsyscall": "syscall", "_Gcopystack": "copystack", "_Gpreempted": "preempted"}

# Instant events: kind -> (track: "P" = the P in args[0], "M" = the M on the event's
# CPU, "T" = the event's thread; category; name format over args; names of the args).
INSTANTS = {
    ev.STEAL: ("P", "steal", "steal {2} G from P{1}", ("thief", "victim", "n")),
    "retake": ("P", "preempt", "sysmon preempts G{1}", ("p", "goid", "ran_ns")),
    "handoff": ("P", "syscall", "sysmon hands off P{0}", ("p",)),
    "pushcall": ("M", "preempt", "pushCall asyncPreempt into G{0}", ("goid", "pc", "sp")),
    "preempt_refused": ("M", "preempt", "G{0} not at a safe point: {2}", ("goid", "pc", "why")),
    "asyncpreempt": ("M", "preempt", "asyncPreempt G{0}", ("goid", "sp")),
    "asyncresume": ("M", "preempt", "asyncPreempt resumes G{0}", ("goid", "sp")),
    "syncpreempt": ("M", "preempt", "G{0} preempted at a stack check", ("goid", "pc")),
    "preemptpark": ("M", "preempt", "preemptPark G{0}", ("goid",)),
    "timer": ("M", "timer", "timer fires: ready G{0}", ("goid", "now", "when")),
    "netpoll": ("M", "netpoll", "netpoll: {1} ready", ("delay_ms", "n", "goids")),
    "netpollbreak": ("M", "netpoll", "netpollBreak", ("pollUntil",)),
    "stackgrow": ("M", "stack", "G{0} stack grows", ("goid", "old_lo", "old_hi", "new_lo", "new_hi",
                                                     "moved", "used")),
    "guardgrow": ("M", "stack", "G{0} guard-page fault: stack grows", ("goid", "pc")),
    ev.SIGNAL: ("T", "signal", "{0}", ("sig", "handler", "frame", "altstack")),
    ev.SIGRETURN: ("T", "signal", "rt_sigreturn", ("pc", "sp")),
}
HEX_ARGS = {"pc", "sp", "handler", "frame", "old_lo", "old_hi", "new_lo", "new_hi"}


# ---- spans --------------------------------------------------------------------------
@dataclass
class Run:
    """G `goid` running on M `m` holding P `p`, over [start, end) ns of virtual time."""

    goid: int
    m: int
    p: int
    start: int
    end: int | None = None
    why: str = ""                  # how it ended (RUN_END), "" while it runs


@dataclass
class Slice:
    """A named span on one track: ("G", goid) state slices, ("T", cpu) syscalls."""

    track: tuple
    name: str
    cat: str
    start: int
    end: int | None = None
    args: dict = field(default_factory=dict)


@dataclass
class Instant:
    track: tuple
    name: str
    cat: str
    ts: int
    args: dict


@dataclass
class Flow:
    """An arrow from (src track, src ts) to the start of `dst` run on `dst_kind`'s track."""

    cat: str
    name: str
    src: tuple
    ts: int
    dst: Run | None = None
    dst_kind: str = "M"


@dataclass
class Spans:
    """Everything the exports draw, in ns of virtual time (see the module note)."""

    runs: list = field(default_factory=list)
    gstates: list = field(default_factory=list)
    syscalls: list = field(default_factory=list)
    instants: list = field(default_factory=list)
    flows: list = field(default_factory=list)
    gname: dict = field(default_factory=dict)       # goid -> its start function
    mthread: dict = field(default_factory=dict)     # m id -> Linux tid
    cputhread: dict = field(default_factory=dict)   # CPU -> Linux tid
    cpu_m: dict = field(default_factory=dict)       # CPU -> m id
    end: int = 0                                    # the last event's time


class _Builder:
    """The one pass of design step 1: `on_<kind>` per event kind."""

    def __init__(self, system):
        self.system, self.ns = system, system.machine.cycles_to_ns
        self.s = Spans()
        self.m_p: dict[int, int] = {}          # m -> the P it last ran a G with
        self.running: dict[int, Run] = {}      # m -> its open run
        self.gstate: dict[int, Slice] = {}     # goid -> its open state slice
        self.sys_open: dict[int, Slice] = {}   # cpu -> its open syscall
        self.woken: dict[int, Flow] = {}       # goid -> a flow waiting for its next run
        self.stolen: dict[int, Flow] = {}      # thief P -> a flow waiting for its next run
        for t in getattr(system.kernel, "tasks", {}).values():
            self.s.cputhread[t.cpu.id] = t.tid

    def build(self, events) -> Spans:
        for e in events:
            t = self.ns(e.cycles)
            self.s.end = max(self.s.end, t)
            handler = getattr(self, "on_" + e.kind, None)
            if handler is not None:
                handler(e, t)
            if e.kind in INSTANTS:
                self.instant(e, t)
        self.close_all(self.s.end)
        return self.s

    # ---- Ms, threads, Gs ------------------------------------------------------------
    def on_mstart(self, e, t):
        m, tid = e.args
        self.s.cpu_m[e.cpu], self.s.mthread[m], self.s.cputhread[e.cpu] = m, tid, tid

    def on_thread_new(self, e, t):
        tid, cpu = e.args
        self.s.cputhread[cpu] = tid

    def on_newproc(self, e, t):
        goid, fn = e.args
        sym = self.system.image.symbol_at(fn)
        self.s.gname[goid] = sym[0] if sym and sym[1] == 0 else f"{fn:#x}"

    def on_switch(self, e, t):
        m, p, goid = e.args
        self.s.cpu_m[e.cpu], self.m_p[m] = m, p
        self.open_run(goid, m, p, t)

    def on_exitsyscall(self, e, t):
        goid, p, _how = e.args
        run = self.running.get(self.s.cpu_m.get(e.cpu))
        if p >= 0 and run is not None and run.goid == goid:
            run.p = self.m_p[run.m] = p

    def on_gstatus(self, e, t):
        goid, old, new, _addr = e.args
        if goid == 0 or old == "_Gidle":
            return                              # g0 and gsignal stacks: not goroutines
        self.g_state(goid, new, t)
        m = self.s.cpu_m.get(e.cpu)
        run = self.running.get(m)
        if old == "_Grunning" and new != "_Gcopystack" and run is not None and run.goid == goid:
            run.end, run.why = t, RUN_END.get(new, new)
            del self.running[m]
        elif old == "_Gsyscall" and new == "_Grunning" and m is not None:
            self.open_run(goid, m, self.m_p.get(m, -1), t)
        if new == "_Grunnable" and old in ("_Gwaiting", "_Gdead"):
            self.wake(goid, old, run, m, t)

    def g_state(self, goid: int, new: str, t: int) -> None:
        cur = self.gstate.pop(goid, None)
        if cur is not None:
            cur.end = t
        if new in G_STATE:
            sl = Slice(("G", goid), G_STATE[new], "gstate", t, args={"status": new})
            self.gstate[goid] = sl
            self.s.gstates.append(sl)

    def open_run(self, goid: int, m: int, p: int, t: int) -> None:
        prev = self.running.get(m)
        if prev is not None:                      # no status change ended it (a real Go binary's
            prev.end, prev.why = t, "switch"      # events come from hooks): the switch does
        run = Run(goid, m, p, t)
        self.running[m] = run
        self.s.runs.append(run)
        flow = self.woken.pop(goid, None)
        if flow is not None:
            flow.dst = run
            self.s.flows.append(flow)
        flow = self.stolen.pop(p, None)
        if flow is not None:
            flow.dst = run
            self.s.flows.append(flow)

    def wake(self, goid: int, old: str, waker: Run | None, m: int | None, t: int) -> None:
        """goid became runnable; when a G on this M did it, draw an arrow from it."""
        if waker is None or waker.goid == goid:
            return                                # sysmon, a timer, netpoll: no G did it
        name, cat = ("go", "create") if old == "_Gdead" else ("ready", "wake")
        self.woken[goid] = Flow(cat, f"{name} G{goid}", ("M", m), t)

    def on_steal(self, e, t):
        thief, victim, _n = e.args
        self.stolen[thief] = Flow("steal", f"steal from P{victim}", ("P", victim), t, dst_kind="P")

    # ---- the kernel's view ----------------------------------------------------------------
    def on_syscall(self, e, t):
        self.end_syscall(e.cpu, t, None)          # one that never returned (exit, rt_sigreturn)
        name, *args = e.args
        self.sys_open[e.cpu] = sl = Slice(("T", e.cpu), name, "syscall", t,
                                          args={"args": [hex(a) if a > 9 else a for a in args]})
        self.s.syscalls.append(sl)

    def on_sysret(self, e, t):
        self.end_syscall(e.cpu, t, e.args[0])

    def end_syscall(self, cpu: int, t: int, result) -> None:
        sl = self.sys_open.pop(cpu, None)
        if sl is not None:
            sl.end = t if result is not None else sl.start
            sl.args["result"] = result if result is not None else "(no return)"

    def instant(self, e, t) -> None:
        where, cat, fmt, names = INSTANTS[e.kind]
        if where == "P":
            track = ("P", e.args[0])
        elif where == "M" and e.cpu in self.s.cpu_m:
            track = ("M", self.s.cpu_m[e.cpu])
        else:
            track = ("T", e.cpu)
        args = {n: (hex(v) if n in HEX_ARGS and isinstance(v, int) else v) for n, v in zip(names, e.args)}
        shown = list(e.args)
        if e.kind == ev.SIGNAL:
            from ..kernel.signal import signame
            shown[0] = signame(e.args[0])
        self.s.instants.append(Instant(track, fmt.format(*shown), cat, t, args))

    def close_all(self, end: int) -> None:
        for run in self.running.values():
            run.end, run.why = end, "still running"
        for sl in list(self.gstate.values()) + list(self.sys_open.values()):
            sl.end = end


def scheduler_spans(events, system) -> Spans:
    """The runs, G states, syscalls, instants and flows of a recorded run (step 1)."""
    return _Builder(system).build(events)


# ---- Chrome Trace Event JSON ----------------------------------------------------------------
def _us(ns: int) -> float:
    return ns / 1000


def _tid(track: tuple) -> int:
    kind, ident = track
    return TID_BASE[kind] + ident


def _clamped(tracks: list) -> dict:
    """(track, slice) pairs in causal order -> {id(slice) on track: (start, end)}, each
    track's slices moved so that none starts before the previous one ended (step 3)."""
    last: dict[tuple, int] = {}
    out = {}
    for track, sl in tracks:
        start = max(sl.start, last.get(track, sl.start))
        end = max(sl.end, start)
        last[track] = end
        out[(track, id(sl))] = (start, end)
    return out


def _names(spans: Spans, used: set) -> list[dict]:
    """process_name / thread_name / sort-index metadata for every track in use."""
    out = []
    for pid in sorted({PID_OF[k] for k, _ in used}):
        out.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": PROCESS_NAMES[pid]}})
        out.append({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0, "args": {"sort_index": pid}})
    for kind, ident in sorted(used):
        if kind == "M":
            tid = spans.mthread.get(ident)
            name = f"M{ident}" + (f" (thread {tid})" if tid is not None else "")
        elif kind == "P":
            name = f"P{ident}"
        elif kind == "G":
            name = f"G{ident} {spans.gname.get(ident, '')}".rstrip()
        else:
            tid = spans.cputhread.get(ident)
            m = spans.cpu_m.get(ident)
            name = (f"thread {tid}" if tid is not None else f"cpu{ident}") + (f" (M{m})" if m is not None else "")
        pid, tid = PID_OF[kind], _tid((kind, _thread_key(spans, kind, ident)))
        out.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": name}})
        out.append({"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid, "args": {"sort_index": ident}})
    return out


def _thread_key(spans: Spans, kind: str, ident: int) -> int:
    """A kernel thread's track is its Linux tid when known (else 100,000 + cpu)."""
    if kind != "T":
        return ident
    tid = spans.cputhread.get(ident)
    return tid if tid is not None else 100_000 + ident


def _where(spans: Spans, track: tuple) -> dict:
    kind, ident = track
    return {"pid": PID_OF[kind], "tid": _tid((kind, _thread_key(spans, kind, ident)))}


def _run_slices(spans: Spans) -> list:
    """(track, run) for every run on its M's track and on its P's track."""
    out = [(("M", r.m), r) for r in spans.runs]
    out += [(("P", r.p), r) for r in spans.runs if r.p >= 0]
    return out


def to_chrome_trace(events, system) -> dict:
    """The Chrome Trace Event JSON of a recorded run: {"traceEvents": [...], ...}."""
    spans = scheduler_spans(events, system)
    runs = _run_slices(spans)
    others = [(sl.track, sl) for sl in spans.gstates + spans.syscalls]
    at = _clamped(runs + others)
    out, used = [], set()

    def emit(track, ev_: dict) -> None:
        used.add(track)
        out.append({**ev_, **_where(spans, track)})

    for track, r in runs:
        start, end = at[(track, id(r))]
        name = f"G{r.goid} {spans.gname.get(r.goid, '')}".rstrip()
        emit(track, {"ph": "X", "name": name, "cat": "run", "ts": _us(start), "dur": _us(end - start),
                     "args": {"goid": r.goid, "m": r.m, "p": r.p, "ends": r.why}})
    for track, sl in others:
        start, end = at[(track, id(sl))]
        emit(track, {"ph": "X", "name": sl.name, "cat": sl.cat, "ts": _us(start), "dur": _us(end - start),
                     "args": sl.args})
    for i in spans.instants:
        emit(i.track, {"ph": "i", "s": "t", "name": i.name, "cat": i.cat, "ts": _us(i.ts), "args": i.args})
    for n, f in enumerate(spans.flows, 1):
        dst = (f.dst_kind, f.dst.m if f.dst_kind == "M" else f.dst.p)
        emit(f.src, {"ph": "s", "id": n, "cat": f.cat, "name": f.name, "ts": _us(f.ts)})
        emit(dst, {"ph": "f", "bp": "e", "id": n, "cat": f.cat, "name": f.name,
                   "ts": _us(at[(dst, id(f.dst))][0])})
    out.sort(key=lambda e: e["ts"])
    return {"traceEvents": _names(spans, used) + out, "displayTimeUnit": "ns"}


def dumps(trace: dict) -> str:
    """Deterministic JSON text, one event per line (diffable; the same seed gives the
    same bytes)."""
    body = ",\n".join(json.dumps(e, separators=(",", ":"), sort_keys=True) for e in trace["traceEvents"])
    rest = {k: v for k, v in trace.items() if k != "traceEvents"}
    tail = "".join(f",{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(rest.items()))
    return '{"traceEvents":[\n' + body + "\n]" + tail + "}\n"


def write_chrome_trace(path, events, system) -> dict:
    """Write the trace of `events` to `path` (open it in ui.perfetto.dev or
    chrome://tracing); returns the trace."""
    trace = to_chrome_trace(events, system)
    with open(path, "w", encoding="utf-8") as f:
        f.write(dumps(trace))
    return trace
