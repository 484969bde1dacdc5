"""Real, unmodified Go binaries on the emulated machine and kernel, on both arches.

The fixtures are the Go programs in tests/go/ (hello, preempt, pipe, fanin,
nilpanic), built by tests/go/build.sh with CGO_ENABLED=0 for linux/amd64 and
linux/arm64 into a cache directory outside the repository ($GOSCHED_GO_CACHE, else
~/.cache/gosched-emu/go, else the temp directory).  Each emulated run is compared
with the same binary run for real: natively on an amd64 host, under
qemu-aarch64 for arm64 (exit status, stdout and stderr, byte for byte).

Skipped, with the reason, never silently: everything when `go` is missing
("go not found: apt-get install golang-go"), a comparison whose reference
cannot run ("qemu-aarch64 not found: apt-get install qemu-user").

Host time (2-core x86_64 host): hello ~0.3 s, preempt ~0.7 s, fanin ~1.7 s,
pipe ~2.5 s (arm64) to ~4.5 s (amd64) per emulated run; the whole file
takes about a minute once the binaries are cached (building them takes ~25 s).
"""
from __future__ import annotations

import functools
import platform
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from emu.cli import main
from emu.gobinary.fixtures import cache_root
from emu.kernel import errno as E
from emu.kernel.elf import ElfLoadError, load_elf
from emu.kernel.syscalls import number_of
from emu.machine import idregs
from emu.system import ElfSystem
from emu.trace import events as ev

from conftest import make_system
from probes import SYSCALL_PROBE

GO_DIR = Path(__file__).parent / "go"
FIXTURES = ("hello", "preempt", "pipe", "fanin", "nilpanic")
BUDGET = 400_000_000          # instructions; the largest fixture (pipe) needs ~80 M

# (fixture, cpus, extra env, policy, seed): GOMAXPROCS comes from the CPUs that
# sched_getaffinity reports (--cpus), or from the environment.  The native
# reference gets GOMAXPROCS=cpus in its environment instead.
CASES = [
    ("hello", 1, (), "round-robin", 0),
    ("hello", 4, (), "random", 1),
    ("hello", 1, ("GOMAXPROCS=4",), "random", 2),
    ("hello", 2, (), "step", 5),              # a different CPU may run every instruction
    ("preempt", 1, (), "round-robin", 0),     # the program sets GOMAXPROCS(1) itself
    ("preempt", 4, (), "random", 1),
    ("preempt", 1, (), "random", 2),
    ("pipe", 1, (), "round-robin", 0),
    ("pipe", 4, (), "random", 1),
    ("fanin", 1, (), "round-robin", 0),       # the program sets GOMAXPROCS(4) itself
    ("fanin", 4, (), "random", 1),
    ("fanin", 4, (), "random", 2),
    ("nilpanic", 1, (), "round-robin", 0),
    ("nilpanic", 2, (), "random", 3),
]


