"""`gosched-emu` (also `python -m emu`): run, demo, disasm, preemptcheck, step, grade.

Exit statuses: the guest's own (128+signal when a fault killed it); 124 when the
instruction budget ran out; 125 on a deadlock; 1 when the input was refused
(assembler error, missing file, an ELF file that cannot be loaded); 2 for bad
command-line usage.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from importlib import resources
from pathlib import Path

from .asm import AsmError, assemble
from .machine.smp import DEFAULT_CLOCK_HZ, POLICIES
from .kernel.elf import ElfLoadError, is_elf
from .system import ElfSystem, System

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
    run = sub.add_parser("run", help="assemble and run a program, or run a static Linux executable (ELF)",
                         description="Run assembly sources on the teaching runtime (or --bare), or a real, "
                         "statically linked Linux executable for amd64 or arm64 (a Go binary built with "
                         "CGO_ENABLED=0): an ELF file is recognised by its magic, its arch by e_machine, and "
                         "the words after it are its arguments (put them after `--` if they start with -).")
    run.add_argument("files", nargs="+", type=Path,
                     help="assembly sources, or one ELF executable followed by its arguments")
    run.add_argument("--arch", choices=ARCHES, default=None,
                     help="the arch of assembly sources (required for them; an ELF executable names its own)")
    run.add_argument("--cpus", type=int, dest="procs", default=argparse.SUPPRESS,
                     help="the same as --procs: CPUs sched_getaffinity reports, which sets a Go binary's "
                          "default GOMAXPROCS (default 1); every thread still gets its own emulated CPU")
    run.add_argument("--env", action="append", default=[], metavar="K=V",
                     help="an environment variable of an ELF executable (repeatable): GODEBUG=..., GOMAXPROCS=...")
    run.add_argument("--bare", action="store_true",
                     help="entry _start, no Go runtime, Linux syscalls only (default: the runtime, entry main.main)")
    run.add_argument("--trace", action="store_true", help="print the event trace to stderr at the end")
    run.add_argument("--guard-pages", action="store_true",
                     help="a PROT_NONE guard page below every goroutine stack: nosplit overruns grow the stack "
                          "through SIGSEGV (costly with thousands of goroutines)")
    run.add_argument("--max-stack", type=int, default=1 << 30, help="maximum goroutine stack size in bytes")
    run.add_argument("--perfetto", type=Path, metavar="OUT.json",
                     help="write a Chrome/Perfetto trace (Ms, Ps, Gs, syscalls, wakeup flows) for ui.perfetto.dev")
    run.add_argument("--schedtrace", type=int, metavar="INTERVAL_NS",
                     help="print GODEBUG=schedtrace lines (Go 1.22 format) to stderr every INTERVAL_NS of virtual time")
    run.add_argument("--scheddetail", action="store_true",
                     help="with --schedtrace: add a line per P, M and G, as GODEBUG=scheddetail=1")
    _add_machine_options(run)
    demo = sub.add_parser("demo", help="a guided tour on both arches: the machine, a context switch, "
                                       "an async preemption")
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
    grd = sub.add_parser("grade", help="grade a solution of a course exercise (exercises/<name>)",
                         description="Grade a student's solution of an exercise on the emulator.  Each test "
                         "earns its points per arch when it passes for every seed; a test whose parent failed "
                         "is skipped.  Budgets are in emulated instructions.  Exit status 0 only on full marks.  "
                         "Instructors: --seeds FILE replaces every test's seeds (hidden seeds); see "
                         "exercises/README.md.")
    grd.add_argument("exercise", nargs="?", help="exercise name (see --list)")
    grd.add_argument("--solution", help="folder with the student's copies of the skeleton files, "
                                        "or 'reference' for the project's own code")
    grd.add_argument("--arch", choices=ARCHES + ("both",), default="both")
    grd.add_argument("--seeds", type=Path, metavar="FILE",
                     help='seeds for every test: integers, or JSON {"*": [...], "test_name": [...]}')
    grd.add_argument("--seed", type=int, help="run with this one seed (replaying a failure)")
    grd.add_argument("--test", help="run only this test (its parents are assumed passed)")
    grd.add_argument("--json", type=Path, metavar="OUT", help="write the results as JSON (for an LMS)")
    grd.add_argument("--trace", action="store_true", help="print the event trace of each run to stderr")
    grd.add_argument("--list", action="store_true", help="list the exercises and their tests")
    stp = sub.add_parser("step", help="a terminal stepper: step, next, continue, break, watch, reverse-step "
                                      "(commands from stdin; h lists them)")
    stp.add_argument("files", nargs="+", type=Path, help="assembly sources, or one static ELF executable "
                                                          "(a Go binary) followed by its arguments")
    stp.add_argument("--arch", choices=ARCHES, help="the arch of assembly sources (an ELF names its own)")
    stp.add_argument("--env", action="append", default=[], metavar="K=V", help="an ELF's environment")
    stp.add_argument("--bare", action="store_true", help="a program without the runtime (entry _start)")
    stp.add_argument("--script", type=Path, help="read the commands from this file (echoed) instead of stdin")
    _add_machine_options(stp)
    return ap


def _stream(fd: int, data: bytes) -> None:
    out = sys.stdout if fd == 1 else sys.stderr
    out.flush()
    out.buffer.write(data)
    out.buffer.flush()


def cmd_run(a) -> int:
    if a.files and is_elf(a.files[0]):
        return _run_elf(a)
    if a.arch is None:
        print("gosched-emu run: --arch is required for assembly sources (an ELF executable names its own)",
              file=sys.stderr)
        return 2
    if a.env:
        print("gosched-emu run: --env is for ELF executables (assembly programs have no environment)",
              file=sys.stderr)
        return 2
    for f in a.files:
        if not f.is_file():
            print(f"gosched-emu: {f}: no such file", file=sys.stderr)
            return 1
    bad = _export_usage(a)
    if bad:
        print(f"gosched-emu run: {bad}", file=sys.stderr)
        return 2
    try:
        system = System(a.files, a.arch, bare=a.bare, seed=a.seed, policy=a.policy, quantum=a.quantum,
                        procs=a.procs, clock_hz=a.clock_hz, trace=_recorder(a), on_output=_stream,
                        runtime_options={"guard_pages": a.guard_pages, "maxstacksize": a.max_stack})
    except (AsmError, ValueError) as e:
        print(f"gosched-emu: {e}", file=sys.stderr)
        return 1
    if a.schedtrace:
        from .views.schedtrace import ScheduleTracer
        tracer = ScheduleTracer(system, a.schedtrace, a.scheddetail, out=lambda text: _stream(2, text.encode()))
        out = tracer.run(a.max_instructions)
    else:
        out = system.run(a.max_instructions)
    return _after_run(a, system, out)


def _after_run(a, system, out) -> int:
    """What `run` prints after any run: the trace, the Perfetto file, the report."""
    if a.trace and system.recorder is not None:
        print(system.recorder.text(), file=sys.stderr)
    if a.perfetto:
        from .views.perfetto import write_chrome_trace
        write_chrome_trace(a.perfetto, system.recorder.events, system)
    if out.report:
        print(out.report, file=sys.stderr)
    return out.status


def _run_elf(a) -> int:
    """`run BINARY [ARGS]`: a static Linux executable (emu/system.py ElfSystem)."""
    bad = next((e for e in a.env if "=" not in e), None)
    if bad is not None:
        print(f"gosched-emu run: --env {bad!r}: expected K=V", file=sys.stderr)
        return 2
    if a.schedtrace is not None or a.scheddetail:
        print("gosched-emu run: --schedtrace needs the teaching runtime; for a Go binary use "
              "--env GODEBUG=schedtrace=INTERVAL_MS (Go prints its own)", file=sys.stderr)
        return 2
    if a.bare or a.guard_pages:
        print("gosched-emu run: --bare and --guard-pages are for assembly programs, not ELF executables",
              file=sys.stderr)
        return 2
    try:
        system = ElfSystem(a.files[0], a.arch, seed=a.seed, policy=a.policy, quantum=a.quantum, cpus=a.procs,
                           clock_hz=a.clock_hz, trace=_recorder(a), on_output=_stream,
                           args=[str(x) for x in a.files[1:]], env=a.env)
    except (ElfLoadError, ValueError) as e:
        print(f"gosched-emu: {e}", file=sys.stderr)
        return 1
    out = system.run(a.max_instructions)
    return _after_run(a, system, out)


def _export_usage(a) -> str:
    """Why the export options cannot be used as given ("" if they can)."""
    if a.schedtrace is not None and a.schedtrace <= 0:
        return "--schedtrace needs a positive interval in nanoseconds"
    if a.schedtrace is not None and a.bare:
        return "--schedtrace needs the Go runtime (a --bare program has no scheduler)"
    if a.scheddetail and a.schedtrace is None:
        return "--scheddetail goes with --schedtrace INTERVAL_NS"
    return ""


def _recorder(a):
    """What `run` records: everything with --trace; the exporter's kinds for --perfetto."""
    from .trace.events import Recorder
    if a.trace:
        return Recorder(slices=a.bare)
    if a.perfetto:
        from .views.perfetto import KINDS
        return Recorder(kinds=KINDS)
    return False


