"""Exercise pushcall: write pushCall, the signal-context edit that injects asyncPreempt.

The student's pushcall.py defines pushCall(rt, uc, target, resume), which replaces
emu.runtime.preempt.pushCall (the grader's Python substitution, in a forked child
per test).  The tests run real preemptions through it: the SIGURG handler
(doSigPreempt) calls it with the kernel's ucontext in guest memory.

Design note
  1. Every test runs the student's function through `Watch`, which stands in for
     it in emu.runtime.preempt: it remembers the first exception the student's code
     raised (the runtime turns an exception into a guest fatal error; the test
     raises it again afterwards, so the grader names the student's file and line),
     and, in `stack_contents`, compares the ucontext and the stack around the
     interrupted SP before and after each call with what Go's pushCall does.
  2. The other tests judge the consequences: spin.s is stopped at all; regstress
     resumes with every register as it was (the transparency checker); a goroutine
     whose live data sits at [SP] keeps it (stackwords, exercise-local).
  3. Messages name the rule that was broken and, for the classic bugs, the bug:
     a word stored at or above the interrupted SP (live data), SP left in place
     (the next push overwrites the word), the interrupted LR not kept (go-lib bug
     14), the next instruction pushed instead of the interrupted one.
"""
from __future__ import annotations

from emu.analysis.preempt_check import PreemptionChecker
from emu.grade.exercise import Exercise
from emu.runtime import preempt
from emu.runtime.signal import UC_OFFSETS, UC_ROLES
from emu.system import BUDGET_STATUS
from emu.trace.events import Recorder
from emu.views.saverestore import symbolize

EX = Exercise(
    name="pushcall",
    title="pushCall: make the interrupted goroutine call asyncPreempt",
    kind="python",
    replaces={"pushCall": "emu.runtime.preempt.pushCall"},
    files={"*": "pushcall.py"},
    seeds=(1, 2),
)

WINDOW = 64                 # bytes at and above the interrupted SP that pushCall must leave alone
MIN_CHECKED = 30


