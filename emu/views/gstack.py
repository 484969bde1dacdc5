"""The stack of one goroutine: its bounds, where its registers are, and the chain
of frames found by walking the frame records from its frame pointer.

Design note
  1. Where the registers are: if a CPU that is not off has this G in its g
     register (R14 / X28) and its SP inside the G's stack, the G is live there
     and the CPU's pc/sp/fp (and lr) are used; otherwise the G is switched out
     and its gobuf (g.sched: sp, pc, bp, lr) is.
  2. The chain is the platform's frame records, which every program keeps
     (README: the program contract): amd64 [rbp] = the caller's rbp and
     [rbp+8] = the return address; arm64 [x29] = the caller's x29 and [x29+8] =
     the saved lr.  Each step yields one return address; the walk stops at a
     frame pointer of 0 (the outermost frame), outside [lo, hi), misaligned, not
     increasing, or after `max_depth` frames -- never by faulting.
  3. Calls through the Python half of the runtime are real frames too
     (runtime/pycall.py): a return address of `runtime.pyret` has the cookie of
     the suspended Python function right above it (at fp+16 on both arches, and
     at g.sched.sp when the G parked inside it), and the boundary's frame for
     that cookie names the function and the machine code that called it.  So a
     G parked in a channel receive shows runtime.chanrecv, then its callers.
  4. A return address is looked up at address-1 for its symbol and source line,
     as debuggers do: the call is the instruction before it, and a call that
     ends a function would otherwise be attributed to the next one.
Known limit: unwinding by frame pointer skips a function that has not pushed its
frame record yet (a prologue, or a leaf without one): its caller appears as the
first return address.  Go has the same limit in its frame-pointer unwinder.
Rejected: unwinding by scanning the stack for text addresses (shows stale
return addresses left by earlier calls, as README's copystack note warns).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..machine.smp import OFF
from ..runtime.state import status_name
from .html import Table, page, page_text

MAX_DEPTH = 64

PC, RETURN, PYTHON = "pc", "return", "python"      # Frame.kind


@dataclass(frozen=True)
class Frame:
    """One frame of the chain.

    :ivar pc: the frame's pc: the current pc for frame 0, else a return address
        (or the stub of a Python function).
    :ivar fp: the frame pointer of the frame's function (0 when not known).
    :ivar kind: PC (frame 0), RETURN (found through a frame record) or PYTHON (a
        runtime function written in Python, suspended in a call to machine code).
    """

    pc: int
    fp: int
    kind: str
    function: str
    offset: int
    file: str
    line: int
    source: str

    @property
    def symbol(self) -> str:
        return f"{self.function}+{self.offset}" if self.function else f"{self.pc:#x}"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class GStackView:
    """The stack of G `g` (a GView, a GInfo from SchedView, or a g address).

    :ivar lo, hi: the stack bounds [lo, hi).
    :ivar source: "cpuN" when the G is live on CPU N, else "g.sched".
    :ivar pc, sp, fp, lr: the registers the walk started from (lr: arm64 only, else None).
    :ivar frames: the chain, innermost first.
    :ivar stop: why the walk ended.
    """

    def __init__(self, system, g, *, max_depth: int = MAX_DEPTH):
        rt = getattr(system, "runtime", None)
        if rt is None:
            raise ValueError("GStackView: the system has no runtime (a --bare program has no goroutines)")
        if max_depth < 1:
            raise ValueError("GStackView: max_depth must be at least 1")
        addr = g if isinstance(g, int) else getattr(g, "addr", None)
        if not addr:
            raise ValueError(f"GStackView: g must be a GView, a GInfo or a non-nil g address, not {g!r}")
        self.rt, self.mem, self.image = rt, rt.mem, rt.image
        self.isa = rt.isa
        gp = rt.g(addr)
        self.addr, self.goid, self.status = addr, gp.goid, status_name(gp.atomicstatus)
        self.lo, self.hi = gp.stack.lo, gp.stack.hi
        self.max_depth = max_depth
        cpu = self._live_cpu(system.machine.cpus)
        if cpu is not None:
            self.source = f"cpu{cpu.id}"
            self.pc, self.sp, self.fp = cpu.pc, cpu.sp, cpu.read(self.isa.fp)
            self.lr = cpu.read(self.isa.lr) if self.isa.lr else None
        else:
            self.source = "g.sched"
            buf = gp.sched
            self.pc, self.sp, self.fp = buf.pc, buf.sp, buf.bp
            self.lr = buf.lr if self.isa.lr else None
        self.frames: list[Frame] = []
        self.stop = ""
        self._walk(live=cpu is not None)

    def _live_cpu(self, cpus):
        for cpu in cpus:
            if cpu.state != OFF and cpu.read(self.isa.g) == self.addr and self.lo <= cpu.sp < self.hi:
                return cpu
        return None

    # ---- the walk ----------------------------------------------------------------------------
    def _walk(self, live: bool) -> None:
        if not live and self.sp == 0:
            self.stop = "no saved context (g.sched.sp is 0): running, but on no CPU's view of its stack"
            return
        pyret = self.rt.boundary.pyret
        if not live and self.pc == pyret and self._inside(self.sp, 8):
            self._add_python(self.mem.read_u64(self.sp), self.fp, self.pc)
        else:
            self.frames.append(self._frame(self.pc, self.fp, PC))
        fp = self.fp
        while True:
            if len(self.frames) >= self.max_depth:
                self.stop = f"max depth {self.max_depth} reached"
                return
            if fp == 0:
                self.stop = "frame pointer 0: the outermost frame"
                return
            if fp % 8 or not self._inside(fp, 16):
                self.stop = f"frame pointer {fp:#x} is outside the stack or misaligned"
                return
            ret, caller_fp = self.mem.read_u64(fp + 8), self.mem.read_u64(fp)
            if ret == 0:
                self.stop = f"return address 0 in the frame record at {fp:#x}"
                return
            if ret == pyret and self._inside(fp + 16, 8):
                self._add_python(self.mem.read_u64(fp + 16), caller_fp, ret)
            else:
                self.frames.append(self._frame(ret, caller_fp, RETURN))
            if caller_fp != 0 and caller_fp <= fp:
                self.stop = f"frame pointer does not increase ({caller_fp:#x} after {fp:#x})"
                return
            fp = caller_fp

    def _inside(self, addr: int, size: int) -> bool:
        return self.lo <= addr and addr + size <= self.hi

    def _add_python(self, cookie: int, caller_fp: int, pc: int) -> None:
        """A Python function suspended in a call to machine code, then its caller."""
        pyframe = self.rt.boundary.frames.get(cookie)
        if pyframe is None:
            self.frames.append(self._frame(pc, caller_fp, RETURN))
            return
        e = pyframe.export
        fn = e.fn
        self.frames.append(Frame(pyframe.stub, 0, PYTHON, e.symbol, 0, "(Python)", 0,
                                 f"{fn.__module__}.{fn.__qualname__}"))
        self.frames.append(self._frame(pyframe.caller, caller_fp, RETURN))

    def _frame(self, pc: int, fp: int, kind: str) -> Frame:
        look = pc - 1 if kind == RETURN else pc
        sym = self.image.symbol_at(look)
        function, offset = (sym[0], sym[1] + (pc - look)) if sym else ("", 0)
        sl = self.image.line_at(look)
        kind = PYTHON if self.rt.boundary.contains(pc) and kind == PC else kind
        return Frame(pc, fp, kind, function, offset, os.path.basename(sl.file) if sl else "",
                     sl.line if sl else 0, sl.text if sl else "")

    # ---- rendering ----------------------------------------------------------------------------
    @property
    def functions(self) -> list[str]:
        return [f.function for f in self.frames]

    def registers_line(self) -> str:
        lr = f"  lr {self.lr:#x}" if self.lr is not None else ""
        return f"from {self.source}: pc {self.pc:#x}  sp {self.sp:#x}  fp {self.fp:#x}{lr}"

    def header_lines(self) -> list[str]:
        used = self.hi - self.sp if self.lo <= self.sp <= self.hi else None
        size = f"{self.hi - self.lo} bytes" + (f", {used} used" if used is not None else "")
        return [f"stack [{self.lo:#x}, {self.hi:#x}): {size}", self.registers_line()]

    def table(self) -> Table:
        rows = [(f"#{i}", f.kind, f"{f.pc:#x}", f.symbol, f"{f.fp:#x}" if f.fp else "-", f.where, f.source)
                for i, f in enumerate(self.frames)]
        return Table("frames (walked from the frame pointer)",
                     ("#", "kind", "pc", "symbol", "fp", "file:line", "source"), rows, note=f"stop: {self.stop}")

    def title(self) -> str:
        return f"G{self.goid} ({self.status}) stack"

    def text(self) -> str:
        return page_text(self.title(), [self.table()], self.header_lines())

    def _repr_html_(self) -> str:
        return page(self.title(), [self.table()], self.header_lines())

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"<GStackView G{self.goid} {self.source}: {' <- '.join(self.functions)}>"
