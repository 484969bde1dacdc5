"""Exercise gogo_mcall: the context switch in assembly (runtime.gogo, runtime.mcall)."""
from emu.grade import Exercise
from emu.views.saverestore import SaveRestoreRecorder

EX = Exercise(
    name="gogo_mcall",
    title="gogo and mcall: the goroutine context switch, in assembly (amd64 + arm64)",
    kind="asm",
    replaces=("runtime.gogo", "runtime.mcall"),
    files={"amd64": "gogo_mcall_amd64.s", "arm64": "gogo_mcall_arm64.s"},
    seeds=(1, 2),
)

# what each keeper code means (programs/keeper_<arch>.s)
LOST = {-1: "rbx", -12: "r12", -13: "r13", -15: "r15", -99: "SP or frame pointer",
        **{-i: f"x{i}" for i in range(19, 27)}}


def _hex(v) -> str:
    return "?" if v is None else hex(v)


# What the reference prints (the same on both arches, for every seed: checked in
# tests/test_exercises.py against the project's own runtime).
GOSCHED_RR = b"goroutine 3\ngoroutine 3\ngoroutine 1\ngoroutine 2\ngoroutine 3\ngoroutine 1\ngoroutine 2\n" \
             b"goroutine 1\ngoroutine 2\n"
FANOUT64 = b"2646700\n"         # programs/<arch>/fanout.s with 64 workers and 200 jobs


# what a crash usually means here: (arch or None, text in the fatal error, hint)
HINTS = [
    ("arm64", "mcall function returned",
     "a goroutine's function returned into mcall's caller: gogo must load X30 from gobuf.lr "
     "(newproc puts goexit there)"),
    ("amd64", "no Python frame for cookie",
     "a return landed on the wrong stack word: mcall must save rsp + 8 (the SP after mcall's return) "
     "in gobuf.sp and the return address [rsp] in gobuf.pc"),
    (None, "TODO:", "the skeleton's TODO is still there"),
]


def crash_hint(ctx, out) -> str:
    """The runtime's fatal error, and what it usually means for gogo/mcall."""
    text, first = out.stderr.decode(errors="replace"), out.first_error
    for arch, needle, hint in HINTS:
        if (arch is None or arch == ctx.arch) and needle in text:
            return f"{first}; {hint}"
    return first


@EX.test(1, budget=2_000_000)
def boots(ctx):
    """main's goroutine starts (gogo), prints 7 and exits through goexit (mcall)."""
    out = ctx.run(["hello"])
    if out.status != 0 or out.stdout != b"7\n":
        ctx.fail(f"the program did not print 7 and exit 0 (status {out.status}): {crash_hint(ctx, out)}")


@EX.test(2, depends=("boots",), budget=5_000_000)
def gosched_round_robin(ctx):
    """three goroutines take turns with runtime.gosched: the exact order of their output."""
    want = GOSCHED_RR
    out = ctx.run(["gosched_rr"], procs=1)
    if out.stdout != want:
        ctx.fail(f"gosched_rr printed {out.stdout[:60]!r}, the reference prints {want[:60]!r}: "
                 f"{crash_hint(ctx, out) if out.status else 'a G resumed in the wrong place or state'}")


def keeper(ctx):
    out = ctx.run(["keeper"], procs=1)
    lost = sorted({LOST.get(int(w), w) for w in out.stdout.split() if w.startswith(b"-")}, key=str)
    return out, lost


@EX.test(3, depends=("boots",), budget=5_000_000)
def callee_saved_registers(ctx):
    """callee-saved registers survive runtime.gosched (gobuf.callee)."""
    out, lost = keeper(ctx)
    regs = [r for r in lost if r != "SP or frame pointer"]
    if regs:
        ctx.fail(f"callee-saved register(s) {', '.join(regs)} changed across runtime.gosched "
                 f"(mcall -> schedule -> gogo): mcall must save them in g.sched.callee and gogo must load "
                 f"them back")
    if out.status != 0 and not lost:
        ctx.fail(f"the keeper program crashed: {crash_hint(ctx, out)}")


@EX.test(2, depends=("boots",), budget=5_000_000)
def stack_and_frame_pointer(ctx):
    """SP and the frame pointer are exactly the caller's after a switch back."""
    out, lost = keeper(ctx)
    if "SP or frame pointer" in lost:
        sp = "rsp + 8 (the SP after mcall's return)" if ctx.arch == "amd64" else "SP"
        ctx.fail(f"after runtime.gosched returned, the SP or frame pointer was not the caller's: mcall must "
                 f"save {sp} in gobuf.sp and the frame pointer in gobuf.bp; gogo must load both")
    if out.status != 0:
        ctx.fail(f"the keeper program crashed: {crash_hint(ctx, out)}")


@EX.test(2, depends=("gosched_round_robin",), budget=5_000_000)
def every_gobuf_slot(ctx):
    """in pingpong, every register mcall saves comes back from its gobuf slot."""
    s = ctx.system(["pingpong"], procs=1)
    view = SaveRestoreRecorder(s)
    out = ctx.run(s)
    if out.status != 0:
        ctx.fail(f"pingpong crashed: {crash_hint(ctx, out)}")
    for rec in view.switches:
        for row in rec.rows:
            if row.ok is False:
                ctx.fail(f"goroutine {rec.goid}: {row.register} was {_hex(row.saved)} when mcall saved it, "
                         f"{row.slot or 'its slot'} held {_hex(row.stored)}, and gogo restored "
                         f"{_hex(row.restored)}")
    ctx.expect(len(view.switches) >= 15, f"only {len(view.switches)} switches were seen (expected >= 15)")


@EX.test(2, depends=("gosched_round_robin",), budget=10_000_000)
def many_goroutines_on_two_ms(ctx):
    """fanout: 64 workers over 2 Ps and their Ms give the reference's output."""
    want = FANOUT64
    out = ctx.run([ctx.program("fanout", NWORKERS=64, NJOBS=200)], procs=2)
    if out.stdout != want:
        ctx.fail(f"fanout printed {out.stdout[:60]!r}, the reference prints {want[:60]!r}: "
                 f"{crash_hint(ctx, out) if out.status else 'wrong result'}")
