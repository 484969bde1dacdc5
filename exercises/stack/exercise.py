"""Exercise `stack`: newstack and copystack (Go: runtime/stack.go).

The student writes `newstack` (double the stack and resume the G) and `copystack`
(copy the used part to a new stack and relocate every pointer into the old one) in
stack.py; they replace emu.runtime.stack's everywhere (the `runtime.newstack`
export, and the guard-page path's call of copystack).

Tests, per arch (README.md tells the student what each checks):
  newstack_doubles       one growth through the prologue check: 8 KiB -> 16 KiB
  deep_recursion         several growths in a row, each doubling the last stack
  stack_overflow         growing past maxstacksize is Go's fatal "stack overflow"
  frame_pointer_chain    at the deepest frame, every saved FP lies in the current stack
  copy_is_exact          copystack on a parked G, checked word by word
  guard_page_registers   growth through the guard page: registers relocated by range only
Programs: programs/grow_<arch>.s (the .stackcheck recursion; `park` makes its deepest
frame wait on a channel) and programs/nosplit_<arch>.s (no check; guard pages).
"""
from __future__ import annotations

import random

from emu.grade import Exercise
from emu.runtime.layout import STACK_GUARD, _Gwaiting
from emu.trace import events as ev
from emu.trace.events import Recorder

EX = Exercise(
    name="stack",
    title="Growing a goroutine stack: newstack and copystack",
    kind="python",
    replaces={"newstack": "emu.runtime.stack.newstack", "copystack": "emu.runtime.stack.copystack"},
    files={"*": "stack.py"},
    seeds=(1, 2),
)

KiB = 1024
PAGE = 4096
BUDGET = 5_000_000
FP = {"amd64": "rbp", "arm64": "x29"}
SAVED_REG = {"amd64": ("rbx", -16), "arm64": ("x19", 24)}     # deep's saved callee register: fp + offset
NEAR_REGS = {"amd64": ("r12", "r13"), "arm64": ("x20", "x21")}


def recorder(ctx, *kinds) -> Recorder:
    """The events a test reads; every event when the grader replays with --trace."""
    return Recorder(slices=False) if ctx.trace else Recorder(kinds=list(kinds))


def rng(ctx, salt: str) -> random.Random:
    return random.Random(f"{salt}:{ctx.seed}")


def summation(n: int) -> int:
    return n * (n + 1) // 2


def grow_system(ctx, depth: int, *, park: int = 0, trace=None, **kw):
    """grow_<arch>.s with its `depth` and `park` words set."""
    s = ctx.system(["grow"], procs=1, trace=trace or recorder(ctx, "stackgrow", ev.GSTATUS), **kw)
    sym, mem = s.image.symbols, s.machine.memory
    mem.write_u64(sym["depth"], depth)
    mem.write_u64(sym["park"], park)
    return s


def growths(rec: Recorder, goid: int = 1) -> list[tuple]:
    """(old lo, old hi, new lo, new hi) of each stackgrow of goroutine `goid`."""
    return [tuple(e.args[1:5]) for e in rec.of("stackgrow") if e.args[0] == goid]


def current_g(s, cpu):
    return s.runtime.g(cpu.read(s.machine.isa.g))


def frame_chain(mem, fp: int, limit: int = 100_000) -> list[int]:
    """The frame records from fp up, until a saved fp of 0 (or `limit`)."""
    chain = []
    while fp and len(chain) < limit:
        chain.append(fp)
        fp = mem.read_u64(fp)
    return chain


def explain_status(gs: list[tuple]) -> str:
    return ", ".join(f"{a}->{b}" for a, b in gs)


def run_ok(ctx, s, expected: int, what: str):
    out = ctx.run(s)
    if out.status != 0:
        ctx.fail(f"{what}: the program did not exit 0 (status {out.status}, {out.reason}): {out.first_error}")
    got = out.stdout.decode(errors="replace").strip()
    if got != str(expected):
        ctx.fail(f"{what}: the program printed {got!r}, expected {expected}: a value on the stack "
                 f"was lost or read through a pointer that still points into the old stack")
    return out