def cmd_demo(a) -> int:
    """A guided tour, on each arch: (1) the SMP machine (bare_counter.s); (2) a context
    switch, register by register: mcall into g.sched, gogo back (gosched_rr.s); (3) an
    async preemption of a spinning goroutine, register by register (regstress.s).
    Then where the notebooks are."""
    arches = ARCHES if a.arch == "both" else (a.arch,)
    print("gosched-emu demo: a guided tour of the Go scheduler at machine level, three steps per arch.\n")
    status = 0
    for arch in arches:
        print(f"==================================== {arch} ====================================\n")
        for step in (_demo_counter, _demo_switch, _demo_preemption):
            status = step(a, arch) or status
    print("Next: the notebooks in notebooks/ take each step slowly, in Jupyter "
          "(jupyter lab notebooks/):\n  " + "\n  ".join(NOTEBOOKS))
    return status


# The demo's constants, after cmd_demo so that they stay with it.
DEMO_FORCE_PREEMPT_NS = 2_000_000    # the preemption step: sysmon acts after 2 ms instead of 10
NOTEBOOKS = ("01_context_switch.ipynb", "02_async_preemption.ipynb", "03_scheduler_timeline.ipynb",
             "04_netpoll_timers.ipynb", "05_stack_growth.ipynb", "06_real_go_runtime.ipynb")


