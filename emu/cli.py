"""`gosched-emu` (also `python -m emu`): run, demo, disasm.

Exit statuses: the guest's own (128+signal when a fault killed it); 124 when the
instruction budget ran out; 125 on a deadlock; 1 when the input was refused
(assembler error, missing file); 2 for bad command-line usage.
"""
from __future__ import annotations

import argparse
import sys
import time
from importlib import resources
from pathlib import Path

from .asm import AsmError, assemble
from .machine.smp import DEFAULT_CLOCK_HZ, POLICIES
from .system import System

ARCHES = ("amd64", "arm64")


def program_path(arch: str, name: str) -> Path:
    """Path of a bundled example program (programs/<arch>/<name>)."""
    return Path(str(resources.files("emu.programs") / arch / name))


def _add_machine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed of the one RNG (interleaving, AT_RANDOM)")
    p.add_argument("--policy", choices=POLICIES, default="round-robin", help="CPU interleaving policy")
    p.add_argument("--quantum", type=int, default=10_000, help="instructions per slice (max for --policy random)")
    p.add_argument("--procs", type=int, default=1, help="CPUs reported to the guest (sched_getaffinity)")
    p.add_argument("--max-instructions", type=int, default=None, help="instruction budget of the run")
    p.add_argument("--clock-hz", type=int, default=DEFAULT_CLOCK_HZ,
                   help="virtual clock rate in instructions per second (default 100 MHz)")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="gosched-emu", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="assemble and run a program")
    run.add_argument("files", nargs="+", type=Path)
    run.add_argument("--arch", choices=ARCHES, required=True)
    run.add_argument("--bare", action="store_true",
                     help="entry _start, no Go runtime, Linux syscalls only (default: the runtime, entry main.main)")
    run.add_argument("--trace", action="store_true", help="print the event trace to stderr at the end")
    run.add_argument("--guard-pages", action="store_true",
                     help="a PROT_NONE guard page below every goroutine stack: nosplit overruns grow the stack "
                          "through SIGSEGV (costly with thousands of goroutines)")
    run.add_argument("--max-stack", type=int, default=1 << 30, help="maximum goroutine stack size in bytes")
    _add_machine_options(run)
    demo = sub.add_parser("demo", help="run the bundled counter program on both arches")
    demo.add_argument("--arch", choices=ARCHES + ("both",), default="both")
    _add_machine_options(demo)
    chk = sub.add_parser("preemptcheck", help="run a program under a storm of async preemptions and compare "
                                               "every register at each preemption with the one at resumption")
    chk.add_argument("files", nargs="+", type=Path)
    chk.add_argument("--arch", choices=ARCHES, required=True)
    chk.add_argument("--points", type=int, default=1000, help="preemption requests to make")
    _add_machine_options(chk)
    dis = sub.add_parser("disasm", help="assemble and print the annotated disassembly")
    dis.add_argument("files", nargs="+", type=Path)
    dis.add_argument("--arch", choices=ARCHES, required=True)
    return ap


def _stream(fd: int, data: bytes) -> None:
    out = sys.stdout if fd == 1 else sys.stderr
    out.flush()
    out.buffer.write(data)
    out.buffer.flush()


def cmd_run(a) -> int:
    for f in a.files:
        if not f.is_file():
            print(f"gosched-emu: {f}: no such file", file=sys.stderr)
            return 1
    try:
        system = System(a.files, a.arch, bare=a.bare, seed=a.seed, policy=a.policy, quantum=a.quantum,
                        procs=a.procs, clock_hz=a.clock_hz, trace=a.trace, on_output=_stream,
                        runtime_options={"guard_pages": a.guard_pages, "maxstacksize": a.max_stack})
    except (AsmError, ValueError) as e:
        print(f"gosched-emu: {e}", file=sys.stderr)
        return 1
    out = system.run(a.max_instructions)
    if a.trace and system.recorder is not None:
        print(system.recorder.text(), file=sys.stderr)
    if out.report:
        print(out.report, file=sys.stderr)
    return out.status


