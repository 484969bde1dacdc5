"""The real Go runtime's scheduler state, read from emulated memory through the
layouts in the binary's DWARF (Go 1.19's runtime2.go and proc.go).

Design note
  1. Where things are: the globals by their `.symtab` addresses (runtime.allgs,
     runtime.allglen, runtime.allm, runtime.allp, runtime.sched,
     runtime.gomaxprocs, runtime.waitReasonStrings), every field by its DWARF
     offset (dwarf.py).  Nothing here knows an offset.
  2. How they are linked, as Go links them: allgs is a slice (array pointer,
     len, cap) of *g, oldest first (Go's forEachG order); allm is a list through
     m.alllink, newest first; allp is a slice of *p indexed by P id; the global
     run queue is sched.runq (gQueue head/tail) through g.schedlink; a P's local
     queue is runq[runqhead % 256 .. runqtail % 256) plus runnext; the idle Ps
     are sched.pidle through p.link, the idle Ms sched.midle through m.schedlink.
     Every walk is bounded and stops at a repeated address (a corrupt list cannot
     hang a view).  `guintptr`/`puintptr`/`muintptr` are plain addresses.
  3. Names: G and P statuses are the runtime's constants as the DWARF names them
     (runtime._Grunning = 2, runtime._Gscan = 0x1000 OR-ed in); wait reasons are
     the strings of runtime.waitReasonStrings, read from the binary's data, with
     Go's own fallback "unknown wait reason" (waitReason.String()).
  4. `StructView` reads one struct in memory by field name, converting by the
     DWARF kind (int: signed, bool, string: Go's (ptr, len), struct: a nested
     view), and has `.layout` and `.addr` so `Debugger.watch_field(view,
     "sched.sp")` works on a real G as on a teaching one.
  5. `snapshot()` returns plain frozen records (GState, MState, PState,
     SchedState): what the views render and the tests compare.  Reading takes no
     lock, as Go's schedtrace reads most of it (between slices the emulator's
     memory is never half-way through a store).
Rejected: reading through gopclntab or runtime type descriptors (DWARF is
enough, and standard); following g.m for Ms not on allm (every M is on allm).
"""
from __future__ import annotations

import struct as _struct
from dataclasses import dataclass

from ..runtime.view import WALK_LIMIT, walk
from .dwarf import GoTypes, Struct

RUNQ_LEN = 256

# Go 1.19 runtime2.go status names (values come from the DWARF constants).
G_STATUS_NAMES = ("_Gidle", "_Grunnable", "_Grunning", "_Gsyscall", "_Gwaiting", "_Gmoribund_unused",
                  "_Gdead", "_Genqueue_unused", "_Gcopystack", "_Gpreempted")
P_STATUS_NAMES = ("_Pidle", "_Prunning", "_Psyscall", "_Pgcstop", "_Pdead")


class StructView:
    """A struct of type `layout` at `addr` in `mem` (design step 4)."""

    __slots__ = ("mem", "layout", "addr")

    def __init__(self, mem, layout: Struct, addr: int):
        object.__setattr__(self, "mem", mem)
        object.__setattr__(self, "layout", layout)
        object.__setattr__(self, "addr", addr)

    def __getattr__(self, name: str):
        try:
            f = self.layout[name]
        except KeyError:
            raise AttributeError(f"{self.layout.name} has no field {name!r}") from None
        return read_field(self.mem, self.addr, f)

    def __getitem__(self, name: str):
        return read_field(self.mem, self.addr, self.layout[name])

    def field_addr(self, name: str) -> int:
        return self.addr + self.layout[name].offset

    def __repr__(self) -> str:
        return f"<{self.layout.name} at {self.addr:#x}>"


def read_field(mem, base: int, f):
    t, addr = f.type, base + f.offset
    kind = t.kind
    if kind == "struct":
        return StructView(mem, t.struct, addr)
    if kind == "string":
        ptr, n = _struct.unpack("<QQ", mem.read(addr, 16))
        return mem.read(ptr, n).decode("utf-8", "replace") if ptr and n else ""
    if kind == "slice":
        return _struct.unpack("<QQQ", mem.read(addr, 24))       # (array, len, cap)
    if kind == "array":
        return addr                                              # index with GoRuntime.array_item
    raw = mem.read(addr, t.size)
    if kind == "bool":
        return raw != b"\0" * len(raw)
    return int.from_bytes(raw, "little", signed=kind == "int")


