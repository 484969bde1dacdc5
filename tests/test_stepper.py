"""The terminal stepper (`gosched-emu step`) and the Jupyter stepper widget, on both
arches: each command does what the Debugger does, and the transcript says so."""
from __future__ import annotations

import io
import re
import subprocess
import sys

from emu.debug import Debugger
from emu.stepper import Stepper

SCRIPT = """b main.loop
c
n
sw
rs 2
g
bt 1
x 0x{ping:x} 1
w ping
info
bogus
b nosuch
c
q
"""


def transcript(arch: str, procs: int = 1) -> tuple[Debugger, str]:
    d = Debugger([f"programs/{arch}/pingpong.s"], arch, bare=False, procs=procs)
    out = io.StringIO()
    script = SCRIPT.format(ping=d.image.symbols["ping"])
    Stepper(d, out).loop(io.StringIO(script), prompt=False)
    return d, out.getvalue()


def stops(text: str) -> list[tuple[str, int, str]]:
    """(reason, position, where) of every stop line."""
    return [(m[1], int(m[2]), m[3]) for m in re.finditer(r"^\[(\S+)\] @(\d+) .*? pc 0x[0-9a-f]+ (\S+)", text, re.M)]


def test_a_scripted_session(arch):
    d, text = transcript(arch)
    got = stops(text)
    reasons = [r for r, _, _ in got]
    assert reasons == ["here", "breakpoint", "step", "event", "reverse-step", "breakpoint"], text
    here, brk, nxt, sw, rs, watch = got
    assert brk[2] == "main.loop+0" and nxt[2] == ("main.loop+7" if arch == "amd64" else "main.loop+4")
    assert nxt[1] == brk[1] + 1 and rs[1] == sw[1] - 2
    assert sw[2] == "runtime.gogo+0" and "runs g2" in text
    # `g` after stepping back into mcall: G1 still _Grunning (park_m has not run yet), and
    # G2, made runnable by newproc, waits in P0's runnext
    assert re.search(r"G2\s+_Grunnable\s+-\s+ponger\s+P0 runnext", text)
    assert re.search(r"\* G1\s+_Grunning\s+M0\s+runtime.main", text)
    assert re.search(r"#1\s+return\s+0x[0-9a-f]+\s+main\.loop\+\d+", text)    # bt 1 through the call
    assert f"0x{d.image.symbols['ping']:x}: 0x" in text                         # x
    assert "breakpoint 1 at main.loop" in text and "watchpoint 2 on ping" in text
    assert "error: unknown command 'bogus' (h for help)" in text
    assert "error: Debugger: unknown symbol or line 'nosuch'" in text
    assert watch[2] == "main.loop+0"      # ping is never written again: the breakpoint


def test_the_cli_reads_a_script_and_stdin(arch, tmp_path):
    script = tmp_path / "cmds.txt"
    script.write_text("S 5\nrs 1\nq\n")
    cmd = [sys.executable, "-m", "emu", "step", f"programs/{arch}/pingpong.s", "--arch", arch]
    out = subprocess.run(cmd + ["--script", str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert [(r, p) for r, p, _ in stops(out.stdout)] == [("here", 0), ("step", 5), ("reverse-step", 4)]
    piped = subprocess.run(cmd, input="S 5\nrs 1\n", capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and stops(piped.stdout) == stops(out.stdout)
    bad = subprocess.run([sys.executable, "-m", "emu", "step", "nosuch.s", "--arch", arch],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "nosuch.s" in bad.stderr


def test_the_widget_is_a_thin_shell_over_the_debugger(arch):
    from emu.widgets import Stepper as Widget
    d = Debugger([f"programs/{arch}/pingpong.s"], arch, bare=False, procs=2)
    w = Widget(d)
    assert w.press("next switch").reason == "event"
    pos = d.position
    w.count.value = 3
    assert w.press("step machine").position == pos + 3
    assert w.press("reverse step").position == pos
    html = w.html.value
    assert "<table" in html and "<script" not in html and "changed" in html
    assert "goroutines" in html                       # the G/M/P tables under the panel
    w.count.value = 10_000
    w.press("reverse step")                            # more than the position: refused, shown
    assert "Debugger.reverse_step" in w.html.value and d.position == pos
    assert w.press("continue").reason == "exit"
    assert [o[1] for o in w.cpu.options] == [c.id for c in d.machine.cpus]
