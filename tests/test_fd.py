"""File descriptors on both arches: the file table (close, dup, dup3, fcntl), pipes,
eventfds, unix socket pairs, epoll, blocking and waking on the virtual clock, and
the Python-side peer -- with exact values, through real syscall instructions.

Every test runs SCRIPT, a bare program that executes a table of syscalls
(number and six arguments each) and stores each result; a `clone` entry starts
a thread that runs a second table.  So one test can make a pipe, block in a
read, be woken by a thread's write or by the peer at a chosen virtual time, and
the results, the bytes in memory and the trace (BLOCK / WAKE events with their
cycle counts) are checked exactly.  Errno paths not reachable through a script
(EMFILE) set the file table up from Python first; the syscall is still real.
"""
from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from emu.kernel import errno as E
from emu.kernel import signal as S
from emu.kernel.file import NOFILE
from emu.kernel.fs import ConsoleOut
from emu.kernel.peer import Peer
from emu.kernel.syscalls import HANDLERS, NUMBERS, number_of
from emu.trace import events as ev
from emu.trace.events import Recorder

from conftest import make_system, replay

PID = 1000
SIGUSR1 = 10
O_NONBLOCK, O_CLOEXEC, O_APPEND = 0x800, 0x80000, 0x400
F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC = 0, 1, 2, 3, 4, 1030
F_SETPIPE_SZ, F_GETPIPE_SZ = 1031, 1032
IN, OUT, ERR, HUP, RDNORM, WRNORM, WRBAND, RDHUP = 0x1, 0x4, 0x8, 0x10, 0x40, 0x100, 0x200, 0x2000
EXCLUSIVE, ONESHOT, ET = 1 << 28, 1 << 30, 1 << 31
ADD, DEL, MOD = 1, 2, 3
THREAD = 0x50F00                       # CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM
MS = 1_000_000
UNSET = 0x5A5A5A5A5A5A5A5A

# ---- the script runner ---------------------------------------------------------------------
# Each entry: nr, a0..a5, result (8 quadwords).  nr -1 ends the table: the main
# thread exits the process with 0, a cloned thread exits itself.  After `clone`
# the child (result 0) continues with `child_script`; only the parent stores
# the clone's result.
SCRIPT = {
    "amd64": """
.text
.globl _start
_start:
    lea rbx, [rip + script]
    xor r12d, r12d
next:
    mov rax, qword ptr [rbx]
    cmp rax, -1
    je finish
    mov rdi, qword ptr [rbx + 8]
    mov rsi, qword ptr [rbx + 16]
    mov rdx, qword ptr [rbx + 24]
    mov r10, qword ptr [rbx + 32]
    mov r8, qword ptr [rbx + 40]
    mov r9, qword ptr [rbx + 48]
    syscall
    cmp qword ptr [rbx], {clone}
    jne store
    test rax, rax
    jz to_child
store:
    mov qword ptr [rbx + 56], rax
    add rbx, 64
    jmp next
to_child:
    lea rbx, [rip + child_script]
    mov r12d, 1
    jmp next
finish:
    test r12d, r12d
    jnz child_exit
    xor edi, edi
    mov eax, {exit_group}
    syscall
child_exit:
    xor edi, edi
    mov eax, {exit}
    syscall

handler:
    inc qword ptr [rip + hits]
    ret
restorer:
    mov eax, {rt_sigreturn}
    syscall

.data
.balign 8
hits:   .quad 0
act:    .quad 0, 0, 0, 0
script: .space 64 * 64
child_script: .space 64 * 32
.balign 16
child_stack: .space 16384
child_stack_top:
.balign 4096
buf:    .space 0x30000
""",
    "arm64": """
.text
.globl _start
_start:
    adr x19, script
    mov x20, #0
next:
    ldr x8, [x19]
    cmn x8, #1
    b.eq finish
    ldp x0, x1, [x19, #8]
    ldp x2, x3, [x19, #24]
    ldp x4, x5, [x19, #40]
    svc #0
    ldr x9, [x19]
    cmp x9, #{clone}
    b.ne store
    cbz x0, to_child
store:
    str x0, [x19, #56]
    add x19, x19, #64
    b next
to_child:
    adr x19, child_script
    mov x20, #1
    b next
finish:
    cbnz x20, child_exit
    mov x0, #0
    mov x8, #{exit_group}
    svc #0
child_exit:
    mov x0, #0
    mov x8, #{exit}
    svc #0

handler:
    adr x9, hits
    ldr x10, [x9]
    add x10, x10, #1
    str x10, [x9]
    ret
restorer:
    mov x8, #{rt_sigreturn}
    svc #0

.data
.balign 8
hits:   .quad 0
act:    .quad 0, 0, 0, 0
script: .space 64 * 64
child_script: .space 64 * 32
.balign 16
child_stack: .space 16384
child_stack_top:
.balign 4096
buf:    .space 0x30000
""",
}


def script_source(arch: str) -> str:
    nrs = {n: number_of(arch, n) for n in ("clone", "exit_group", "exit", "rt_sigreturn")}
    return SCRIPT[arch].format(**nrs)


def signed(x: int) -> int:
    return x - (1 << 64) if x >> 63 else x


def B(off: int = 0):
    """An argument: the address `off` bytes into `buf`."""
    return lambda sym: sym["buf"] + off


def SYM(name: str, off: int = 0):
    return lambda sym: sym[name] + off


CLONE = ("clone", THREAD, SYM("child_stack_top"), 0, 0, 0)


def sleep_ns(off: int) -> tuple:
    """nanosleep with the timespec at buf+off (the test writes it)."""
    return ("nanosleep", B(off), 0)


class Script:
    """One run of SCRIPT: `main` / `child` are lists of (syscall name, *args)."""

    def __init__(self, arch, main, child=(), *, handlers=(), setup=None, data=None,
                 max_instructions=3_000_000, stdin=b"", expect="exit"):
        self.arch = arch
        self.rec = Recorder(slices=False)
        self.s = make_system(arch, script_source(arch), trace=self.rec, stdin=stdin)
        self.k, self.mem, self.sym = self.s.kernel, self.s.machine.memory, self.s.image.symbols
        flags = S.SA_SIGINFO | (S.SA_RESTORER if arch == "amd64" else 0)
        self.mem.write(self.sym["act"], struct.pack("<4Q", self.sym["handler"], flags,
                                                    self.sym["restorer"] if arch == "amd64" else 0, 0))
        main = [("rt_sigaction", sig, SYM("act"), 0, 8) for sig in handlers] + list(main)
        self.nmain = len(main)
        self._table("script", main, 64)
        self._table("child_script", child, 32)
        self.mem.write(self.sym["buf"] + TS_JOIN, struct.pack("<qq", 0, 50 * MS))
        for off, raw in (data or {}).items():
            self.mem.write(self.sym["buf"] + off, raw)
        if setup:
            setup(self)
        self.out = self.s.run(max_instructions)
        if expect:
            assert self.out.reason == expect, (self.out.report, replay(self.s))
        self.results = self._results("script", len(main))[len(handlers):]
        self.child_results = self._results("child_script", len(child))

    def _table(self, name, ops, cap):
        assert len(ops) < cap, f"{name}: too many entries"
        raw = b""
        for op in ops:
            nr = number_of(self.arch, op[0]) if isinstance(op[0], str) else op[0]
            args = [a(self.sym) if callable(a) else a for a in op[1:]] + [0] * (7 - len(op))
            raw += struct.pack("<8Q", nr, *[a & (2**64 - 1) for a in args], UNSET)
        raw += struct.pack("<q", -1)
        self.mem.write(self.sym[name], raw)

    def _results(self, name, n):
        base = self.sym[name]
        return [signed(self.mem.read_u64(base + 64 * i + 56)) for i in range(n)]

    def buf(self, off: int, n: int) -> bytes:
        return self.mem.read(self.sym["buf"] + off, n)

    def i32s(self, off: int, n: int = 2) -> tuple:
        return struct.unpack(f"<{n}i", self.buf(off, 4 * n))

    def u64(self, off: int) -> int:
        return self.mem.read_u64(self.sym["buf"] + off)

    @property
    def hits(self) -> int:
        return self.mem.read_u64(self.sym["hits"])

    def events(self, kind, cpu=None):
        return [e for e in self.rec.of(kind) if cpu is None or e.cpu == cpu]

    def event_array(self, off: int, n: int) -> list[tuple[int, int]]:
        """n struct epoll_event at buf+off, in the arch's layout."""
        size, doff = (12, 4) if self.arch == "amd64" else (16, 8)
        raw = self.buf(off, size * n)
        return [(struct.unpack_from("<I", raw, i * size)[0], struct.unpack_from("<Q", raw, i * size + doff)[0])
                for i in range(n)]