@dataclass(frozen=True)
class GState:
    """One goroutine.  `m` is the id of g.m (None when it has none)."""

    goid: int
    status: int
    status_name: str
    waitreason: str
    m: int | None
    startpc: int
    stack_lo: int
    stack_hi: int
    sched_sp: int
    sched_pc: int
    sched_bp: int
    sched_lr: int
    sched_ret: int
    sched_ctxt: int
    preempt: bool
    addr: int


@dataclass(frozen=True)
class MState:
    """One M (thread).  curg is a goid, p a P id."""

    id: int
    procid: int
    curg: int | None
    p: int | None
    nextp: int | None
    spinning: bool
    blocked: bool
    locks: int
    mallocing: int
    throwing: int
    preemptoff: str
    dying: int
    lockedg: int | None
    addr: int


@dataclass(frozen=True)
class PState:
    """One P.  runq lists goids from head to tail; runnext runs before them."""

    id: int
    status: int
    status_name: str
    m: int | None
    schedtick: int
    syscalltick: int
    runqhead: int
    runqtail: int
    runq: tuple[int, ...]
    runnext: int | None
    gfreecnt: int
    timerslen: int
    addr: int


@dataclass(frozen=True)
class SchedState:
    """runtime.sched and friends, plus every G, M and P."""

    gomaxprocs: int
    npidle: int
    nmspinning: int
    nmidle: int
    nmidlelocked: int
    mcount: int
    runqsize: int
    runq: tuple[int, ...]
    idle_ps: tuple[int, ...]
    idle_ms: tuple[int, ...]
    gcwaiting: int
    stopwait: int
    sysmonwait: int
    gs: tuple[GState, ...]
    ms: tuple[MState, ...]
    ps: tuple[PState, ...]

    def g(self, goid: int) -> GState:
        for g in self.gs:
            if g.goid == goid:
                return g
        raise KeyError(f"no goroutine {goid} on allgs")


