"""An exercise: what the student writes, what it replaces, and its graded tests.

Design note
  1. An exercise is a folder `exercises/<name>/` with a README (the lesson), the
     student's skeleton files, and `exercise.py`, which builds one `Exercise`:
     kind "asm" (per-arch files whose routines replace runtime symbols) or "python"
     (one file whose functions replace functions by qualified name), and its tests.
  2. A test is a function `test(ctx)` registered with `@EX.test(points, depends,
     budget, seeds)`.  It builds systems through `ctx` (which applies the student's
     code), runs them within `budget` emulated instructions, and fails with
     `ctx.fail(message)` (or an AssertionError) naming what went wrong and why.
  3. A student's solution is a folder holding their copies of the skeleton files
     (same names), or the word `reference` for the project's own code.
Rejected: pytest as the student-facing runner (its output is for developers; the
grader needs points, dependencies, budgets and hidden seeds, which pytest lacks).
"""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..system import BUDGET_STATUS, System
from ..trace.events import Recorder


class GradeFailure(AssertionError):
    """A test's verdict: what the student's code did wrong."""


@dataclass
class Test:
    name: str
    fn: Callable
    points: int
    depends: tuple[str, ...]
    budget: int
    seeds: tuple[int, ...] | None
    doc: str


@dataclass
class Exercise:
    """See the module note.  `replaces`: for "asm", the runtime symbols the student's
    file defines; for "python", {student function name: qualified name it replaces}.
    `files`: for "asm", {arch: file name}; for "python", {"*": file name}."""

    name: str
    title: str
    kind: str
    replaces: object
    files: dict[str, str]
    seeds: tuple[int, ...] = (1, 2)
    arches: tuple[str, ...] = ("amd64", "arm64")
    tests: list[Test] = field(default_factory=list)
    folder: Path | None = None

    def __post_init__(self):
        if self.kind not in ("asm", "python"):
            raise ValueError(f"Exercise {self.name}: kind must be 'asm' or 'python', not {self.kind!r}")

    def test(self, points: int, *, depends=(), budget: int = 20_000_000, seeds=None):
        """Register a graded test (a decorator)."""
        def register(fn):
            if any(t.name == fn.__name__ for t in self.tests):
                raise ValueError(f"Exercise {self.name}: two tests named {fn.__name__}")
            for d in depends:
                if not any(t.name == d for t in self.tests):
                    raise ValueError(f"Exercise {self.name}: test {fn.__name__} depends on {d}, "
                                     f"which is not defined before it")
            doc = (fn.__doc__ or "").strip().split("\n")[0]
            self.tests.append(Test(fn.__name__, fn, points, tuple(depends), budget,
                                   None if seeds is None else tuple(seeds), doc))
            return fn
        return register

    def skeleton(self, arch: str) -> Path:
        return self.folder / self.student_file(arch)

    def student_file(self, arch: str) -> str:
        return self.files.get(arch) or self.files["*"]

    def max_points(self, arches) -> int:
        return sum(t.points for t in self.tests) * len(arches)


