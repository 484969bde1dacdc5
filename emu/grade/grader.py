"""The grader: run an exercise's tests against a solution, with points, dependencies,
instruction budgets, seeds and replay commands (`gosched-emu grade`).

Design note
  1. Each (test, arch) is one graded entry worth the test's points; it passes when
     the test passes for every seed.  A failed (or skipped) parent skips its
     children on that arch with 0 points, saying which parent.
  2. Every run of a test happens in a forked child: the student's code is put in
     place there (emu/grade/substitute.py), the verdict comes back through a pipe, and
     a host-time limit catches a Python loop that never returns (budgets in emulated
     instructions catch the emulated ones; the host limit is only a safety net and
     says so).
  3. For every failure the report gives the seed and a command that replays exactly
     that run with the trace on.
  4. Seeds: each test's own list, else the exercise's; `--seeds FILE` replaces them
     (an instructor's hidden seeds): either whitespace-separated integers for every
     test, or JSON {"*": [...], "test_name": [...]}.
Rejected: threads for isolation (a stuck student loop cannot be stopped); a new
Python process per run (imports cost about a second each; fork costs ~10 ms).
"""
from __future__ import annotations

import json
import os
import pickle
import select
import signal
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

from .exercise import Context, Exercise, GradeFailure, load_python_solution

HOST_TIMEOUT_S = 120


@dataclass
class Entry:
    """One graded (test, arch)."""

    test: str
    arch: str
    points: int
    max_points: int
    status: str            # "pass", "fail", "skip"
    message: str = ""
    seed: int | None = None
    replay: str = ""
    seeds: tuple = ()
    host_seconds: float = 0.0

    def line(self) -> str:
        mark = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP"}[self.status]
        head = f"{mark} {self.points}/{self.max_points}  {self.test} [{self.arch}]"
        if self.status == "pass":
            return head + f"  ({len(self.seeds)} seed(s))"
        out = head + f": {self.message}"
        if self.status == "fail" and self.seed is not None:
            out += f"\n      seed {self.seed}; replay: {self.replay}"
        return out


def read_seeds(path: Path) -> dict:
    """{"*": [...], name: [...]} from a seeds file (see the module note)."""
    text = path.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:
            return {"*": [int(w, 0) for w in text.split()]}
        except ValueError:
            raise ValueError(f"{path}: a seeds file holds integers, or JSON {{\"*\": [...], \"test\": [...]}}")
    if isinstance(data, list):
        data = {"*": data}
    if not isinstance(data, dict) or not all(isinstance(v, list) and all(isinstance(x, int) for x in v)
                                             for v in data.values()):
        raise ValueError(f"{path}: JSON seeds must map test names (or \"*\") to lists of integers")
    return data


