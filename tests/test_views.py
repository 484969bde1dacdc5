"""The inspection views on both arches: registers changed by one instruction, the
disassembly at a PC, the G/M/P state of a known program point, the frame-pointer
chain of parked and running goroutines, and the rt_sigframe of a real delivery
decoded to the registers the CPU had -- each as text and as HTML that parses and
has no <script>."""
from __future__ import annotations

import functools
from html.parser import HTMLParser

import pytest

from emu.cli import program_path
from emu.system import System
from emu.trace import events as ev
from emu.trace.events import Recorder
from emu.views.disasm import DisasmView
from emu.views.gmp import SchedView
from emu.views.gstack import PC, PYTHON, RETURN, GStackView
from emu.views.html import Table, events_html, events_table
from emu.views.registers import RegisterView
from emu.views.sigframe import SigFrameView

from conftest import make_system

# ---- programs ------------------------------------------------------------------------------
# Two instructions, then exit: the second one changes exactly one register, the pc and the flags.
TWO_STEPS = {
    "amd64": """
.text
.globl _start
_start:
    mov rax, 7
    sub rax, 7                      # rax = 0: ZF and PF set
    mov eax, 60
    xor edi, edi
    syscall
""",
    "arm64": """
.text
.globl _start
_start:
    mov x0, #7
    subs x0, x0, #7                 // x0 = 0: Z and C set
    mov x8, #93
    svc #0
""",
}

# main starts three workers, each calls level1 -> level2 -> chanrecv on a channel nobody
# sends on; main receives on it too.  With one P and no sysmon every step is fixed:
# newproc puts each new G in runnext (the previous one moves to the ring), so G4 runs
# first and G2, G3 wait in the ring.
NESTED = {
    "amd64": """
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + ch0], rax
    lea rax, [rip + worker]
    mov rbx, 1
    call runtime.newproc
    lea rax, [rip + worker]
    mov rbx, 2
    call runtime.newproc
    lea rax, [rip + worker]
    mov rbx, 3
    call runtime.newproc
    mov rax, qword ptr [rip + ch0]
    call runtime.chanrecv           # parks for good
    pop rbp
    ret

worker:
    push rbp
    mov rbp, rsp
    call level1
    pop rbp
    ret

level1:
    push rbp
    mov rbp, rsp
    call level2
    pop rbp
    ret

level2:
    push rbp
    mov rbp, rsp
    mov rax, qword ptr [rip + ch0]
    call runtime.chanrecv           # parks for good
    pop rbp
    ret

.data
ch0: .quad 0
""",
    "arm64": """
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x0, #0
    bl runtime.makechan
    adr x1, ch0
    str x0, [x1]
    adr x0, worker
    mov x1, #1
    bl runtime.newproc
    adr x0, worker
    mov x1, #2
    bl runtime.newproc
    adr x0, worker
    mov x1, #3
    bl runtime.newproc
    adr x0, ch0
    ldr x0, [x0]
    bl runtime.chanrecv             // parks for good
    ldp x29, x30, [sp], #16
    ret

worker:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    bl level1
    ldp x29, x30, [sp], #16
    ret

level1:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    bl level2
    ldp x29, x30, [sp], #16
    ret

level2:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    adr x0, ch0
    ldr x0, [x0]
    bl runtime.chanrecv             // parks for good
    ldp x29, x30, [sp], #16
    ret

.data
ch0: .quad 0
""",
}

# main stores to address 16: SIGSEGV, delivered to the runtime's handler.
NIL_STORE = {
    "amd64": """
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    mov rax, 16
    mov qword ptr [rax], 1
    pop rbp
    ret
""",
    "arm64": """
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x0, #16
    str x1, [x0]
    ldp x29, x30, [sp], #16
    ret
""",
}

PC_REG = {"amd64": "rip", "arm64": "pc"}
SP_REG = {"amd64": "rsp", "arm64": "sp"}
CALL = {"amd64": "call", "arm64": "bl"}


