"""Exercise asyncpreempt: write runtime.asyncPreempt in machine code, on both arches.

The student's asyncpreempt_<arch>.s replaces the runtime's asyncPreempt (and its
label runtime.asyncPreempt.return).  The tests drive preemptions into programs that
keep every register live and judge the result with the preemption transparency
checker (emu/analysis/preempt_check.py: the whole register file at the interrupted
PC against the one at the resumption) and the save/restore view
(emu/views/saverestore.py: what each slot of the frame holds).

Design note
  1. One storm program for every register test: programs/<arch>/regstress.s, with
     FPSR and FPCR given per-worker values first on arm64 (they are 0 throughout the
     program, so a save that skips them would not show).  Each test judges one
     class of registers (pc/sp, general, flags, vector), so a student sees which
     part of the routine is wrong; `transparent_everywhere` judges all of them and
     the program's output together, with a third worker on two Ps (so Gs resume on
     the other M; the TLS base, which belongs to the M, is left out).
  2. Failure messages come from the checker's first difference in the test's
     class, explained per register: where it was preempted (symbolized), the two
     values, and what the code must do instead.
  3. The storm is bounded by the test's budget, so a broken save that turns the
     loop into a runaway (a lost ZF on `dec; jnz`) costs a bounded time.
"""
from __future__ import annotations

from emu.analysis.preempt_check import PreemptionChecker
from emu.grade.exercise import Exercise
from emu.system import BUDGET_STATUS
from emu.trace.events import Recorder
from emu.views.saverestore import AP, ASYNC_FRAME, PUSHCALL, SaveRestoreRecorder, symbolize

EX = Exercise(
    name="asyncpreempt",
    title="runtime.asyncPreempt: save every register, switch away, restore, return",
    kind="asm",
    replaces=("runtime.asyncPreempt",),
    files={"amd64": "asyncpreempt_amd64.s", "arm64": "asyncpreempt_arm64.s"},
    seeds=(1, 2),
)

RETURN_LABEL = "runtime.asyncPreempt.return"
RETURN_INSN = {"amd64": "ret", "arm64": "br x27"}
MIN_CHECKED = 30            # preemptions a class test must see come back before it judges
FLAGS = {"amd64": "rflags", "arm64": "nzcv"}
FLAG_BITS = {"amd64": (("CF", 0), ("PF", 2), ("AF", 4), ("ZF", 6), ("SF", 7), ("DF", 10), ("OF", 11)),
             "arm64": (("N", 31), ("Z", 30), ("C", 29), ("V", 28))}

# arm64: FPSR and FPCR are 0 throughout regstress, so a save that skips them would not
# show; give each worker its own values (from its seed in x0: the rounding mode in
# FPCR, a cumulative exception flag in FPSR), which the other worker's run replaces.
_FP_STATUS = ("    lsl x9, x0, #22\n    msr fpcr, x9\n"
              "    msr fpsr, x0\n")


# ---- building and running ----------------------------------------------------------------
# A third worker (seed 3), so that two Ps have more goroutines than they can run and a
# preempted goroutine often resumes on the other M.
_THIRD_WORKER = {
    "amd64": [("    mov ebx, 2\n    call runtime.newproc\n",
               "    mov ebx, 2\n    call runtime.newproc\n"
               "    lea rax, [rip + worker]\n    mov ebx, 3\n    call runtime.newproc\n"),
              ("    add rax, qword ptr [rbp - 8]\n    call runtime.printint\n",
               "    add rax, qword ptr [rbp - 8]\n    mov qword ptr [rbp - 8], rax\n"
               "    mov rax, qword ptr [rip + results]\n    call runtime.chanrecv\n"
               "    add rax, qword ptr [rbp - 8]\n    call runtime.printint\n")],
    "arm64": [("    mov x1, #2\n    bl runtime.newproc\n",
               "    mov x1, #2\n    bl runtime.newproc\n    adr x0, worker\n    mov x1, #3\n    bl runtime.newproc\n"),
              ("    ldr x1, [x29, #16]\n    add x0, x0, x1\n    bl runtime.printint\n",
               "    ldr x1, [x29, #16]\n    add x0, x0, x1\n    str x0, [x29, #16]\n"
               "    adr x0, results\n    ldr x0, [x0]\n    bl runtime.chanrecv\n"
               "    ldr x1, [x29, #16]\n    add x0, x0, x1\n    bl runtime.printint\n")],
}