# ---- watching the student's pushCall ----------------------------------------------------
class Watch:
    """Stands in for pushCall in emu.runtime.preempt while a test runs (a context
    manager); calls the student's function and, with `check`, checks each call."""

    def __init__(self, check: str | None = None):
        """check: None (only call), "all" (every rule of the contract) or "live" (only
        that nothing at or above the interrupted SP changes)."""
        self.check = check
        self.student = preempt.pushCall
        self.calls = 0
        self.error: BaseException | None = None
        self.problems: list[str] = []
        self._next: dict[int, int] | None = None

    def __enter__(self):
        preempt.pushCall = self
        return self

    def __exit__(self, *exc):
        preempt.pushCall = self.student
        return False

    def __call__(self, rt, uc, target: int, resume: int) -> None:
        self.calls += 1
        before = self._snapshot(rt, uc) if self.check else None
        try:
            self.student(rt, uc, target, resume)
        except BaseException as e:       # noqa: BLE001 -- kept for the test to raise again
            if self.error is None:
                self.error = e
            raise
        if before is not None:
            try:
                problem = self._verify(rt, uc, target, resume, before)
            except Exception as e:       # noqa: BLE001 -- e.g. an SP outside guest memory
                problem = f"after pushCall the ucontext cannot be checked ({type(e).__name__}: {e})"
            if problem:
                self.problems.append(problem)

    def raise_student_error(self) -> None:
        if self.error is not None:
            raise self.error

    # ---- the direct check --------------------------------------------------------------
    def _snapshot(self, rt, uc) -> dict:
        arch = rt.isa.name
        regs = {name: rt.mem.read_u64(uc.addr + off) for name, off in UC_OFFSETS[arch].items()}
        sp = regs[UC_ROLES[arch]["sp"]]
        words = {a: rt.mem.read_u64(a) for a in range(sp - WINDOW, sp + WINDOW, 8)}
        return {"regs": regs, "sp": sp, "words": words}

    def _verify(self, rt, uc, target: int, resume: int, before: dict) -> str | None:
        arch, image, mem = rt.isa.name, rt.image, rt.mem
        roles = UC_ROLES[arch]
        regs0, sp0 = before["regs"], before["sp"]
        pc0, lr0, fp0 = regs0[roles["pc"]], regs0.get("x30"), regs0[roles["fp"]]
        regs = {name: mem.read_u64(uc.addr + off) for name, off in UC_OFFSETS[arch].items()}
        pc, sp = regs[roles["pc"]], regs[roles["sp"]]
        if self.check == "live":
            return self._live_words(mem, sp0, before)
        step = 8 if arch == "amd64" else 16
        where = symbolize(image, pc0)
        go = "signal_amd64.go" if arch == "amd64" else "signal_arm64.go"

        # 1. where the goroutine goes
        if pc != target:
            if pc == pc0:
                return (f"after pushCall the ucontext's pc is still the interrupted pc {where}: set it to target "
                        f"({symbolize(image, target)}); rt_sigreturn resumes the goroutine wherever the "
                        f"ucontext's pc says")
            return (f"after pushCall the ucontext's pc is {symbolize(image, pc)}, but it must be target "
                    f"({symbolize(image, target)}), the function the goroutine is made to call")
        # 2. the stack pointer
        if sp == sp0:
            return (f"pushCall left SP at the interrupted {sp0:#x}: a word stored below SP is not reserved, and "
                    f"asyncPreempt's first push overwrites it (the red-zone bug, go-lib bug 2; Go has no red "
                    f"zone).  Lower SP by {step} bytes (uc[\"sp\"] = sp - {step}), as Go's pushCall does "
                    f"({go})")
        if sp > sp0:
            return (f"pushCall moved SP up, from {sp0:#x} to {sp:#x} ({sp - sp0:+d} bytes): the stack grows down, "
                    f"so the words above the interrupted SP are the goroutine's live data.  Lower SP by {step} "
                    f"bytes and store below the interrupted SP")
        if sp0 - sp != step:
            why = ("`ret` at the end of asyncPreempt pops exactly one 8-byte word" if arch == "amd64" else
                   "asyncPreempt gives back its 768 bytes and pushCall's 16, and SP must stay 16-byte aligned")
            return (f"pushCall lowered SP by {sp0 - sp} bytes, from {sp0:#x} to {sp:#x}; it must be exactly "
                    f"{step}: {why}")
        # 3. the goroutine's live data
        live = self._live_words(mem, sp0, before)
        if live:
            return live
        # 4. the return address, and on arm64 the interrupted LR and FP
        ret_where = "the word at the new SP" if arch == "amd64" else "LR"
        got = mem.read_u64(sp) if arch == "amd64" else regs["x30"]
        if got != resume:
            if got == self._next_pc(image, resume):
                return (f"pushCall made {symbolize(image, got)} the return address, the next instruction; the "
                        f"goroutine must resume AT the interrupted instruction {symbolize(image, resume)}: the "
                        f"signal arrived before it ran, so returning past it skips it")
            return (f"{ret_where} after pushCall is {got:#x}, but it must be the resume PC {resume:#x} "
                    f"({symbolize(image, resume)}): asyncPreempt returns there"
                    + (" with `ret`" if arch == "amd64" else " (it keeps LR in its frame record)"))
        if arch == "arm64":
            saved = mem.read_u64(sp)
            if saved != lr0:
                return (f"the interrupted LR ({lr0:#x}) is not at the new SP {sp:#x}, which holds {saved:#x}: "
                        f"asyncPreempt restores x30 from there, so the interrupted function's own LR is lost "
                        f"and a leaf function never returns (go-lib bug 14).  Store uc[\"lr\"] at the new SP "
                        f"before you set LR to the resume PC")
            fpword = mem.read_u64(sp - 8)
            if fpword != fp0:
                return (f"the word below the new SP ({sp - 8:#x}) holds {fpword:#x}, not the interrupted frame "
                        f"pointer x29 = {fp0:#x}: Go's pushCall stores it there (\"Make sure a valid frame "
                        f"pointer is saved on the stack\", {go})")
        # 5. nothing else in the ucontext
        allowed = {roles["pc"], roles["sp"]} | ({roles["lr"]} if roles["lr"] else set())
        for name, old in regs0.items():
            if name not in allowed and regs[name] != old:
                return (f"pushCall changed {name} in the ucontext ({old:#x} -> {regs[name]:#x}): only pc, SP"
                        f"{' and LR' if arch == 'arm64' else ''} may change; rt_sigreturn loads every register "
                        f"from the ucontext")
        return None

    @staticmethod
    def _live_words(mem, sp0: int, before: dict) -> str | None:
        for addr in range(sp0, sp0 + WINDOW, 8):
            old, new = before["words"][addr], mem.read_u64(addr)
            if old != new:
                return (f"pushCall overwrote the goroutine's live word at {addr:#x} (the interrupted SP+"
                        f"{addr - sp0}): it held {old:#x}, now {new:#x}.  Everything at and above the interrupted "
                        f"SP belongs to the goroutine; the stack grows down, so lower SP first and store at the "
                        f"new SP")
        return None

    def _next_pc(self, image, pc: int) -> int | None:
        if self._next is None:
            self._next = {ln.addr: ln.addr + ln.size for ln in image.lines}
        return self._next.get(pc)


