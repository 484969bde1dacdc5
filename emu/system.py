"""A program, assembled and loaded on a machine with a kernel: what `run` builds.

Design note
  1. `System` wires the layers bottom-up: Machine (hardware) <- Kernel (Linux)
     <- image from the assembler.  Nothing here holds state of its own that a
     lower layer does not also hold; it is the convenient front door for the
     CLI, tests, benchmarks and notebooks.
  2. `run()` returns an `Outcome`: the guest's exit status, its output, and why
     the machine stopped (exit, crash, deadlock, instruction budget), with the
     seed and a command that replays the run.
  3. `ElfSystem` is the same front door for a real, statically linked Linux
     executable (a Go binary built with CGO_ENABLED=0): the same Machine and
     Kernel, no teaching runtime (the binary brings its own), the image loaded
     by emu/kernel/elf.py.  Its machine's memory is a sparse terabyte from
     64 KiB up (ELF_ARENA_BASE..ELF_ARENA_LIMIT), so Go's address hints are
     honoured as they are on Linux.
  4. For a Go binary, `ElfSystem.go` (emu/gobinary) gives the tools its symbols
     with `.abi0` normalised, its DWARF layouts and the places to hook, and
     `ElfSystem.goruntime` reads the runtime's G/M/P state from memory.  Both are
     read-only: they never change the run.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from importlib import resources

from .asm import assemble
from .runtime import Runtime
from .runtime.pycall import pytext_source
from .kernel.elf import ELF_ARENA_BASE, ELF_ARENA_LIMIT, ElfLoadError, exec_elf, load_elf
from .kernel.exec import exec_image
from .kernel.kernel import Kernel
from .machine.smp import DEFAULT_CLOCK_HZ, Machine
from .trace.events import Recorder

RUNTIME_FILES = ("asm.s", "sys_linux.s")


def runtime_sources(arch: str) -> list:
    """The runtime's machine code for `arch` plus its generated Python text."""
    from .machine.isa import get_isa
    root = Path(str(resources.files("emu.runtime_asm"))) / arch
    return [root / f for f in RUNTIME_FILES] + [("pytext.s", pytext_source(get_isa(arch)))]


BUDGET_STATUS = 124        # as timeout(1): the run was stopped, not finished
DEADLOCK_STATUS = 125


@dataclass
class Outcome:
    """How a run ended.

    :ivar status: the guest's exit status (128+signal when killed), or
        BUDGET_STATUS / DEADLOCK_STATUS when the emulator stopped it.
    :ivar reason: "exit", "crash", "deadlock" or "budget".
    :ivar report: the crash / deadlock / budget report ("" after a clean exit).
    """

    status: int
    reason: str
    stdout: bytes
    stderr: bytes
    report: str
    instructions: int
    cycles: int
    ns: int
    replay: str

    @property
    def first_error(self) -> str:
        """The first line of the guest's stderr (a Go fatal error, a panic), else of the
        emulator's report; "?" when both are empty."""
        for text in (self.stderr.decode(errors="replace"), self.report):
            lines = text.strip().splitlines()
            if lines:
                return lines[0]
        return "?"


class System:
    """Assemble `sources` for `arch`, load them, and get ready to run."""

    def __init__(self, sources, arch: str, *, bare: bool = True, seed: int = 0,
                 policy: str = "round-robin", quantum: int = 10_000, window: int | None = None,
                 procs: int = 1, clock_hz: int = DEFAULT_CLOCK_HZ, stdin: bytes = b"",
                 trace: bool | Recorder = False, on_output=None, argv=None, entry: str | None = None,
                 runtime_options: dict | None = None, runtime_asm: list | None = None):
        # how to build this system again (emu/debug.py replays it for snapshots)
        self.options = dict(bare=bare, seed=seed, policy=policy, quantum=quantum, window=window,
                            procs=procs, clock_hz=clock_hz, stdin=stdin, on_output=on_output, argv=argv,
                            entry=entry, runtime_options=runtime_options, runtime_asm=runtime_asm)
        self.sources = [Path(s) if isinstance(s, str) else s for s in sources]
        self.arch, self.seed, self.policy, self.quantum, self.procs = arch, seed, policy, quantum, procs
        self.bare = bare
        runtime = runtime_asm if runtime_asm is not None else runtime_sources(arch)
        asm_dir = Path(str(resources.files("emu.runtime_asm"))) / arch
        self.image = assemble(self.sources if bare else runtime + self.sources, arch,
                              include_dirs=() if bare else (asm_dir,))
        if not bare and "main.main" not in self.image.symbols:
            raise ValueError(f"{self._name()}: no main.main (a runtime program's entry is main.main)")
        recorder = trace if isinstance(trace, Recorder) else (Recorder(slices=bare) if trace else None)
        self.machine = Machine(arch, seed=seed, policy=policy, quantum=quantum, window=window,
                               clock_hz=clock_hz, recorder=recorder)
        self.kernel = Kernel(self.machine, ncpus=procs, stdin=stdin, on_output=on_output,
                             symbolizer=self.image)
        user_files = {str(s) if isinstance(s, Path) else s[0] for s in self.sources}
        self.runtime = None if bare else Runtime(self.machine, self.kernel, self.image, gomaxprocs=procs,
                                                 user_files=user_files, **(runtime_options or {}))
        entry_name = entry or "_start"
        if entry_name not in self.image.symbols:
            raise ValueError(f"{self._name()}: no entry symbol {entry_name!r} (a --bare program starts at _start)")
        name = self._name()
        self.main = exec_image(self.kernel, self.image, self.image.symbols[entry_name], argv=argv or (name,))

    def _repr_html_(self) -> str:
        """The machine's CPUs and, for a runtime program, its G/M/P tables."""
        parts = [self.machine._repr_html_()]
        if self.runtime is not None:
            from .views.gmp import SchedView
            parts.append(SchedView(self)._repr_html_())
        return "".join(parts)

    @property
    def recorder(self) -> Recorder | None:
        return self.machine.recorder

    def _name(self) -> str:
        s = self.sources[0]
        return s.name if isinstance(s, Path) else s[0]

    def replay_command(self) -> str:
        files = " ".join(str(s) for s in self.sources if isinstance(s, Path)) or "<source>"
        bare = " --bare" if self.bare else ""
        return (f"gosched-emu run {files} --arch {self.arch}{bare} --seed {self.seed} "
                f"--policy {self.policy} --quantum {self.quantum} --procs {self.procs} --trace")

    def run(self, max_instructions: int | None = None, pause=None) -> Outcome:
        """Run to the end (or the budget); `pause()` is called after every slice, as an
        observer (a schedtrace sampler): its answer is ignored, the run goes on."""
        while True:
            res = self.machine.run(max_instructions, pause=pause)
            if res.reason != "paused":
                break
        k = self.kernel
        if res.reason == "budget":
            status, reason = BUDGET_STATUS, "budget"
            report = (f"gosched-emu: instruction budget of {max_instructions} exhausted at virtual time "
                      f"{self.machine.cycles_to_ns(res.cycles)} ns (seed {self.seed}); "
                      f"replay: {self.replay_command()}")
        elif res.reason == "deadlock":
            status, reason, report = DEADLOCK_STATUS, "deadlock", k.crash + f"\n  replay: {self.replay_command()}"
        elif k.crash:
            status, reason, report = k.exit_status, "crash", k.crash + f"\n  replay: {self.replay_command()}"
        else:
            status, reason, report = k.exit_status, "exit", ""
        return Outcome(status, reason, k.stdout, k.stderr, report, res.instructions, res.cycles,
                       self.machine.cycles_to_ns(res.cycles), self.replay_command())


