"""What the debugger costs (issue: stepping API), both arches.

  steps/s      Debugger.step() one instruction at a time (each a budget-1 run);
  cpu steps/s  Debugger.step(1, cpu=0): a Python hook on that CPU only;
  breakpoint   a whole run of fanout.s with a breakpoint that is never hit, against the
               same run without it (one-address hooks cost nothing elsewhere);
  reverse      reverse_step() at the end of the run: a replay of the whole run.
Usage: python benchmarks/bench_debug.py [--steps 20000]
"""
from __future__ import annotations

import argparse
import time

from emu.debug import Debugger


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=20_000)
    a = ap.parse_args()
    for arch in ("amd64", "arm64"):
        src = [f"programs/{arch}/fanout.s"]
        d = Debugger(src, arch, bare=False, procs=2)
        dt = timed(lambda: [d.step() for _ in range(a.steps)])
        d2 = Debugger(src, arch, bare=False, procs=2)
        dt2 = timed(lambda: [d2.step(1, cpu=0) for _ in range(a.steps // 10)])
        plain = Debugger(src, arch, bare=False, procs=2)
        t_plain = timed(plain.cont)
        with_bp = Debugger(src, arch, bare=False, procs=2)
        with_bp.break_at("bad_mcall")
        t_bp = timed(with_bp.cont)
        t_rev = timed(plain.reverse_step)
        print(f"{arch}: {a.steps / dt:,.0f} steps/s; {a.steps // 10 / dt2:,.0f} cpu steps/s; "
              f"run {t_plain:.2f} s, with an unhit breakpoint {t_bp:.2f} s ({t_bp / t_plain:.2f}x); "
              f"reverse_step at {plain.position:,} instructions: {t_rev:.2f} s")


if __name__ == "__main__":
    main()