class Grader:
    def __init__(self, exercise: Exercise, solution: str | Path, *, arches=None, seeds: dict | None = None,
                 only: str | None = None, trace: bool = False, solution_arg: str | None = None):
        self.ex = exercise
        self.reference = str(solution) == "reference"
        self.solution = None if self.reference else Path(solution).resolve()
        self.solution_arg = solution_arg or str(solution)
        self.arches = tuple(arches or exercise.arches)
        self.seeds = seeds or {}
        self.only, self.trace = only, trace
        if only is not None and not any(t.name == only for t in exercise.tests):
            raise ValueError(f"exercise {exercise.name} has no test {only!r}; tests: "
                             + ", ".join(t.name for t in exercise.tests))
        if self.solution is not None and not self.solution.exists():
            raise ValueError(f"no solution at {self.solution}")

    def seeds_of(self, test) -> tuple[int, ...]:
        if test.name in self.seeds:
            return tuple(self.seeds[test.name])
        if "*" in self.seeds:
            return tuple(self.seeds["*"])
        return test.seeds or self.ex.seeds

    def run(self) -> list[Entry]:
        entries: list[Entry] = []
        for arch in self.arches:
            passed: dict[str, bool] = {}
            for test in self.ex.tests:
                if self.only is not None and test.name != self.only:
                    continue
                bad = [d for d in test.depends if not passed.get(d, self.only is not None)]
                if bad:
                    entries.append(Entry(test.name, arch, 0, test.points, "skip",
                                         f"skipped: depends on {', '.join(bad)}, which did not pass"))
                    passed[test.name] = False
                    continue
                entry = self.grade_one(test, arch)
                entries.append(entry)
                passed[test.name] = entry.status == "pass"
        return entries

    def grade_one(self, test, arch: str) -> Entry:
        seeds = self.seeds_of(test)
        t0 = time.perf_counter()
        for seed in seeds:
            ok, message = self._isolated(test, arch, seed)
            if not ok:
                return Entry(test.name, arch, 0, test.points, "fail", message, seed, self.replay(test, arch, seed),
                             seeds, time.perf_counter() - t0)
        return Entry(test.name, arch, test.points, test.points, "pass", seeds=seeds,
                     host_seconds=time.perf_counter() - t0)

    def replay(self, test, arch: str, seed: int) -> str:
        return (f"gosched-emu grade {self.ex.name} --solution {self.solution_arg} --arch {arch} "
                f"--test {test.name} --seed {seed} --trace")

    # ---- one run, in a forked child -------------------------------------------------
    def _isolated(self, test, arch: str, seed: int) -> tuple[bool, str]:
        r, w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:                                    # the child
            os.close(r)
            try:
                verdict = self._run_here(test, arch, seed)
            except BaseException as e:                  # noqa: BLE001 -- anything must come back
                verdict = (False, f"grader error: {type(e).__name__}: {e}")
            with os.fdopen(w, "wb") as f:
                f.write(pickle.dumps(verdict))
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        os.close(w)
        data = self._read(r, pid)
        if data is None:
            return False, (f"no verdict within {HOST_TIMEOUT_S} s of host time: a Python loop in the "
                           f"solution that never returns? (the emulated budget is {test.budget:,} instructions)")
        if not data:
            _, status = os.waitpid(pid, 0)
            return False, f"the test process died ({_describe(status)}): a crash in the solution?"
        os.waitpid(pid, 0)
        return pickle.loads(data)

    def _read(self, r: int, pid: int) -> bytes | None:
        chunks, deadline = [], time.monotonic() + HOST_TIMEOUT_S
        with os.fdopen(r, "rb") as f:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([f], [], [], left)[0]:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    return None
                chunk = os.read(f.fileno(), 1 << 16)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)

    def _run_here(self, test, arch: str, seed: int) -> tuple[bool, str]:
        from ..kernel import syscalls
        from .substitute import python_substitution
        syscalls.RAISE_BUGS = True      # (a forked child) a student's kernel exception ends the run
        ctx = Context(self.ex, arch, seed, test.budget, self.solution, trace=self.trace)
        try:
            if self.ex.kind == "python" and self.solution is not None:
                with python_substitution(load_python_solution(self.ex, self.solution)):
                    test.fn(ctx)
            else:
                test.fn(ctx)
            ok, message = True, ""
        except GradeFailure as e:
            ok, message = False, str(e)
        except AssertionError as e:
            ok, message = False, str(e) or "assertion failed"
        except NotImplementedError as e:
            ok, message = False, f"not implemented yet: {e}"
        except Exception as e:                           # noqa: BLE001 -- the student's bug, reported
            ok, message = False, _student_error(e, self.solution)
        if self.trace:
            for rec in ctx.recorders:
                sys.stderr.write(rec.text() + "\n")
        return ok, message


def _student_error(e: Exception, solution: Path | None) -> str:
    """The exception and the deepest frame in the student's file (or the last one)."""
    frames = traceback.extract_tb(e.__traceback__)
    mine = [f for f in frames if solution is not None and str(solution) in f.filename] or frames[-1:]
    where = f" at {mine[-1].filename}:{mine[-1].lineno}" if mine else ""
    first = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}{where}: {first}"


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.WEXITSTATUS(status)}"


def report(ex: Exercise, entries: list[Entry]) -> tuple[str, int, int]:
    """The text report and (score, max)."""
    score = sum(e.points for e in entries)
    total = sum(e.max_points for e in entries)
    lines = [f"{ex.name}: {ex.title}"] + ["  " + e.line() for e in entries] + [f"Score: {score}/{total}"]
    return "\n".join(lines), score, total


def to_json(ex: Exercise, solution: str, entries: list[Entry]) -> dict:
    score = sum(e.points for e in entries)
    total = sum(e.max_points for e in entries)
    return {"exercise": ex.name, "title": ex.title, "solution": solution, "score": score, "max_score": total,
            "tests": [asdict(e) | {"seeds": list(e.seeds)} for e in entries]}
