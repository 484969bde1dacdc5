"""The terminal stepper: `gosched-emu step FILE.s --arch A` (a small gdb for the
emulated machine), and the panel both steppers show after each stop.

Design note
  1. Every command is one Debugger call (emu/debug.py); the stepper only parses
     commands and prints views, so the terminal, the Jupyter widget (emu/widgets.py)
     and a script all step the same way.
  2. After each stop the panel shows the stop line, the registers of the CPU in focus
     (registers changed since the previous stop of that CPU marked), and the
     disassembly around its PC with symbols and source lines.
  3. Commands come from a file-like object, so tests drive it with a script and
     compare the transcript.
Rejected: curses (not testable by a transcript, and unusable in CI logs); a gdb
remote stub (students would need gdb-multiarch, and it cannot show Gs and Ps).
"""
from __future__ import annotations

import shlex
import sys

from .debug import Debugger, DebugError
from .views.disasm import DisasmView
from .views.registers import RegisterView

HELP = """commands (N: a count, WHERE: a symbol, file.s:LINE or 0xADDR):
  s [N]         step N instructions of the CPU in focus (default 1)
  S [N]         step N instructions of the whole machine, in the run's interleaving
  n             next: step over a call (back in the same goroutine)
  c             continue to a breakpoint, a watchpoint or the end
  sw            run to the next context switch (an M switching to a G)
  u WHERE       run until WHERE;  t NS  run until virtual time NS
  b WHERE       set a breakpoint;  d ID  delete a breakpoint or watchpoint
  w WHERE [SZ]  watch SZ bytes (default 8) at a data symbol or address
  rs [N]        reverse-step N instructions;  back  undo the last command
  r             registers;  l  disassembly;  x ADDR [N]  N 8-byte words at ADDR
  g             goroutines, Ms and Ps;  bt GOID  a goroutine's frame-pointer chain
  ev [N]        the last N trace events;  cpu N  focus on CPU N;  info  breakpoints
  h             this help;  q  quit"""


class Panel:
    """The state after a stop, remembering each CPU's registers at its last stop so
    that the next view marks what changed."""

    def __init__(self, dbg: Debugger):
        self.dbg = dbg
        self.previous: dict[int, dict] = {}

    def registers(self, *, remember: bool = False) -> RegisterView:
        """The focus CPU's registers against its previous stop (`remember`: this is a new stop)."""
        cpu = self.dbg.cpu
        view = RegisterView(cpu, previous=self.previous.get(cpu.id))
        if remember:
            self.previous[cpu.id] = view.values
        return view

    def disasm(self) -> DisasmView:
        return DisasmView(self.dbg.system, self.dbg.cpu, before=3, after=5)

    def text(self, stop) -> str:
        """The stop, the registers that changed since this CPU's previous stop (the `r`
        command shows them all), and the code around the PC."""
        regs = self.registers(remember=True)
        shown = [n for n in regs.values if n in regs.changed]
        changed = "  ".join(f"{n}={regs.values[n]:#x}" for n in shown) or "(none)"
        return "\n".join([str(stop), f"changed: {changed}", self.disasm().text()])

    def html(self, stop) -> str:
        return "".join([stop._repr_html_(), self.registers(remember=True)._repr_html_(),
                        self.disasm()._repr_html_()])


class Stepper:
    """Reads commands from `inp`, writes the transcript to `out`."""

    def __init__(self, dbg: Debugger, out=sys.stdout):
        self.dbg, self.out, self.panel = dbg, out, Panel(dbg)

    def say(self, text: str) -> None:
        self.out.write(text + "\n")

    def loop(self, inp=sys.stdin, prompt: bool = True) -> None:
        self.say(f"gosched-emu step: {self.dbg.arch}, {len(self.dbg.machine.cpus)} cpu(s); h for help")
        self.say(self.panel.text(self.dbg.here()))
        while True:
            if prompt:
                self.out.write("(step) ")
                self.out.flush()
            line = inp.readline()
            if not line:
                return
            if not prompt:
                self.say(f"(step) {line.rstrip()}")
            if self.command(line) is False:
                return

    def command(self, line: str):
        """Run one command line; False means quit."""
        try:
            words = shlex.split(line)
        except ValueError as e:
            self.say(f"error: {e}")
            return None
        if not words:
            return None
        name, args = words[0], words[1:]
        handler = COMMANDS.get(name)
        if handler is None:
            self.say(f"error: unknown command {name!r} (h for help)")
            return None
        try:
            return handler(self, *args)
        except (DebugError, ValueError, TypeError) as e:
            self.say(f"error: {e}")
            return None

    def show(self, stop) -> None:
        self.say(self.panel.text(stop))