# ---- 1. one growth through the prologue check -------------------------------------------------
@EX.test(2, budget=BUDGET)
def newstack_doubles(ctx):
    """sum(n) outgrows the 8 KiB stack once: newstack doubles it to 16 KiB and the G resumes."""
    depth = rng(ctx, "doubles").randint(130, 200)          # 64-byte frames: more than 8 KiB, less than 16
    rec = recorder(ctx, "stackgrow", ev.GSTATUS)
    s = grow_system(ctx, depth, trace=rec)
    seen = []
    s.machine.add_code_hook(s.image.symbols["sum.bottom"],
                            lambda cpu: seen or seen.append(_g_state(s, cpu)))
    run_ok(ctx, s, summation(depth), f"sum({depth})")
    grows = growths(rec)
    ctx.expect(len(grows) == 1, f"sum({depth}) needs a 16 KiB stack, which is one growth from 8 KiB; "
               f"the stack grew {len(grows)} times")
    old_lo, old_hi, new_lo, new_hi = grows[0]
    ctx.expect((old_hi - old_lo, new_hi - new_lo) == (8 * KiB, 16 * KiB),
               f"newstack must double the stack: it went from {old_hi - old_lo} to {new_hi - new_lo} bytes")
    moves = [(e.args[1], e.args[2]) for e in rec.of(ev.GSTATUS) if e.args[0] == 1]
    want = [("_Grunning", "_Gcopystack"), ("_Gcopystack", "_Grunning")]
    i = next((j for j, m in enumerate(moves) if m == want[0]), None)
    ctx.expect(i is not None and moves[i:i + 2] == want,
               f"newstack must move the G _Grunning -> _Gcopystack around the copy and back to _Grunning; "
               f"main's status changes were: {explain_status(moves)}")
    (status, lo, hi, guard), = seen
    ctx.expect((lo, hi) == (new_lo, new_hi),
               f"at the deepest frame g.stack is [{lo:#x}, {hi:#x}), not the new stack [{new_lo:#x}, {new_hi:#x})")
    ctx.expect(guard == lo + STACK_GUARD,
               f"after the growth g.stackguard0 is {guard:#x}; it must be the new lo + StackGuard "
               f"({lo:#x} + {STACK_GUARD} = {lo + STACK_GUARD:#x}), or the next check compares with the old stack")


def _g_state(s, cpu):
    g = current_g(s, cpu)
    return (g.atomicstatus, g.stack.lo, g.stack.hi, g.stackguard0)


# ---- 2. several growths in a row ---------------------------------------------------------------
@EX.test(2, depends=("newstack_doubles",), budget=BUDGET)
def deep_recursion(ctx):
    """sum(n) for n up to 1,800 grows the stack 2-4 times; each growth doubles the stack the last one made."""
    depth = rng(ctx, "deep").randint(600, 1800)
    rec = recorder(ctx, "stackgrow")
    s = grow_system(ctx, depth, trace=rec)
    run_ok(ctx, s, summation(depth), f"sum({depth})")
    grows = growths(rec)
    need = (depth + 2) * 64 + STACK_GUARD
    ctx.expect(len(grows) >= 2, f"sum({depth}) needs about {need} bytes of stack; it grew only {len(grows)} times")
    for i, (old_lo, old_hi, new_lo, new_hi) in enumerate(grows):
        if new_hi - new_lo != 2 * (old_hi - old_lo):
            ctx.fail(f"growth {i + 1}: the stack went from {old_hi - old_lo} to {new_hi - new_lo} bytes; "
                     f"each growth doubles it")
        if i and (old_lo, old_hi) != grows[i - 1][2:]:
            ctx.fail(f"growth {i + 1} copied from [{old_lo:#x}, {old_hi:#x}), but the G's stack was "
                     f"[{grows[i - 1][2]:#x}, {grows[i - 1][3]:#x}) (the previous growth's new stack): "
                     f"set g.stack to the new bounds")
        if new_lo < old_hi and old_lo < new_hi:
            ctx.fail(f"growth {i + 1}: the new stack [{new_lo:#x}, {new_hi:#x}) overlaps the old one")


