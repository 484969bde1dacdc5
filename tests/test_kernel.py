"""The kernel core on both arches: syscall results against Linux's rules, exact errnos,
virtual time, faults and reports.  Each syscall test runs the real instruction
(`syscall` / `svc #0`) through SYSCALL_PROBE."""
from __future__ import annotations

import struct

import pytest

from emu.kernel import errno as E
from emu.kernel.syscalls import number_of
from emu.machine.memory import PAGE
from emu.trace import events as ev
from emu.trace.events import Recorder

from conftest import make_system, replay, run_source
from probes import CRASH, DEADLOCK, FUTEX_TIMEOUT, INVALID_INSN, SPIN, SYSCALL_PROBE

UNMAPPED = 0x10      # below the arena: never mapped


def signed(x: int) -> int:
    return x - (1 << 64) if x >> 63 else x


def probe(arch: str, nr, *args, setup=None, recorder=None):
    """Run one syscall; returns (result, system).  Args may be callables of the image's symbols."""
    s = make_system(arch, SYSCALL_PROBE[arch], trace=recorder or False)
    sym = s.image.symbols
    nr = number_of(arch, nr) if isinstance(nr, str) else nr
    vals = [a(sym) if callable(a) else a for a in args] + [0] * (6 - len(args))
    s.machine.memory.write(sym["args"], struct.pack("<7Q", nr, *[v & (2**64 - 1) for v in vals]))
    if setup:
        setup(s)
    out = s.run(1_000_000)
    assert out.reason == "exit", (out.report, replay(s))
    return signed(s.machine.memory.read_u64(sym["result"])), s


def buf(off=0):
    return lambda sym: sym["buf"] + off


# ---- unknown and bad calls -------------------------------------------------------------
def test_unknown_syscall_is_enosys_with_an_event(arch, capsys):
    rec = Recorder(slices=False)
    res, s = probe(arch, 4000, recorder=rec)
    assert res == -E.ENOSYS
    assert [e.args for e in rec.of(ev.ENOSYS)] == [(4000, "?")]
    assert "syscall 4000 (?) is not implemented" in capsys.readouterr().err


def test_known_name_without_handler_is_enosys(arch):
    res, _ = probe(arch, "uname", buf())
    assert res == -E.ENOSYS


@pytest.mark.parametrize("name,args", [
    ("write", (1, UNMAPPED, 8)),
    ("read", (0, UNMAPPED, 8)),
    ("clock_gettime", (1, UNMAPPED)),
    ("nanosleep", (UNMAPPED, 0)),
    ("futex", (UNMAPPED, 0, 0, 0)),
    ("sched_getaffinity", (0, 8, UNMAPPED)),
])
def test_bad_pointers_are_efault(arch, name, args):
    res, _ = probe(arch, name, *args, setup=lambda s: s.kernel.stdin.extend(b"abc"))
    assert res == -E.EFAULT


def test_write_to_text_is_efault(arch):
    # read(2) into the read-only text segment: copy_to_user must refuse it.
    res, s = probe(arch, "read", 0, lambda sym: sym["_start"], 3, setup=lambda s: s.kernel.stdin.extend(b"abc"))
    assert res == -E.EFAULT


@pytest.mark.parametrize("name,args,errno", [
    ("nanosleep", (buf(), 0), E.EINVAL),           # tv_nsec = 1e9 (set below)
    ("clock_gettime", (99, buf()), E.EINVAL),
    ("mmap", (0, 0, 3, 0x22, -1, 0), E.EINVAL),    # length 0
    ("mmap", (0, 4096, 3, 0x20, -1, 0), E.EINVAL),  # neither SHARED nor PRIVATE
    ("mmap", (0, 4096, 3, 0x02, 3, 0), E.ENODEV),   # file mappings do not exist yet
    ("munmap", (0x400001, 4096), E.EINVAL),
    ("mprotect", (0x400001, 4096, 1), E.EINVAL),
    ("futex", (buf(), 99, 0, 0), E.ENOSYS),
    ("futex", (buf(2), 0, 0, 0), E.EINVAL),        # misaligned futex word
    ("sched_getaffinity", (0, 4, buf()), E.EINVAL),
    ("clone", (0x100, 0, 0, 0, 0), E.EINVAL),      # not a thread: processes are unsupported
    ("write", (7, buf(), 1), E.EBADF),
])
def test_bad_arguments(arch, name, args, errno):
    def setup(s):
        s.machine.memory.write(s.image.symbols["buf"], struct.pack("<qq", 0, 1_000_000_000))
    res, _ = probe(arch, name, *args, setup=setup)
    assert res == -errno