def _n(arg, default: int = 1) -> int:
    return default if arg is None else int(arg, 0)


def _where(text: str):
    return int(text, 16) if text.lower().startswith("0x") else text


def cmd_step(st: Stepper, n=None):
    st.show(st.dbg.step(_n(n), cpu=st.dbg.cpu.id))


def cmd_step_machine(st: Stepper, n=None):
    st.show(st.dbg.step(_n(n)))


def cmd_next(st: Stepper):
    st.show(st.dbg.next())


def cmd_continue(st: Stepper):
    st.show(st.dbg.cont())


def cmd_switch(st: Stepper):
    st.show(st.dbg.next_switch())


def cmd_until(st: Stepper, where):
    st.show(st.dbg.run_until(**({"addr": _where(where)} if where.lower().startswith("0x") else
                                 {"line": where} if ":" in where else {"symbol": where})))


def cmd_time(st: Stepper, ns):
    st.show(st.dbg.run_until(time_ns=int(ns, 0)))


def cmd_break(st: Stepper, where):
    st.say(str(st.dbg.break_at(_where(where))))


def cmd_delete(st: Stepper, ident):
    st.dbg.delete(int(ident))
    st.say(f"deleted {ident}")


def cmd_watch(st: Stepper, where, size=None):
    st.say(str(st.dbg.watch(_where(where), _n(size, 8))))


def cmd_reverse(st: Stepper, n=None):
    st.show(st.dbg.reverse_step(_n(n)))


def cmd_back(st: Stepper):
    st.show(st.dbg.back())


def cmd_registers(st: Stepper):
    st.say(st.panel.registers().text())


def cmd_list(st: Stepper):
    st.say(st.panel.disasm().text())


def cmd_examine(st: Stepper, addr, n=None):
    mem = st.dbg.machine.memory
    base = int(addr, 0)
    for i in range(_n(n)):
        a = base + 8 * i
        if mem.find(a) is None:
            st.say(f"{a:#x}: <unmapped>")
            return
        st.say(f"{a:#x}: {mem.read_u64(a):#018x}")


def cmd_gmp(st: Stepper):
    from .system import ElfSystem
    from .views.gmp import SchedView
    if st.dbg.runtime is None and not isinstance(st.dbg.system, ElfSystem):
        raise DebugError("g: a --bare program has no goroutines")
    st.say(SchedView(st.dbg.system).text())


def cmd_backtrace(st: Stepper, goid):
    from .views.gstack import GStackView
    st.say(GStackView(st.dbg.system, st.dbg.g(int(goid))).text())


def cmd_events(st: Stepper, n=None):
    for e in st.dbg.events[-_n(n, 10):]:
        st.say(str(e))


def cmd_cpu(st: Stepper, n):
    st.show(st.dbg.focus(int(n)))


def cmd_info(st: Stepper):
    items = list(st.dbg.breakpoints.values()) + list(st.dbg.watchpoints.values())
    for item in items:
        st.say(str(item))
    if not items:
        st.say("no breakpoints or watchpoints")


def cmd_help(st: Stepper):
    st.say(HELP)


def cmd_quit(st: Stepper):
    return False


COMMANDS = {
    "s": cmd_step, "S": cmd_step_machine, "n": cmd_next, "c": cmd_continue, "sw": cmd_switch,
    "u": cmd_until, "t": cmd_time, "b": cmd_break, "d": cmd_delete, "w": cmd_watch,
    "rs": cmd_reverse, "back": cmd_back, "r": cmd_registers, "l": cmd_list, "x": cmd_examine,
    "g": cmd_gmp, "bt": cmd_backtrace, "ev": cmd_events, "cpu": cmd_cpu, "info": cmd_info,
    "h": cmd_help, "help": cmd_help, "q": cmd_quit, "quit": cmd_quit,
}
