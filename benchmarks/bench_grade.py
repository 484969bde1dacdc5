"""Host time of a full grading run over 20 seeds (issue: the autograder).

For each exercise (default: all), grade the reference solution on both arches with
20 seeds for every test (the grader's --seeds), and report the host seconds, the number
of test runs and the mean host time per run.  Target: under a minute per exercise.
Usage: python benchmarks/bench_grade.py [--seeds 20] [EXERCISE ...]
"""
from __future__ import annotations

import argparse
import time

from emu.grade import list_exercises, load_exercise
from emu.grade.grader import Grader


def grade_time(name: str, nseeds: int) -> tuple[float, int, int, int]:
    ex = load_exercise(name)
    seeds = {"*": list(range(100, 100 + nseeds))}
    t0 = time.perf_counter()
    entries = Grader(ex, "reference", seeds=seeds).run()
    dt = time.perf_counter() - t0
    runs = sum(len(e.seeds) for e in entries)
    return dt, runs, sum(e.points for e in entries), sum(e.max_points for e in entries)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("exercises", nargs="*")
    a = ap.parse_args()
    for name in a.exercises or list_exercises():
        dt, runs, score, total = grade_time(name, a.seeds)
        print(f"{name:<14} {a.seeds} seeds x both arches: {dt:6.1f} s host, {runs} runs "
              f"({dt / runs * 1000:.0f} ms each), score {score}/{total}")


if __name__ == "__main__":
    main()