def regstress(ctx, *, third_worker=False):
    """programs/<arch>/regstress.s; on arm64 with FPSR/FPCR set per worker at its start;
    optionally with a third worker."""
    text = ctx.program("regstress").read_text()
    edits = []
    if ctx.arch == "arm64":
        at = text.index("worker:")
        at = text.index("    mov x29, sp\n", at) + len("    mov x29, sp\n")
        text = text[:at] + _FP_STATUS + text[at:]
    if third_worker:
        edits = _THIRD_WORKER[ctx.arch]
    for old, new in edits:
        if text.count(old) != 1:
            raise ValueError(f"programs/{ctx.arch}/regstress.s changed: update the third worker's edits in "
                             f"exercises/asyncpreempt/exercise.py ({old.strip()!r})")
        text = text.replace(old, new)
    return ("regstress3.s" if third_worker else "regstress.s", text)


def build(ctx, sources, **kw):
    """A system with the student's asyncPreempt, after checking the label the tools need."""
    s = ctx.system(sources, **kw)
    image = s.image
    addr = image.symbols.get(RETURN_LABEL)
    want = RETURN_INSN[ctx.arch]
    if addr is None:
        ctx.fail(f"your file does not define the label {RETURN_LABEL}: keep the skeleton's label on "
                 f"asyncPreempt's last instruction (`{want}`); the checker reads the resumed registers there")
    line = next((ln for ln in image.lines if ln.addr == addr), None)
    text = " ".join(line.text.split("#")[0].split("//")[0].split()) if line else "?"
    if text != want:
        extra = ""
        if ctx.arch == "arm64" and text == "ret":
            extra = (" `ret` jumps to x30, so x30 would have to hold the resume PC, and the interrupted "
                     "function's own LR would be lost (go-lib's bug 14).  Put the resume PC in x27 "
                     "(REGTMP, never live at a safe point) and `br x27`.")
        ctx.fail(f"{RETURN_LABEL} labels `{text}`, but it must label asyncPreempt's last instruction, "
                 f"`{want}`, the jump back to the resume PC.{extra}")
    return s


def storm(ctx, *, points=160, procs=1, third_worker=False):
    """regstress under a storm of preemptions: (system, checker report, outcome).  The
    report leaves out the TLS base register (fs_base, tpidr_el0): it belongs to the M,
    and a goroutine that resumes on another M rightly finds that M's."""
    s = build(ctx, [regstress(ctx, third_worker=third_worker)], procs=procs, runtime_options={"sysmon": False})
    checker = PreemptionChecker(s)
    out = checker.storm(points=points, seed=ctx.seed, gap=(30, 700), max_instructions=ctx.budget)
    rep = checker.report
    rep.differences = [d for d in rep.differences if d.register != s.machine.isa.tls]
    return s, rep, out


def how_it_ended(out) -> str:
    if out.status == BUDGET_STATUS:
        return "the program did not finish within its instruction budget"
    if out.status == 0:
        return "the program exited 0"
    first = (out.stderr.decode(errors="replace").strip().splitlines() or [""])[0]
    if not first:
        first = " / ".join(ln.strip() for ln in out.report.splitlines()[:2])
    return f"the program ended with status {out.status}: {first}"


# ---- explaining a difference --------------------------------------------------------------
def register_class(arch: str, reg: str) -> str:
    if reg in ("rip", "pc", "rsp", "sp"):
        return "return"
    if reg == FLAGS[arch]:
        return "flags"
    if reg.startswith(("xmm", "q")) or reg in ("mxcsr", "fpcw", "fpsw", "fptag", "fpsr", "fpcr"):
        return "vector"
    return "general"


def slot_of(arch: str, reg: str) -> str:
    base = "rsp" if arch == "amd64" else "sp"
    for r, off, _ in ASYNC_FRAME[arch]:
        if r == reg:
            return f"[{base}+{off}]"
    return ""


def flag_changes(arch: str, before: int, after: int) -> str:
    out = []
    for name, bit in FLAG_BITS[arch]:
        b, a = before >> bit & 1, after >> bit & 1
        if a != b:
            out.append(f"{name} {'lost' if b else 'set'}")
    return ", ".join(out) or "other bits changed"