# ---- 3. growing past the limit ---------------------------------------------------------------------
@EX.test(1, depends=("newstack_doubles",), budget=BUDGET)
def stack_overflow(ctx):
    """With maxstacksize 64 KiB, sum(5000) must die with Go's 'goroutine stack exceeds' and 'fatal error: stack overflow'."""
    depth = rng(ctx, "overflow").randint(3000, 6000)
    limit = 64 * KiB
    rec = recorder(ctx, "stackgrow")
    s = grow_system(ctx, depth, trace=rec, runtime_options={"maxstacksize": limit})
    out = ctx.run(s)
    err = out.stderr.decode(errors="replace")
    head = f"runtime: goroutine stack exceeds {limit}-byte limit"
    if out.status != 2 or head not in err or "fatal error: stack overflow" not in err:
        first = (err.strip().splitlines() or [out.report or "(nothing)"])[0]
        ctx.fail(f"sum({depth}) needs more than the {limit}-byte limit: newstack must refuse to grow past "
                 f"rt.maxstacksize (call the given _overflow(), which prints {head!r} and throws "
                 f"'stack overflow', exit 2); the program ended with status {out.status}: {first}")
    sizes = [hi - lo for _, _, lo, hi in growths(rec)]
    ctx.expect(sizes == [16 * KiB, 32 * KiB, 64 * KiB],
               f"the stack may grow to the limit ({limit} bytes) but not past it: it grew to {sizes}")


# ---- 4. the frame-pointer chain -------------------------------------------------------------------
@EX.test(3, budget=BUDGET)
def frame_pointer_chain(ctx):
    """At sum(0), after 2-3 growths, every saved frame pointer in the chain lies in the current stack."""
    depth = rng(ctx, "fp").randint(400, 1200)
    rec = recorder(ctx, "stackgrow")
    s = grow_system(ctx, depth, trace=rec)
    mem, fpreg = s.machine.memory, FP[ctx.arch]
    seen = []

    def at_bottom(cpu):
        if not seen:
            g = current_g(s, cpu)
            fp = cpu.read(fpreg)
            seen.append((g.stack.lo, g.stack.hi, fp, frame_chain(mem, fp, depth + 10)))
    s.machine.add_code_hook(s.image.symbols["sum.bottom"], at_bottom)
    out = ctx.run(s)
    ctx.expect(bool(seen), f"sum({depth}) never reached its deepest frame (status {out.status}, {out.reason}: "
               f"{(out.stderr.decode(errors='replace').strip().splitlines() or [out.report])[0]})")
    lo, hi, fp, chain = seen[0]
    olds = [(a, b) for a, b, _, _ in growths(rec)]
    ctx.expect(bool(olds), f"sum({depth}) should have grown the stack")

    def where(v):
        for i, (a, b) in enumerate(olds):
            if a <= v < b:
                return f"the old stack [{a:#x}, {b:#x}) (the one before growth {i + 1})"
        return "no stack of this goroutine"
    if not lo <= fp < hi:
        ctx.fail(f"at sum(0) the frame pointer {fpreg} = {fp:#x} points into {where(fp)}, not the current "
                 f"stack [{lo:#x}, {hi:#x}): newstack must resume with the relocated g.sched.bp")
    for i, (rec_at, saved) in enumerate(zip(chain, chain[1:])):
        if not lo <= saved < hi:
            ctx.fail(f"after copystack, frame {i + 1}'s saved frame pointer {saved:#x} (stored at {rec_at:#x}) "
                     f"still points into {where(saved)}, not the current stack [{lo:#x}, {hi:#x}): every "
                     f"saved FP in the chain must be moved by delta")
    ctx.expect(len(chain) >= depth + 2,
               f"the frame-pointer chain from sum(0) has {len(chain)} records; it should reach main.main "
               f"through all {depth + 1} sum frames (the chain is cut, or the recursion ended early because "
               f"a value on the stack, such as a spilled argument, was lost in a copy)")


