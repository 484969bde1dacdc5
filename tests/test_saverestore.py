"""The register save/restore view (emu/views/saverestore.py): every context switch keeps
what mcall saves, slot by slot as the layout table names them; asyncPreempt's frame table
matches what the asm really stores; and a broken save shows up as a row that is not ok."""
from __future__ import annotations

import collections

import pytest

from emu.cli import program_path
from emu.runtime.layout import G
from emu.system import System, runtime_sources
from emu.views.saverestore import (AP, CALLER, IMPLIED, NOT_SAVED_CALLER, PUSHCALL, SaveRestoreRecorder,
                                   callee_registers)

from conftest import replay


def runtime_system(arch, name_or_source, *, procs=1, seed=0, runtime_asm=None, **options):
    """A runtime System for a bundled program (a name) or an inline (name, text) source."""
    src = program_path(arch, name_or_source) if isinstance(name_or_source, str) else name_or_source
    return System([src], arch, bare=False, procs=procs, seed=seed, runtime_asm=runtime_asm,
                  runtime_options=options or None)


def mutant_asm(arch, label, old, new):
    """runtime_asm with the first `old` after `label:` in asm.s replaced by `new`."""
    root = runtime_sources(arch)
    text = root[0].read_text()
    start = text.index(f"\n{label}:\n")
    at = text.index(old, start)
    return [("asm.s", text[:at] + new + text[at + len(old):])] + root[1:]


# ---- context switches ---------------------------------------------------------------------
def test_every_switch_of_gosched_rr_restores_what_mcall_saved(arch):
    s = runtime_system(arch, "gosched_rr.s")
    view = SaveRestoreRecorder(s)
    out = s.run(50_000_000)
    assert out.status == 0, (out.report, replay(s))
    # three spinners yield three times each; main blocks on `done` until the last send
    fns = collections.Counter(r.fn for r in view.switches)
    assert fns == {"runtime.gosched_m": 9, "runtime.park_m": 3}, fns
    isa = s.machine.isa
    expected = {isa.pc: "pc", isa.sp: "sp", isa.fp: "bp", isa.g: "g"}
    expected.update({r: f"callee[{i}]" for i, r in enumerate(callee_registers(isa))})
    for rec in view.switches:
        assert rec.ok, rec.text()
        kept = {r.register: r for r in rec.rows if r.ok is not None}
        assert set(kept) == set(expected)
        for reg, name in expected.items():
            row = kept[reg]
            assert row.slot == f"g.sched.{name}"
            base, _, index = name.partition("[")
            offset = G.offset(f"sched.{base}") + 8 * int(index.rstrip("]") or 0)
            assert row.addr == rec.g + offset
            assert row.saved == row.stored == row.restored
        assert rec.row(isa.g).saved == rec.g
        assert rec.row(isa.pc).restored == s.image.symbols["runtime.pyret"]   # back into runtime.gosched


def test_registers_a_switch_does_not_save_are_marked_caller_saved(arch):
    s = runtime_system(arch, "gosched_rr.s")
    view = SaveRestoreRecorder(s)
    s.run(50_000_000)
    isa = s.machine.isa
    rec = view.switches[0]
    caller = {r.register for r in rec.rows if r.kind == CALLER}
    assert {isa.flags, isa.abi_args[0], "rcx" if arch == "amd64" else "x1"} <= caller
    assert f"{isa.vregs[0].name}-{isa.vregs[-1].name}" in caller
    for r in rec.rows:
        assert (r.ok is None) == (r.kind == CALLER)
        if r.kind == CALLER:
            assert r.status == NOT_SAVED_CALLER
    # the slots gogo loads although mcall does not save them
    assert rec.row(isa.abi_args[0]).slot == "g.sched.ret"
    if isa.lr:
        assert rec.row(isa.lr).slot == "g.sched.lr" and rec.row(isa.lr).stored == 0
    text = rec.text(compact=True)
    assert f"{NOT_SAVED_CALLER}: " in text and "NOT OK" not in text
    html = rec._repr_html_()
    assert "g.sched.sp @ " in html and "<table" in html and "<script" not in html.lower()