def explain(s, d) -> str:
    """A student-facing sentence for one checker Difference."""
    arch, image = s.arch, s.image
    where = symbolize(image, d.pc)
    reg, before, after = d.register, d.before, d.after
    kind = register_class(arch, reg)
    if reg in ("rip", "pc"):
        how = ("the resume PC is the return address pushCall pushed (at [rsp+384] in the frame table): pop "
               "everything above it, then `ret`" if arch == "amd64" else
               "the resume PC is LR at entry: keep it in the frame record at [sp+8] and jump to it through "
               "x27 (`ldr x27, [sp, #8]` ... `br x27`)")
        return (f"asyncPreempt returned to {symbolize(image, after)}, but the goroutine was interrupted at "
                f"{where}: {how}")
    if reg in ("rsp", "sp"):
        how = ("drop exactly what asyncPreempt pushed -- the 368 bytes of slots, the flags, RBP -- so that "
               "`ret` pops the resume PC pushCall pushed" if arch == "amd64" else
               "drop your 768 bytes and pushCall's 16 (`add sp, sp, #784`) before `br x27`")
        return (f"SP changed across the preemption at {where}: the goroutine had {before:#x} and resumed "
                f"with {after:#x} ({after - before:+d} bytes): {how}")
    if kind == "flags":
        name = "RFLAGS" if arch == "amd64" else "NZCV"
        how = ("save the flags first, with pushfq right after the frame record and before the `sub rsp` "
               "that makes room (sub changes them), and restore them last, with popfq after the `add rsp`"
               if arch == "amd64" else
               "save NZCV (`mrs xN, nzcv` into a register you have already saved) and restore it "
               "(`msr nzcv, xN`) after the last instruction that could change it; `sub sp`/`add sp` leave "
               "the flags alone, `subs`, `adds` and `cmp` do not")
        return (f"the flags changed across the preemption at {where}: the goroutine had {name} = {before:#x} "
                f"and resumed with {after:#x} ({flag_changes(arch, before, after)}): {how}")
    if kind == "vector":
        if reg in ("fpsr", "fpcr"):
            return (f"{reg.upper()} changed across the preemption at {where}: the goroutine had {before:#x} "
                    f"and resumed with {after:#x}: save FPSR and FPCR (`mrs`) at [sp+232]/[sp+240] and "
                    f"restore them (`msr`)")
        if reg.startswith(("xmm", "q")):
            mask = (1 << 64) - 1
            why = ("(the upper 64 bits were lost): save and restore all 128 bits"
                   if before & mask == after & mask else "(the whole register): save and restore it")
            insn = "movups" if arch == "amd64" else "stp/ldp of q registers"
            return (f"{reg} changed across the preemption at {where}: the goroutine had {before:#034x} and "
                    f"resumed with {after:#034x} {why}, with {insn}, at {slot_of(arch, reg)}")
        return (f"{reg} changed across the preemption at {where}: the goroutine had {before:#x} and resumed with "
                f"{after:#x}: asyncPreempt must leave the FP control state as it found it")
    if reg == "x30":
        hint = ""
        if after == d.pc:
            hint = " (the resume PC: LR was used to get back)"
        elif (sym := image.symbol_at(after)) and sym[0].startswith("runtime.asyncPreempt"):
            hint = " (an address inside asyncPreempt: what `bl asyncPreempt2` left in it)"
        return (f"LR (x30) changed across the preemption at {where}: the interrupted function's LR was "
                f"{before:#x} and it resumed with {after:#x}{hint}.  pushCall saved the interrupted LR at "
                f"[sp+768] (the top of the 16 bytes it pushed); load x30 from there before returning, and "
                f"return through x27 so that LR is free.  A leaf function whose LR is lost never returns "
                f"(go-lib's bug 14)")
    if reg in ("rbp", "x29"):
        how = ("`push rbp` first and `pop rbp` just before `ret`" if arch == "amd64" else
               "store x29 in the frame record at [sp] and load it back before returning")
        return (f"the frame pointer {reg} changed across the preemption at {where}: the goroutine had "
                f"{before:#x} and resumed with {after:#x}: {how}")
    slot = slot_of(arch, reg)
    return (f"{reg} changed across the preemption at {where}: the goroutine had {before:#x} and resumed with "
            f"{after:#x}: asyncPreempt must save and restore every general register ({reg} at {slot} in the "
            f"frame table); the interrupted code made no call, so none of its registers is caller-saved here")


def register_list(diffs) -> str:
    """"x7" or "q0, q1, q2, ... (32 registers)", in register order."""
    def order(reg):
        name = reg.rstrip("0123456789")
        return name, int(reg[len(name):] or 0)
    regs = sorted({d.register for d in diffs}, key=order)
    return ", ".join(regs) if len(regs) <= 6 else ", ".join(regs[:3]) + f", ... ({len(regs)} registers)"


def judge(ctx, s, rep, out, kind: str) -> None:
    """Fail with the first difference of `kind`, or when too few preemptions came back."""
    diffs = [d for d in rep.differences if register_class(s.arch, d.register) == kind]
    if diffs:
        ctx.fail(f"{explain(s, diffs[0])}  [{len(diffs)} difference(s) in {register_list(diffs)} over "
                 f"{rep.checked} preemptions checked]")
    if rep.checked < MIN_CHECKED:
        ctx.fail(f"only {rep.checked} of {rep.deliveries} preemptions came back through {RETURN_LABEL}; "
                 f"{how_it_ended(out)}")