# ---- running -------------------------------------------------------------------------------
def how_it_ended(out) -> str:
    if out.status == BUDGET_STATUS:
        return "the program did not finish within its instruction budget"
    if out.status == 0:
        return f"the program exited 0 and printed {out.stdout!r}"
    first = (out.stderr.decode(errors="replace").strip().splitlines() or [""])[0]
    if not first:
        first = " / ".join(ln.strip() for ln in out.report.splitlines()[:2])
    return f"the program ended with status {out.status}: {first}"


def storm(ctx, program, *, points=160, procs=1):
    """`program` under a storm of preemptions: (system, checker report, outcome).  The
    report leaves out the TLS base register: it belongs to the M, not the G."""
    s = ctx.system([program], procs=procs, runtime_options={"sysmon": False})
    checker = PreemptionChecker(s)
    out = checker.storm(points=points, seed=ctx.seed, gap=(30, 700), max_instructions=ctx.budget)
    rep = checker.report
    rep.differences = [d for d in rep.differences if d.register != s.machine.isa.tls]
    return s, rep, out


def plain_output(ctx, program) -> bytes:
    """What `program` prints when nothing preempts it (pushCall is never called)."""
    return ctx.system([program], procs=1, runtime_options={"sysmon": False}).run(ctx.budget).stdout


def first_difference(diffs):
    """The difference that explains the most: pc, then SP, then LR, then the rest."""
    rank = {"rip": 0, "pc": 0, "rsp": 1, "sp": 1, "x30": 2}
    return min(diffs, key=lambda d: rank.get(d.register, 3))


def explain(s, d) -> str:
    """A checker Difference, as a consequence of pushCall."""
    arch, image = s.arch, s.image
    where = symbolize(image, d.pc)
    reg, before, after = d.register, d.before, d.after
    if reg in ("rip", "pc"):
        line = next((ln for ln in image.lines if ln.addr == d.pc), None)
        late = " (the next instruction: the interrupted one never ran)" if line and after == d.pc + line.size else ""
        return (f"the goroutine was interrupted at {where} but resumed at {symbolize(image, after)}{late}: the "
                f"return address pushCall makes ({'the word at the new SP' if arch == 'amd64' else 'LR'}) must "
                f"be the resume PC")
    if reg in ("rsp", "sp"):
        gives = "the 8 bytes of the return address" if arch == "amd64" else "pushCall's 16 bytes"
        return (f"SP changed across the preemption at {where}: the goroutine had {before:#x} and resumed with "
                f"{after:#x} ({after - before:+d} bytes): asyncPreempt gives back exactly {gives}, so "
                f"pushCall must lower SP by exactly that")
    if reg == "x30":
        return (f"LR (x30) changed across the preemption at {where}: the interrupted function's LR was "
                f"{before:#x} and it resumed with {after:#x}: asyncPreempt restores x30 from the word at "
                f"pushCall's new SP, so the interrupted LR must be stored there (go-lib bug 14)")
    return (f"{reg} changed across the preemption at {where}: the goroutine had {before:#x} and resumed with "
            f"{after:#x}; pushCall may change only pc, SP{' and LR' if arch == 'arm64' else ''} in the "
            f"ucontext, and only the stack below the interrupted SP")