# ---- building and running for real --------------------------------------------------------
@pytest.fixture(scope="session")
def gobin() -> Path:
    """The directory with <arch>/<fixture> binaries (built when missing or stale)."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("go not found: apt-get install golang-go")
    version = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
    out = cache_root() / version
    newest = max(p.stat().st_mtime for p in [GO_DIR / "build.sh", *GO_DIR.glob("*/main.go")])
    wanted = [out / a / f for a in ("amd64", "arm64") for f in FIXTURES]
    if not all(p.exists() and p.stat().st_mtime >= newest for p in wanted):
        r = subprocess.run(["bash", str(GO_DIR / "build.sh"), str(cache_root())],
                           capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, f"tests/go/build.sh failed:\n{r.stderr}"
    return out


_HOST = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
_QEMU = {"amd64": "qemu-x86_64", "arm64": "qemu-aarch64"}


def native_command(arch: str, binary: Path) -> list[str]:
    """How to run `binary` for real here: natively, or under qemu-user; skip if neither."""
    if _HOST == arch:
        return [str(binary)]
    qemu = shutil.which(_QEMU[arch])
    if qemu is None:
        pytest.skip(f"{_QEMU[arch]} not found: apt-get install qemu-user (needed for the {arch} reference run)")
    return [qemu, str(binary)]


@functools.lru_cache(maxsize=None)
def _native(cmd: tuple[str, ...], env: tuple[str, ...]) -> tuple[int, bytes, bytes]:
    r = subprocess.run(list(cmd), env=dict(e.split("=", 1) for e in env), capture_output=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def native(arch: str, binary: Path, env=()) -> tuple[int, bytes, bytes]:
    """(exit status, stdout, stderr) of a real run, with nothing but `env` in the environment."""
    return _native(tuple(native_command(arch, binary)), tuple(env))


def emulate(binary: Path, *, cpus=1, env=(), policy="round-robin", seed=0, budget=BUDGET, trace=False):
    s = ElfSystem(binary, seed=seed, policy=policy, cpus=cpus, env=env, trace=trace)
    return s, s.run(budget)


# ---- the fixtures against the real thing ------------------------------------------------
@pytest.mark.parametrize("fixture,cpus,env,policy,seed", CASES,
                         ids=[f"{c[0]}-cpus{c[1]}{'-' + c[2][0] if c[2] else ''}-{c[3]}-seed{c[4]}" for c in CASES])
def test_go_binary_matches_the_real_run(gobin, arch, fixture, cpus, env, policy, seed):
    binary = gobin / arch / fixture
    native_env = env if any(e.startswith("GOMAXPROCS=") for e in env) else (f"GOMAXPROCS={cpus}", *env)
    want = native(arch, binary, native_env)
    s, out = emulate(binary, cpus=cpus, env=env, policy=policy, seed=seed)
    assert out.reason in ("exit", "crash") and not s.kernel.enosys_reported, (out.report, s.replay_command())
    assert (out.status, out.stdout, out.stderr) == want, s.replay_command()


def test_preemption_is_sysmon_sigurg_through_go_sigtramp(gobin, arch):
    """preempt needs async preemption: tgkill(SIGURG) from sysmon, a frame on the
    gsignal altstack whose handler is runtime.sigtramp, and rt_sigreturn into
    runtime.asyncPreempt (the context Go's pushCall edited)."""
    binary = gobin / arch / "preempt"
    s, out = emulate(binary, trace=True)
    assert out.status == 0 and out.stdout == b"preempted the spinner\n", out.report
    img, rec = s.image, s.recorder
    tgkills = [e for e in rec.of(ev.SYSCALL) if e.args[0] == "tgkill"]
    assert tgkills and all(e.args[3] == 23 for e in tgkills)
    signals = [e for e in rec.of(ev.SIGNAL) if e.args[0] == 23]
    assert signals and all(img.symbol_at(e.args[1])[0] == "runtime.sigtramp.abi0" and e.args[3] for e in signals)
    resumed = {img.symbol_at(e.args[0])[0] for e in rec.of(ev.SIGRETURN)}
    assert "runtime.asyncPreempt.abi0" in resumed


def test_preempt_hangs_without_async_preemption(gobin, arch):
    """With GODEBUG=asyncpreemptoff=1 the spinner keeps the only P: the run never
    ends (the budget stops it), as natively (where `timeout` has to)."""
    s, out = emulate(gobin / arch / "preempt", env=("GODEBUG=asyncpreemptoff=1",), budget=15_000_000)
    assert out.reason == "budget" and out.stdout == b"", out.report


def test_same_seed_same_run(gobin, arch):
    """A run is a function of (binary, config, seed): the whole event trace repeats."""
    runs = [emulate(gobin / arch / "preempt", cpus=2, policy="random", seed=7, trace=True) for _ in range(2)]
    (s1, o1), (s2, o2) = runs
    assert o1.status == 0 and (o1.instructions, o1.cycles) == (o2.instructions, o2.cycles)
    assert s1.recorder.text() == s2.recorder.text()


def test_run_cli_detects_elf_and_arch(gobin, arch, capfd):
    binary = gobin / arch / "hello"
    assert main(["run", str(binary), "--cpus", "2", "--env", "GODEBUG=asyncpreemptoff=1"]) == 0
    assert capfd.readouterr().out == "hello, world\n"
    other = "arm64" if arch == "amd64" else "amd64"
    assert main(["run", str(binary), "--arch", other]) == 1
    assert f"is an {arch} executable, not {other}" in capfd.readouterr().err
    assert main(["run", str(binary), "--env", "NOEQUALS"]) == 2


# ---- the loader ----------------------------------------------------------------------------
def test_loader_reads_segments_symbols_and_arch(gobin, arch):
    img = load_elf(gobin / arch / "hello")
    assert img.arch == arch
    assert [s.prot for s in img.segments] == ["r-x", "r--", "rw-"]
    assert img.segments[0].addr == (0x400000 if arch == "amd64" else 0x10000)
    assert img.symbol_at(img.entry) == (f"_rt0_{arch}_linux", 0)
    assert img.symbol_at(img.symbols["main.main"] + 4) == ("main.main", 4)


def test_loader_builds_linux_initial_stack(gobin, arch):
    s = ElfSystem(gobin / arch / "hello", env=("A=1",), args=("x",), seed=3)
    mem, sp = s.machine.memory, s.main.cpu.sp
    argc = mem.read_u64(sp)
    argv = [mem.read_u64(sp + 8 + 8 * i) for i in range(argc + 1)]
    envp = [mem.read_u64(sp + 8 * (argc + 2) + 8 * i) for i in range(2)]
    assert argc == 2 and argv[2] == 0 and envp[1] == 0
    assert mem.read_cstring(argv[1]) == b"x" and mem.read_cstring(envp[0]) == b"A=1"
    at, aux = sp + 8 * (argc + 4), {}
    while mem.read_u64(at):
        aux[mem.read_u64(at)] = mem.read_u64(at + 8)
        at += 16
    assert aux[6] == 4096 and aux[16] == idregs.HWCAP[arch] and aux[9] == s.image.entry
    assert aux[5] == s.image.phnum and mem.read_u32(aux[3]) == 6          # AT_PHDR -> PT_PHDR entry
    assert 33 not in aux                                                  # no vDSO
    assert len(mem.read(aux[25], 16)) == 16 and sp % 16 == 0


def test_loader_refuses_what_it_cannot_run(tmp_path):
    f = tmp_path / "notelf"
    f.write_bytes(b"#!/bin/sh\n")
    with pytest.raises(ElfLoadError, match="not an ELF file"):
        load_elf(f)
    sh = Path("/bin/sh").resolve()
    if sh.exists() and sh.read_bytes()[:4] == b"\x7fELF":
        with pytest.raises(ElfLoadError, match="dynamically linked|statically linked"):
            load_elf(sh)


# ---- the machine: identification and timestamps from the virtual clock -----------------------
CPUID_PROG = """
.text
.globl _start
_start:
    mov eax, 1
    cpuid
    mov dword ptr [rip + r1], ecx
    mov dword ptr [rip + r1 + 4], edx
    xor eax, eax
    cpuid
    mov dword ptr [rip + r0], ebx
    mov dword ptr [rip + r0 + 4], edx
    mov dword ptr [rip + r0 + 8], ecx
    mov eax, 7
    xor ecx, ecx
    cpuid
    mov dword ptr [rip + r7], ebx
    rdtsc
    mov dword ptr [rip + t0], eax
    mov dword ptr [rip + t0 + 4], edx
    nop
    nop
    rdtscp
    mov dword ptr [rip + t1], eax
    mov dword ptr [rip + t1 + 4], edx
    xor edi, edi
    mov eax, 231
    syscall
.data
.balign 8
r0: .space 16
r1: .quad 0
r7: .quad 0
t0: .quad 0
t1: .quad 0
"""

CNT_PROG = """
.text
.globl _start
_start:
    mrs x1, cntfrq_el0
    mrs x2, cntvct_el0
    nop
    mrs x3, cntvct_el0
    adr x9, out
    stp x1, x2, [x9]
    str x3, [x9, #16]
    mov x0, #0
    mov x8, #94
    svc #0
.data
.balign 8
out: .space 24
"""


def test_amd64_cpuid_is_ours_and_rdtsc_reads_the_virtual_clock():
    s = make_system("amd64", CPUID_PROG)
    text = next(seg for seg in s.image.segments if "x" in seg.prot)
    assert s.machine.virtualize_timestamps(text.addr, text.addr + text.size) == 2
    out = s.run(10_000)
    assert out.status == 0, out.report
    mem, sym = s.machine.memory, s.image.symbols
    assert mem.read(sym["r0"], 12) == b"GenuineIntel"
    ecx, edx = struct.unpack("<II", mem.read(sym["r1"], 8))
    assert (ecx, edx) == (idregs.CPUID1_ECX, idregs.CPUID1_EDX)
    assert not ecx & (1 << 28) and not ecx & (1 << 27)                  # no AVX, no OSXSAVE
    assert mem.read_u64(sym["r7"]) == 0                                  # no AVX2, BMI, ERMS
    t0, t1 = mem.read_u64(sym["t0"]), mem.read_u64(sym["t1"])
    assert (t0, t1) == (14, 19)      # the clock at each: instructions 14 and 19 of the run


def test_arm64_counter_registers_read_the_virtual_clock():
    s = make_system("arm64", CNT_PROG, clock_hz=50_000_000)
    out = s.run(10_000)
    assert out.status == 0, out.report
    frq, t0, t1 = struct.unpack("<QQQ", s.machine.memory.read(s.image.symbols["out"], 24))
    assert (frq, t0, t1) == (50_000_000, 2, 4)


# ---- the kernel calls Go adds (probes, as in test_kernel.py) -------------------------------
def _probe(arch: str, name: str, *args, setup=None):
    s = make_system(arch, SYSCALL_PROBE[arch])
    sym = s.image.symbols
    vals = [a(sym) if callable(a) else a for a in args] + [0] * (6 - len(args))
    s.machine.memory.write(sym["args"], struct.pack("<7Q", number_of(arch, name), *[v % 2**64 for v in vals]))
    if setup:
        setup(s, sym)
    out = s.run(1_000_000)
    assert out.reason == "exit", out.report
    r = s.machine.memory.read_u64(sym["result"])
    return (r - 2**64 if r >> 63 else r), s


def _path(text: bytes):
    return lambda s, sym: s.machine.memory.write(sym["buf"] + 512, text + b"\0")


def test_openat_reads_the_hugepage_size_and_nothing_else(arch):
    hp = b"/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"
    fd, s = _probe(arch, "openat", -100, lambda sym: sym["buf"] + 512, 0x80000, 0, setup=_path(hp))
    assert fd == 3 and s.kernel.files.get(3).data == b"2097152\n" and 3 in s.kernel.files.cloexec
    for path, flags, err in [(b"/proc/self/auxv", 0, E.ENOENT), (b"/sys", 0, E.ENOENT),
                             (hp, 1, E.EROFS), (b"/tmp/new", 0x41, E.EROFS)]:
        res, _ = _probe(arch, "openat", -100, lambda sym: sym["buf"] + 512, flags, 0o644, setup=_path(path))
        assert res == -err, path


def test_rlimit_nofile_is_soft_equal_hard(arch):
    name, args = (("getrlimit", (7, lambda sym: sym["buf"])) if arch == "amd64"
                  else ("prlimit64", (0, 7, 0, lambda sym: sym["buf"])))
    res, s = _probe(arch, name, *args)
    assert res == 0
    assert struct.unpack("<QQ", s.machine.memory.read(s.image.symbols["buf"], 16)) == (1024, 1024)


def test_mmap_honours_a_hint_far_above_the_mmap_area(gobin, arch):
    """Go's heap hint (0xc000000000 / 0x4000000000) is where its arena goes, as on Linux."""
    s, out = emulate(gobin / arch / "hello", trace=True)
    hint = 0xC000000000 if arch == "amd64" else 0x4000000000
    maps = [e for e in s.recorder.of(ev.SYSCALL) if e.args[0] == "mmap" and e.args[1] == hint]
    assert maps and out.status == 0
    assert s.machine.memory.find(hint) is not None