# ---- helpers -------------------------------------------------------------------------------
class _HTMLChecker(HTMLParser):
    """Every non-void element closed in order; which tags appear."""

    VOID = {"br", "hr", "img", "meta", "input", "col", "wbr"}

    def __init__(self):
        super().__init__()
        self.open, self.errors, self.tags = [], [], set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open.pop() != tag:
            self.errors.append(f"</{tag}> does not close the innermost open element")


def assert_good_html(markup: str) -> set[str]:
    checker = _HTMLChecker()
    checker.feed(markup)
    checker.close()
    assert checker.errors == [] and checker.open == [], (checker.errors, checker.open)
    assert "script" not in checker.tags and "<script" not in markup.lower()
    assert "table" in checker.tags
    return checker.tags


def runtime_system(arch, source, name="prog.s", **kw):
    return make_system(arch, source, name, bare=False, **kw)


def run_until(system, done, budget=50_000_000):
    res = system.machine.run(budget, pause=done)
    assert res.reason == "paused", (res, system.kernel.stderr)


@functools.lru_cache(maxsize=None)
def spinning(arch):
    """spin.s with one P a few thousand instructions after the spinner started: G2 runs
    on cpu0, G1 waits on the global run queue, sysmon sleeps on cpu1.  Views only read,
    so the tests share it."""
    rec = Recorder(kinds=[ev.SWITCH])
    s = System([program_path(arch, "spin.s")], arch, bare=False, procs=1, trace=rec)
    run_until(s, lambda: any(e.args[2] == 2 for e in rec.events))
    s.machine.run(s.machine.instructions + 5_000)
    return s


def nested(arch, until):
    rec = Recorder(kinds=[ev.SWITCH, ev.GSTATUS])
    s = runtime_system(arch, NESTED[arch], "nested.s", procs=1, trace=rec, runtime_options={"sysmon": False})
    run_until(s, lambda: until(rec.events))
    return s


def g4_switched_in(events):
    return any(e.kind == ev.SWITCH and e.args[2] == 4 for e in events)


def all_four_parked(events):
    return sum(1 for e in events if e.kind == ev.GSTATUS and e.args[2] == "_Gwaiting") == 4


# ---- registers ------------------------------------------------------------------------------
def test_register_view_marks_exactly_the_registers_one_instruction_changed(arch):
    s = make_system(arch, TWO_STEPS[arch])
    cpu = s.machine.cpus[0]
    s.run(1)                                        # the mov
    before = RegisterView(cpu)
    s.run(2)                                        # the sub / subs, and nothing else
    after = RegisterView(cpu, previous=before.values)
    expected = {"amd64": {"rax", "rip", "rflags"}, "arm64": {"x0", "pc", "nzcv"}}[arch]
    assert after.changed == expected
    assert after[PC_REG[arch]] == before[PC_REG[arch]] + 4        # sub rax, 7 and subs are 4 bytes
    marked = {line.split()[1] for line in after.text().splitlines() if line.startswith("* ")}
    assert marked == expected
    html = after._repr_html_()
    assert_good_html(html)
    assert html.count("<tr style=") == 3            # the highlighted rows, and only them
    assert RegisterView(cpu, previous=after).changed == frozenset()
    flags = {"amd64": "[ZF PF]", "arm64": "[Z C]"}[arch]
    assert flags in after.text()


def test_register_view_names_go_abi_roles(arch):
    cpu = make_system(arch, TWO_STEPS[arch]).machine.cpus[0]
    roles = RegisterView(cpu).roles
    if arch == "amd64":
        assert roles["r14"].startswith("g:") and roles["rbp"].startswith("frame pointer")
        assert roles["rax"] == "arg/result 0" and "fs:-8" in roles["fs_base"]
    else:
        assert roles["x28"].startswith("g:") and roles["x29"].startswith("frame pointer")
        assert roles["x30"].startswith("link register") and roles["x27"].startswith("REGTMP")
        assert roles["x18"].startswith("platform register")
        assert {"fpsr", "fpcr"} <= set(RegisterView(cpu).values)
    with pytest.raises(ValueError, match="RegisterView: previous names registers"):
        RegisterView(cpu, previous={"no_such_register": 1})


