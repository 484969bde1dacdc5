"""Scheduler events from a real Go binary, synthesised by code hooks on the
runtime's own functions, in the vocabulary of emu/trace/events.py, so the tools
written for the teaching runtime's events (the Perfetto export, the debugger's
`next_switch`, run_until(gstatus=...)) read a real Go program too.

Design note
  1. Where (all found by symbol, hooked at their first instruction unless said):
       runtime.casgstatus(gp, oldval, newval)  -> GSTATUS goid, old, new, gp
           (ABIInternal arguments: amd64 RAX RBX RCX, arm64 R0 R1 R2; every
           ordinary status change in Go 1.19 goes through it);
       the jump that ends gogo<> (`jmp rbx` / `br x6`) -> SWITCH m, p, goid:
           the g register is already the G being resumed, g.m its M, m.p its P;
       runtime.asyncPreempt's entry and its return -> "asyncpreempt" /
           "asyncresume" goid, sp (as the teaching runtime emits them).
     A G's first GSTATUS _Gdead -> _Grunnable (newproc1) also emits NEWPROC goid,
     startpc: the Perfetto export names a G's track by its start function.
  2. newproc1 sets newg.goid just *after* casgstatus(newg, _Gdead, _Grunnable)
     (proc.go), so at that call the goid is the one about to be given:
     pp.goidcache, or sched.goidgen + 1 when the P's cache is used up (the
     refill takes the next batch from goidgen), with pp = getg().m.p.
  3. The hooks only read; the run with the tap is the run without it (same
     instructions, same trace apart from the added events).
  4. Times are the CPU's clock at the hooked instruction (its clock at the
     slice's start plus what ran of the slice), as every other event's.
Rejected: hooking `execute` for SWITCH (gogo is where the registers change, and
the switch view hooks it too); reading the status at each slice's end (changes
between two slices would be lost).
"""
from __future__ import annotations

from ..trace import events as ev
from . import G_REGISTER

ARGS = {"amd64": ("rax", "rbx", "rcx"), "arm64": ("x0", "x1", "x2")}


class GoEventTap:
    """Install on an ElfSystem running a Go binary; events go to `recorder`
    (the system's recorder by default)."""

    def __init__(self, system, recorder=None):
        go = system.go
        if go is None:
            raise ValueError("GoEventTap: the system is not running a Go binary")
        self.recorder = recorder if recorder is not None else system.recorder
        if self.recorder is None:
            raise ValueError("GoEventTap: the system has no recorder (ElfSystem(..., trace=True))")
        self.system, self.go = system, go
        self.rt = system.goruntime
        self.arch = go.arch
        self.greg = G_REGISTER[self.arch]
        sym = go.symbols
        m = system.machine
        self.hooks = [m.add_code_hook(sym.addr_of("runtime.casgstatus"), self._on_casgstatus),
                      m.add_code_hook(go.gogo_jump(), self._on_gogo_jump),
                      m.add_code_hook(sym.addr_of("runtime.asyncPreempt"), self._on_async),
                      m.add_code_hook(go.async_preempt_return(), self._on_resume)]
        self._names = self.rt.g_status
        self._dead = go.types.constants.get("runtime._Gdead", 6)
        self._runnable = go.types.constants.get("runtime._Grunnable", 1)

    def remove(self) -> None:
        for h in self.hooks:
            self.system.machine.remove_hook(h)
        self.hooks = []

    def _emit(self, cpu, kind, *args) -> None:
        self.recorder.emit(cpu.cycles + cpu.counter.executed, cpu.id, kind, *args)

    def _on_casgstatus(self, cpu) -> None:
        a0, a1, a2 = ARGS[self.arch]
        gp, old, new = cpu.read(a0), cpu.read(a1) & 0xFFFFFFFF, cpu.read(a2) & 0xFFFFFFFF
        rt = self.rt
        g = rt.g(gp)
        goid = g.goid
        if old == self._dead and new == self._runnable:
            goid = self._next_goid(cpu)
            self._emit(cpu, ev.NEWPROC, goid, g.startpc)
        self._emit(cpu, ev.GSTATUS, goid, rt.status_name(old), rt.status_name(new), gp)

    def _next_goid(self, cpu) -> int:
        """The goid newproc1 is about to give (module note, 2)."""
        rt = self.rt
        cur = cpu.read(self.greg)
        pp = rt.m(rt.g(cur).m).p if cur and rt.g(cur).m else 0
        if pp:
            p = rt.p(pp)
            if p.goidcache != p.goidcacheend:
                return p.goidcache
        return rt.sched.goidgen + 1

    def _on_gogo_jump(self, cpu) -> None:
        rt = self.rt
        gp = cpu.read(self.greg)
        g = rt.g(gp)
        mp = g.m
        m = rt.m(mp) if mp else None
        self._emit(cpu, ev.SWITCH, m.id if m else -1, rt.pid(m.p) if m and m.p else -1, g.goid)

    def _on_async(self, cpu) -> None:
        self._emit(cpu, ev.ASYNCPREEMPT, self.rt.g(cpu.read(self.greg)).goid, cpu.sp)

    def _on_resume(self, cpu) -> None:
        self._emit(cpu, ev.ASYNCRESUME, self.rt.g(cpu.read(self.greg)).goid, cpu.sp)
