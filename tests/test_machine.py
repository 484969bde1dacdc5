"""The SMP machine on both arches: the counter under every interleaving policy,
lost updates without atomics, determinism, virtual time across CPUs, memory
shared by all CPUs, and clone's register copy."""
from __future__ import annotations

import pytest

from emu.cli import program_path
from emu.machine.memory import PAGE, Memory, GuestFault
from emu.machine.smp import Machine
from emu.system import System
from emu.trace import events as ev
from emu.trace.events import Recorder

from conftest import make_system, replay

COUNTER = "bare_counter.s"

ATOMIC = {
    "amd64": "    lock inc qword ptr [rdi]        # the shared update\n",
    "arm64": ("    ldaxr x2, [x1]                  // the shared update\n"
              "    add x2, x2, #1\n"
              "    stlxr w3, x2, [x1]\n"
              "    cbnz w3, 1b\n"),
}
NON_ATOMIC = {
    "amd64": ("    mov rax, qword ptr [rdi]        # load, add, store: not atomic\n"
              "    inc rax\n"
              "    mov qword ptr [rdi], rax\n"),
    "arm64": ("    ldr x2, [x1]                    // load, add, store: not atomic\n"
              "    add x2, x2, #1\n"
              "    str x2, [x1]\n"),
}


def counter_system(arch: str, **kw) -> System:
    return System([program_path(arch, COUNTER)], arch, **kw)


def non_atomic_source(arch: str) -> str:
    text = program_path(arch, COUNTER).read_text()
    assert text.count(ATOMIC[arch]) == 1
    return text.replace(ATOMIC[arch], NON_ATOMIC[arch])


@pytest.mark.parametrize("policy,seed,quantum", [
    ("round-robin", 0, 10_000),
    ("round-robin", 0, 7),
    ("random", 1, 10_000),
    ("random", 2, 13),
    ("step", 3, 1),
])
def test_counter_is_exact_under_every_policy(arch, policy, seed, quantum):
    rec = Recorder(kinds=[ev.THREAD_NEW, ev.THREAD_EXIT, ev.EXIT])
    s = counter_system(arch, policy=policy, seed=seed, quantum=quantum, trace=rec)
    out = s.run(10_000_000)
    assert (out.status, out.stdout, out.reason) == (0, b"200000\n", "exit"), (out.report, replay(s))
    assert [e.kind for e in rec.events] == [ev.THREAD_NEW, ev.THREAD_NEW, ev.THREAD_EXIT, ev.THREAD_EXIT, ev.EXIT]
    assert [e.args[0] for e in rec.of(ev.THREAD_NEW)] == [1001, 1002]
    assert len(s.machine.cpus) == 3


def test_non_atomic_counter_loses_updates_under_random_interleaving(arch):
    s = make_system(arch, non_atomic_source(arch), policy="random", seed=5, quantum=20)
    out = s.run(10_000_000)
    total = int(out.stdout)
    assert out.status == 0 and 100_000 <= total < 200_000, replay(s)


def test_non_atomic_counter_is_exact_when_threads_do_not_overlap(arch):
    # With a quantum longer than a whole worker, each worker runs alone: no race.
    s = make_system(arch, non_atomic_source(arch), policy="round-robin", quantum=2_000_000)
    assert s.run(10_000_000).stdout == b"200000\n", replay(s)


def slice_stream(arch: str, seed: int, policy: str = "random", quantum: int = 50) -> list:
    rec = Recorder()
    s = counter_system(arch, policy=policy, seed=seed, quantum=quantum, trace=rec)
    out = s.run(10_000_000)
    assert out.stdout == b"200000\n", replay(s)
    return rec.events


@pytest.mark.parametrize("policy", ["random", "round-robin"])
def test_same_seed_gives_the_identical_event_stream(arch, policy):
    a, b = slice_stream(arch, 11, policy), slice_stream(arch, 11, policy)
    assert len(a) > 1000 and a == b


def test_different_seeds_interleave_differently(arch):
    def order(events):
        return [(e.cpu, e.args[1]) for e in events if e.kind == ev.SLICE]
    runs = {seed: order(slice_stream(arch, seed)) for seed in (1, 2, 3)}
    assert runs[1] != runs[2] and runs[2] != runs[3] and runs[1] != runs[3]


def test_cpus_advance_in_lockstep_under_round_robin(arch):
    rec = Recorder()
    s = counter_system(arch, quantum=1000, trace=rec)
    s.run(10_000_000)
    workers = [e for e in rec.of(ev.SLICE) if e.cpu in (1, 2)]
    # While both workers run, neither is ever more than one quantum ahead of the other.
    clocks = {1: 0, 2: 0}
    for e in workers[:200]:
        clocks[e.cpu] = e.cycles
        if clocks[1] and clocks[2]:
            assert abs(clocks[1] - clocks[2]) <= 1000 + s.kernel.syscall_cycles


def test_virtual_time_is_parallel_not_summed(arch):
    s = counter_system(arch)
    out = s.run(10_000_000)
    # Two workers ran in parallel: the elapsed cycles are about half the instructions.
    assert out.instructions * 0.45 < out.cycles < out.instructions * 0.55
    assert out.ns == out.cycles * 10                   # 100 MHz by default