# ---- disassembly ----------------------------------------------------------------------------
def test_disasm_marks_the_pc_with_its_symbol_and_source_line(arch):
    s = spinning(arch)
    view = DisasmView(s, s.machine.cpus[0])
    cur = view.current
    spin_at = {"amd64": 4, "arm64": 8}[arch]           # after push rbp; mov rbp, rsp / stp; mov
    assert (cur.symbol, cur.file, cur.line, cur.source) == (f"spinner+{spin_at}", "spin.s", 33,
                                                            {"amd64": "jmp 1b", "arm64": "b 1b"}[arch])
    i = view.instructions.index(cur)
    assert i == 4                                        # four instructions before the pc
    assert view.instructions[i - 1].source == {"amd64": "mov rbp, rsp", "arm64": "mov x29, sp"}[arch]
    assert [ln for ln in view.text().splitlines() if ln.startswith("=>")] == \
        [ln for ln in view.text().splitlines() if "spinner+%d " % spin_at in ln]
    gogo = DisasmView(s, pc=s.image.symbols["runtime.gogo"], before=2, after=3)
    assert len(gogo.instructions) == 6 and gogo.current.symbol == "runtime.gogo+0"
    assert gogo.current.file == "asm.s"
    assert_good_html(view._repr_html_())
    with pytest.raises(ValueError, match="DisasmView: give a cpu"):
        DisasmView(s)


# ---- G, M, P ----------------------------------------------------------------------------------
def test_sched_view_of_a_known_program_point(arch):
    s = nested(arch, g4_switched_in)
    view = SchedView(s)
    assert [(g.goid, g.status, g.waitreason, g.m, g.start, g.where) for g in view.gs] == [
        (4, "_Grunning", "", 0, "worker", "M0 curg"),
        (3, "_Grunnable", "", None, "worker", "P0 runq[1]"),
        (2, "_Grunnable", "", None, "worker", "P0 runq[0]"),
        (1, "_Gwaiting", "chan receive", None, "runtime.main", ""),
    ]
    p0 = view.p(0)
    assert (p0.status, p0.m, p0.runqhead, p0.runqtail, p0.runq, p0.runnext) == ("_Prunning", 0, 0, 2, (2, 3), None)
    assert p0.schedtick == 0                   # G4 came from runnext: it inherited main's time slice
    m0 = view.m(0)
    assert (m0.tid, m0.cpu, m0.cpu_state, m0.curg, m0.p, m0.spinning, m0.idle, m0.sysmon) == \
        (1000, 0, "run", 4, 0, False, False, False)
    assert len(view.ms) == 1 and view.global_runq == () and view.idle_ps == () and view.idle_ms == ()
    assert (view.gomaxprocs, view.ngoroutines) == (1, 4)
    text = view.text()
    assert "* G4  _Grunning" in text and "G2 G3" in text
    for part in (view, view.g(1), view.m(0), view.p(0)):
        assert_good_html(part._repr_html_())


def test_sched_view_shows_the_global_queue_and_the_cpu_of_every_m(arch):
    view = SchedView(spinning(arch))
    assert [(g.goid, g.status, g.where) for g in view.gs] == [(2, "_Grunning", "M0 curg"),
                                                              (1, "_Grunnable", "global runq[0]")]
    assert view.global_runq == (1,) and view.runqsize == 1
    ms = {m.id: m for m in view.ms}
    assert (ms[0].cpu, ms[0].cpu_state, ms[0].curg, ms[0].p) == (0, "run", 2, 0)
    assert (ms[1].tid, ms[1].cpu, ms[1].sysmon, ms[1].p, ms[1].curg) == (1001, 1, True, None, None)
    with pytest.raises(ValueError, match="SchedView: the system has no runtime"):
        SchedView(make_system(arch, TWO_STEPS[arch]))