def _demo_counter(a, arch: str) -> int:
    path = program_path(arch, "bare_counter.s")
    print(f"1. The machine.  programs/{arch}/bare_counter.s (--bare: no Go runtime): two threads, one shared\n"
          "   counter, 100,000 atomic increments each, joined with a futex.  Expected output: 200000.")
    print(f"[{arch}] gosched-emu run {path.name} --arch {arch} --bare --policy {a.policy} --seed {a.seed}")
    t0 = time.perf_counter()
    system = System([path], arch, bare=True, seed=a.seed, policy=a.policy, quantum=a.quantum,
                    procs=a.procs, clock_hz=a.clock_hz, on_output=_stream)
    out = system.run(a.max_instructions)
    if out.report:
        print(out.report, file=sys.stderr)
    print(f"[{arch}] exit status {out.status}; {out.instructions:,} instructions on "
          f"{len(system.machine.cpus)} CPUs in {system.machine.slices:,} slices; "
          f"virtual time {out.ns / 1e6:.3f} ms; host {time.perf_counter() - t0:.2f} s\n")
    return out.status


def _demo_run(a, arch: str, name: str, kinds, **options):
    """Run a bundled runtime program with one P, a trace of `kinds` and the save/restore view."""
    from .trace.events import Recorder
    from .views.saverestore import SaveRestoreRecorder
    rec = Recorder(kinds=kinds)
    system = System([program_path(arch, name)], arch, bare=False, procs=1, seed=a.seed, policy=a.policy,
                    quantum=a.quantum, clock_hz=a.clock_hz, trace=rec, runtime_options=options)
    view = SaveRestoreRecorder(system)
    out = system.run(a.max_instructions or 100_000_000)
    if out.report:
        print(out.report, file=sys.stderr)
    return system, rec, view, out


def _demo_line(cycles: int, cpu: int, kind: str, text: str) -> str:
    """One line of an annotated trace: virtual time in cycles, CPU, what, and what it means."""
    return f"  {cycles:>9} cpu{cpu} {kind:<12} {text}"


