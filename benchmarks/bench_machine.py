"""Machine throughput against raw Unicorn, measured in one run (issue: foundation).

Reports, for each arch:
  raw-count   the counter's worker loop on two raw Unicorn CPUs sharing memory,
              alternating slices with emu_start(count=QUANTUM): the practical
              ceiling of deterministic slicing (no Python hooks, only the slice loop);
  raw-free    the same loop on one CPU with no count at all (translation blocks
              chain): what Unicorn does when nothing is deterministic;
  machine     `gosched-emu run bare_counter.s --bare` end to end (assembly excluded):
              kernel, clone, futex joins, syscalls, the native slice counter;
  ratio       machine / raw-count (target >= 0.7 with the default quantum);
  step        single-step with a full integer register read after every step
              (target >= 150,000 steps per host second).
Usage: python benchmarks/bench_machine.py [--quantum N] [--steps N]
Figures are host-dependent; the ratios are what matter.  Not run by the tests.
"""
from __future__ import annotations

import argparse
import time

import unicorn

from emu.asm import assemble
from emu.cli import program_path
from emu.machine.isa import get_isa
from emu.machine.memory import Memory, PROT_READ, PROT_WRITE, PROT_EXEC
from emu.system import System


def raw_unicorn(arch: str, quantum: int, iterations: int, count: bool) -> tuple[int, float]:
    """Run `worker` of bare_counter.s on raw Unicorn CPUs; return (instructions, seconds)."""
    isa = get_isa(arch)
    img = assemble([program_path(arch, "bare_counter.s")], arch)
    mem = Memory(0x400000, 64 << 20)
    ncpu = 2 if count else 1
    cpus = [unicorn.Uc(isa.uc_arch, isa.uc_mode) for _ in range(ncpu)]
    for uc in cpus:
        mem.attach(uc)
    for seg in img.segments:
        mem.map(seg.addr, seg.size, PROT_READ | PROT_WRITE | PROT_EXEC, seg.name)
        mem.write(seg.addr, seg.data)
    stack = 0x400000 + (32 << 20)
    mem.map(stack, 1 << 20, PROT_READ | PROT_WRITE, "stack")
    worker, halt = img.symbols["worker"], img.symbols["thread_main"] + (5 if arch == "amd64" else 8)
    sp, pc = isa.reg(isa.sp).uc_id, isa.reg(isa.pc).uc_id
    for i, uc in enumerate(cpus):
        uc.reg_write(sp, stack + (i + 1) * (256 << 10))
        uc.reg_write(pc, worker)
        if isa.lr:
            uc.reg_write(isa.reg(isa.lr).uc_id, halt)
        else:  # push a return address that stops the CPU
            top = stack + (i + 1) * (256 << 10) - 8
            mem.write_u64(top, halt)
            uc.reg_write(sp, top)
    live = list(cpus)
    t0 = time.perf_counter()
    if count:
        while live:
            for uc in list(live):
                uc.emu_start(uc.reg_read(pc), halt, count=quantum)
                if uc.reg_read(pc) == halt:
                    live.remove(uc)
    else:
        cpus[0].emu_start(worker, halt)
    dt = time.perf_counter() - t0
    per_iter = 3 if arch == "amd64" else 6
    return ncpu * iterations * per_iter, dt


def machine(arch: str, quantum: int) -> tuple[int, float]:
    s = System([program_path(arch, "bare_counter.s")], arch, quantum=quantum)
    t0 = time.perf_counter()
    out = s.run()
    dt = time.perf_counter() - t0
    assert out.stdout == b"200000\n", out
    return out.instructions, dt


def single_step(arch: str, steps: int) -> float:
    s = System([program_path(arch, "bare_counter.s")], arch, policy="step", seed=1)
    m = s.machine
    t0 = time.perf_counter()
    for _ in range(steps):
        cpu = m.step()
        if cpu is None:
            break
        cpu.snapshot_regs()
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quantum", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=100_000)
    a = ap.parse_args()
    print(f"quantum {a.quantum}; M = million emulated instructions per host second")
    for arch in ("amd64", "arm64"):
        n_raw, t_raw = raw_unicorn(arch, a.quantum, 100_000, count=True)
        n_free, t_free = raw_unicorn(arch, a.quantum, 100_000, count=False)
        n_m, t_m = machine(arch, a.quantum)
        rate_raw, rate_free, rate_m = n_raw / t_raw / 1e6, n_free / t_free / 1e6, n_m / t_m / 1e6
        steps = single_step(arch, a.steps)
        print(f"{arch}: raw-count {rate_raw:6.1f} M  raw-free {rate_free:7.1f} M  machine {rate_m:6.1f} M  "
              f"ratio {rate_m / rate_raw:4.2f}  step+regs {steps:,.0f}/s")


if __name__ == "__main__":
    main()