def epoll_event(arch: str, events: int, data: int) -> bytes:
    return struct.pack("<IQ", events, data) if arch == "amd64" else struct.pack("<IIQ", events, 0, data)


def timespec(ns: int) -> bytes:
    return struct.pack("<qq", ns // 10**9, ns % 10**9)


def pwait(epfd, off, maxevents=8, timeout=0):
    """epoll_pwait into buf+off, no signal mask (what Go calls on both arches)."""
    return ("epoll_pwait", epfd, B(off), maxevents, timeout, 0, 8)


# Offsets in buf used by most tests.
FDS, FDS2, EV, OUT_EV, DATA, RDBUF, TS, MASK, TS_JOIN = 0, 8, 16, 0x100, 0x1000, 0x20000, 0x80, 0x90, 0xA0
JOIN = ("nanosleep", B(TS_JOIN), 0)     # the main thread's last entry: let the child finish first


# ---- the file table ------------------------------------------------------------------------
def test_lowest_free_fds_dup_dup3_and_fcntl(arch):
    r = Script(arch, [
        ("pipe2", B(FDS), 0),                       # 0: fds 3, 4
        ("close", 0),                               # 1
        ("dup", 4),                                 # 2: 0 is the lowest free
        ("dup3", 3, 10, O_CLOEXEC),                 # 3
        ("fcntl", 10, F_GETFD),                     # 4: FD_CLOEXEC
        ("fcntl", 3, F_GETFD),                      # 5
        ("fcntl", 10, F_SETFD, 0),                  # 6
        ("fcntl", 10, F_GETFD),                     # 7
        ("fcntl", 3, F_DUPFD, 7),                   # 8: lowest free >= 7
        ("fcntl", 3, F_DUPFD_CLOEXEC, 7),           # 9
        ("fcntl", 8, F_GETFD),                      # 10
        ("fcntl", 3, F_GETFL),                      # 11: O_RDONLY
        ("fcntl", 4, F_GETFL),                      # 12: O_WRONLY
        ("fcntl", 4, F_SETFL, O_NONBLOCK | O_APPEND | O_CLOEXEC | 3),   # 13: only status flags change
        ("fcntl", 4, F_GETFL),                      # 14
        ("fcntl", 0, F_GETFL),                      # 15: fd 0 is a dup of 4: the same file
        ("fcntl", 1, F_GETFL),                      # 16: the console's stdout
        ("close", 10),                              # 17
        ("close", 10),                              # 18
        ("close", (1 << 32) | 7),                   # 19: an unsigned int: fd 7
        ("fcntl", 7, F_GETFD),                      # 20
        ("fcntl", 4, F_GETPIPE_SZ),                 # 21
    ])
    assert r.i32s(FDS) == (3, 4)
    assert r.results == [0, 0, 0, 10, 1, 0, 0, 0, 7, 8, 1, 0, 1, 0, 1 | O_NONBLOCK | O_APPEND,
                         1 | O_NONBLOCK | O_APPEND, 1, 0, -E.EBADF, 0, -E.EBADF, 65536]


def test_file_table_errnos(arch):
    r = Script(arch, [
        ("close", 99),                              # EBADF
        ("dup", 99),                                # EBADF
        ("dup3", 1, 1, 0),                          # EINVAL: old == new
        ("dup3", 1, 5, 1),                          # EINVAL: flags other than O_CLOEXEC
        ("dup3", 1, NOFILE, 0),                     # EBADF: past RLIMIT_NOFILE
        ("dup3", 99, 5, 0),                         # EBADF: no oldfd
        ("fcntl", 99, F_GETFD),                     # EBADF
        ("fcntl", 1, F_DUPFD, NOFILE),              # EINVAL
        ("fcntl", 1, 999),                          # EINVAL: unknown command
        ("fcntl", 1, F_GETPIPE_SZ),                 # EBADF: not a pipe
        ("dup3", 1, NOFILE - 1, 0),                 # 1023
        ("fcntl", 1, F_DUPFD, NOFILE - 1),          # EMFILE: nothing free at or above 1023
        ("read", 1, B(), 1),                        # EBADF: stdout is write-only
        ("write", 0, B(), 1),                       # EBADF: stdin is read-only
        ("read", 0, -4096, 8),                      # EFAULT: past the top of user space
    ])
    assert r.results == [-E.EBADF, -E.EBADF, -E.EINVAL, -E.EINVAL, -E.EBADF, -E.EBADF, -E.EBADF,
                         -E.EINVAL, -E.EINVAL, -E.EBADF, NOFILE - 1, -E.EMFILE, -E.EBADF, -E.EBADF,
                         -E.EFAULT]


def fill_fd_table(free: int):
    """A setup: every descriptor from 3 up is taken except the last `free`."""
    def setup(r):
        for fd in range(3, NOFILE - free):
            r.k.files.install(fd, ConsoleOut(2))
    return setup


def test_emfile_everywhere_and_nothing_leaks(arch):
    r = Script(arch, [
        ("pipe2", B(FDS), 0),                       # one fd free: a pipe needs two
        ("socketpair", 1, 1, 0, B(FDS)),
        ("fcntl", NOFILE - 1, F_GETFD),             # EBADF: the half-made pipe left nothing
        ("eventfd2", 0, 0),                         # takes the last one
        ("epoll_create1", 0),
        ("dup", 1),
        ("fcntl", 1, F_DUPFD, 3),
    ], setup=fill_fd_table(1))
    assert r.results == [-E.EMFILE, -E.EMFILE, -E.EBADF, NOFILE - 1, -E.EMFILE, -E.EMFILE, -E.EMFILE]


def test_console_fds_are_files_that_dup_and_close(arch):
    r = Script(arch, [
        ("dup", 1),                                 # 3 writes to stdout
        ("write", 3, B(DATA), 6),
        ("dup3", 2, 1, 0),                          # now 1 writes to stderr
        ("write", 1, B(DATA), 3),
        ("read", 0, B(RDBUF), 100),
        ("close", 0),
        ("read", 0, B(RDBUF), 100),
    ], data={DATA: b"hello\n"}, stdin=b"input")
    assert r.results == [3, 6, 1, 3, 5, 0, -E.EBADF]
    assert (r.out.stdout, r.out.stderr) == (b"hello\n", b"hel")
    assert r.buf(RDBUF, 5) == b"input"


# ---- pipes ---------------------------------------------------------------------------------
O_DIRECT = {"amd64": 0x4000, "arm64": 0x10000}


def test_pipe2_errnos_and_flags(arch):
    r = Script(arch, [
        ("pipe2", B(FDS), 1),                       # EINVAL: an unknown flag
        ("pipe2", B(FDS), O_DIRECT[arch]),          # EINVAL: packet mode is not modelled
        ("pipe2", 0x10, 0),                         # EFAULT: and no descriptor leaks
        ("pipe2", B(FDS), O_NONBLOCK | O_CLOEXEC),  # 3, 4
        ("fcntl", 3, F_GETFL), ("fcntl", 4, F_GETFL), ("fcntl", 3, F_GETFD), ("fcntl", 4, F_GETFD),
        ("read", 4, B(RDBUF), 1),                   # EBADF: the write end
        ("write", 3, B(DATA), 1),                   # EBADF: the read end
        ("read", 3, B(RDBUF), 1),                   # EAGAIN: empty, O_NONBLOCK
        ("read", 3, B(RDBUF), 0),                   # a null read succeeds
        ("write", 4, 0x10, 0),                      # so does a null write, whatever the pointer
        ("write", 4, 0x10, 5),                      # EFAULT
        ("read", 3, B(RDBUF), 1),                   # still empty
        ("fcntl", 3, F_SETFL, O_DIRECT[arch]),      # EINVAL
    ])
    assert r.results == [-E.EINVAL, -E.EINVAL, -E.EFAULT, 0, O_NONBLOCK, 1 | O_NONBLOCK, 1, 1,
                         -E.EBADF, -E.EBADF, -E.EAGAIN, 0, 0, -E.EFAULT, -E.EAGAIN, -E.EINVAL]
    assert r.i32s(FDS) == (3, 4)


def test_pipe_syscall_is_x86_only(arch):
    if arch == "amd64":
        r = Script(arch, [("pipe", B(FDS)), ("fcntl", 4, F_GETFL)])
        assert r.results == [0, 1] and r.i32s(FDS) == (3, 4)
    else:
        assert NUMBERS["pipe"] == (22, None)


def test_pipe_data_order_partial_reads_and_eof(arch):
    r = Script(arch, [
        ("pipe2", B(FDS), O_NONBLOCK),
        ("write", 4, B(DATA), 5),
        ("write", 4, B(DATA + 5), 6),
        ("read", 3, B(RDBUF), 3),
        ("read", 3, B(RDBUF + 3), 100),             # the rest, not 100
        ("write", 4, B(DATA), 2),
        ("close", 4),
        ("read", 3, B(RDBUF + 8), 100),             # data first, then EOF
        ("read", 3, B(RDBUF), 100),
        ("read", 3, B(RDBUF), 100),
    ], data={DATA: b"hello world"})
    assert r.results == [0, 5, 6, 3, 8, 2, 0, 2, 0, 0]
    assert r.buf(RDBUF, 10) == b"hello wohe"


def test_pipe_capacity_is_sixteen_pages(arch):
    r = Script(arch, [("pipe2", B(FDS), O_NONBLOCK)]
               + [("write", 4, B(DATA), 4096)] * 16
               + [("write", 4, B(DATA), 1),          # full: EAGAIN
                  ("read", 3, B(RDBUF), 1),          # the first page is not free yet
                  ("write", 4, B(DATA), 1),
                  ("read", 3, B(RDBUF), 4095),       # now it is
                  ("write", 4, B(DATA), 5000),       # one page free: a partial write
                  ("fcntl", 4, F_GETPIPE_SZ)])
    assert r.results == [0] + [4096] * 16 + [-E.EAGAIN, 1, -E.EAGAIN, 4095, 4096, 65536]


def test_small_writes_merge_into_pages_and_pipe_buf_writes_are_never_split(arch):
    r = Script(arch, [
        ("pipe2", B(FDS), O_NONBLOCK),
        ("write", 4, B(DATA), 65535),               # 15 full pages + 4095 bytes
        ("write", 4, B(DATA), 1),                   # merges into the last page
        ("write", 4, B(DATA), 1),                   # full
        ("read", 3, B(RDBUF), 65536),
        ("write", 4, B(DATA), 65535),
        ("write", 4, B(DATA), 2),                   # does not fit the last page: not split, EAGAIN
        ("read", 3, B(RDBUF), 4096),                # one page free
        ("write", 4, B(DATA), 2),                   # a fresh page
        ("write", 4, B(DATA), 4096),                # EAGAIN: 4096 bytes need a whole page
    ])
    assert r.results == [0, 65535, 1, -E.EAGAIN, 65536, 65535, -E.EAGAIN, 4096, 2, -E.EAGAIN]


def test_f_setpipe_sz(arch):
    r = Script(arch, [
        ("pipe2", B(FDS), O_NONBLOCK),
        ("fcntl", 4, F_SETPIPE_SZ, 5000),           # rounded up to a power of two pages
        ("fcntl", 3, F_GETPIPE_SZ),
        ("fcntl", 4, F_SETPIPE_SZ, 0),              # at least a page
        ("write", 4, B(DATA), 5000),
        ("fcntl", 4, F_SETPIPE_SZ, 2 << 20),        # EPERM: over pipe-max-size (unprivileged)
        ("fcntl", 4, F_SETPIPE_SZ, 1 << 20),
        ("write", 4, B(DATA), 5000),
    ])
    assert r.results == [0, 8192, 8192, 4096, 4096, -E.EPERM, 1 << 20, 5000]


SIG_IGN_ACT = struct.pack("<4Q", S.SIG_IGN, 0, 0, 0)


def test_write_with_no_reader_is_sigpipe_which_kills(arch):
    r = Script(arch, [("pipe2", B(FDS), 0), ("close", 3), ("write", 4, B(DATA), 5), ("getpid",)],
               expect="crash")
    assert r.out.status == 128 + S.SIGPIPE
    assert r.results == [0, 0, UNSET, UNSET]        # killed on the way back from write
    assert "killed by SIGPIPE" in r.out.report and "no reader" in r.out.report


def test_write_with_no_reader_and_sigpipe_ignored_or_handled_is_epipe(arch):
    r = Script(arch, [
        ("rt_sigaction", S.SIGPIPE, B(0x200), 0, 8),
        ("pipe2", B(FDS), 0), ("close", 3),
        ("write", 4, B(DATA), 5),
        ("write", 4, B(DATA), 0),                   # a null write: no reader check, no signal
    ], data={0x200: SIG_IGN_ACT})
    assert r.results == [0, 0, 0, -E.EPIPE, 0]
    r = Script(arch, [("pipe2", B(FDS), 0), ("close", 3), ("write", 4, B(DATA), 5),
                      ("write", 4, B(DATA), 5)], handlers=[S.SIGPIPE])
    assert r.results == [0, 0, -E.EPIPE, -E.EPIPE] and r.hits == 2


def test_epipe_also_after_the_readers_dup_is_gone(arch):
    # The read end is open twice (dup); EPIPE needs both closed.
    r = Script(arch, [("pipe2", B(FDS), O_NONBLOCK), ("dup", 3), ("close", 3), ("write", 4, B(DATA), 1),
                      ("close", 5), ("rt_sigaction", S.SIGPIPE, B(0x200), 0, 8), ("write", 4, B(DATA), 1)],
               data={0x200: SIG_IGN_ACT})
    assert r.results == [0, 5, 0, 1, 0, 0, -E.EPIPE]


# ---- blocking, waking, the virtual clock ---------------------------------------------------
def wakes(r, cpu=0):
    return [(e.args, e.cycles) for e in r.events(ev.WAKE, cpu)]


def test_a_blocking_read_is_woken_by_a_writer_thread(arch):
    r = Script(arch, [("pipe2", B(FDS), 0), CLONE, ("read", 3, B(RDBUF), 100), JOIN],
               child=[sleep_ns(TS), ("write", 4, B(DATA), 5)],
               data={DATA: b"hello", TS: timespec(MS)})
    assert r.results == [0, 1001, 5, 0] and r.child_results == [0, 5]
    assert r.buf(RDBUF, 5) == b"hello"
    (args, cycles), _join = wakes(r)
    write = [e for e in r.events(ev.SYSCALL, 1) if e.args[0] == "write"][0]
    assert args == ("read", "woken") and cycles == write.cycles      # at the writer's time
    assert r.events(ev.BLOCK, 0)[0].args == ("read", "fd 3")


def test_a_blocking_read_is_woken_by_the_peer_at_a_virtual_time(arch):
    def setup(r):
        fd, peer = r.k.peer_pipe("r")
        assert fd == 3
        r.k.at(2 * MS, lambda: peer.write(b"hello"))
    r = Script(arch, [("read", 3, B(RDBUF), 100), ("clock_gettime", 1, B(TS))], setup=setup)
    assert r.results == [5, 0] and r.buf(RDBUF, 5) == b"hello"
    assert wakes(r) == [(("read", "woken"), r.s.machine.ns_to_cycles(2 * MS))]    # exactly 2 ms
    sec, nsec = struct.unpack("<qq", r.buf(TS, 16))
    assert 2 * MS < sec * 10**9 + nsec < 2 * MS + 10_000


def test_the_peer_of_a_guest_pipe_holds_a_write_end(arch):
    # The peer of fd 3 (the read end) is a second writer: the guest's own write
    # end is closed, yet the read waits for the peer, then EOF when it closes.
    peers = []

    def setup(r):
        r.k.at(MS // 10, lambda: peers.append(r.k.peer(3)))
        r.k.at(1 * MS, lambda: peers[0].write(b"abc"))
        r.k.at(2 * MS, lambda: peers[0].close())
    r = Script(arch, [("pipe2", B(FDS), 0), sleep_ns(TS), ("close", 4), ("read", 3, B(RDBUF), 100),
                      ("read", 3, B(RDBUF + 8), 100)], setup=setup, data={TS: timespec(MS // 2)})
    assert r.results == [0, 0, 0, 3, 0] and r.buf(RDBUF, 3) == b"abc"
    m = r.s.machine
    assert [c for _, c in wakes(r)][1:] == [m.ns_to_cycles(MS), m.ns_to_cycles(2 * MS)]
    assert repr(peers[0]) == "<peer on the write end of the pipe of fd 3 (closed)>"


def test_a_blocking_write_finishes_when_a_thread_drains_the_pipe(arch):
    r = Script(arch, [("pipe2", B(FDS), 0), CLONE, ("write", 4, B(DATA), 70000), JOIN],
               child=[sleep_ns(TS), ("read", 3, B(RDBUF), 65536), ("read", 3, B(RDBUF), 65536)],
               data={TS: timespec(MS), DATA: bytes(range(256)) * 274})
    assert r.results == [0, 1001, 70000, 0] and r.child_results == [0, 65536, 70000 - 65536]
    assert r.buf(RDBUF, 70000 - 65536) == (bytes(range(256)) * 274)[65536:70000]


def test_a_blocking_write_of_at_most_pipe_buf_is_never_split(arch):
    # 65535 bytes leave 1 byte free in the last page: a 2-byte write waits for
    # a whole free page instead of writing 1 byte now.  Reading 10 bytes frees
    # no page (no wakeup); reading the rest of the first page does.
    r = Script(arch, [("pipe2", B(FDS), 0), ("write", 4, B(DATA), 65535), CLONE, ("write", 4, B(DATA), 2),
                      JOIN],
               child=[sleep_ns(TS), ("read", 3, B(RDBUF), 10), sleep_ns(TS), ("read", 3, B(RDBUF), 4086),
                      sleep_ns(TS), ("fcntl", 3, F_SETFL, O_NONBLOCK), ("read", 3, B(RDBUF), 65536),
                      ("read", 3, B(RDBUF), 65536)],
               data={TS: timespec(MS)})
    assert r.results == [0, 65535, 1001, 2, 0]
    assert r.child_results == [0, 10, 0, 4086, 0, 0, 65535 - 4096 + 2, -E.EAGAIN]
    read2 = [e for e in r.events(ev.SYSCALL, 1) if e.args[0] == "read"][1]
    assert wakes(r)[0] == (("write", "woken"), read2.cycles)


def test_a_blocking_socket_write_waits_for_the_peer_to_read(arch):
    got = []

    def setup(r):
        fd, peer = r.k.peer_socket()
        for i in (1, 2):
            r.k.at(i * MS, lambda: got.append(peer.read(1 << 20)))
    payload = bytes(range(251)) * 598                       # 150098 bytes
    r = Script(arch, [("write", 3, B(DATA), 150000), ("write", 3, B(DATA), 150000), JOIN], setup=setup,
               data={DATA: payload})
    # The first write fits; the second sends two 36544-byte skbs before the
    # charge passes sndbuf (212992), then sleeps until the peer's read at 1 ms
    # frees everything, and sends the rest.
    assert r.results == [150000, 150000, 0]
    assert [len(g) for g in got] == [150000 + 2 * 36544, 150000 - 2 * 36544]
    assert b"".join(got) == payload[:150000] * 2
    assert wakes(r)[0] == (("write", "woken"), r.s.machine.ns_to_cycles(MS))


def test_a_signal_ends_a_blocking_write_with_the_bytes_written(arch):
    r = Script(arch, [("pipe2", B(FDS), 0), CLONE, ("write", 4, B(DATA), 70000)],
               child=[sleep_ns(TS), ("tgkill", PID, PID, SIGUSR1)],
               handlers=[SIGUSR1], data={TS: timespec(MS)})
    assert r.results == [0, 1001, 65536] and r.hits == 1
    assert wakes(r) == [(("write", "signal"), wakes(r)[0][1])]


def test_a_signal_ends_a_blocking_read_with_eintr(arch):
    r = Script(arch, [("pipe2", B(FDS), 0), CLONE, ("read", 3, B(RDBUF), 100), ("read", 3, B(RDBUF), 0)],
               child=[sleep_ns(TS), ("tgkill", PID, PID, SIGUSR1)], handlers=[SIGUSR1],
               data={TS: timespec(MS)})
    assert r.results == [0, 1001, -E.EINTR, 0] and r.hits == 1
    assert [a for a, _ in wakes(r)] == [("read", "signal")]


def test_the_last_writer_closing_wakes_a_reader_with_eof(arch):
    r = Script(arch, [("pipe2", B(FDS), 0), CLONE, ("read", 3, B(RDBUF), 100)],
               child=[sleep_ns(TS), ("close", 4)], data={TS: timespec(MS)})
    assert r.results == [0, 1001, 0]


def test_closing_the_fd_under_a_blocked_read_keeps_the_file(arch):
    # The sleeping read holds the read end (fdget): the pipe still has a reader.
    r = Script(arch, [("pipe2", B(FDS), 0), CLONE, ("read", 3, B(RDBUF), 100), JOIN],
               child=[sleep_ns(TS), ("close", 3), ("write", 4, B(DATA), 2), ("fcntl", 3, F_GETFD)],
               data={TS: timespec(MS), DATA: b"ok"})
    assert r.results == [0, 1001, 2, 0] and r.child_results == [0, 0, 2, -E.EBADF]


def test_a_read_that_can_never_end_is_a_deadlock(arch):
    r = Script(arch, [("pipe2", B(FDS), 0), ("read", 3, B(RDBUF), 100)], expect="deadlock")
    assert "every thread is blocked with no timeout (tid 1000 in read(fd 3))" in r.out.report


# ---- eventfd -------------------------------------------------------------------------------
U64_MAX = 2**64 - 1


def test_eventfd_counter_semantics(arch):
    r = Script(arch, [
        ("eventfd2", 5, O_NONBLOCK),                # 3
        ("read", 3, B(RDBUF), 7),                   # EINVAL: shorter than 8
        ("read", 3, B(RDBUF), 16),                  # 8: the counter (5), which resets
        ("read", 3, B(RDBUF + 8), 8),               # EAGAIN
        ("write", 3, B(DATA), 8),                   # 2**64-2: the largest count there can be
        ("write", 3, B(DATA + 16), 8),              # 1 more would reach the maximum: EAGAIN
        ("write", 3, B(DATA + 8), 8),               # 2**64-1 is never a valid value: EINVAL
        ("write", 3, B(DATA + 16), 7),              # EINVAL
        ("write", 3, B(DATA + 16), 16),             # EINVAL: exactly 8 bytes
        ("read", 3, B(RDBUF + 16), 8),
        ("eventfd2", 3, O_NONBLOCK | 1),            # 4: EFD_SEMAPHORE
        ("read", 4, B(RDBUF + 24), 8), ("read", 4, B(RDBUF + 32), 8), ("read", 4, B(RDBUF + 40), 8),
        ("read", 4, B(RDBUF + 48), 8),              # EAGAIN after three
        ("fcntl", 3, F_GETFL),                      # O_RDWR | O_NONBLOCK
        ("eventfd2", 0, 8),                         # EINVAL: an unknown flag
        ("eventfd2", (1 << 32) | 7, O_CLOEXEC),     # 5: initval is an unsigned int
        ("fcntl", 5, F_GETFD),
        ("read", 5, B(RDBUF + 56), 8),
        ("write", 5, B(DATA + 24), 8),              # 0 is a valid write
        ("eventfd2", 9, O_NONBLOCK),                # 6
        ("read", 6, 0x10, 8),                       # EFAULT, and the count is gone (as in Linux)
        ("read", 6, B(RDBUF), 8),
    ], data={DATA: struct.pack("<4Q", U64_MAX - 1, U64_MAX, 1, 0)})
    assert r.results == [3, -E.EINVAL, 8, -E.EAGAIN, 8, -E.EAGAIN, -E.EINVAL, -E.EINVAL, -E.EINVAL, 8,
                         4, 8, 8, 8, -E.EAGAIN, 2 | O_NONBLOCK, -E.EINVAL, 5, 1, 8, 8, 6, -E.EFAULT,
                         -E.EAGAIN]
    assert [r.u64(RDBUF + 8 * i) for i in (0, 2, 3, 4, 5, 7)] == [5, U64_MAX - 1, 1, 1, 1, 7]


def test_eventfd_blocking_read_and_write(arch):
    r = Script(arch, [("eventfd2", 0, 0), CLONE, ("read", 3, B(RDBUF), 8),
                      ("write", 3, B(DATA), 8), ("write", 3, B(DATA + 8), 8), JOIN],
               child=[sleep_ns(TS), ("write", 3, B(DATA + 8), 8), sleep_ns(TS), ("read", 3, B(RDBUF + 8), 8)],
               data={DATA: struct.pack("<2Q", U64_MAX - 1, 3), TS: timespec(MS)})
    # main: read sleeps until the child's write of 3; its write of 2**64-2 fits, the
    # next one (3) must wait for the child's read to empty the counter
    assert r.results == [3, 1001, 8, 8, 8, 0] and r.child_results == [0, 8, 0, 8]
    assert (r.u64(RDBUF), r.u64(RDBUF + 8)) == (3, U64_MAX - 1)
    assert [a for a, _ in wakes(r)] == [("read", "woken"), ("write", "woken"), ("nanosleep", "timeout")]


# ---- unix socket pairs ---------------------------------------------------------------------
def test_socketpair_errnos_and_flags(arch):
    r = Script(arch, [
        ("socketpair", 99, 1, 0, B(FDS2)),          # EAFNOSUPPORT (after writing sv, as Linux)
        ("socketpair", 1, 1, 7, B(FDS)),            # EPROTONOSUPPORT
        ("socketpair", 2, 1, 0, B(FDS)),            # EOPNOTSUPP: AF_INET cannot pair
        ("socketpair", 1, 4, 0, B(FDS)),            # ESOCKTNOSUPPORT: SOCK_RDM
        ("socketpair", 1, 2, 0, B(FDS)),            # EOPNOTSUPP: SOCK_DGRAM is not modelled here
        ("socketpair", 1, 1 | 0x100, 0, B(FDS)),    # EINVAL: an unknown type flag
        ("socketpair", 1, 12, 0, B(FDS)),           # EINVAL: type >= SOCK_MAX
        ("socketpair", 1, 1, 0, 0x10),              # EFAULT
        ("socketpair", 1, 1 | O_NONBLOCK | O_CLOEXEC, 1, B(FDS)),
        ("fcntl", 3, F_GETFL), ("fcntl", 4, F_GETFD),
    ])
    assert r.results == [-E.EAFNOSUPPORT, -E.EPROTONOSUPPORT, -E.EOPNOTSUPP, -E.ESOCKTNOSUPPORT,
                         -E.EOPNOTSUPP, -E.EINVAL, -E.EINVAL, -E.EFAULT, 0, 2 | O_NONBLOCK, 1]
    assert r.i32s(FDS) == (3, 4) and r.i32s(FDS2) == (3, 4)


def test_socket_streams_both_ways_and_close(arch):
    r = Script(arch, [
        ("socketpair", 1, 1 | O_NONBLOCK, 0, B(FDS)),
        ("write", 3, B(DATA), 5), ("write", 4, B(DATA + 5), 6),
        ("read", 4, B(RDBUF), 100), ("read", 3, B(RDBUF + 8), 100), ("read", 3, B(RDBUF), 100),
        ("write", 3, B(DATA), 3),                   # left unread by 4
        ("epoll_create1", 0),                       # 5
        ("epoll_ctl", 5, ADD, 3, B(EV)),
        pwait(5, OUT_EV),                           # writable only
        ("close", 4),
        pwait(5, OUT_EV + 16),                      # IN|OUT|RDHUP|HUP|ERR: closed with unread data
        ("read", 3, B(RDBUF), 100),                 # ECONNRESET, once
        ("read", 3, B(RDBUF), 100),                 # then EOF
        pwait(5, OUT_EV + 32),
        ("rt_sigaction", S.SIGPIPE, B(0x200), 0, 8),
        ("write", 3, B(DATA), 1),                   # EPIPE
        ("write", 3, B(DATA), 0),                   # EPIPE even for nothing
    ], data={DATA: b"hello world", EV: epoll_event(arch, IN | OUT | RDHUP, 7), 0x200: SIG_IGN_ACT})
    assert r.results == [0, 5, 6, 5, 6, -E.EAGAIN, 3, 5, 0, 1, 0, 1, -E.ECONNRESET, 0, 1, 0,
                         -E.EPIPE, -E.EPIPE]
    assert r.buf(RDBUF + 8, 6) == b" world"
    assert r.event_array(OUT_EV, 1) == [(OUT, 7)]
    assert r.event_array(OUT_EV + 16, 1) == [(IN | OUT | RDHUP | HUP | ERR, 7)]
    assert r.event_array(OUT_EV + 32, 1) == [(IN | OUT | RDHUP | HUP, 7)]


def test_socket_write_after_the_other_end_closed_is_sigpipe(arch):
    r = Script(arch, [("socketpair", 1, 1, 0, B(FDS)), ("close", 4), ("write", 3, B(DATA), 1)],
               expect="crash")
    assert r.out.status == 128 + S.SIGPIPE


def test_socket_buffering_is_counted_in_skb_truesize(arch):
    # The numbers of x86_64 Linux 6.x: 278 one-byte writes (768 bytes of
    # truesize each) fit under sndbuf 212992; EPOLLOUT is gone after 70
    # (wmem * 4 > sndbuf) and back once 209 of them were read.
    from emu.kernel.unix import skb_truesize
    assert [skb_truesize(n) for n in (1, 200, 1000, 3776, 3777, 5000, 10000, 36544)] == \
        [768, 1280, 2304, 4352, 4864, 6400, 12544, 37120]
    k = make_system(arch, script_source(arch)).kernel
    fd, peer = k.peer_socket()
    guest = Peer(k, k.files.get(fd), "fd 3")       # the guest's end, driven from Python too
    n, first_full = 0, None
    while peer.write(b"x") is not None:
        n += 1
        if first_full is None and not peer.poll() & OUT:
            first_full = n
    got = 0
    while not peer.poll() & OUT:
        assert guest.read(1) == b"x"
        got += 1
    assert (n, first_full, got) == (278, 70, 209)
    assert [peer.write(b"y" * 100000), peer.write(b"y" * 100000), peer.write(b"y")] == [100000, 73088, None]


def test_a_blocking_socket_read_is_woken_by_the_peer(arch):
    def setup(r):
        fd, peer = r.k.peer_socket()
        r.k.at(3 * MS, lambda: peer.write(b"ping"))
        r.k.at(4 * MS, lambda: peer.close())
    r = Script(arch, [("read", 3, B(RDBUF), 100), ("read", 3, B(RDBUF + 8), 100)], setup=setup)
    assert r.results == [4, 0] and r.buf(RDBUF, 4) == b"ping"
    m = r.s.machine
    assert [c for _, c in wakes(r)] == [m.ns_to_cycles(3 * MS), m.ns_to_cycles(4 * MS)]


# ---- epoll ---------------------------------------------------------------------------------
DATA_WORD = 0x1122334455667788


def test_epoll_event_layout_is_12_bytes_packed_on_x86_and_16_on_arm64(arch):
    r = Script(arch, [("pipe2", B(FDS), O_NONBLOCK), ("epoll_create1", 0), ("epoll_ctl", 5, ADD, 3, B(EV)),
                      ("write", 4, B(DATA), 1), pwait(5, OUT_EV)],
               data={EV: epoll_event(arch, IN, DATA_WORD), OUT_EV: b"\xaa" * 64})
    assert r.results == [0, 5, 0, 1, 1]
    raw = r.buf(OUT_EV, 32)
    if arch == "amd64":
        assert raw == struct.pack("<IQ", IN, DATA_WORD) + b"\xaa" * 20
    else:                                           # the padding is not written
        assert raw == struct.pack("<I", IN) + b"\xaa" * 4 + struct.pack("<Q", DATA_WORD) + b"\xaa" * 16


def test_level_edge_and_oneshot(arch):
    r = Script(arch, [
        ("pipe2", B(FDS), O_NONBLOCK),
        ("epoll_create1", 0), ("epoll_create1", 0), ("epoll_create1", 0),           # 5 LT, 6 ET, 7 ONESHOT
        ("epoll_ctl", 5, ADD, 3, B(EV)), ("epoll_ctl", 6, ADD, 3, B(EV + 16)),
        ("epoll_ctl", 7, ADD, 3, B(EV + 32)),
        ("write", 4, B(DATA), 1),
        pwait(5, OUT_EV), pwait(5, OUT_EV),         # 8, 9: level-triggered: again and again
        pwait(6, OUT_EV), pwait(6, OUT_EV),         # 10, 11: edge-triggered: once
        pwait(7, OUT_EV), pwait(7, OUT_EV),         # 12, 13: one-shot: once, then disabled
        ("write", 4, B(DATA), 1),                   # 14: a new edge, though the pipe was not empty
        pwait(6, OUT_EV), pwait(7, OUT_EV),         # 15, 16
        ("epoll_ctl", 7, MOD, 3, B(EV + 32)),       # 17: re-armed
        pwait(7, OUT_EV),                           # 18
        ("read", 3, B(RDBUF), 10),                  # 19: empty again
        pwait(5, OUT_EV), pwait(6, OUT_EV), pwait(7, OUT_EV),
    ], data={EV: epoll_event(arch, IN, 1), EV + 16: epoll_event(arch, IN | ET, 2),
             EV + 32: epoll_event(arch, IN | ONESHOT, 3)})
    assert r.results == [0, 5, 6, 7, 0, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 2, 0, 0, 0]


def test_ready_list_order_and_maxevents(arch):
    # Three ready pipes, level-triggered: each call takes the head of the ready
    # list; reported items go back on its tail (Linux's round robin).
    r = Script(arch, [
        ("pipe2", B(FDS), O_NONBLOCK), ("pipe2", B(FDS), O_NONBLOCK), ("pipe2", B(FDS), O_NONBLOCK),
        ("epoll_create1", 0),                       # 9
        ("write", 4, B(DATA), 1), ("write", 6, B(DATA), 1), ("write", 8, B(DATA), 1),
        ("epoll_ctl", 9, ADD, 3, B(EV)), ("epoll_ctl", 9, ADD, 5, B(EV + 16)), ("epoll_ctl", 9, ADD, 7, B(EV + 32)),
        pwait(9, OUT_EV, 2), pwait(9, OUT_EV + 32, 2), pwait(9, OUT_EV + 64, 8),
    ], data={EV: epoll_event(arch, IN, 10), EV + 16: epoll_event(arch, IN, 11),
             EV + 32: epoll_event(arch, IN, 12)})
    assert r.results[-3:] == [2, 2, 3]
    assert [d for _, d in r.event_array(OUT_EV, 2)] == [10, 11]
    assert [d for _, d in r.event_array(OUT_EV + 32, 2)] == [12, 10]
    assert [d for _, d in r.event_array(OUT_EV + 64, 3)] == [11, 12, 10]


def test_pipe_hangup_and_error_events(arch):
    r = Script(arch, [
        ("pipe2", B(FDS), O_NONBLOCK), ("pipe2", B(FDS2), O_NONBLOCK),       # 3,4 and 5,6
        ("epoll_create1", 0),                       # 7
        ("epoll_ctl", 7, ADD, 4, B(EV)),            # the write end of the first
        ("epoll_ctl", 7, ADD, 5, B(EV + 16)),       # the read end of the second
        pwait(7, OUT_EV),                           # only the write end: EPOLLOUT
        ("close", 3), ("close", 6),
        pwait(7, OUT_EV + 32),
    ], data={EV: epoll_event(arch, OUT, 1), EV + 16: epoll_event(arch, IN, 2)})
    assert r.results[-4:] == [1, 0, 0, 2]
    assert r.event_array(OUT_EV, 1) == [(OUT, 1)]
    # no reader: EPOLLOUT|EPOLLERR; no writer and empty: EPOLLHUP alone (no EPOLLIN)
    assert r.event_array(OUT_EV + 32, 2) == [(OUT | ERR, 1), (HUP, 2)]


def test_epoll_wait_times_out_on_the_virtual_clock(arch):
    ops = [("pipe2", B(FDS), O_NONBLOCK), ("epoll_create1", 0), ("epoll_ctl", 5, ADD, 3, B(EV)),
           pwait(5, OUT_EV, 8, 5)]                  # 5 ms
    if arch == "amd64":
        ops.append(("epoll_wait", 5, B(OUT_EV), 8, 7))
    r = Script(arch, ops, data={EV: epoll_event(arch, IN, 1)})
    assert r.results[3:] == [0] * (len(ops) - 3)
    m = r.s.machine
    blocks, wks = r.events(ev.BLOCK), r.events(ev.WAKE)
    assert [w.args for w in wks] == [("epoll_wait", "timeout")] * len(blocks)
    assert [b.args for b in blocks][0] == ("epoll_wait", "epfd 5")
    assert [w.cycles - b.cycles for b, w in zip(blocks, wks)] == \
        [m.ns_to_cycles(5 * MS), m.ns_to_cycles(7 * MS)][:len(blocks)]


def test_epoll_wait_is_woken_by_the_peer_with_go_s_edge_triggered_mask(arch):
    def setup(r):
        fd, peer = r.k.peer_socket()
        r.k.at(3 * MS, lambda: peer.write(b"x"))
        r.k.at(4 * MS, lambda: peer.close())
    r = Script(arch, [("epoll_create1", O_CLOEXEC), ("epoll_ctl", 4, ADD, 3, B(EV)),
                      pwait(4, OUT_EV, 8, -1),      # EPOLLOUT at once (the registration is an edge)
                      pwait(4, OUT_EV + 16, 8, -1),  # sleeps until the peer writes at 3 ms
                      pwait(4, OUT_EV + 32, 8, -1)],  # ... and until it closes at 4 ms
               setup=setup, data={EV: epoll_event(arch, IN | OUT | RDHUP | ET, DATA_WORD)})
    assert r.results == [4, 0, 1, 1, 1]
    ev0, ev1, ev2 = (r.event_array(OUT_EV + 16 * i, 1)[0] for i in range(3))
    assert ev0 == (OUT, DATA_WORD)
    assert ev1 == (IN | OUT, DATA_WORD)             # the data-ready wakeup: the mask now
    assert ev2 == (IN | OUT | RDHUP | HUP, DATA_WORD)
    m = r.s.machine
    assert [c for _, c in wakes(r)] == [m.ns_to_cycles(3 * MS), m.ns_to_cycles(4 * MS)]


def test_a_signal_interrupts_epoll_wait(arch):
    r = Script(arch, [("epoll_create1", 0), CLONE, pwait(3, OUT_EV, 8, -1)],
               child=[sleep_ns(TS), ("tgkill", PID, PID, SIGUSR1)], handlers=[SIGUSR1],
               data={TS: timespec(MS)})
    assert r.results == [3, 1001, -E.EINTR] and r.hits == 1
    assert [a for a, _ in wakes(r)] == [("epoll_wait", "signal")]


def test_epoll_pwait_mask_is_the_mask_during_the_wait_only(arch):
    usr1 = S.sigmask(SIGUSR1)
    ops = [("rt_sigprocmask", S.SIG_BLOCK, B(MASK), 0, 8),          # SIGUSR1 blocked
           ("epoll_create1", 0), CLONE,
           ("epoll_pwait", 3, B(OUT_EV), 8, 20, B(MASK + 8), 8),    # ... but not while waiting
           ("rt_sigprocmask", S.SIG_BLOCK, 0, B(MASK + 16), 8)]     # the old mask is back
    child = [sleep_ns(TS), ("tgkill", PID, PID, SIGUSR1)]
    data = {TS: timespec(MS), MASK: struct.pack("<QQ", usr1, 0)}
    r = Script(arch, ops, child, handlers=[SIGUSR1], data=data)
    assert r.results == [0, 3, 1001, -E.EINTR, 0] and r.hits == 1
    assert r.u64(MASK + 16) == usr1
    # Without the temporary mask the signal stays blocked: the wait times out.
    ops[3] = ("epoll_pwait", 3, B(OUT_EV), 8, 20, 0, 8)
    r = Script(arch, ops, child, handlers=[SIGUSR1], data=data)
    assert r.results == [0, 3, 1001, 0, 0] and r.hits == 0


def test_epoll_ctl_and_wait_errnos(arch):
    r = Script(arch, [
        ("pipe2", B(FDS), O_NONBLOCK),              # 3, 4
        ("epoll_create1", 1),                       # EINVAL
        ("epoll_create1", O_CLOEXEC),               # 5
        ("fcntl", 5, F_GETFD), ("fcntl", 5, F_GETFL),
        ("epoll_ctl", 99, ADD, 3, B(EV)),           # EBADF: epfd
        ("epoll_ctl", 5, ADD, 99, B(EV)),           # EBADF: fd
        ("epoll_ctl", 5, ADD, -1, B(EV)),           # EBADF: an int, negative
        ("epoll_ctl", 5, ADD, 1, B(EV)),            # EPERM: the console is not pollable
        ("epoll_ctl", 5, ADD, 5, B(EV)),            # EINVAL: itself
        ("epoll_ctl", 3, ADD, 4, B(EV)),            # EINVAL: not an epoll
        ("epoll_ctl", 5, ADD, 3, 0x10),             # EFAULT: the event
        ("epoll_ctl", 5, DEL, 3, 0x10),             # ENOENT: DEL reads no event
        ("epoll_ctl", 5, MOD, 3, B(EV)),            # ENOENT
        ("epoll_ctl", 5, ADD, 3, B(EV)),            # 0
        ("epoll_ctl", 5, ADD, 3, B(EV)),            # EEXIST
        ("epoll_ctl", 5, 7, 3, B(EV)),              # EINVAL: no such op
        ("epoll_ctl", 5, ADD, 4, B(EV + 16)),       # EINVAL: EPOLLEXCLUSIVE with EPOLLONESHOT
        ("epoll_ctl", 5, ADD, 4, B(EV + 32)),       # 0: EPOLLEXCLUSIVE|EPOLLOUT
        ("epoll_ctl", 5, MOD, 4, B(EV)),            # EINVAL: an exclusive item cannot change
        ("epoll_ctl", 5, MOD, 3, B(EV + 32)),       # EINVAL: MOD to exclusive
        ("epoll_ctl", 5, DEL, 3, 0),                # 0
        ("epoll_ctl", 5, DEL, 3, 0),                # ENOENT
        pwait(5, OUT_EV, 0), pwait(5, OUT_EV, -1),  # EINVAL: maxevents <= 0
        pwait(99, OUT_EV), pwait(3, OUT_EV),        # EBADF, EINVAL: not an epoll
        ("epoll_pwait", 5, -4096, 1, 0, 0, 8),      # EFAULT: past the top of user space
        ("epoll_pwait", 5, B(OUT_EV), 1, 0, B(MASK), 4),    # EINVAL: sigsetsize
        ("epoll_pwait", 5, B(OUT_EV), 1, 0, 0x10, 8),       # EFAULT: the mask
        ("read", 5, B(RDBUF), 8), ("write", 5, B(DATA), 8),  # EINVAL: no read / write
        ("epoll_pwait", 5, 0x10, 1, 0, 0, 8),       # EFAULT when an event is written there
    ], data={EV: epoll_event(arch, IN, 1), EV + 16: epoll_event(arch, IN | EXCLUSIVE | ONESHOT, 2),
             EV + 32: epoll_event(arch, OUT | EXCLUSIVE, 3)})
    assert r.results == [0, -E.EINVAL, 5, 1, 2, -E.EBADF, -E.EBADF, -E.EBADF, -E.EPERM, -E.EINVAL,
                         -E.EINVAL, -E.EFAULT, -E.ENOENT, -E.ENOENT, 0, -E.EEXIST, -E.EINVAL, -E.EINVAL, 0,
                         -E.EINVAL, -E.EINVAL, 0, -E.ENOENT, -E.EINVAL, -E.EINVAL, -E.EBADF, -E.EINVAL,
                         -E.EFAULT, -E.EINVAL, -E.EFAULT, -E.EINVAL, -E.EINVAL, -E.EFAULT]


def test_an_item_lives_as_long_as_its_file_not_its_fd(arch):
    # The epoll gotcha: the item is keyed by (file, fd); closing fd 3 while a
    # dup keeps the file open leaves it registered and reporting.
    r = Script(arch, [
        ("pipe2", B(FDS), O_NONBLOCK), ("epoll_create1", 0),        # 3, 4; 5
        ("epoll_ctl", 5, ADD, 3, B(EV)), ("dup", 3), ("close", 3),  # 6 keeps the read end
        ("write", 4, B(DATA), 1),
        pwait(5, OUT_EV),
        ("epoll_ctl", 5, DEL, 3, 0),                # EBADF: fd 3 is closed
        ("epoll_ctl", 5, DEL, 6, 0),                # ENOENT: the item is under fd 3
        ("close", 6),                               # the last reference: the item goes
        pwait(5, OUT_EV + 16),
    ], data={EV: epoll_event(arch, IN, DATA_WORD)})
    assert r.results == [0, 5, 0, 6, 0, 1, 1, -E.EBADF, -E.ENOENT, 0, 0]
    assert r.event_array(OUT_EV, 1) == [(IN, DATA_WORD)]


def test_nested_epolls_and_loops(arch):
    r = Script(arch, [
        ("pipe2", B(FDS), O_NONBLOCK),              # 3, 4
        ("epoll_create1", 0), ("epoll_create1", 0),  # 5 inner, 6 outer
        ("epoll_ctl", 5, ADD, 3, B(EV)),
        ("epoll_ctl", 6, ADD, 5, B(EV + 16)),
        pwait(6, OUT_EV),                           # nothing yet
        ("write", 4, B(DATA), 1),
        pwait(6, OUT_EV),                           # the inner epoll is readable
        pwait(5, OUT_EV + 16),                      # and the inner one has the pipe
        ("epoll_ctl", 5, ADD, 6, B(EV)),            # ELOOP: a cycle
        ("epoll_create1", 0), ("epoll_create1", 0), ("epoll_create1", 0), ("epoll_create1", 0),   # 7..10
        ("epoll_ctl", 7, ADD, 6, B(EV)), ("epoll_ctl", 8, ADD, 7, B(EV)), ("epoll_ctl", 9, ADD, 8, B(EV)),
        ("epoll_ctl", 10, ADD, 9, B(EV)),           # ELOOP: five levels of epoll above the pipe
        ("read", 5, B(RDBUF), 8),                   # EINVAL: epolls are not readable
    ], data={EV: epoll_event(arch, IN, 1), EV + 16: epoll_event(arch, IN, 2)})
    assert r.results == [0, 5, 6, 0, 0, 0, 1, 1, 1, -E.ELOOP, 7, 8, 9, 10, 0, 0, 0, -E.ELOOP, -E.EINVAL]
    assert r.event_array(OUT_EV, 1) == [(IN, 2)] and r.event_array(OUT_EV + 16, 1) == [(IN, 1)]


def test_epoll_wait_exists_on_x86_only(arch):
    if arch == "amd64":
        r = Script(arch, [("epoll_create1", 0), ("epoll_wait", 3, B(OUT_EV), 1, 0)])
        assert r.results == [3, 0]
    else:
        assert NUMBERS["epoll_wait"] == (232, None)


# ---- the peer API and virtual-time callbacks -----------------------------------------------
def test_peer_io_is_non_blocking_python_io(arch):
    s = make_system(arch, script_source(arch))
    k = s.kernel
    fd, p = k.peer_pipe("w", O_NONBLOCK)            # the guest writes, the peer reads
    guest = k.peer(fd)                              # ... and a read end is a peer, too
    assert fd == 3 and repr(p) == "<peer on the read end of the pipe of fd 3>"
    assert p.read(10) is None                       # nothing yet: would block
    with pytest.raises(ValueError, match="cannot write"):
        p.write(b"x")
    sock_fd, q = k.peer_socket()
    mine = Peer(k, k.files.get(sock_fd), "the guest's socket")
    assert q.write(b"a" * 70000) == 70000 and mine.read(100000) == b"a" * 70000     # across skbs
    assert mine.write(b"pong") == 4 and q.read(2) == b"po" and q.read(100) == b"ng"
    assert q.read(1) is None
    q.write(b"unread")                              # left in the guest socket's queue
    k.files.close(k, sock_fd)
    mine.close()                                    # the last reference: the socket closes
    with pytest.raises(ConnectionResetError):
        q.read(1)                                   # it had unread data
    assert q.read(1) == b""
    with pytest.raises(BrokenPipeError):
        q.write(b"x")
    efd = HANDLERS["eventfd2"](k, s.main, 0, O_NONBLOCK)
    e = k.peer(efd)
    assert e.write_u64(5) == 8 and e.poll() == OUT | IN and e.read(8) == (5).to_bytes(8, "little")
    with pytest.raises(ValueError, match="no far end"):
        k.peer(1)
    with pytest.raises(ValueError, match="not open"):
        k.peer(99)
    p.close()
    p.close()                                       # idempotent
    with pytest.raises(ValueError, match="closed"):
        p.read(1)
    writer = Peer(k, k.files.get(fd), "the guest's write end")
    assert writer.poll() == OUT | WRNORM            # `guest` is still a reader
    guest.close()
    assert writer.poll() == OUT | WRNORM | ERR      # no reader left


def test_callbacks_run_in_time_order_then_registration_order(arch):
    seen = []

    def setup(r):
        m = r.s.machine
        for ns, tag in [(3 * MS, "c"), (1 * MS, "a"), (3 * MS, "d"), (2 * MS, "b")]:
            r.k.at(ns, lambda tag=tag: seen.append((tag, m.now())))
        r.k.at(2 * MS, lambda: r.k.at(0, lambda: seen.append(("past", m.now()))))    # clamped to now
    r = Script(arch, [sleep_ns(TS)], setup=setup, data={TS: timespec(5 * MS)})
    c = r.s.machine.ns_to_cycles
    assert seen == [("a", c(MS)), ("b", c(2 * MS)), ("past", c(2 * MS)), ("c", c(3 * MS)), ("d", c(3 * MS))]
    assert r.results == [0]


# ---- robustness: random scripts ------------------------------------------------------------
_FD = st.one_of(st.integers(0, 9), st.sampled_from([99, NOFILE - 1, NOFILE, -1, 2**32 + 3]))
_PTR = st.one_of(st.integers(0, 0x2F000).map(B), st.sampled_from([0, 0x10, -4096, 2**64 - 1]))
_COUNT = st.sampled_from([0, 1, 7, 8, 9, 4096, 4097, 65536, 70000, 2**31, 2**63, 2**64 - 1])
_FLAGS = st.sampled_from([0, O_NONBLOCK, O_CLOEXEC, O_NONBLOCK | O_CLOEXEC, 1, 0x4000, 0x10000, 2**31])
_MASK = st.sampled_from([IN, OUT, IN | OUT | RDHUP | ET, IN | ONESHOT, IN | EXCLUSIVE, 0, 2**32 - 1])
_CALL = st.one_of(
    st.tuples(st.just("read"), _FD, _PTR, _COUNT),
    st.tuples(st.just("write"), _FD, _PTR, _COUNT),
    st.tuples(st.just("close"), _FD),
    st.tuples(st.just("dup"), _FD),
    st.tuples(st.just("dup3"), _FD, _FD, _FLAGS),
    st.tuples(st.just("fcntl"), _FD, st.sampled_from([0, 1, 2, 3, 4, 1030, 1031, 1032, 99]),
              st.one_of(_FLAGS, _COUNT)),
    st.tuples(st.just("pipe2"), _PTR, _FLAGS),
    st.tuples(st.just("eventfd2"), st.integers(0, 2**33), _FLAGS),
    st.tuples(st.just("socketpair"), st.sampled_from([1, 2, 99]), st.sampled_from([1, 2, 1 | O_NONBLOCK, 0x101]),
              st.integers(0, 2), _PTR),
    st.tuples(st.just("epoll_create1"), _FLAGS),
    st.tuples(st.just("epoll_ctl"), _FD, st.integers(0, 4), _FD, _PTR),
    st.tuples(st.just("epoll_pwait"), _FD, _PTR, st.sampled_from([0, 1, 8, -1, 2**31]),
              st.sampled_from([0, 1, -1, 2**31 - 1]), st.sampled_from([0, 0x10]).map(lambda x: x) | _PTR,
              st.sampled_from([8, 4])),
    st.tuples(st.just("tgkill"), st.just(PID), st.sampled_from([PID, 1001]), st.sampled_from([SIGUSR1, S.SIGPIPE])),
    st.tuples(st.just("nanosleep"), st.just(B(TS)), st.just(0)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_random_fd_scripts_never_hurt_the_kernel(arch, data, capsys):
    main = data.draw(st.lists(_CALL, max_size=24), label="main")
    child = data.draw(st.lists(_CALL, max_size=12), label="child")
    if data.draw(st.booleans(), label="clone"):
        main.insert(data.draw(st.integers(0, len(main)), label="at"), CLONE)
    r = Script(arch, main, child, handlers=[SIGUSR1], expect=None, max_instructions=400_000,
               data={TS: timespec(MS), EV: epoll_event(arch, IN | OUT, 5)})
    assert r.out.reason in ("exit", "crash", "deadlock", "budget"), r.out
    err = capsys.readouterr().err
    assert "kernel bug" not in err and "Traceback" not in err, err