# ---- goroutine stacks ------------------------------------------------------------------------
def test_stack_of_a_parked_goroutine_names_its_nested_calls_in_order(arch):
    s = nested(arch, all_four_parked)
    sched = SchedView(s)
    assert {g.status for g in sched.gs} == {"_Gwaiting"}
    for goid in (2, 3, 4):
        stack = GStackView(s, sched.g(goid))
        assert stack.source == "g.sched"
        assert stack.functions == ["runtime.chanrecv", "level2", "level1", "worker", "runtime.goexit"]
        assert [f.kind for f in stack.frames] == [PYTHON, RETURN, RETURN, RETURN, RETURN]
        level2, level1 = stack.frames[1], stack.frames[2]
        assert level2.file == "nested.s" and level2.source.startswith(f"{CALL[arch]} runtime.chanrecv ")
        assert level1.source == f"{CALL[arch]} level2"
        assert level2.fp == stack.fp and stack.lo <= stack.sp < stack.hi
        assert stack.stop == "frame pointer 0: the outermost frame"
    main = GStackView(s, sched.g(1))
    assert main.functions == ["runtime.chanrecv", "main.main", "runtime.main", "runtime.goexit"]
    assert main.frames[0].source == "emu.runtime.chan.chanrecv"
    assert GStackView(s, sched.g(4), max_depth=2).stop == "max depth 2 reached"
    assert_good_html(main._repr_html_())


def test_stack_walk_stops_safely_on_a_corrupt_chain(arch):
    s = nested(arch, all_four_parked)
    g2 = SchedView(s).g(2)
    good = GStackView(s, g2)
    level1_fp = good.frames[2].fp
    s.machine.memory.write_u64(level1_fp, level1_fp)            # a record that points at itself
    looped = GStackView(s, g2)
    assert looped.functions == good.functions[:4]
    assert looped.stop.startswith("frame pointer does not increase")
    above = good.hi + 0x100
    s.machine.memory.write_u64(level1_fp, above)                # increasing, but past the stack's top
    assert GStackView(s, g2).stop == f"frame pointer {above:#x} is outside the stack or misaligned"


def test_stack_of_a_running_goroutine_is_read_from_its_cpu(arch):
    s = spinning(arch)
    cpu = s.machine.cpus[0]
    stack = GStackView(s, SchedView(s).g(2))
    assert stack.source == "cpu0" and stack.pc == cpu.pc and stack.sp == cpu.sp
    assert stack.functions == ["spinner", "runtime.goexit"]
    assert [f.kind for f in stack.frames] == [PC, RETURN]


# ---- signal frames ----------------------------------------------------------------------------
def delivery(arch, source, budget=100_000_000, **kw):
    """Run until the first rt_sigreturn; return (system, the frame view built at the
    handler's first instruction, the registers and mask at delivery, the trace)."""
    rec = Recorder(kinds=[ev.SIGNAL, ev.SIGRETURN])
    s = System([source] if not isinstance(source, str) else [("prog.s", source)], arch, bare=False,
               procs=1, trace=rec, **kw)
    at_delivery, views = {}, []
    s.kernel.delivery_hooks.append(lambda t, sig: at_delivery or at_delivery.update(t.cpu.context(),
                                                                                    blocked=t.blocked))
    s.machine.add_code_hook(s.image.symbols["runtime.sigtramp"],
                            lambda cpu: views or views.append(SigFrameView(s, cpu.sp)))
    s.machine.run(budget, pause=lambda: bool(rec.of(ev.SIGRETURN)) or s.kernel.exit_status is not None)
    assert views, s.kernel.stderr
    return s, views[0], at_delivery, rec