class Context:
    """What a test sees: the arch, the seed, its budget, and systems built with the
    student's code in place."""

    def __init__(self, exercise: Exercise, arch: str, seed: int, budget: int, solution: Path | None,
                 trace: bool = False):
        self.exercise, self.arch, self.seed, self.budget = exercise, arch, seed, budget
        self.solution, self.trace = solution, trace
        self.recorders: list[Recorder] = []

    # ---- building systems -------------------------------------------------------------
    def program(self, name: str, **equ):
        """An exercise-local program (`programs/<name>_<arch>.s` in the exercise folder)
        or a bundled one (`programs/<arch>/<name>.s` of the project).  With `equ`, its
        `.equ NAME, value` lines get new values (a smaller fanout: NWORKERS=64) and the
        result is a (name, text) source."""
        local = self.exercise.folder / "programs" / f"{name}_{self.arch}.s"
        if local.exists():
            path = local
        else:
            from ..cli import program_path
            path = program_path(self.arch, f"{name}.s")
        if not equ:
            return path
        from ..asm import with_equ
        return (f"{path.name}[{','.join(f'{k}={v}' for k, v in equ.items())}]", with_equ(path.read_text(), **equ))

    def runtime_asm(self):
        """The runtime sources with the student's routines in place (asm exercises)."""
        if self.exercise.kind != "asm" or self.solution is None:
            return None
        from .substitute import runtime_with
        return runtime_with(self.arch, self.solution / self.exercise.student_file(self.arch),
                            self.exercise.replaces)

    def system(self, sources, *, bare: bool = False, trace=None, **kw) -> System:
        """A System for `sources` (paths, names from `program`, or (name, text) pairs)
        with the student's code; seed defaults to the test's seed."""
        srcs = [self.program(s) if isinstance(s, str) and not s.endswith(".s") else s for s in sources]
        if trace is None and self.trace:
            trace = Recorder(slices=False)
        if isinstance(trace, Recorder):
            self.recorders.append(trace)
        kw.setdefault("seed", self.seed)
        if not bare:
            kw.setdefault("runtime_asm", self.runtime_asm())
        return System(srcs, self.arch, bare=bare, trace=trace or False, **kw)

    def run(self, sources, **kw):
        """Build and run to the end within the test's budget; a run that does not end
        fails the test with the budget in the message."""
        s = sources if isinstance(sources, System) else self.system(sources, **kw)
        out = s.run(self.budget)
        if out.status == BUDGET_STATUS:
            self.fail(f"the program did not finish within {self.budget:,} emulated instructions "
                      f"(an endless loop, or a goroutine that is never woken?)")
        return out

    def run_ok(self, sources, *, stdout: bytes | None = None, **kw):
        """`run`, and fail unless the program exits 0 (and prints `stdout`, if given),
        quoting the runtime's fatal error when it crashed."""
        out = self.run(sources, **kw)
        if out.status != 0:
            self.fail(f"the program did not exit 0 (status {out.status}, {out.reason}): {out.first_error}")
        if stdout is not None and out.stdout != stdout:
            self.fail(f"the program printed {_short(out.stdout)}, expected {_short(stdout)}")
        return out

    # ---- verdicts ---------------------------------------------------------------------
    def fail(self, message: str):
        raise GradeFailure(message)

    def expect(self, condition: bool, message: str) -> None:
        if not condition:
            self.fail(message)


def _short(b: bytes, n: int = 80) -> str:
    r = repr(b)
    return r if len(r) <= n else r[:n] + "...'"


def _load_module(name: str, path: Path):
    """Import a file that is not in a package (an exercise, a student's solution)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_exercise(name_or_path, root: Path | None = None) -> Exercise:
    """The Exercise of `exercises/<name>/exercise.py` (or of a folder path)."""
    folder = Path(name_or_path)
    if not (folder / "exercise.py").exists():
        folder = (root or exercises_root()) / str(name_or_path)
    path = folder / "exercise.py"
    if not path.exists():
        known = ", ".join(list_exercises(root)) or "none"
        raise ValueError(f"no exercise {name_or_path!r} (known: {known})")
    module = _load_module(f"gosched_exercise_{folder.name}", path)
    ex = getattr(module, "EX", None)
    if not isinstance(ex, Exercise):
        raise ValueError(f"{path}: defines no Exercise named EX")
    ex.folder = folder
    return ex


def exercises_root() -> Path:
    """exercises/ of the checkout (beside emu/), or of the installed package."""
    here = Path(__file__).resolve().parents[2] / "exercises"
    if here.exists():
        return here
    from importlib import resources
    return Path(str(resources.files("emu.exercises")))


def list_exercises(root: Path | None = None) -> list[str]:
    root = root or exercises_root()
    return sorted(p.name for p in root.iterdir() if (p / "exercise.py").exists()) if root.exists() else []


def load_python_solution(exercise: Exercise, solution: Path) -> dict[str, Callable]:
    """{qualified name: the student's function} from their copy of the Python file."""
    path = solution / exercise.student_file("*") if solution.is_dir() else solution
    if not path.exists():
        raise GradeFailure(f"no solution file {path} (copy the skeleton {exercise.student_file('*')} there)")
    module = _load_module(f"gosched_solution_{exercise.name}", path)
    out = {}
    for fname, qualname in exercise.replaces.items():
        fn = getattr(module, fname, None)
        if not callable(fn):
            raise GradeFailure(f"{path}: defines no function {fname} (keep the skeleton's names)")
        out[qualname] = fn
    return out
