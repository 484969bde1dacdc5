"""Asynchronous preemption on both arches: a loop with no calls is preempted by
sysmon + SIGURG + asyncPreempt, every register comes back (the transparency
checker over 1,000+ seeded preemption points), and broken variants of
asyncPreempt are caught by the checker (mutation tests)."""
from __future__ import annotations

import pytest

from emu.analysis.preempt_check import PreemptionChecker
from emu.cli import program_path
from emu.system import System, runtime_sources
from emu.trace import events as ev
from emu.trace.events import Recorder

from conftest import replay
from runtime_programs import BOUNDED_SPIN


def example(arch, name):
    return program_path(arch, name)


# ---- a tight loop is preempted ------------------------------------------------------------
def test_spinning_goroutine_is_preempted_and_main_finishes(arch):
    rec = Recorder(slices=False)
    s = System([example(arch, "spin.s")], arch, bare=False, procs=1, trace=rec)
    out = s.run(100_000_000)
    assert (out.status, out.stdout, out.stderr) == (0, b"1\n", b""), (out.report, replay(s))
    kinds = [e.kind for e in rec.events]
    # the whole chain, in order: sysmon's decision, tgkill, the frame on the altstack,
    # pushCall, rt_sigreturn, asyncPreempt's save, the switch back to main
    i = kinds.index("retake")
    chain = ["retake", "tgkill", ev.SIGNAL, "pushcall", "rt_sigreturn", ev.SIGRETURN, "asyncpreempt", ev.SWITCH]
    seen = []
    for e in rec.events[i:]:
        name = e.args[0] if e.kind == ev.SYSCALL else e.kind
        if seen != chain and name == chain[len(seen)]:
            seen.append(name)
    assert seen == chain, seen
    sig = rec.of(ev.SIGNAL)[0]
    assert sig.args[0] == 23 and sig.args[3] is True                 # SIGURG, on the altstack
    # the frame is inside m0's gsignal stack
    rt = s.runtime
    gs = rt.g(rt.m0.gsignal)
    assert gs.stack.lo <= sig.args[2] < gs.stack.hi
    # 10 ms of virtual time (forcePreemptNS) passed before sysmon acted
    retake = rec.of("retake")[0]
    assert retake.args[2] >= 10_000_000


def test_force_preempt_ns_is_configurable(arch):
    rec = Recorder(kinds=["retake"])
    s = System([example(arch, "spin.s")], arch, bare=False, procs=1, trace=rec,
               runtime_options={"forcePreemptNS": 1_000_000})
    out = s.run(100_000_000)
    assert out.stdout == b"1\n"
    assert 1_000_000 <= rec.events[0].args[2] < 2_000_000


def test_preempted_g_can_park_in_gpreempted(arch):
    rec = Recorder(kinds=[ev.GSTATUS, "preemptpark"])
    s = System([("bounded.s", BOUNDED_SPIN[arch])], arch, bare=False, procs=1, trace=rec,
               runtime_options={"preempt_park": True, "forcePreemptNS": 1_000_000})
    out = s.run(100_000_000)
    assert out.stdout == b"7\n", out.report
    spinner = [e.args[1:3] for e in rec.of(ev.GSTATUS) if e.args[0] == 2]
    assert ("_Grunning", "_Gpreempted") in spinner
    assert ("_Gpreempted", "_Gwaiting") in spinner            # resumeG: readied by sysmon
    assert spinner[spinner.index(("_Gpreempted", "_Gwaiting")) + 1] == ("_Gwaiting", "_Grunnable")