# ---- the tests ----------------------------------------------------------------------------
@EX.test(1, budget=5_000_000)
def switches_away(ctx):
    """spin.s: the spinning goroutine is preempted and main runs again (prints 1)."""
    rec = Recorder(slices=False) if ctx.trace else Recorder(kinds=["pushcall", "asyncpreempt"])
    s = build(ctx, ["spin"], procs=1, trace=rec)
    out = s.run(ctx.budget)
    if out.status == 0 and out.stdout == b"1\n":
        return
    todo = [ln for ln in out.stderr.decode(errors="replace").splitlines() if ln.startswith("fatal error: TODO")]
    if todo:
        ctx.fail(todo[0].removeprefix("fatal error: "))
    if not rec.of("pushcall"):
        ctx.fail(f"no preemption was injected; {how_it_ended(out)}")
    if not rec.of("asyncpreempt"):
        ctx.fail(f"pushCall sent the spinner into asyncPreempt, but asyncPreempt2 was never called; "
                 f"{how_it_ended(out)}")
    ctx.fail(f"asyncPreempt2 ran but main did not print 1; {how_it_ended(out)}")


@EX.test(2, depends=("switches_away",), budget=8_000_000)
def returns_to_the_interrupted_pc(ctx):
    """regstress.s under a storm: every preempted G resumes at its PC with its SP."""
    s, rep, out = storm(ctx)
    judge(ctx, s, rep, out, "return")


@EX.test(2, depends=("returns_to_the_interrupted_pc",), budget=8_000_000)
def general_registers(ctx):
    """regstress.s under a storm: every general register (and LR, the frame pointer) comes back."""
    s, rep, out = storm(ctx)
    judge(ctx, s, rep, out, "general")


@EX.test(1, depends=("returns_to_the_interrupted_pc",), budget=8_000_000)
def flags(ctx):
    """regstress.s under a storm: RFLAGS / NZCV come back (saved first, restored last)."""
    s, rep, out = storm(ctx)
    judge(ctx, s, rep, out, "flags")


@EX.test(1, depends=("returns_to_the_interrupted_pc",), budget=8_000_000)
def vector_registers(ctx):
    """regstress.s under a storm: all 128 bits of every vector register (and FPSR/FPCR) come back."""
    s, rep, out = storm(ctx)
    judge(ctx, s, rep, out, "vector")


@EX.test(2, depends=("general_registers", "flags", "vector_registers"), budget=12_000_000)
def transparent_everywhere(ctx):
    """regstress.s, 3 workers on 2 Ps (Gs change Ms), 300 preemptions: exact checksum, checker clean."""
    plain = build(ctx, [regstress(ctx, third_worker=True)], procs=1,
                  runtime_options={"sysmon": False}).run(ctx.budget)
    s, rep, out = storm(ctx, points=300, procs=2, third_worker=True)
    if rep.differences:
        d = rep.differences[0]
        ctx.fail(f"{explain(s, d)}  [{len(rep.differences)} difference(s) over {rep.checked} preemptions]")
    if out.status != 0 or out.stdout != plain.stdout:
        ctx.fail(f"the checksum is wrong under preemption: {out.stdout!r}, expected {plain.stdout!r} (the "
                 f"same program without preemptions); {how_it_ended(out)}")
    if rep.checked < MIN_CHECKED:
        ctx.fail(f"only {rep.checked} preemptions were checked; {how_it_ended(out)}")


@EX.test(1, depends=("general_registers", "flags", "vector_registers"), budget=8_000_000)
def frame_layout(ctx):
    """The frame at the call of asyncPreempt2 has every register in its slot (the README's table)."""
    s = build(ctx, [regstress(ctx)], procs=1, runtime_options={"sysmon": False})
    try:
        view = SaveRestoreRecorder(s)
    except ValueError as e:
        ctx.fail(f"the save/restore view cannot find asyncPreempt's save point: {e}")
    out = view.checker.storm(points=80, seed=ctx.seed, gap=(30, 700), max_instructions=ctx.budget)
    base = "rsp" if s.arch == "amd64" else "sp"
    for rec in view.preemptions:
        values = {row.interrupted: row.register for row in rec.rows if row.by in (AP, PUSHCALL)}
        for row in rec.rows:
            if row.by not in (AP, PUSHCALL) or row.stored == row.interrupted:
                continue
            off = int(row.slot.split("+")[1], 16)
            whose = values.get(row.stored)
            whose = f" ({whose}'s value)" if whose and whose != row.register else ""
            if row.by == PUSHCALL:
                what = ("pushCall's word is not where the table says: the frame between it and the slots "
                        f"must be exactly {off} bytes")
            else:
                what = f"store {row.register} at [{base}+{off}], as in the frame table"
            ctx.fail(f"at the call of asyncPreempt2 (preemption at {rec.where}), [{base}+{off}] should hold "
                     f"{row.register} = {row.interrupted:#x} but holds {row.stored:#x}{whose}: {what}.  Go's "
                     f"tracebacks and the save/restore view read the registers from these offsets")
    if len(view.preemptions) < MIN_CHECKED // 2:
        ctx.fail(f"only {len(view.preemptions)} preemptions were seen; {how_it_ended(out)}")