# ---- memory ------------------------------------------------------------------------------
def test_every_cpu_sees_every_store():
    m = Machine("amd64")
    cpus = [m.new_cpu() for _ in range(3)]
    m.memory.map(0x400000, PAGE, 3, "data")
    m.memory.write_u64(0x400010, 0xdead)
    assert [bytes(c.uc.mem_read(0x400010, 2)) for c in cpus] == [b"\xad\xde"] * 3
    cpus[2].uc.mem_write(0x400020, b"\x01\x02")
    assert m.memory.read(0x400020, 2) == b"\x01\x02"


def test_region_map_splits_on_protect_and_unmap():
    mem = Memory(0x400000, 1 << 24)
    mem.map(0x400000, 4 * PAGE, 3, "heap")
    mem.protect(0x401000, PAGE, 1)
    mem.unmap(0x403000, PAGE)
    assert [(r.start, r.end, r.prot, r.name) for r in mem.regions] == [
        (0x400000, 0x401000, 3, "heap"), (0x401000, 0x402000, 1, "heap"), (0x402000, 0x403000, 3, "heap")]
    assert mem.accessible(0x400000, PAGE, 2) and not mem.accessible(0x400000, 2 * PAGE, 2)
    with pytest.raises(GuestFault):
        mem.copy_to_user(0x401000, b"x")


def test_unmapped_then_remapped_memory_reads_zero():
    mem = Memory(0x400000, 1 << 24)
    mem.map(0x400000, PAGE, 3, "a")
    mem.write(0x400000, b"secret")
    mem.unmap(0x400000, PAGE)
    mem.map(0x400000, PAGE, 3, "b")
    assert mem.read(0x400000, 6) == bytes(6)


def test_machine_rejects_bad_configuration():
    with pytest.raises(ValueError, match="unknown policy"):
        Machine("amd64", policy="fifo")
    with pytest.raises(ValueError, match="quantum"):
        Machine("arm64", quantum=0)


# ---- clone copies the thread's registers ---------------------------------------------------
CLONE_REGS = {
    "amd64": """
.text
.globl _start
_start:
    mov rbx, 0x1111
    mov r12, 0x2222
    mov r15, 0x3333
    mov rdi, 0x3d0f00              # thread flags | SETTLS | PARENT_SETTID | CHILD_CLEARTID
    lea rsi, [rip + stack_top]
    lea rdx, [rip + tid]
    lea r10, [rip + tid]
    lea r8, [rip + tls_block]
    mov eax, 56
    syscall
    test rax, rax
    jz child
1:
    mov edx, dword ptr [rip + tid]
    test edx, edx
    jz 2f
    lea rdi, [rip + tid]
    xor esi, esi
    xor r10d, r10d
    mov eax, 202
    syscall
    jmp 1b
2:
    xor edi, edi
    mov eax, 231
    syscall
child:
    mov qword ptr [rip + seen], rbx
    mov qword ptr [rip + seen + 8], r12
    mov qword ptr [rip + seen + 16], r15
    mov rax, qword ptr fs:[0]
    mov qword ptr [rip + seen + 24], rax
    mov qword ptr [rip + seen + 32], rsp
    xor edi, edi
    mov eax, 60
    syscall
.data
.balign 16
tls_block: .quad 0x7777
seen:      .space 40
tid:       .long 0
.balign 16
stack:     .space 4096
stack_top:
""",
    "arm64": """
.text
.globl _start
_start:
    mov x19, #0x1111
    mov x20, #0x2222
    mov x28, #0x3333
    movz x0, #0x0f00
    movk x0, #0x3d, lsl #16        // thread flags | SETTLS | PARENT_SETTID | CHILD_CLEARTID
    adr x1, stack_top
    adr x2, tid
    adr x3, tls_block
    adr x4, tid
    mov x8, #220
    svc #0
    cbz x0, child
1:
    adr x0, tid
    ldr w2, [x0]
    cbz w2, 2f
    mov x1, #0
    mov x3, #0
    mov x8, #98
    svc #0
    b 1b
2:
    mov x0, #0
    mov x8, #94
    svc #0
child:
    adr x9, seen
    str x19, [x9]
    str x20, [x9, #8]
    str x28, [x9, #16]
    mrs x10, tpidr_el0
    ldr x10, [x10]
    str x10, [x9, #24]
    mov x10, sp
    str x10, [x9, #32]
    mov x0, #0
    mov x8, #93
    svc #0
.data
.balign 16
tls_block: .quad 0x7777
seen:      .space 40
tid:       .long 0
.balign 16
stack:     .space 4096
stack_top:
""",
}


def test_clone_copies_registers_and_sets_stack_and_tls(arch):
    s = make_system(arch, CLONE_REGS[arch])
    out = s.run(100_000)
    assert (out.status, out.reason) == (0, "exit"), out.report
    mem, sym = s.machine.memory, s.image.symbols
    seen = [mem.read_u64(sym["seen"] + 8 * i) for i in range(5)]
    assert seen == [0x1111, 0x2222, 0x3333, 0x7777, sym["stack_top"]]
    assert mem.read_u32(sym["tid"]) == 0          # CLONE_CHILD_CLEARTID zeroed it at exit