# ---- 5. copystack on a parked G, word by word -------------------------------------------------------
@EX.test(3, budget=BUDGET)
def copy_is_exact(ctx):
    """copystack on a G parked at sum(0): every word of [sp, hi) is copied, moved by delta iff it points into [lo, hi)."""
    import emu.runtime.stack as stack
    r = rng(ctx, "copy")
    depth, value = r.randint(40, 100), r.randint(1000, 9999)
    rec = recorder(ctx, "stackgrow", ev.GSTATUS)
    s = grow_system(ctx, depth, park=value, trace=rec)
    rt, mem = s.runtime, s.machine.memory
    parked = lambda: any(e.args[0] == 1 and e.args[2] == "_Gwaiting" for e in rec.of(ev.GSTATUS))
    res = s.machine.run(ctx.budget, pause=parked)
    ctx.expect(res.reason == "paused", f"main never parked at sum(0) ({res.reason}); is the stack program broken?")
    gp = rt.g(next(e.args[3] for e in rec.of(ev.GSTATUS) if e.args[0] == 1))
    ctx.expect(gp.atomicstatus == _Gwaiting and bool(gp.waiting), "main should be parked in chanrecv")
    old_lo, old_hi, sp, bp = gp.stack.lo, gp.stack.hi, gp.sched.sp, gp.sched.bp
    base = sp & ~7
    words = [mem.read_u64(a) for a in range(base, old_hi, 8)]
    saved_fp_at = set(frame_chain(mem, bp, depth + 10))     # where the frame records' saved FPs are
    sg = rt.sudog(gp.waiting)
    old_elem = sg.elem
    newsize = 2 * (old_hi - old_lo)
    rt.cpu = s.machine.cpus[0]
    result = drive(ctx, s, stack.copystack(rt, gp, newsize, sp))
    new_lo, new_hi = gp.stack.lo, gp.stack.hi
    ctx.expect(new_hi - new_lo == newsize, f"copystack(newsize={newsize}) left g.stack = [{new_lo:#x}, {new_hi:#x}), "
               f"{new_hi - new_lo} bytes: set g.stack to the new stack")
    delta = new_hi - old_hi
    ctx.expect(isinstance(result, tuple) and len(result) == 2 and result[0] == delta,
               f"copystack must return (delta, relocated words) with delta = new.hi - old.hi = {delta:#x}; "
               f"it returned {result!r}")
    inside = lambda v: old_lo <= v < old_hi
    for i, v in enumerate(words):
        a = base + 8 * i
        got = mem.read_u64(a + delta)
        want = v + delta if inside(v) else v
        if got == want:
            continue
        off = f"old sp+{a - sp:#x} ({a:#x}), now at {a + delta:#x}"
        if inside(v) and got == v:
            what = " -- the saved frame pointer of a frame record" if a in saved_fp_at else ""
            ctx.fail(f"the word at {off} holds {v:#x}, a pointer into the old stack [{old_lo:#x}, {old_hi:#x})"
                     f"{what}; after copystack it still holds {v:#x}: every word of the used stack whose value "
                     f"lies in [lo, hi) must be moved by delta = {delta:#x}")
        if not inside(v) and got == v + delta:
            side = "= old hi, one past the stack" if v == old_hi else ("below lo" if v < old_lo else "above hi")
            ctx.fail(f"the word at {off} holds {v:#x} ({side}), which is not an address inside the old stack "
                     f"[{old_lo:#x}, {old_hi:#x}), but copystack moved it by delta: only values with "
                     f"lo <= v < hi are relocated")
        ctx.fail(f"the word at {off} was {v:#x} but the new stack holds {got:#x}: the used part "
                 f"[sp, hi) = [{sp:#x}, {old_hi:#x}) must be copied whole, to [sp + delta, hi + delta) "
                 f"(sp is g.sched.sp; the copy ends at hi, not at lo + used)")
    ctx.expect(gp.sched.sp == sp + delta, f"g.sched.sp is {gp.sched.sp:#x}, expected the old {sp:#x} + delta "
               f"= {sp + delta:#x}: the G resumes with this SP")
    ctx.expect(gp.sched.bp == (bp + delta if inside(bp) else bp),
               f"g.sched.bp is {gp.sched.bp:#x}, expected {bp:#x} + delta = {bp + delta:#x}: the G resumes "
               f"with this frame pointer")
    ctx.expect(sg.elem == old_elem + delta,
               f"the parked G's sudog.elem is {sg.elem:#x}: it pointed at {old_elem:#x} on the old stack "
               f"and must be moved by delta (to {old_elem + delta:#x}), or the channel writes the received "
               f"value into the old stack")
    ctx.expect(gp.stackguard0 == new_lo + STACK_GUARD,
               f"g.stackguard0 is {gp.stackguard0:#x}; it must be new lo + StackGuard = {new_lo + STACK_GUARD:#x}")
    ctx.expect(gp.atomicstatus == _Gwaiting, "copystack must not change the G's status (the caller does)")
    ctx.expect(rt.sched.stackpools[(old_hi - old_lo).bit_length() - 1] == old_lo,
               f"the old stack [{old_lo:#x}, {old_hi:#x}) was not given back with stackfree")
    mem.write(old_lo + 8, b"\xee" * (old_hi - old_lo - 8))      # the old stack is free: poison it
    run_ok(ctx, s, summation(depth) + value, f"after the move, main resumed at sum(0), received {value} and")