class GoRuntime:
    """The runtime of a Go binary running in `memory`, read through `types` (DWARF)
    and `symbols` (.symtab).  See the module note."""

    def __init__(self, types: GoTypes, symbols, memory):
        self.types, self.symbols, self.mem = types, symbols, memory
        self.G = types.struct("runtime.g")
        self.M = types.struct("runtime.m")
        self.P = types.struct("runtime.p")
        self.GOBUF = types.struct("runtime.gobuf")
        self.SCHEDT = types.struct("runtime.schedt")
        self.STACK = types.struct("runtime.stack")
        self.g_status = self._names(G_STATUS_NAMES)
        self.p_status = self._names(P_STATUS_NAMES)
        self.gscan = types.constants.get("runtime._Gscan", 0x1000)
        self._wait_reasons: tuple[str, ...] | None = None

    def _names(self, names) -> dict[int, str]:
        out = {}
        for n in names:
            v = self.types.constants.get("runtime." + n)
            if v is not None:
                out.setdefault(v, n)
        return out

    # ---- views of one object -----------------------------------------------------------
    def g(self, addr: int) -> StructView:
        return StructView(self.mem, self.G, addr)

    def m(self, addr: int) -> StructView:
        return StructView(self.mem, self.M, addr)

    def p(self, addr: int) -> StructView:
        return StructView(self.mem, self.P, addr)

    @property
    def sched(self) -> StructView:
        return StructView(self.mem, self.SCHEDT, self.symbols.addr_of("runtime.sched"))

    def global_u64(self, name: str) -> int:
        return self.mem.read_u64(self.symbols.addr_of(name))

    def global_i32(self, name: str) -> int:
        v = self.mem.read_u32(self.symbols.addr_of(name))
        return v - (1 << 32) if v >> 31 else v

    # ---- lists -----------------------------------------------------------------------
    def _slice(self, name: str) -> list[int]:
        arr, n, _cap = _struct.unpack("<QQQ", self.mem.read(self.symbols.addr_of(name), 24))
        n = min(n, WALK_LIMIT)
        return list(_struct.unpack(f"<{n}Q", self.mem.read(arr, 8 * n))) if arr and n else []

    def allgs(self) -> list[int]:
        """Addresses of every G, oldest first (runtime.allgs)."""
        return [a for a in self._slice("runtime.allgs") if a]

    def allp(self) -> list[int]:
        """Addresses of the Ps by id (runtime.allp)."""
        return self._slice("runtime.allp")

    def allm(self) -> list[int]:
        """Addresses of every M, newest first (runtime.allm, m.alllink)."""
        return walk(self.global_u64("runtime.allm"), lambda a: self.m(a).alllink)

    def global_runq(self) -> list[int]:
        return walk(self.sched["runq.head"], lambda a: self.g(a).schedlink)

    def gomaxprocs(self) -> int:
        return self.global_i32("runtime.gomaxprocs")

    # ---- names -----------------------------------------------------------------------
    def status_name(self, status: int) -> str:
        scan = status & self.gscan
        base = self.g_status.get(status & ~self.gscan, str(status & ~self.gscan))
        return ("_Gscan" + base[2:]) if scan else base

    def wait_reasons(self) -> tuple[str, ...]:
        """runtime.waitReasonStrings, read from the binary's data (an array of strings)."""
        if self._wait_reasons is None:
            addr = self.symbols.addr_of("runtime.waitReasonStrings")
            size = self.symbols.sizes.get("runtime.waitReasonStrings", 0)
            out = []
            for i in range(size // 16):
                ptr, n = _struct.unpack("<QQ", self.mem.read(addr + 16 * i, 16))
                out.append(self.mem.read(ptr, n).decode() if ptr and n else "")
            self._wait_reasons = tuple(out)
        return self._wait_reasons

    def wait_reason(self, w: int) -> str:
        """Go's waitReason.String()."""
        names = self.wait_reasons()
        return names[w] if 0 <= w < len(names) else "unknown wait reason"

    # ---- ids -------------------------------------------------------------------------
    def goid(self, g: int) -> int | None:
        return self.g(g).goid if g else None

    def mid(self, m: int) -> int | None:
        return self.m(m).id if m else None

    def pid(self, p: int) -> int | None:
        return self.p(p).id if p else None

    def curg_of_cpu(self, cpu, g_register: str) -> int:
        """The G a CPU is running (its g register; 0 when it holds none)."""
        return cpu.read(g_register)

    # ---- the whole state ---------------------------------------------------------------
    def g_state(self, addr: int) -> GState:
        gp = self.g(addr)
        st = gp.atomicstatus
        waiting = st & ~self.gscan == self.types.constants.get("runtime._Gwaiting", 4)
        sched = gp.sched
        return GState(gp.goid, st, self.status_name(st), self.wait_reason(gp.waitreason) if waiting else "",
                      self.mid(gp.m), gp.startpc, gp["stack.lo"], gp["stack.hi"], sched.sp, sched.pc, sched.bp,
                      sched.lr, sched.ret, sched.ctxt, gp.preempt, addr)

    def m_state(self, addr: int) -> MState:
        mp = self.m(addr)
        return MState(mp.id, mp.procid, self.goid(mp.curg), self.pid(mp.p), self.pid(mp.nextp), mp.spinning,
                      mp.blocked, mp.locks, mp.mallocing, mp.throwing, mp.preemptoff, mp.dying,
                      self.goid(mp.lockedg), addr)

    def p_state(self, addr: int) -> PState:
        pp = self.p(addr)
        h, t = pp.runqhead, pp.runqtail
        n = (t - h) & 0xFFFFFFFF
        if n > RUNQ_LEN:
            raise ValueError(f"P{pp.id}: runqtail - runqhead = {n} > {RUNQ_LEN} (corrupt ring)")
        runq = pp.layout["runq"]
        base = addr + runq.offset
        ring = tuple(self.goid(self.mem.read_u64(base + 8 * ((h + i) % RUNQ_LEN))) for i in range(n))
        timers = pp.timers
        return PState(pp.id, pp.status, self.p_status.get(pp.status, str(pp.status)), self.mid(pp.m),
                      pp.schedtick, pp.syscalltick, h, t, ring, self.goid(pp.runnext), pp["gFree.n"],
                      timers[1], addr)

    def snapshot(self) -> SchedState:
        s = self.sched
        ps = tuple(self.p_state(a) for a in self.allp())
        return SchedState(
            self.gomaxprocs(), s.npidle, s.nmspinning, s.nmidle, s.nmidlelocked,
            (s.mnext - s.nmfreed) & 0xFFFFFFFF, s.runqsize,
            tuple(self.goid(a) for a in self.global_runq()),
            tuple(self.p(a).id for a in walk(s.pidle, lambda a: self.p(a).link)),
            tuple(self.m(a).id for a in walk(s.midle, lambda a: self.m(a).schedlink)),
            s.gcwaiting, s.stopwait, s.sysmonwait,
            tuple(self.g_state(a) for a in self.allgs()),
            tuple(self.m_state(a) for a in self.allm()), ps)