def test_sigframe_decodes_to_the_registers_the_cpu_had_at_delivery(arch):
    s, frame, cpu_had, rec = delivery(arch, program_path(arch, "spin.s"))
    assert frame.frame == rec.of(ev.SIGNAL)[0].args[2]
    assert frame.pc == cpu_had[PC_REG[arch]] and frame.sp == cpu_had[SP_REG[arch]]
    assert frame.regs == {name: cpu_had[name] for name in frame.regs}       # every saved register
    assert len(frame.regs) == {"amd64": 18, "arm64": 35}[arch]
    assert (frame.signo, frame["info.si_code"], frame["info.si_pid"]) == (23, -6, 1000)   # tgkill's SIGURG
    assert frame.sigmask == cpu_had["blocked"]
    gsignal = s.runtime.g(s.runtime.m0.gsignal)
    assert (frame["uc.uc_stack.ss_sp"], frame["uc.uc_stack.ss_size"]) == (gsignal.stack.lo, 32 * 1024)
    assert s.image.symbol_at(frame.pc)[0] == "spinner"
    if arch == "amd64":
        assert frame["pretcode"] == s.image.symbols["runtime.sigreturn__sigaction"]
        assert frame["uc.mcontext.cs"] == 0x33 and frame["fpstate.mxcsr"] == cpu_had["mxcsr"]
    else:
        assert frame["uc.mcontext.pstate"] == cpu_had["nzcv"] & 0xF000_0000
        assert (frame["record.x29"], frame["record.x30"]) == (cpu_had["x29"], cpu_had["x30"])
        assert frame["fpsimd_context.magic"] == 0x46508001 and frame["terminator.magic"] == 0
    text = frame.text()
    assert sum(1 for ln in text.splitlines() if ln.startswith("* ")) == 2       # pc and sp rows
    assert_good_html(frame._repr_html_())
    # after the handler: pushCall made the frame resume in asyncPreempt, one call deeper
    edited = SigFrameView(s, rec.of(ev.SIGNAL)[0])
    back = rec.of(ev.SIGRETURN)[0]
    assert (edited.pc, edited.sp) == back.args
    assert edited.pc == s.image.symbols["runtime.asyncPreempt"]
    assert edited.sp == frame.sp - {"amd64": 8, "arm64": 16}[arch]


def test_sigframe_of_a_fault_names_the_faulting_address(arch):
    s, frame, cpu_had, _ = delivery(arch, NIL_STORE[arch])
    assert frame.signo == 11 and frame["info.si_code"] == 1                   # SIGSEGV, SEGV_MAPERR
    assert frame["info.si_addr"] == 16
    assert frame["uc.mcontext.cr2" if arch == "amd64" else "uc.mcontext.fault_address"] == 16
    assert frame.pc == cpu_had[PC_REG[arch]] and s.image.line_at(frame.pc).text.startswith(
        {"amd64": "mov qword ptr [rax], 1", "arm64": "str x1, [x0]"}[arch])
    with pytest.raises(ValueError, match="SigFrameView"):
        SigFrameView(s, frame.frame + 4)


# ---- tables and trace slices ------------------------------------------------------------------
def test_events_render_as_an_html_table(arch):
    s = spinning(arch)
    events = s.recorder.events
    html = events_html(events)
    assert_good_html(html)
    assert html.count("<tr") == len(events) + 1 and "m0 p0 runs g2" in html
    table = events_table(events * 3, limit=2)
    assert len(table.rows) == 2 and table.note == f"... {3 * len(events) - 2} more events not shown"


def test_tables_escape_text_and_refuse_ragged_rows():
    t = Table("<b>", ("a", "b"), [("<script>alert(1)</script>", "&")], highlight={0})
    html = t._repr_html_()
    assert_good_html(html)
    assert "&lt;script&gt;" in html and "&amp;" in html
    assert t.text().splitlines()[2].startswith("* <script>")
    with pytest.raises(ValueError, match="row 0 has 1 cells, expected 2"):
        Table("t", ("a", "b"), [("x",)])


def test_every_object_a_notebook_shows_has_a_self_contained_html_repr(arch):
    """Debugger, System, Machine, CPU, runtime structs (every field from the layout
    table), recorders and events render as HTML that parses and has no script."""
    from emu.debug import Debugger
    d = Debugger([f"programs/{arch}/pingpong.s"], arch, bare=False, procs=2)
    d.run_until(gstatus="_Gwaiting", goid=2)
    objs = [d, d.system, d.machine, d.cpu, d.g(2), d.runtime.allp(0), d.recorder, d.events[-1]]
    for obj in objs:
        page_ = obj._repr_html_()
        assert "<table" in page_ and "<script" not in page_.lower(), type(obj).__name__
        assert_good_html(page_)
    fields = dict((name, value) for name, _off, _size, value in d.g(2).fields())
    assert fields["goid"] == 2 and fields["atomicstatus"] == 4          # _Gwaiting
    assert fields["sched.sp"] == d.g(2).sched.sp != 0
