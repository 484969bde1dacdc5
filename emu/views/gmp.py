"""The scheduler's G/M/P state, read from emulated memory: every G, M and P, the
global run queue, the idle lists, and which CPU each M's thread runs on.

Design note
  1. Enumerate the way the runtime links things (emu/runtime/layout.py): Gs
     through sched.allg / g.alllink, Ms through sched.allm / m.alllink, Ps as
     allp[0, gomaxprocs), idle Ms through sched.midle / m.schedlink, idle Ps
     through sched.pidle / p.link, the global run queue through sched.runq_head
     / g.schedlink, and a P's ring from runqhead to runqtail (mod 256).  Every
     walk is bounded and stops at a repeated address, so a corrupt list -- the
     thing a student may be debugging -- cannot hang the view.
  2. Each object becomes a small frozen record (GInfo, MInfo, PInfo) that names
     other objects by id, as Go's schedtrace does (m=3, curg=17), keeps its own
     address for who wants to look further, and renders itself as HTML.
  3. The M -> CPU link is the kernel's: m.procid is the thread id, and the
     kernel's task with that tid is pinned to one CPU (kernel/task.py).
  4. Everything is read when the view is built, without locks, like Go's
     schedtrace and xv6's procdump: between slices the state is consistent,
     because runtime Python runs atomically with respect to the machine.
  5. A real Go binary (an ElfSystem): `SchedView(system)` returns a
     GoSchedView, the same records and tables filled from the real runtime's
     memory through its DWARF layouts (emu/gobinary/state.py): Gs from
     runtime.allgs (oldest first, as Go's forEachG), Ms from runtime.allm, Ps
     from runtime.allp, the global run queue from sched.runq; statuses are the
     runtime's constants' names and wait reasons its waitReasonStrings.  The
     sysmon M is the one whose mstartfn is runtime.sysmon.
Rejected: rebuilding the state from the trace (memory is the truth, and the
trace may be off or filtered); Python objects kept in step by the runtime (a
second copy of the truth).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from ..runtime.layout import P_STATUS_NAMES, RUNQ_SIZE, _Grunning, _Gscan, _Gwaiting
from ..runtime.m import MSTART_SYSMON
from ..runtime.print import WAIT_REASONS
from ..runtime.state import status_name
from ..runtime.view import walk
from .html import Table, addr_or_nil, key_values, page, page_text

class _Record:
    """Shared rendering of the three records: a two-column table of their fields."""

    def pairs(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("addr", "startpc", "stack_lo", "stack_hi"):
                v = addr_or_nil(v)
            elif isinstance(v, tuple):
                v = " ".join(map(str, v)) or "-"
            elif v is None:
                v = "-"
            yield f.name, v

    def _repr_html_(self) -> str:
        return key_values(self.label, self.pairs())._repr_html_()

    def text(self) -> str:
        return key_values(self.label, self.pairs()).text()


@dataclass(frozen=True)
class GInfo(_Record):
    """One goroutine.  `m` is the id of the M running it (None when it is not
    running); `where` says which queue holds it, if any."""

    goid: int
    status: str
    waitreason: str
    m: int | None
    start: str
    startpc: int
    stack_lo: int
    stack_hi: int
    where: str
    addr: int

    @property
    def label(self) -> str:
        return f"G{self.goid}"


@dataclass(frozen=True)
class MInfo(_Record):
    """One M.  `cpu` is the CPU its thread runs on and `cpu_state` that CPU's
    state ("run", "blocked", "off"); `idle` means it is on sched.midle."""

    id: int
    tid: int
    cpu: int | None
    cpu_state: str
    curg: int | None
    p: int | None
    nextp: int | None
    spinning: bool
    blocked: bool
    idle: bool
    sysmon: bool
    locks: int
    addr: int

    @property
    def label(self) -> str:
        return f"M{self.id}"


@dataclass(frozen=True)
class PInfo(_Record):
    """One P.  `runq` lists goids from head to tail; `runnext` runs before them."""

    id: int
    status: str
    m: int | None
    schedtick: int
    syscalltick: int
    runqhead: int
    runqtail: int
    runq: tuple[int, ...]
    runnext: int | None
    ntimers: int
    addr: int

    @property
    def label(self) -> str:
        return f"P{self.id}"


class SchedView:
    """Every G, M and P of `system`'s runtime now.

    :ivar gs: GInfo per G on allg, newest first (the order of the list).
    :ivar ms: MInfo per M on allm, newest first.
    :ivar ps: PInfo per P, by id.
    :ivar global_runq: goids on the global run queue, head first.
    :ivar idle_ps, idle_ms: ids on sched.pidle / sched.midle, list order.
    """

    def __new__(cls, system):
        if cls is SchedView and getattr(system, "runtime", None) is None and getattr(system, "go", None) is not None:
            cls = GoSchedView
        return super().__new__(cls)

    def __init__(self, system):
        rt = getattr(system, "runtime", None)
        if rt is None:
            raise ValueError("SchedView: the system has no runtime (a --bare program has no G, M or P)")
        self.rt, self.mem = rt, rt.mem
        self.image = rt.image
        machine = system.machine
        self.ns = machine.cycles_to_ns(machine.now())
        s = rt.sched
        self.gomaxprocs = s.gomaxprocs
        self.nmspinning, self.mcount, self.ngoroutines = s.nmspinning, s.mcount, s.ngoroutines
        self.runqsize = s.runqsize
        p_addrs = [rt.allp(i).addr for i in range(s.gomaxprocs)] if s.allp else []
        self.global_runq = tuple(rt.g(a).goid for a in
                                 walk(s.runq_head, lambda a: rt.g(a).schedlink, "SchedView: sched.runq"))
        self.idle_ps = tuple(rt.p(a).id for a in walk(s.pidle, lambda a: rt.p(a).link, "SchedView: sched.pidle"))
        idle_m_addrs = walk(s.midle, lambda a: rt.m(a).schedlink, "SchedView: sched.midle")
        self.idle_ms = tuple(rt.m(a).id for a in idle_m_addrs)
        self.ps = [self._p_info(a) for a in p_addrs]
        tasks = system.kernel.tasks
        self.ms = [self._m_info(a, tasks, set(idle_m_addrs))
                   for a in walk(s.allm, lambda a: rt.m(a).alllink, "SchedView: sched.allm")]
        where = self._queue_positions()
        self.gs = [self._g_info(a, where) for a in walk(s.allg, lambda a: rt.g(a).alllink, "SchedView: sched.allg")]

    # ---- reading -----------------------------------------------------------------------
    def _goid(self, addr: int) -> int | None:
        return self.rt.g(addr).goid if addr else None

    def _m_id(self, addr: int) -> int | None:
        return self.rt.m(addr).id if addr else None

    def _p_id(self, addr: int) -> int | None:
        return self.rt.p(addr).id if addr else None

    def _p_info(self, addr: int) -> PInfo:
        pp = self.rt.p(addr)
        h, t = pp.runqhead, pp.runqtail
        n = (t - h) & 0xFFFF_FFFF
        if n > RUNQ_SIZE:
            raise ValueError(f"SchedView: P{pp.id} has runqtail - runqhead = {n} > {RUNQ_SIZE} (corrupt ring)")
        runq = tuple(self.rt.g(pp.runq[(h + i) % RUNQ_SIZE]).goid for i in range(n))
        return PInfo(pp.id, P_STATUS_NAMES.get(pp.status, str(pp.status)), self._m_id(pp.m), pp.schedtick,
                     pp.syscalltick, h, t, runq, self._goid(pp.runnext), pp.ntimers, addr)

    def _m_info(self, addr: int, tasks, idle: set[int]) -> MInfo:
        mp = self.rt.m(addr)
        task = tasks.get(mp.procid) if mp.procid else None
        cpu = task.cpu.id if task is not None else None
        cpu_state = task.cpu.state if task is not None else "-"
        return MInfo(mp.id, mp.procid, cpu, cpu_state, self._goid(mp.curg), self._p_id(mp.p),
                     self._p_id(mp.nextp), bool(mp.spinning), bool(mp.blocked), addr in idle,
                     mp.mstartfn == MSTART_SYSMON, mp.locks, addr)

    def _queue_positions(self) -> dict[int, str]:
        """goid -> the queue it is on ("P0 runq[1]", "P0 runnext", "global runq[0]")."""
        where = {}
        for p in self.ps:
            for i, goid in enumerate(p.runq):
                where[goid] = f"P{p.id} runq[{i}]"
            if p.runnext is not None:
                where[p.runnext] = f"P{p.id} runnext"
        for i, goid in enumerate(self.global_runq):
            where[goid] = f"global runq[{i}]"
        for m in self.ms:
            if m.curg is not None:
                where[m.curg] = f"M{m.id} curg"
        return where

    def _g_info(self, addr: int, where: dict[int, str]) -> GInfo:
        gp = self.rt.g(addr)
        st = gp.atomicstatus
        reason = WAIT_REASONS.get(gp.waitreason, str(gp.waitreason)) if st & ~_Gscan == _Gwaiting else ""
        sym = self.image.symbol_at(gp.startpc)
        start = (sym[0] if sym[1] == 0 else f"{sym[0]}+{sym[1]}") if sym else f"{gp.startpc:#x}"
        return GInfo(gp.goid, status_name(st), reason, self._m_id(gp.m), start, gp.startpc,
                     gp.stack.lo, gp.stack.hi, where.get(gp.goid, ""), addr)

    # ---- lookups -------------------------------------------------------------------------
    def g(self, goid: int) -> GInfo:
        for g in self.gs:
            if g.goid == goid:
                return g
        raise KeyError(f"SchedView.g: no goroutine {goid} on allg")

    def m(self, mid: int) -> MInfo:
        for m in self.ms:
            if m.id == mid:
                return m
        raise KeyError(f"SchedView.m: no M{mid} on allm")

    def p(self, pid: int) -> PInfo:
        if not 0 <= pid < len(self.ps):
            raise KeyError(f"SchedView.p: no P{pid} (gomaxprocs is {self.gomaxprocs})")
        return self.ps[pid]

    # ---- rendering -------------------------------------------------------------------------
    def summary(self) -> Table:
        def ids(xs, letter):
            return " ".join(f"{letter}{x}" for x in xs) or "-"
        return key_values("sched", [
            ("virtual time", f"{self.ns} ns"),
            ("gomaxprocs", self.gomaxprocs),
            ("idle Ps", f"{len(self.idle_ps)}  {ids(self.idle_ps, 'P')}"),
            ("Ms", self.mcount),
            ("idle Ms", f"{len(self.idle_ms)}  {ids(self.idle_ms, 'M')}"),
            ("spinning Ms", self.nmspinning),
            ("goroutines (not dead)", self.ngoroutines),
            ("global run queue", f"{self.runqsize}  {ids(self.global_runq, 'G')}"),
        ])

    def g_table(self) -> Table:
        rows = [(f"G{g.goid}", g.status, g.waitreason, f"M{g.m}" if g.m is not None else "-", g.start,
                 g.where, f"[{g.stack_lo:#x}, {g.stack_hi:#x})") for g in self.gs]
        running = frozenset(i for i, g in enumerate(self.gs) if g.status == status_name(_Grunning))
        return Table("goroutines (allg)", ("G", "status", "wait reason", "M", "start", "queue", "stack"),
                     rows, running)

    def m_table(self) -> Table:
        rows = []
        for m in self.ms:
            cpu = f"cpu{m.cpu} ({m.cpu_state})" if m.cpu is not None else "-"
            flags = " ".join(n for n, on in (("spinning", m.spinning), ("blocked", m.blocked), ("idle", m.idle),
                                               ("sysmon", m.sysmon)) if on)
            rows.append((f"M{m.id}", str(m.tid or "-"), cpu, f"G{m.curg}" if m.curg is not None else "-",
                         f"P{m.p}" if m.p is not None else "-", flags))
        return Table("threads (allm)", ("M", "tid", "cpu", "curg", "p", "state"), rows)

    def p_table(self) -> Table:
        rows = [(f"P{p.id}", p.status, f"M{p.m}" if p.m is not None else "-", str(p.schedtick),
                 f"{p.runqhead}..{p.runqtail}", " ".join(f"G{x}" for x in p.runq) or "-",
                 f"G{p.runnext}" if p.runnext is not None else "-", str(p.ntimers)) for p in self.ps]
        return Table("processors (allp)", ("P", "status", "m", "schedtick", "head..tail", "runq", "runnext",
                                            "timers"), rows)

    def tables(self) -> list[Table]:
        return [self.summary(), self.p_table(), self.m_table(), self.g_table()]

    def text(self) -> str:
        return page_text(f"G/M/P at {self.ns} ns", self.tables())

    def _repr_html_(self) -> str:
        return page(f"G/M/P at {self.ns} ns", self.tables())

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return (f"<SchedView {self.ns} ns: {len(self.gs)} Gs, {len(self.ms)} Ms, {len(self.ps)} Ps, "
                f"global runq {len(self.global_runq)}>")


class GoSchedView(SchedView):
    """SchedView of a real Go binary (design step 5): same fields and tables.

    :ivar state: the reader's SchedState (emu/gobinary/state.py), for more fields.
    """

    def __init__(self, system):
        go = getattr(system, "go", None)
        if go is None:
            raise ValueError("GoSchedView: the system is not running a Go binary")
        rt = self.rt = system.goruntime
        self.mem, self.image = rt.mem, go.symbols
        machine = system.machine
        self.ns = machine.cycles_to_ns(machine.now())
        st = self.state = rt.snapshot()
        self.gomaxprocs, self.nmspinning, self.mcount = st.gomaxprocs, st.nmspinning, st.mcount
        self.ngoroutines = sum(1 for g in st.gs if g.status_name != "_Gdead")
        self.runqsize, self.global_runq = st.runqsize, st.runq
        self.idle_ps, self.idle_ms = st.idle_ps, st.idle_ms
        self.ps = [PInfo(p.id, p.status_name, p.m, p.schedtick, p.syscalltick, p.runqhead, p.runqtail, p.runq,
                         p.runnext, p.timerslen, p.addr) for p in st.ps]
        sysmon = go.symbols.symbols.get("runtime.sysmon")
        tasks, idle = system.kernel.tasks, set(st.idle_ms)
        self.ms = []
        for m in st.ms:
            task = tasks.get(m.procid) if m.procid else None
            fn = rt.m(m.addr).mstartfn
            code = self.mem.read_u64(fn) if fn else 0
            self.ms.append(MInfo(m.id, m.procid, task.cpu.id if task else None, task.cpu.state if task else "-",
                                 m.curg, m.p, m.nextp, m.spinning, m.blocked, m.id in idle,
                                 sysmon is not None and code == sysmon, m.locks, m.addr))
        where = self._queue_positions()
        self.gs = []
        for g in st.gs:
            sym = self.image.symbol_at(g.startpc)
            start = (sym[0] if sym[1] == 0 else f"{sym[0]}+{sym[1]}") if sym else f"{g.startpc:#x}"
            self.gs.append(GInfo(g.goid, g.status_name, g.waitreason, g.m, start, g.startpc, g.stack_lo,
                                 g.stack_hi, where.get(g.goid, ""), g.addr))

    def g_table(self) -> Table:
        t = super().g_table()
        return Table("goroutines (allgs)", t.headers, t.rows, t.highlight)


__all__ = ["SchedView", "GoSchedView", "GInfo", "MInfo", "PInfo", "walk"]