def drive(ctx, s, gen):
    """Run a runtime generator outside any CPU, doing the machine-code calls the stack
    allocator asks for (mmap, mprotect) as their syscall wrappers would."""
    from emu.kernel.mman import sys_mmap, sys_mprotect
    from emu.runtime.pycall import AsmCall
    handlers = {"runtime.mmap": sys_mmap, "runtime.mprotect": sys_mprotect}
    task = next(iter(s.kernel.tasks.values()))
    value = None
    if not hasattr(gen, "send"):
        ctx.fail("copystack must be a generator (it allocates the new stack with `yield from stackalloc(...)`)")
    while True:
        try:
            req = gen.send(value)
        except StopIteration as stop:
            return stop.value
        if not isinstance(req, AsmCall) or req.symbol not in handlers or req.noreturn:
            ctx.fail(f"copystack asked for {req!r}; it should only allocate (stackalloc) and free (stackfree)")
        value = handlers[req.symbol](s.kernel, task, *req.args) & (1 << 64) - 1


# ---- 6. growth through the guard page: the interrupted registers ------------------------------
@EX.test(2, budget=BUDGET)
def guard_page_registers(ctx):
    """A nosplit recursion grows through the guard page: registers pointing into the stack move, integers near it do not."""
    depth = rng(ctx, "guard").randint(140, 220)              # one growth: 8 KiB -> 16 KiB
    rec = recorder(ctx, "stackgrow", "guardgrow")
    s = ctx.system(["nosplit"], procs=1, trace=rec, runtime_options={"guard_pages": True})
    sym, mem = s.image.symbols, s.machine.memory
    mem.write_u64(sym["depth"], depth)
    saved_reg, off = SAVED_REG[ctx.arch]
    seen = []

    def at_bottom(cpu):
        if not seen:
            g = current_g(s, cpu)
            chain = frame_chain(mem, cpu.read(FP[ctx.arch]), depth + 10)
            seen.append((g.stack.lo, g.stack.hi, [(fp, mem.read_u64(fp + off)) for fp in chain[:depth + 1]]))
    s.machine.add_code_hook(sym["deep.bottom"], at_bottom)
    run_ok(ctx, s, summation(depth), f"deep({depth}) through the guard page")
    ctx.expect(len(rec.of("guardgrow")) == 1 and len(rec.of("stackgrow")) == 1,
               f"deep({depth}) should grow its stack once through the guard page")
    old_lo, old_hi, new_lo, new_hi = growths(rec)[0]
    delta = new_hi - old_hi
    near = [mem.read_u64(sym["nearby"] + 8 * i) for i in range(4)]
    for name, before, after, what in ((NEAR_REGS[ctx.arch][0], near[0], near[2], "just above the stack (hi + 256)"),
                                      (NEAR_REGS[ctx.arch][1], near[1], near[3],
                                       "just below its guard page (lo - 4096 - 256)")):
        if after != before:
            moved = f" (moved by delta {delta:#x})" if after == before + delta else ""
            ctx.fail(f"{name} held {before:#x}, an integer {what}, not an address in the old stack or its "
                     f"guard page [{old_lo - PAGE:#x}, {old_hi:#x}); after growth through the guard page it "
                     f"is {after:#x}{moved}: relocate only registers whose value lies in [lo - PAGE, hi)")
    lo, hi, frames = seen[0]
    for i, (fp, saved) in enumerate(frames[:-1]):
        if lo <= saved < hi:
            continue
        slot = fp + off
        if old_lo <= slot - delta < old_hi:     # the slot was on the stack when it was copied
            ctx.fail(f"deep frame {i} (at {fp:#x}) saved its caller's {saved_reg} = {saved:#x} at {slot:#x} "
                     f"before the fault; that word points into the old stack [{old_lo:#x}, {old_hi:#x}) but "
                     f"was not moved by delta = {delta:#x}: every word of the used stack whose value lies in "
                     f"[lo, hi) must be relocated")
        ctx.fail(f"deep frame {i} (at {fp:#x}) saved its caller's {saved_reg} = {saved:#x}, which points "
                 f"into the old stack [{old_lo:#x}, {old_hi:#x}): when the fault came, {saved_reg} held a "
                 f"pointer into the stack (the interrupted context, `regs`), and copystack must move such "
                 f"registers by delta too")