# Two workers keep id-tagged constants in every callee-saved register while they yield.
CALLEE_KEEPER = {
    "amd64": """
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + done], rax
    lea rax, [rip + worker]
    mov ebx, 1
    call runtime.newproc
    lea rax, [rip + worker]
    mov ebx, 2
    call runtime.newproc
    mov rax, qword ptr [rip + done]
    call runtime.chanrecv
    mov rax, qword ptr [rip + done]
    call runtime.chanrecv
    pop rbp
    ret

worker:
    push rbp
    mov rbp, rsp
    sub rsp, 16
    mov qword ptr [rbp - 8], 4
    mov rbx, rax
    shl rbx, 32
    lea r12, [rbx + 0x12]
    lea r13, [rbx + 0x13]
    lea r15, [rbx + 0x15]
    add rbx, 0xb
1:
    call runtime.gosched
    dec qword ptr [rbp - 8]
    jnz 1b
    mov rax, qword ptr [rip + done]
    xor ebx, ebx
    call runtime.chansend
    mov rsp, rbp
    pop rbp
    ret

.data
done: .quad 0
""",
    "arm64": """
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x0, #0
    bl runtime.makechan
    adr x1, done
    str x0, [x1]
    adr x0, worker
    mov x1, #1
    bl runtime.newproc
    adr x0, worker
    mov x1, #2
    bl runtime.newproc
    adr x0, done
    ldr x0, [x0]
    bl runtime.chanrecv
    adr x0, done
    ldr x0, [x0]
    bl runtime.chanrecv
    ldp x29, x30, [sp], #16
    ret

worker:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    mov x1, #4
    str x1, [x29, #16]
    lsl x19, x0, #32
    add x20, x19, #0x20
    add x21, x19, #0x21
    add x22, x19, #0x22
    add x23, x19, #0x23
    add x24, x19, #0x24
    add x25, x19, #0x25
    add x26, x19, #0x26
    add x19, x19, #0x19
1:
    bl runtime.gosched
    ldr x1, [x29, #16]
    subs x1, x1, #1
    str x1, [x29, #16]
    b.ne 1b
    adr x0, done
    ldr x0, [x0]
    mov x1, #0
    bl runtime.chansend
    ldp x29, x30, [sp], #32
    ret

.data
done: .quad 0
""",
}
TAGS = {"amd64": {"rbx": 0xb, "r12": 0x12, "r13": 0x13, "r15": 0x15},
        "arm64": {f"x{i}": int(str(i), 16) for i in range(19, 27)}}


def worker_switches(view):
    return [r for r in view.switches if r.fn == "runtime.gosched_m" and r.goid in (2, 3)]


def test_callee_saved_registers_go_to_their_slots_with_exact_values(arch):
    s = runtime_system(arch, ("keeper.s", CALLEE_KEEPER[arch]))
    view = SaveRestoreRecorder(s)
    out = s.run(50_000_000)
    assert out.status == 0, (out.report, replay(s))
    switches = worker_switches(view)
    assert len(switches) == 8                        # two workers, four yields each
    for rec in switches:
        worker = rec.goid - 1                        # g2 runs worker(1), g3 worker(2)
        for reg, tag in TAGS[arch].items():
            row = rec.row(reg)
            assert (row.saved, row.stored, row.restored) == ((worker << 32) + tag,) * 3, rec.text()
        assert rec.ok


def test_a_dropped_save_in_mcall_is_reported_not_ok(arch):
    if arch == "amd64":
        asm = mutant_asm(arch, "runtime.mcall", "    mov qword ptr [r14 + g_sched + gobuf_callee + 8], r12\n", "")
        culprit = "r12"
    else:
        asm = mutant_asm(arch, "runtime.mcall", "    stp x19, x20, [x28, #g_sched + gobuf_callee + 0]\n",
                         "    str x19, [x28, #g_sched + gobuf_callee + 0]\n")
        culprit = "x20"
    s = runtime_system(arch, ("keeper.s", CALLEE_KEEPER[arch]), runtime_asm=asm)
    view = SaveRestoreRecorder(s)
    s.run(50_000_000)
    # each worker's first switch loses the register: the slot kept its old bytes (0) and gogo
    # loaded them; from then on the register holds that stale value, which later saves keep
    firsts = [next(r for r in worker_switches(view) if r.goid == goid) for goid in (2, 3)]
    for rec in firsts:
        row = rec.row(culprit)
        assert not rec.ok and row.ok is False
        assert row.saved == ((rec.goid - 1) << 32) + TAGS[arch][culprit] and row.stored == row.restored == 0
        assert "NOT OK" in rec.text() and "\n! " in rec.text()
    bad = {row.register for r in view.switches for row in r.rows if row.ok is False}
    assert bad == {culprit}