def test_twenty_preemptions_with_the_default_settings(arch):
    """Two spinners with no calls share one P for 240 ms of virtual time each: only
    preemption interleaves them; with the defaults (100 MHz, forcePreemptNS 10 ms,
    sysmon backing off to 10 ms rounds, so one preemption per 10-20 ms) that is
    about 20-30 preemptions, in about a host second."""
    rec = Recorder(kinds=["pushcall", ev.SWITCH])
    src = (BOUNDED_SPIN[arch].replace("mov eax, 1\n", "mov eax, 2\n").replace("mov x0, #1\n", "mov x0, #2\n")
           .replace("mov ecx, 4000000", "mov ecx, 12000000")
           .replace("movz x2, #0x0900\n    movk x2, #0x3d", "movz x2, #0x1b00\n    movk x2, #0xb7"))
    s = System([("two.s", src)], arch, bare=False, procs=1, trace=rec)
    out = s.run(200_000_000)
    assert (out.status, out.stdout) == (0, b"14\n"), out.report
    assert 20 <= len(rec.of("pushcall")) <= 48, len(rec.of("pushcall"))
    ran = [e.args[2] for e in rec.of(ev.SWITCH)]
    assert sum(1 for a, b in zip(ran, ran[1:]) if {a, b} == {2, 3}) >= 10   # they took turns


# ---- the transparency checker --------------------------------------------------------------
def regstress_expected(arch):
    s = System([example(arch, "regstress.s")], arch, bare=False, procs=1, runtime_options={"sysmon": False})
    out = s.run(100_000_000)
    assert out.status == 0
    return out.stdout


@pytest.mark.parametrize("procs,seed", [(1, 11), (2, 12)])
def test_transparency_over_a_thousand_preemption_points(arch, procs, seed):
    expected = regstress_expected(arch)
    s = System([example(arch, "regstress.s")], arch, bare=False, procs=procs, seed=seed,
               runtime_options={"sysmon": False})
    checker = PreemptionChecker(s)
    out = checker.storm(points=2500, seed=seed, gap=(30, 700))
    rep = checker.report
    assert (out.status, out.stdout) == (0, expected), (out.report, out.stderr)
    assert rep.checked >= 1000, str(rep)
    assert len(rep.pcs) > 30                         # spread over the program, not one spot
    assert rep.differences == [], str(rep)


def _mutant_sources(arch, edits):
    root = runtime_sources(arch)
    text = root[0].read_text()
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return [("asm.s", text)] + root[1:]


MUTANTS = {
    "amd64": {
        "flags not saved": [("    pushfq                              # flags first\n", ""),
                            ("    popfq                               # flags last: the add above changed them\n", "")],
        "one register skipped": [("    mov r11, qword ptr [rsp + 72]\n", "")],
        "a vector register skipped": [("    movups xmm9, xmmword ptr [rsp + 256]\n", "")],
    },
    "arm64": {
        "flags not saved": [("    msr nzcv, x0\n", "")],
        "one register skipped": [("    ldp x6, x7, [sp, #64]\n", "    ldr x6, [sp, #64]\n")],
        "LR lost": [("    ldr x30, [sp, #768]                 // the interrupted function's LR (saved by pushCall)\n",
                     "")],
    },
}
# A skipped register must be one nothing else restores: r11 (gogo jumps through it) and
# x7 (gogo's scratch); a callee-saved one would come back through g.sched.callee anyway.
EXPECTED_CULPRIT = {"flags not saved": {"rflags", "nzcv"}, "one register skipped": {"r11", "x7"},
                    "a vector register skipped": {"xmm9"}, "LR lost": {"x30"}}


@pytest.mark.parametrize("mutant", ["flags not saved", "one register skipped", "a vector register skipped",
                                    "LR lost"])
def test_checker_catches_a_broken_async_preempt(arch, mutant):
    if mutant not in MUTANTS[arch]:
        pytest.skip(f"{mutant}: not a failure mode of {arch}")
    s = System([example(arch, "regstress.s")], arch, bare=False, procs=1, seed=3,
               runtime_options={"sysmon": False}, runtime_asm=_mutant_sources(arch, MUTANTS[arch][mutant]))
    checker = PreemptionChecker(s)
    checker.storm(points=200, seed=3, max_instructions=20_000_000)
    culprits = {d.register for d in checker.report.differences}
    assert culprits & EXPECTED_CULPRIT[mutant], (mutant, str(checker.report))