def _demo_switch(a, arch: str) -> int:
    from .trace import events as ev
    print(f"2. A context switch.  programs/{arch}/gosched_rr.s --procs 1: three goroutines take turns with\n"
          "   runtime.gosched().  mcall saves the running G's registers in its gobuf (g.sched) and switches\n"
          "   to g0; later gogo loads them back.  One switch, register by register:")
    t0 = time.perf_counter()
    system, rec, view, out = _demo_run(a, arch, "gosched_rr.s", [ev.SWITCH, ev.GSTATUS])
    if not view.switches:
        print(f"[{arch}] exit status {out.status}; no context switch recorded\n")
        return out.status or 1
    sw = next((s for s in view.switches if any(e.args[2] != s.goid for e in _demo_between(rec, s, ev.SWITCH))),
              view.switches[0])
    print(_demo_line(sw.saved_cycles, sw.saved_cpu, "mcall",
                     f"mcall({sw.fn}): g{sw.goid}'s registers -> g{sw.goid}.sched; on to g0's stack"))
    for e in _demo_between(rec, sw, ev.SWITCH, ev.GSTATUS):
        if e.kind == ev.SWITCH or e.args[0] == sw.goid:
            print(_demo_line(e.cycles, e.cpu, e.kind, ev.FORMATS[e.kind].format(*e.args)))
    print(_demo_line(sw.restored_cycles, sw.restored_cpu, "gogo",
                     f"gogo(&g{sw.goid}.sched): registers <- g{sw.goid}.sched; resumes at {sw.resumed_at}"))
    print(sw.table(compact=True).text())
    good = sum(s.ok for s in view.switches)
    lines = out.stdout.decode(errors="replace").splitlines()
    print(f"[{arch}] exit status {out.status}; output: {' | '.join(lines)}\n"
          f"[{arch}] {len(view.switches)} context switches recorded, {good} with every saved register back; "
          f"host {time.perf_counter() - t0:.2f} s\n")
    return out.status or int(good != len(view.switches))


def _demo_between(rec, record, *kinds):
    """The trace events of `kinds` between a record's save and its restore."""
    return [e for e in rec.of(*kinds) if record.saved_cycles <= e.cycles <= record.restored_cycles]


def _demo_preemption(a, arch: str) -> int:
    from .trace import events as ev
    print(f"3. An async preemption.  programs/{arch}/regstress.s --procs 1: two goroutines spin with every\n"
          "   register live and no calls, so sysmon must preempt them (forcePreemptNS lowered to "
          f"{DEMO_FORCE_PREEMPT_NS / 1e6:.0f} ms here).\n"
          "   Signal, pushCall, asyncPreempt's frame, and the way back:")
    t0 = time.perf_counter()
    kinds = ["retake", ev.SYSCALL, ev.SIGNAL, "pushcall", ev.SIGRETURN, "asyncpreempt", "asyncresume", ev.SWITCH]
    system, rec, view, out = _demo_run(a, arch, "regstress.s", kinds, forcePreemptNS=DEMO_FORCE_PREEMPT_NS)
    if not view.preemptions:
        print(f"[{arch}] exit status {out.status}; no async preemption recorded\n")
        return out.status or 1
    pr = next((p for p in view.preemptions if any(e.args[2] != p.goid for e in _demo_between(rec, p, ev.SWITCH))),
              view.preemptions[0])
    for line in _demo_preemption_trace(system, rec, pr):
        print(line)
    print(pr.table(compact=True).text())
    print(f"  checker: {pr.verdict}")
    clean = sum(not p.differences for p in view.preemptions)
    print(f"[{arch}] exit status {out.status}; output: {out.stdout.decode(errors='replace').strip()} (the checksum "
          f"of every register: a lost one would change it)\n"
          f"[{arch}] {len(view.preemptions)} async preemptions, {clean} transparent; "
          f"host {time.perf_counter() - t0:.2f} s\n")
    return out.status or int(clean != len(view.preemptions))


def _demo_preemption_trace(system, rec, pr) -> list[str]:
    """The annotated chain of one preemption: from sysmon's decision to the resumption."""
    from .trace import events as ev
    from .views.saverestore import symbolize

    def sym(addr: int) -> str:
        return symbolize(system.image, addr)
    say = {
        "retake": lambda e: f"sysmon: P{e.args[0]} has run g{e.args[1]} for {e.args[2] / 1e6:.1f} ms: preemptone",
        ev.SYSCALL: lambda e: f"preemptM: tgkill({e.args[1]}, {e.args[2]}, SIGURG) to the M's thread",
        ev.SIGNAL: lambda e: (f"kernel: SIGURG frame (rt_sigframe) at {e.args[2]:#x}, "
                              f"{'on the gsignal altstack' if e.args[3] else 'on the G stack'}; runtime.sigtramp"),
        "pushcall": lambda e: f"doSigPreempt: pushCall, g{e.args[0]} will \"call\" asyncPreempt from {sym(e.args[1])}",
        ev.SIGRETURN: lambda e: f"rt_sigreturn: the edited context resumes at {sym(e.args[0])}",
        "asyncpreempt": lambda e: f"asyncPreempt2: mcall(gopreempt_m), g{e.args[0]} -> the global run queue",
        ev.SWITCH: lambda e: ev.FORMATS[ev.SWITCH].format(*e.args),
        "asyncresume": lambda e: f"g{e.args[0]} runs again: gogo returns it into asyncPreempt2",
    }
    events = rec.events
    start = max(i for i, e in enumerate(events) if e.kind == "retake" and e.cycles <= pr.saved_cycles)
    out = []
    for e in events[start:]:
        if e.kind == ev.SYSCALL and e.args[0] != "tgkill" or e.kind == ev.SIGNAL and e.args[0] != 23:
            continue
        if e.kind == "asyncpreempt" and e.args[0] == pr.goid:
            out.append(_demo_line(pr.saved_cycles, pr.saved_cpu, "save",
                                  f"asyncPreempt: every register -> its frame at {pr.frame:#x} (below)"))
        kind = e.args[0] if e.kind == ev.SYSCALL else e.kind
        out.append(_demo_line(e.cycles, e.cpu, kind, say[e.kind](e)))
        if e.kind == "asyncresume" and e.args[0] == pr.goid:
            out.append(_demo_line(pr.restored_cycles, pr.restored_cpu, "restore",
                                  f"asyncPreempt: every register <- its frame; back to {sym(pr.pc)}"))
            break
    return out


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


