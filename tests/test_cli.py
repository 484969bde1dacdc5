"""The command line: exit statuses, output, errors with file:line, the demo."""
from __future__ import annotations

import subprocess
import sys

from emu.cli import main, program_path

from probes import CRASH


def test_run_prints_the_guest_output_and_returns_its_status(arch, capfd):
    status = main(["run", str(program_path(arch, "bare_counter.s")), "--arch", arch, "--bare"])
    assert status == 0 and capfd.readouterr().out == "200000\n"


def test_run_exit_status_is_the_guests_and_crashes_report_on_stderr(arch, tmp_path, capfd):
    f = tmp_path / "crash.s"
    f.write_text(CRASH[arch])
    assert main(["run", str(f), "--arch", arch, "--bare", "--seed", "9"]) == 139
    err = capfd.readouterr().err
    assert "killed by SIGSEGV (SEGV_MAPERR): write to unmapped address 0x0" in err
    assert "crash.s:" in err and "--seed 9" in err


def test_assembler_errors_name_file_and_line(arch, tmp_path, capfd):
    f = tmp_path / "bad.s"
    f.write_text(".text\n.globl _start\n_start:\n    nop\n    frobnicate x1, x2\n")
    assert main(["run", str(f), "--arch", arch, "--bare"]) == 1
    err = capfd.readouterr().err
    assert f"{f}:5:" in err and "frobnicate x1, x2" in err


def test_missing_entry_and_missing_file(arch, tmp_path, capfd):
    f = tmp_path / "noentry.s"
    f.write_text(".text\nmain:\n    nop\n")
    assert main(["run", str(f), "--arch", arch, "--bare"]) == 1
    assert "no entry symbol '_start'" in capfd.readouterr().err
    assert main(["run", str(tmp_path / "nope.s"), "--arch", arch, "--bare"]) == 1


def test_budget_exit_status(arch, capfd):
    path = str(program_path(arch, "bare_counter.s"))
    assert main(["run", path, "--arch", arch, "--bare", "--max-instructions", "1000", "--seed", "4"]) == 124
    assert "instruction budget of 1000 exhausted" in capfd.readouterr().err


def test_trace_goes_to_stderr(arch, capfd):
    path = str(program_path(arch, "bare_counter.s"))
    assert main(["run", path, "--arch", arch, "--bare", "--trace"]) == 0
    err = capfd.readouterr().err
    assert "syscall" in err and "clone" in err and "thread_exit" in err


def test_demo_runs_both_arches_as_a_console_script():
    # `python -m emu demo` is what the README's first command runs.
    r = subprocess.run([sys.executable, "-m", "emu", "demo"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("200000\n") == 2
    assert "[amd64] exit status 0" in r.stdout and "[arm64] exit status 0" in r.stdout
    # the tour, on each arch: a context switch and an async preemption, register by register
    tours = r.stdout.split("=" * 20)
    for arch, sp, frame_pc in (("amd64", "rsp", "rip"), ("arm64", "sp", "pc")):
        tour = next(t for t in tours if f"[{arch}] exit status 0" in t)
        assert len(tour.splitlines()) < 120
        assert "mcall(runtime.gosched_m)" in tour and f"  {sp}  " in tour and "g.sched.sp @ 0x" in tour
        assert "not saved (caller-saved)" in tour and "NOT OK" not in tour
        for step in ("retake", "tgkill", "signal", "pushcall", "sigreturn", "save", "asyncpreempt",
                     "asyncresume", "restore"):
            assert f" {step} " in tour, step
        assert f"  {frame_pc}  " in tour and "frame+0x" in tour and "checker: transparent" in tour
    assert "notebooks/" in r.stdout and "02_async_preemption.ipynb" in r.stdout