class ElfSystem(System):
    """A statically linked ELF executable for amd64 or arm64, ready to run on the
    machine and kernel (module note, 3).

    :param path: the executable; its arch comes from e_machine (`arch`, if given,
        must agree).
    :param cpus: the CPUs sched_getaffinity reports (Go's default GOMAXPROCS);
        every thread still gets a CPU of its own in the machine.
    :param args: the program's arguments after argv[0] (which is `path`).
    :param env: the environment, "K=V" strings (GODEBUG=..., GOMAXPROCS=...).
    """

    def __init__(self, path, arch: str | None = None, *, seed: int = 0, policy: str = "round-robin",
                 quantum: int = 10_000, window: int | None = None, cpus: int = 1,
                 clock_hz: int = DEFAULT_CLOCK_HZ, stdin: bytes = b"", trace: bool | Recorder = False,
                 on_output=None, args=(), env=()):
        self.path = Path(path)
        self.image = load_elf(self.path)
        if arch is not None and arch != self.image.arch:
            raise ElfLoadError(f"{self.path} is an {self.image.arch} executable, not {arch}")
        arch = self.image.arch
        self.options = dict(seed=seed, policy=policy, quantum=quantum, window=window, cpus=cpus,
                            clock_hz=clock_hz, stdin=stdin, on_output=on_output, args=tuple(args), env=tuple(env))
        self.sources = [self.path]
        self.arch, self.seed, self.policy, self.quantum, self.procs = arch, seed, policy, quantum, cpus
        self.args, self.env = tuple(args), tuple(env)
        self.bare = True               # no teaching runtime: the binary brings its own
        recorder = trace if isinstance(trace, Recorder) else (Recorder(slices=False) if trace else None)
        self.machine = Machine(arch, seed=seed, policy=policy, quantum=quantum, window=window,
                               clock_hz=clock_hz, recorder=recorder, arena_base=ELF_ARENA_BASE,
                               arena_size=ELF_ARENA_LIMIT - ELF_ARENA_BASE)
        self.kernel = Kernel(self.machine, ncpus=cpus, stdin=stdin, on_output=on_output, symbolizer=self.image)
        self.runtime = None
        self.main = exec_elf(self.kernel, self.image, argv=(str(path), *self.args), envp=self.env)

    def _name(self) -> str:
        return self.path.name

    def _repr_html_(self) -> str:
        """The machine's CPUs and, for a Go binary, its G/M/P tables (read from DWARF)."""
        parts = [self.machine._repr_html_()]
        if self.go is not None and self.goruntime.allp():
            from .views.gmp import SchedView
            parts.append(SchedView(self)._repr_html_())
        return "".join(parts)

    @property
    def go(self):
        """The Go binary's symbols, DWARF layouts and hook places (emu/gobinary), or
        None when the executable is not a Go binary the tools can read."""
        if not hasattr(self, "_go"):
            from .gobinary import NotGoBinary, go_binary
            try:
                self._go = go_binary(self.path)
            except NotGoBinary:
                self._go = None
        return self._go

    @property
    def goruntime(self):
        """A reader of the Go runtime's state in this system's memory (None if not Go)."""
        go = self.go
        return None if go is None else go.runtime(self.machine.memory)

    def replay_command(self) -> str:
        env = "".join(f" --env {e}" for e in self.env)
        args = (" -- " + " ".join(self.args)) if self.args else ""
        return (f"gosched-emu run {self.path} --seed {self.seed} --policy {self.policy} "
                f"--quantum {self.quantum} --cpus {self.procs}{env} --trace{args}")