def test_arch_prctl_exists_only_on_amd64(arch):
    if arch == "amd64":
        res, s = probe(arch, "arch_prctl", 0x1002, 0x12345000)
        assert res == 0 and s.machine.cpus[0].read("fs_base") == 0x12345000
    else:
        res, _ = probe(arch, 158, 0x1002, 0x12345000)    # 158 is not arch_prctl on arm64
        assert res == -E.ENOSYS


# ---- good calls ------------------------------------------------------------------------
def test_write_reaches_stdout(arch):
    def setup(s):
        s.machine.memory.write(s.image.symbols["buf"], b"hi there")
    res, s = probe(arch, "write", 1, buf(), 8, setup=setup)
    assert (res, s.kernel.stdout) == (8, b"hi there")


def test_read_from_stdin_then_eof(arch):
    res, s = probe(arch, "read", 0, buf(), 100, setup=lambda s: s.kernel.stdin.extend(b"input"))
    assert res == 5 and s.machine.memory.read(s.image.symbols["buf"], 5) == b"input"
    res, _ = probe(arch, "read", 0, buf(), 100)
    assert res == 0


def test_ids(arch):
    assert probe(arch, "gettid")[0] == 1000
    assert probe(arch, "getpid")[0] == 1000


def test_sched_getaffinity_reports_procs(arch):
    s_res = probe(arch, "sched_getaffinity", 0, 16, buf(), setup=lambda s: setattr(s.kernel, "ncpus", 3))
    res, s = s_res
    assert res == 8
    assert s.machine.memory.read_u64(s.image.symbols["buf"]) == 0b111


def test_clock_gettime_is_virtual(arch):
    res, s = probe(arch, "clock_gettime", 1, buf())
    sec, nsec = struct.unpack("<qq", s.machine.memory.read(s.image.symbols["buf"], 16))
    # 9 (amd64) / 9 (arm64) instructions retire before the trap, plus the syscall cost.
    # at the default 100 MHz one cycle is 10 ns
    assert res == 0 and sec == 0 and nsec == 10 * (9 + s.kernel.syscall_cycles)
    res, s = probe(arch, "clock_gettime", 0, buf())
    sec, nsec = struct.unpack("<qq", s.machine.memory.read(s.image.symbols["buf"], 16))
    assert sec == 1_767_225_600 and nsec == 10 * (9 + s.kernel.syscall_cycles)


def test_mmap_is_page_aligned_zeroed_and_placed_top_down(arch):
    res, s = probe(arch, "mmap", 0, 10000, 3, 0x22, -1, 0)
    mem = s.machine.memory
    assert res % PAGE == 0 and s.kernel.mmap_min <= res < s.kernel.mmap_top
    assert res + 3 * PAGE == s.kernel.mmap_top
    r = mem.find(res)
    assert (r.start, r.end, r.prot, r.name) == (res, res + 3 * PAGE, 3, "mmap")
    assert mem.read(res, 3 * PAGE) == bytes(3 * PAGE)


def test_mmap_fixed_noreplace_on_a_mapping_is_eexist(arch):
    res, _ = probe(arch, "mmap", lambda sym: sym["buf"], 4096, 3, 0x100022, -1, 0)
    assert res == -E.EEXIST


def test_mprotect_unmapped_is_enomem_and_munmap_of_a_hole_is_fine(arch):
    res, s = probe(arch, "mprotect", lambda sym: sym["buf"] + 64 * PAGE, PAGE, 1)
    assert res == -E.ENOMEM
    res, _ = probe(arch, "munmap", lambda sym: sym["buf"] + 64 * PAGE, PAGE)
    assert res == 0