def cmd_demo(a) -> int:
    arches = ARCHES if a.arch == "both" else (a.arch,)
    status = 0
    print("gosched-emu demo: programs/<arch>/bare_counter.s -- two threads, one shared counter,\n"
          "100,000 atomic increments each, joined with a futex.  Expected output: 200000.\n")
    for arch in arches:
        path = program_path(arch, "bare_counter.s")
        print(f"[{arch}] gosched-emu run {path.name} --arch {arch} --bare --policy {a.policy} --seed {a.seed}")
        t0 = time.perf_counter()
        system = System([path], arch, bare=True, seed=a.seed, policy=a.policy, quantum=a.quantum,
                        procs=a.procs, clock_hz=a.clock_hz, on_output=_stream)
        out = system.run(a.max_instructions)
        dt = time.perf_counter() - t0
        if out.report:
            print(out.report, file=sys.stderr)
        print(f"[{arch}] exit status {out.status}; {out.instructions:,} instructions on "
              f"{len(system.machine.cpus)} CPUs in {system.machine.slices:,} slices; "
              f"virtual time {out.ns / 1e6:.3f} ms; host {dt:.2f} s\n")
        status = status or out.status
    print("programs/<arch>/spin.s on the Go runtime with one P: a goroutine spins in a loop with no\n"
          "calls; sysmon sends SIGURG and the handler injects asyncPreempt, so main gets to print 1.\n")
    for arch in arches:
        from .trace.events import Recorder
        rec = Recorder(kinds=["retake", "pushcall", "signal"])
        t0 = time.perf_counter()
        system = System([program_path(arch, "spin.s")], arch, bare=False, procs=1, seed=a.seed,
                        trace=rec, on_output=_stream)
        out = system.run(a.max_instructions or 100_000_000)
        dt = time.perf_counter() - t0
        if out.report:
            print(out.report, file=sys.stderr)
        r = rec.of("retake")
        print(f"[{arch}] exit status {out.status}; sysmon preempted g{r[0].args[1]} after "
              f"{r[0].args[2] / 1e6:.1f} ms of virtual time; {len(rec.of('signal'))} SIGURG delivered, "
              f"{len(rec.of('pushcall'))} asyncPreempt injected; host {dt:.2f} s\n" if r else
              f"[{arch}] exit status {out.status}; no preemption recorded\n")
        status = status or out.status
    return status


def cmd_preemptcheck(a) -> int:
    from .analysis.preempt_check import PreemptionChecker
    try:
        system = System(a.files, a.arch, bare=False, seed=a.seed, policy=a.policy, quantum=a.quantum,
                        procs=a.procs, clock_hz=a.clock_hz, on_output=_stream, runtime_options={"sysmon": False})
    except (AsmError, ValueError) as e:
        print(f"gosched-emu: {e}", file=sys.stderr)
        return 1
    checker = PreemptionChecker(system)
    out = checker.storm(points=a.points, seed=a.seed, max_instructions=a.max_instructions or 200_000_000)
    print(checker.report)
    if out.report:
        print(out.report, file=sys.stderr)
    return 0 if not checker.report.differences and out.status == 0 else 1


def cmd_disasm(a) -> int:
    try:
        img = assemble(a.files, a.arch)
    except AsmError as e:
        print(f"gosched-emu: {e}", file=sys.stderr)
        return 1
    for seg in img.segments:
        if "x" in seg.prot:
            n = sum(1 for ln in img.lines if seg.addr <= ln.addr < seg.addr + seg.size)
            print("\n".join(img.disassemble(seg.addr, n)))
    return 0


def main(argv=None) -> int:
    a = _parser().parse_args(argv)
    return {"run": cmd_run, "demo": cmd_demo, "disasm": cmd_disasm, "preemptcheck": cmd_preemptcheck}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