def cmd_grade(a) -> int:
    from .grade import list_exercises, load_exercise
    from .grade.grader import Grader, read_seeds, report, to_json
    if a.list:
        for name in list_exercises():
            try:
                ex = load_exercise(name)
            except Exception as e:                 # noqa: BLE001 -- one broken exercise, not the list
                print(f"{name}: cannot be loaded: {type(e).__name__}: {e}")
                continue
            print(f"{name}: {ex.title} ({ex.kind}; {ex.max_points(ex.arches)} points on both arches)")
            for t in ex.tests:
                dep = f"  (after {', '.join(t.depends)})" if t.depends else ""
                print(f"    {t.name:<36} {t.points} pt  {t.doc}{dep}")
        return 0
    if not a.exercise or not a.solution:
        print("gosched-emu grade: give an EXERCISE and --solution PATH (or --list)", file=sys.stderr)
        return 2
    try:
        ex = load_exercise(a.exercise)
        seeds = read_seeds(a.seeds) if a.seeds else {}
        if a.seed is not None:
            seeds = {"*": [a.seed]}
        arches = ARCHES if a.arch == "both" else (a.arch,)
        solution = a.solution
        if (Path(solution) / "mutant.json").exists():     # a mutant: the reference with its edits
            import tempfile
            from .grade.reference import write_mutant
            solution = Path(tempfile.mkdtemp(prefix="gosched-mutant-")) / Path(a.solution).name
            write_mutant(ex, Path(a.solution), solution)
        grader = Grader(ex, solution, arches=arches, seeds=seeds, only=a.test, trace=a.trace,
                        solution_arg=a.solution)
    except (ValueError, OSError) as e:
        print(f"gosched-emu grade: {e}", file=sys.stderr)
        return 2
    entries = grader.run()
    text, score, total = report(ex, entries)
    print(text)
    if a.json:
        a.json.write_text(json.dumps(to_json(ex, a.solution, entries), indent=2) + "\n")
    return 0 if score == total else 1


def cmd_step(a) -> int:
    from .debug import Debugger
    from .stepper import Stepper
    from .kernel.elf import is_elf
    try:
        if a.files and is_elf(a.files[0]):
            dbg = Debugger(str(a.files[0]), a.arch, seed=a.seed, policy=a.policy, quantum=a.quantum,
                           cpus=a.procs, clock_hz=a.clock_hz, args=[str(x) for x in a.files[1:]], env=a.env)
        elif a.arch is None:
            print("gosched-emu step: --arch is required for assembly sources", file=sys.stderr)
            return 2
        else:
            dbg = Debugger(a.files, a.arch, bare=a.bare, seed=a.seed, policy=a.policy, quantum=a.quantum,
                           procs=a.procs, clock_hz=a.clock_hz)
    except (AsmError, ValueError, OSError) as e:
        print(f"gosched-emu: {e}", file=sys.stderr)
        return 1
    stepper = Stepper(dbg)
    if a.script is not None:
        with open(a.script) as f:
            stepper.loop(f, prompt=False)
    else:
        stepper.loop(sys.stdin, prompt=sys.stdin.isatty())
    return 0


def main(argv=None) -> int:
    a = _parser().parse_args(argv)
    return {"run": cmd_run, "demo": cmd_demo, "disasm": cmd_disasm, "preemptcheck": cmd_preemptcheck,
            "step": cmd_step, "grade": cmd_grade}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
