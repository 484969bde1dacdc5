"""The Jupyter stepper: a thin ipywidgets shell over the Debugger (emu/debug.py).

Design note
  1. Each button is one Debugger call; the panel below is the same Panel the terminal
     stepper prints (emu/stepper.py), rendered as self-contained HTML: stop line,
     registers with the changed ones highlighted, disassembly around the PC, and
     (optionally) the G/M/P tables.
  2. The widget keeps no state of its own beyond its controls: the debugger is the
     model, so the same notebook can mix button clicks and code cells.
  3. `press(name)` runs a button's action without a browser, which is how the tests
     and headless notebook runs use it.
Rejected: a JavaScript front end (needs a build step and a browser to test);
matplotlib animations (no way to step back).
"""
from __future__ import annotations

from .debug import Debugger, DebugError
from .stepper import Panel


class Stepper:
    """`Stepper(debugger)`: buttons step / step machine / next / next switch /
    continue / reverse step / back, a count, the CPU in focus, and the panel."""

    ACTIONS = ("step", "step machine", "next", "next switch", "continue", "reverse step", "back")

    def __init__(self, dbg: Debugger, *, show_sched: bool = True):
        import ipywidgets as w
        self.dbg, self.panel, self.show_sched = dbg, Panel(dbg), show_sched
        self.count = w.BoundedIntText(value=1, min=1, max=1_000_000, description="n", layout=w.Layout(width="140px"))
        self.cpu = w.Dropdown(options=self._cpu_options(), value=dbg.cpu.id, description="cpu",
                              layout=w.Layout(width="140px"))
        self.buttons = {name: w.Button(description=name, layout=w.Layout(width="auto")) for name in self.ACTIONS}
        for name, b in self.buttons.items():
            b.on_click(lambda _b, name=name: self.press(name))
        self.html = w.HTML()
        self.widget = w.VBox([w.HBox(list(self.buttons.values())), w.HBox([self.count, self.cpu]), self.html])
        self.last = dbg.here()
        self._render()

    def _cpu_options(self):
        return [(f"cpu{c.id}", c.id) for c in self.dbg.machine.cpus]

    def press(self, name: str):
        """Do what button `name` does; returns the Stop (errors are shown in the panel)."""
        d, n = self.dbg, self.count.value
        actions = {
            "step": lambda: d.step(n, cpu=self.cpu.value),
            "step machine": lambda: d.step(n),
            "next": lambda: d.next(self.cpu.value),
            "next switch": d.next_switch,
            "continue": d.cont,
            "reverse step": lambda: d.reverse_step(n),
            "back": d.back,
        }
        if name not in actions:
            raise ValueError(f"Stepper.press: no button {name!r}; buttons: {', '.join(self.ACTIONS)}")
        try:
            self.last = actions[name]()
            error = ""
        except DebugError as e:
            error = f"<p style='color:#b00'>{e}</p>"
        self.cpu.options = self._cpu_options()
        self.cpu.value = self.dbg.cpu.id
        self._render(error)
        return self.last

    def _render(self, error: str = "") -> None:
        parts = [error, self.panel.html(self.last)]
        if self.show_sched and self.dbg.runtime is not None:
            from .views.gmp import SchedView
            parts.append(SchedView(self.dbg.system)._repr_html_())
        self.html.value = "".join(parts)

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)