# ---- the tests -------------------------------------------------------------------------------
@EX.test(3, budget=6_000_000)
def stack_contents(ctx):
    """Each pushCall leaves exactly Go's ucontext and stack: pc, SP, return address (and LR, FP)."""
    with Watch(check="all") as w:
        s, rep, out = storm(ctx, "stackwords", points=40)
    w.raise_student_error()
    if w.calls == 0:
        ctx.fail(f"pushCall was never called; {how_it_ended(out)}")
    if w.problems:
        ctx.fail(f"{w.problems[0]}  [{len(w.problems)} of {w.calls} pushCall(s) wrong]")


@EX.test(2, budget=5_000_000)
def spin_is_preempted(ctx):
    """spin.s: sysmon's SIGURG stops the spinning goroutine and main prints 1."""
    rec = Recorder(slices=False) if ctx.trace else Recorder(kinds=["pushcall", "asyncpreempt"])
    with Watch() as w:
        s = ctx.system(["spin"], procs=1, trace=rec)
        out = s.run(ctx.budget)
    w.raise_student_error()
    if out.status == 0 and out.stdout == b"1\n":
        return
    if w.calls == 0:
        ctx.fail(f"pushCall was never called; {how_it_ended(out)}")
    if not rec.of("asyncpreempt"):
        ctx.fail(f"pushCall ran {w.calls} time(s), but the spinner never reached asyncPreempt2: after "
                 f"rt_sigreturn it must continue at target; {how_it_ended(out)}")
    ctx.fail(f"asyncPreempt ran but main did not print 1; {how_it_ended(out)}")


@EX.test(3, depends=("spin_is_preempted",), budget=8_000_000)
def regstress_transparent(ctx):
    """regstress.s under 160 preemptions: every register comes back, exact checksum."""
    expected = plain_output(ctx, "regstress")
    with Watch() as w:
        s, rep, out = storm(ctx, "regstress")
    w.raise_student_error()
    if rep.differences:
        ctx.fail(f"{explain(s, first_difference(rep.differences))}  [{len(rep.differences)} difference(s) over "
                 f"{rep.checked} preemptions]")
    if out.status != 0 or out.stdout != expected:
        ctx.fail(f"the checksum is wrong under preemption: expected {expected!r}; {how_it_ended(out)}")
    if rep.checked < MIN_CHECKED:
        ctx.fail(f"only {rep.checked} preemptions were checked; {how_it_ended(out)}")


@EX.test(2, depends=("spin_is_preempted",), budget=6_000_000)
def live_stack_words(ctx):
    """stackwords: live data at [SP] survives 160 preemptions on 2 Ps (exact checksum)."""
    expected = plain_output(ctx, "stackwords")
    with Watch(check="live") as w:
        s, rep, out = storm(ctx, "stackwords", procs=2)
    w.raise_student_error()
    if w.problems:
        ctx.fail(f"{w.problems[0]}  [{len(w.problems)} of {w.calls} pushCall(s) did]")
    if rep.differences:
        ctx.fail(f"{explain(s, first_difference(rep.differences))}  [{len(rep.differences)} difference(s) over "
                 f"{rep.checked} preemptions]")
    if out.status != 0 or out.stdout != expected:
        ctx.fail(f"the workers' checksum is wrong under preemption: expected {expected!r}; {how_it_ended(out)}")
    if rep.checked < MIN_CHECKED:
        ctx.fail(f"only {rep.checked} preemptions were checked; {how_it_ended(out)}")