def test_nanosleep_jumps_the_clock_when_everyone_sleeps(arch):
    def setup(s):
        s.machine.memory.write(s.image.symbols["buf"], struct.pack("<qq", 3, 5))
    res, s = probe(arch, "nanosleep", buf(), 0, setup=setup)
    assert res == 0
    assert s.machine.instructions < 40                   # no instructions spent waiting
    after = 4 if arch == "amd64" else 5          # instructions from the wake to exit_group
    sleep = s.machine.ns_to_cycles(3_000_000_005)  # 300,000,001 cycles at 100 MHz (rounded up)
    assert s.machine.cpus[0].cycles == 9 + 100 + sleep + after + 100


# ---- futex timeouts on the virtual clock -------------------------------------------------
@pytest.mark.parametrize("clock_hz", [1_000_000_000, 2_000_000_000])
def test_futex_timeout_wakes_at_the_right_virtual_time(arch, clock_hz):
    rec = Recorder(slices=False)
    s, out = run_source(arch, FUTEX_TIMEOUT[arch], trace=rec, clock_hz=clock_hz)
    assert out.reason == "exit", out.report
    mem, sym = s.machine.memory, s.image.symbols
    assert signed(mem.read_u64(sym["result"])) == -E.ETIMEDOUT
    block, wake = rec.of(ev.BLOCK)[0], rec.of(ev.WAKE)[0]
    assert block.args[0] == "futex" and wake.args == ("futex", "timeout")
    assert wake.cycles - block.cycles == clock_hz // 1000          # exactly 1 ms of cycles
    t0 = struct.unpack("<qq", mem.read(sym["ts0"], 16))
    t1 = struct.unpack("<qq", mem.read(sym["ts1"], 16))
    elapsed = (t1[0] - t0[0]) * 10**9 + t1[1] - t0[1]
    between = 11 if arch == "amd64" else 12      # instructions after the first trap up to the third
    cycles = 2 * s.kernel.syscall_cycles + between
    assert elapsed == 1_000_000 + cycles * 10**9 // clock_hz


def test_deadlock_is_reported(arch):
    s, out = run_source(arch, DEADLOCK[arch])
    assert (out.status, out.reason) == (125, "deadlock")
    assert "deadlock: every thread is blocked with no timeout (tid 1000 in futex(" in out.report
    assert f"--seed {s.seed}" in out.report


def test_budget_stops_with_seed_and_replay(arch):
    s, out = run_source(arch, SPIN[arch], max_instructions=12345, seed=77)
    assert (out.status, out.reason, out.instructions) == (124, "budget", 12345)
    assert "instruction budget of 12345 exhausted" in out.report and "--seed 77" in out.report


# ---- faults ------------------------------------------------------------------------------
def test_segv_report_names_thread_pc_symbol_line_address_and_backtrace(arch):
    s, out = run_source(arch, CRASH[arch], name="crash.s")
    assert (out.status, out.reason) == (139, "crash")
    lines = out.report.splitlines()
    assert lines[0] == ("gosched-emu: thread 1000 (cpu 0) killed by SIGSEGV (SEGV_MAPERR): "
                        "write to unmapped address 0x0")
    store = "mov qword ptr [rax], 1" if arch == "amd64" else "str x1, [x0]"
    assert lines[1].startswith("  pc  0x") and f"<crash_here+" in lines[1] and lines[1].endswith(store)
    assert "crash.s:" in lines[1]
    assert any("<_start+" in ln for ln in lines[2:]), out.report


def test_write_to_text_is_segv_accerr(arch):
    def target(s):
        s.machine.memory.write_u64(s.image.symbols["target"], s.image.symbols["_start"])
    s = make_system(arch, CRASH[arch])
    target(s)
    out = s.run(100_000)
    assert out.status == 139
    assert f"killed by SIGSEGV (SEGV_ACCERR): write to protected address {s.image.symbols['_start']:#x}" in out.report


def test_invalid_instruction_is_sigill(arch):
    s, out = run_source(arch, INVALID_INSN[arch])
    assert out.status == 128 + 4
    assert "killed by SIGILL" in out.report and "instruction at invalid address" in out.report