# ---- async preemptions -----------------------------------------------------------------------
# arm64: FPCR and FPSR are 0 throughout regstress, which would leave their frame offsets
# unproven (two zero slots could be swapped); give them distinct values first.
FP_STATUS = ("    mov x29, sp\n\n    // every register",
             "    mov x29, sp\n    movz x9, #0x00c0, lsl #16\n    msr fpcr, x9\n"
             "    movz x9, #0x0800, lsl #16\n    msr fpsr, x9\n\n    // every register")


def regstress(arch):
    text = program_path(arch, "regstress.s").read_text()
    if arch == "arm64":
        assert text.count(FP_STATUS[0]) == 1
        text = text.replace(*FP_STATUS)
    return ("regstress.s", text)


def storm(arch, *, points=800, seed=7, runtime_asm=None):
    s = runtime_system(arch, regstress(arch), seed=seed, runtime_asm=runtime_asm, sysmon=False)
    view = SaveRestoreRecorder(s)
    out = view.checker.storm(points=points, seed=seed, gap=(30, 700), max_instructions=50_000_000)
    return s, view, out


def test_the_frame_table_matches_what_async_preempt_stores(arch):
    s, view, out = storm(arch)
    assert out.status == 0, (out.report, replay(s))
    recs = view.preemptions
    assert len(recs) >= 500 and len({r.pc for r in recs}) > 30, len(recs)
    assert len(recs) == view.checker.report.checked
    stored = [row.register for row in recs[0].rows if row.by in (AP, PUSHCALL)]
    for rec in recs:
        assert rec.verdict == "transparent" and rec.ok, rec.text()
        for row in rec.rows:
            if row.by in (AP, PUSHCALL, IMPLIED):
                assert row.stored == row.interrupted == row.restored, (row, rec.text())
            assert rec.frame <= (row.addr or rec.frame) < rec.frame + 1024
    # the values were distinct enough to pin each offset: for every slot, some preemption
    # had a value in that register that no other stored register had
    pinned = set()
    for rec in recs:
        values = collections.Counter(row.interrupted for row in rec.rows if row.by in (AP, PUSHCALL))
        pinned |= {row.register for row in rec.rows if row.by in (AP, PUSHCALL) and values[row.interrupted] == 1}
    assert pinned == set(stored), set(stored) - pinned


def test_flags_and_vector_registers_are_rows(arch):
    _, view, _ = storm(arch, points=50)
    rec = view.preemptions[0]
    regs = {row.register: row for row in rec.rows}
    isa_flags, vec = ("rflags", "xmm15") if arch == "amd64" else ("nzcv", "q31")
    assert regs[isa_flags].by == AP and regs[vec].by == AP
    assert any(r.row(vec).stored >> 64 for r in view.preemptions)       # all 128 bits are stored
    assert regs["rsp" if arch == "amd64" else "sp"].by == IMPLIED
    assert regs["rip" if arch == "amd64" else "x30"].by == PUSHCALL
    if arch == "arm64":
        assert regs["x27"].ok is None and regs["x27"].status == "exempt"
    html = rec._repr_html_()
    assert "<table" in html and "<script" not in html.lower() and "frame+0x" in html
    assert "checker: transparent" in rec.text()


@pytest.mark.parametrize("arch_mutant", [
    ("amd64", "r11", "    mov qword ptr [rsp + 72], r11\n", ""),
    ("arm64", "x7", "    stp x6, x7, [sp, #64]\n", "    str x6, [sp, #64]\n"),
], ids=["amd64", "arm64"])
def test_a_dropped_store_in_async_preempt_is_reported_not_ok(arch_mutant):
    arch, culprit, old, new = arch_mutant
    s, view, _ = storm(arch, points=200, runtime_asm=mutant_asm(arch, "runtime.asyncPreempt", old, new))
    recs = view.preemptions
    assert recs
    bad = collections.Counter(row.register for r in recs for row in r.rows if row.ok is False)
    assert set(bad) == {culprit}, bad
    assert bad[culprit] >= len(recs) * 9 // 10
    assert any(culprit in r.verdict for r in recs)       # the checker saw it too
    assert sum(r.verdict != "transparent" for r in recs) >= len(recs) * 9 // 10
