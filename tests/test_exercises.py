"""Every course exercise, graded on both arches: the reference solution (the project's
own code) scores full marks, the untouched skeleton scores (nearly) nothing with
messages that say what is missing, and every mutant -- a known bug from real history
(tests/mutants/<exercise>/<mutant>/, with expect.txt) -- loses points with the message
that points at its cause."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from emu.grade import list_exercises, load_exercise
from emu.grade.grader import Grader, report
from emu.grade.reference import write_mutant, write_reference

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "tests" / "mutants"
EXERCISES = list_exercises()
ONE_SEED = {"*": [3]}          # a seed none of the exercises lists by default


def grade(name: str, solution, seeds=None):
    ex = load_exercise(name)
    entries = Grader(ex, solution, seeds=seeds).run()
    text, score, total = report(ex, entries)
    return ex, entries, text, score, total


def mutants():
    return [(p.parent.name, p.name) for p in sorted(MUTANTS.glob("*/*")) if (p / "mutant.json").exists()]


def test_the_course_has_its_exercises():
    assert {"gogo_mcall", "runq", "asyncpreempt", "pushcall", "stack", "netpoll", "sigframe",
            "epoll"} <= set(EXERCISES), EXERCISES


@pytest.mark.parametrize("name", EXERCISES)
def test_the_reference_scores_full_marks_on_both_arches(name):
    ex, entries, text, score, total = grade(name, "reference", ONE_SEED)
    assert score == total == ex.max_points(("amd64", "arm64")), text
    assert {e.arch for e in entries} == {"amd64", "arm64"}


@pytest.mark.parametrize("name", EXERCISES)
def test_the_reference_as_a_student_folder_scores_full_marks(name, tmp_path):
    """The project's code, cut into the skeleton's files, through the substitution path."""
    folder = write_reference(load_exercise(name), tmp_path / name)
    ex, entries, text, score, total = grade(name, folder, ONE_SEED)
    assert score == total, text


@pytest.mark.parametrize("name", EXERCISES)
def test_the_untouched_skeleton_scores_nearly_nothing_and_says_why(name):
    ex = load_exercise(name)
    _, entries, text, score, total = grade(name, ex.folder, ONE_SEED)
    assert score <= total // 10, text
    failed = [e for e in entries if e.status == "fail"]
    assert failed, text
    assert all(e.message and e.replay.startswith(f"gosched-emu grade {name} ") for e in failed), text
    assert any("TODO" in e.message or "not implemented" in e.message for e in failed), text


@pytest.mark.parametrize("exercise,mutant", mutants())
def test_every_mutant_is_caught_with_a_message_pointing_at_the_cause(exercise, mutant, tmp_path):
    folder = tmp_path / mutant
    expect = write_mutant(load_exercise(exercise), MUTANTS / exercise / mutant, folder)["expect"]
    _, _, text, score, total = grade(exercise, folder, ONE_SEED)
    assert score < total, f"mutant {mutant} scored full marks:\n{text}"
    assert expect in text, f"mutant {mutant}: {expect!r} not in the report:\n{text}"


def test_every_exercise_has_mutants_a_readme_and_skeleton_files():
    have = {e for e, _ in mutants()}
    for name in EXERCISES:
        ex = load_exercise(name)
        assert name in have, f"{name} has no mutants"
        assert (ex.folder / "README.md").read_text().count("gosched-emu grade") >= 1
        for arch in ex.arches:
            assert ex.skeleton(arch).exists(), ex.skeleton(arch)


def test_the_cli_scores_writes_json_replays_and_takes_hidden_seeds(tmp_path):
    mutant = write_mutant(load_exercise("gogo_mcall"), MUTANTS / "gogo_mcall" / "callee_saved_lost",
                          tmp_path / "callee_saved_lost")
    seeds = tmp_path / "hidden.json"
    seeds.write_text(json.dumps({"*": [11], "boots": [12, 13]}))
    out_json = tmp_path / "r.json"
    cmd = [sys.executable, "-m", "emu", "grade", "gogo_mcall", "--arch", "arm64"]
    ok = subprocess.run(cmd + ["--solution", "reference", "--seeds", str(seeds), "--json", str(out_json)],
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0 and ok.stdout.strip().endswith("Score: 12/12"), ok.stdout + ok.stderr
    data = json.loads(out_json.read_text())
    assert data["score"] == data["max_score"] == 12
    assert {t["test"]: t["seeds"] for t in data["tests"]}["boots"] == [12, 13]
    assert {t["test"]: t["seeds"] for t in data["tests"]}["gosched_round_robin"] == [11]
    assert mutant["expect"] == "callee-saved register(s)"
    bad = subprocess.run(cmd + ["--solution", str(tmp_path / "callee_saved_lost")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "Score: 9/12" in bad.stdout, bad.stdout
    replay = next(line.split("replay: ")[1] for line in bad.stdout.splitlines() if "replay: " in line)
    args = replay.split()[1:]
    assert args[:2] == ["grade", "gogo_mcall"] and "--trace" in args and "--seed" in args
    again = subprocess.run([sys.executable, "-m", "emu"] + args, capture_output=True, text=True, timeout=300,
                           cwd=ROOT)
    assert again.returncode == 1 and "callee-saved register(s) x20" in again.stdout
    assert " gstatus " in again.stderr and " switch " in again.stderr       # the trace is on
    usage = subprocess.run([sys.executable, "-m", "emu", "grade", "gogo_mcall"], capture_output=True, text=True)
    assert usage.returncode == 2 and "--solution" in usage.stderr


def test_a_python_solution_replaces_the_function_everywhere_and_puts_it_back():
    from emu.grade.substitute import python_substitution
    import emu.runtime.p as p
    import emu.runtime.sched as sched
    original = p.runqget
    calls = []

    def spy(rt, pp):
        calls.append(pp.id)
        return original(rt, pp)
    with python_substitution({"emu.runtime.p.runqget": spy}):
        assert p.runqget is spy and sched.runqget is spy
        from emu.system import System
        out = System(["programs/amd64/pingpong.s"], "amd64", bare=False).run()
        assert out.status == 0 and calls
    assert p.runqget is original and sched.runqget is original


def test_a_kernel_exception_is_a_kernel_bug_but_stops_the_run_when_grading(arch):
    """Normally a handler that raises is reported and returns -EIO (the host survives);
    the grader's children set RAISE_BUGS, so a student's exception ends the run instead."""
    from emu.kernel import syscalls
    from emu.grade.substitute import python_substitution
    from emu.system import System

    def broken_pipe2(k, t, fds, flags):
        raise ZeroDivisionError("student bug")
    prog = f"programs/{arch}/netpoll_reader.s"
    with python_substitution({"emu.kernel.pipe.sys_pipe2": broken_pipe2}):
        out = System([prog], arch, bare=False).run(5_000_000)
        assert out.status != 0                                   # -EIO: the runtime gives up
        syscalls.RAISE_BUGS = True
        try:
            with pytest.raises(ZeroDivisionError, match="student bug"):
                System([prog], arch, bare=False).run(5_000_000)
        finally:
            syscalls.RAISE_BUGS = False
