"""Real Go binaries: host time under gosched-emu against qemu-user running the same
binaries (issue 9's target: hello under 2 s of host time), both arches.

  emu        ElfSystem(binary).run() in this process: loading, the run, the exit
             (median of --repeat runs; Python and the emulator already imported);
  emu+tools  the same run with the tools attached: the scheduler-event tap
             (Perfetto's G tracks), the save/restore recorder and the checker;
  process    `python -m emu run BINARY` as a new process (what a user waits for,
             interpreter start and imports included);
  qemu       `qemu-x86_64 BINARY` / `qemu-aarch64 BINARY` (median wall time);
  ratio      emu / qemu: how many times slower the emulator is.
The fixtures (tests/go: hello, fanin) are built by tests/go/build.sh when missing.
Usage: python benchmarks/bench_gobinaries.py [--repeat 5] [--fixtures hello fanin]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

from emu.gobinary.fixtures import fixture
from emu.gobinary.tap import GoEventTap
from emu.system import ElfSystem
from emu.views.saverestore import SaveRestoreRecorder

QEMU = {"amd64": "qemu-x86_64", "arm64": "qemu-aarch64"}
BUDGET = 400_000_000


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def emulate(binary, tools: bool = False):
    s = ElfSystem(binary, cpus=1, trace=tools)
    if tools:
        GoEventTap(s)
        SaveRestoreRecorder(s)
    out = s.run(BUDGET)
    assert out.status == 0, out.report
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--fixtures", nargs="+", default=["hello", "fanin"])
    a = ap.parse_args()
    print(f"{'arch':6} {'binary':8} {'instructions':>13} {'emu s':>7} {'emu+tools s':>12} {'process s':>10} "
          f"{'qemu s':>7} {'ratio':>7}")
    for arch in ("amd64", "arm64"):
        for name in a.fixtures:
            binary = fixture(name, arch)
            out = emulate(binary)
            t_emu = median_time(lambda: emulate(binary), a.repeat)
            t_tools = median_time(lambda: emulate(binary, tools=True), max(1, a.repeat // 2))
            t_proc = median_time(lambda: subprocess.run([sys.executable, "-m", "emu", "run", str(binary)],
                                                        capture_output=True, check=True), max(1, a.repeat // 2))
            qemu = shutil.which(QEMU[arch])
            if qemu is not None:
                t_qemu = median_time(lambda: subprocess.run([qemu, str(binary)], capture_output=True, check=True,
                                                            env={"GOMAXPROCS": "1"}), a.repeat)
                q, ratio = f"{t_qemu:7.3f}", f"{t_emu / t_qemu:6.1f}x"
            else:
                q, ratio = "   -   ", f"({QEMU[arch]} not found)"
            print(f"{arch:6} {name:8} {out.instructions:13,} {t_emu:7.2f} {t_tools:12.2f} {t_proc:10.2f} {q} {ratio:>7}")


if __name__ == "__main__":
    main()
