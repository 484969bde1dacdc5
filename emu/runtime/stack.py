"""Goroutine stacks: allocation with guard pages, growth, copying (Go: stack.go,
asm_*.s morestack, the prologue check the compiler emits).

Design note -- two ways to grow a stack, both taught:
  1. Go's way.  A function that starts with `.stackcheck FRAMESIZE` (the
     assembler pseudo-op registered below) compares SP with g.stackguard0 and, if
     the frame would not fit, spills its argument registers and calls
     morestack_noctxt (asm).  morestack saves the caller's state in g.sched and
     m.morebuf, switches to g0 and calls newstack (here): a pending preemption
     (stackguard0 == stackPreempt) is a synchronous preemption; otherwise the
     stack doubles, _Grunning -> _Gcopystack -> _Grunning, copystack, and gogo
     resumes right after the call, which reloads the spills and checks again.
  2. go-lib's way.  A function without the check (nosplit) runs off the bottom
     of its stack into the PROT_NONE guard page; the kernel delivers SIGSEGV on
     the gsignal stack; the handler sees a fault inside the current G's guard
     page, grows and copies the stack, relocates the interrupted context (SP, FP
     and every register holding an old-stack or guard-page address) and returns
     to the faulting instruction, which now succeeds.
  copystack relocates, since hand-written assembly has no stack maps:
    - every 8-byte word of the used part of the stack whose value lies inside
      the old stack [lo, hi): saved frame pointers (the RBP/X29 chain), spilled
      pointers to locals, the cookie frames' neighbours -- conservatively;
    - g.sched.sp, bp, ctxt and the callee-saved slots of g.sched;
    - the `elem` of every sudog the G waits on (g.waiting list).
  The known hazard of conservative relocation: an *integer* that happens to
  equal an old-stack address is changed too (tests/test_stack.py shows it).
  Go avoids it with compiler-generated stack maps; we cannot.
Allocator: power-of-two stacks, each with a PROT_NONE guard page directly below
it, made with the kernel's mmap + mprotect and recycled by size on goexit --
when `Runtime.guard_pages` is on (`--guard-pages`).  It is off by default, for a
measured reason: every guard page splits a Unicorn memory region, and Unicorn's
cost per memory-map change grows with the number of regions (about 0.4 ms per
change at 1,400 regions on one CPU, times the number of CPUs), so 1,000
goroutines with guards spend tens of seconds in mprotect.  Without guards,
growth relies on the prologue check, and a nosplit function that overruns its
stack writes into whatever lies below (as C does without guard pages).
Rejected: a software stack-limit check on every memory access (a per-access
hook would cost ~1 us per instruction); fixed huge stacks (nothing to teach).
"""
from __future__ import annotations

from array import array

from ..asm import PSEUDO_OPS
from .g import casgstatus
from .layout import STACK_GUARD, STACK_PREEMPT, _Gcopystack, _Grunning, _Prunning
from .oslinux import mprotect, sysAlloc
from .pycall import call_noreturn, export
from .print import gwrite, throw

PAGE = 4096
CHUNK = 256 * 1024           # stacks are carved from mappings of about this size
PROT_NONE = 0


def _order(n: int) -> int:
    if n & (n - 1) or n < PAGE:
        raise ValueError(f"stackalloc: size {n} is not a power of two of at least a page")
    return n.bit_length() - 1


def stackalloc(rt, n: int):
    """A stack of n bytes (a power of two) with a guard page below it; returns lo (generator)."""
    s, mem = rt.sched, rt.mem
    k = _order(n)
    if not s.stackpools[k]:
        guard = PAGE if rt.guard_pages else 0
        per = max(1, CHUNK // (n + guard))
        chunk = yield from sysAlloc(rt, per * (n + guard))
        for i in reversed(range(per)):
            lo = chunk + i * (n + guard) + guard
            if guard:
                yield from mprotect(rt, lo - PAGE, PAGE, PROT_NONE)
            mem.write_u64(lo, s.stackpools[k])
            s.stackpools[k] = lo
    lo = s.stackpools[k]
    s.stackpools[k] = mem.read_u64(lo)
    mem.write_u64(lo, 0)
    return lo


def stackfree(rt, lo: int, n: int) -> None:
    """Give a stack back to the pool of its size (its guard page stays)."""
    s = rt.sched
    k = _order(n)
    rt.mem.write_u64(lo, s.stackpools[k])
    s.stackpools[k] = lo


# ---- copying ---------------------------------------------------------------------------------
def copystack(rt, gp, newsize: int, sp: int, regs: dict | None = None):
    """Move gp's stack to a new one of newsize bytes (generator).  `sp` is the lowest
    live address; `regs` (name -> value) are relocated in place if given.
    Returns (delta, relocated words)."""
    mem = rt.mem
    old_lo, old_hi = gp.stack.lo, gp.stack.hi
    new_lo = yield from stackalloc(rt, newsize)
    new_hi = new_lo + newsize
    delta = new_hi - old_hi
    inside = lambda v: old_lo <= v < old_hi
    # 1. the used part, word by word, relocating values that point into the old stack.
    #    On the guard-page path SP may already be below lo: the words between SP and lo
    #    (in the guard page) are live too -- the runtime's own cookie frames can be there.
    used_lo = max(sp, old_lo - PAGE) & ~7
    words = array("Q", mem.read(used_lo, old_hi - used_lo))
    moved = 0
    for i, v in enumerate(words):
        if old_lo <= v < old_hi:
            words[i] = v + delta
            moved += 1
    mem.write(used_lo + delta, words.tobytes())
    # 2. sudogs: data elements on this stack
    sg = gp.waiting
    while sg:
        sgv = rt.sudog(sg)
        if inside(sgv.elem):
            sgv.elem = sgv.elem + delta
            moved += 1
        sg = sgv.waitlink
    # 3. the saved context
    sched = gp.sched
    for field in ("sp", "bp", "ctxt"):
        v = getattr(sched, field)
        if inside(v) or (field == "sp" and old_lo - PAGE <= v < old_hi):
            setattr(sched, field, v + delta)
            moved += 1
    for i in range(len(sched.callee)):
        if inside(sched.callee[i]):
            sched.callee[i] = sched.callee[i] + delta
            moved += 1
    # 4. an interrupted context (the guard-page path): SP may already be in the guard page
    if regs is not None:
        for name, v in regs.items():
            if old_lo - PAGE <= v < old_hi:
                regs[name] = v + delta
                moved += 1
    # 5. the new bounds; a pending preemption request is dropped, as in Go
    gp.stack.lo, gp.stack.hi = new_lo, new_hi
    gp.stackguard0 = gp.stackguard1 = new_lo + STACK_GUARD
    gp.stktopsp = gp.stktopsp + delta if inside(gp.stktopsp) else gp.stktopsp
    stackfree(rt, old_lo, old_hi - old_lo)
    rt.emit("stackgrow", gp.goid, old_lo, old_hi, new_lo, new_hi, moved, old_hi - used_lo)
    return delta, moved


def _overflow(rt, gp, sp: int, newsize: int):
    text = (f"runtime: goroutine stack exceeds {rt.maxstacksize}-byte limit\n"
            f"runtime: sp={sp:#x} stack=[{gp.stack.lo:#x}, {gp.stack.hi:#x}]\n")
    yield from gwrite(rt, 2, text.encode())
    yield from throw(rt, "stack overflow")


# ---- growth through the prologue check ---------------------------------------------------------
@export("runtime.newstack")
def newstack(rt):
    """newstack(): on g0, called by morestack: preempt, or grow the stack and retry."""
    from .preempt import preemptPark
    from .sched import goschedImpl
    mp = rt.getm()
    gp = rt.g(mp.curg)
    if gp.stackguard0 == STACK_PREEMPT:                 # a synchronous preemption request
        pp = rt.p(mp.p) if mp.p else None
        if mp.locks or not pp or pp.status != _Prunning:
            gp.stackguard0 = gp.stack.lo + STACK_GUARD     # not now: let the G continue
            yield from call_noreturn("runtime.gogo", gp.sched.addr)
        rt.emit("syncpreempt", gp.goid, gp.sched.pc)
        if gp.preemptStop:
            yield from preemptPark(rt, gp.addr)
        yield from goschedImpl(rt, gp)
    oldsize = gp.stack.hi - gp.stack.lo
    newsize = oldsize * 2
    if newsize > rt.maxstacksize:
        yield from _overflow(rt, gp, gp.sched.sp, newsize)
    yield from casgstatus(rt, gp, _Grunning, _Gcopystack)
    yield from copystack(rt, gp, newsize, gp.sched.sp)
    yield from casgstatus(rt, gp, _Gcopystack, _Grunning)
    yield from call_noreturn("runtime.gogo", gp.sched.addr)


# ---- growth through the guard page ----------------------------------------------------------------
def is_stack_fault(gp, addr: int) -> bool:
    """A fault in the guard page right below gp's stack."""
    return gp.stack.lo - PAGE <= addr < gp.stack.lo


def grow_from_fault(rt, gp, uc, regnames):
    """The SIGSEGV handler found a guard-page fault of the running gp: grow its
    stack and fix the interrupted context in the ucontext (generator)."""
    sp = uc["sp"]
    oldsize = gp.stack.hi - gp.stack.lo
    newsize = oldsize * 2
    if newsize > rt.maxstacksize:
        yield from _overflow(rt, gp, sp, newsize)
    regs = {n: uc[n] for n in regnames}
    yield from casgstatus(rt, gp, _Grunning, _Gcopystack)
    yield from copystack(rt, gp, newsize, sp, regs)
    yield from casgstatus(rt, gp, _Gcopystack, _Grunning)
    for n, v in regs.items():
        uc[n] = v
    rt.emit("guardgrow", gp.goid, uc["pc"])


# ---- the prologue check, as an assembler pseudo-op ------------------------------------------------
_AMD64_SPILL = ("rax", "rbx", "rcx", "rdi", "rsi", "r8", "r9", "r10", "r11")


def stackcheck(arch: str, args: list[str], ctx) -> list[str]:
    """`.stackcheck FRAMESIZE`: Go's prologue stack check for a frame of FRAMESIZE bytes."""
    if len(args) != 1:
        raise ctx.error(".stackcheck takes one argument, the frame size in bytes")
    try:
        frame = int(args[0], 0)
    except ValueError:
        frame = ctx.constants.get(args[0])
        if frame is None:
            raise ctx.error(f".stackcheck: frame size {args[0]!r} is not a number or constant") from None
    if not 0 <= frame <= 1 << 20:
        raise ctx.error(".stackcheck: frame size must be between 0 and 1 MiB")
    u = ctx.unique
    check, ok, lo, hi = f".Lstk{u}_check", f".Lstk{u}_ok", f"__stackcheck_{u}_lo", f"__stackcheck_{u}_hi"
    if arch == "amd64":
        if frame <= 128:       # StackSmall: compare SP itself
            test = ["    cmp rsp, qword ptr [r14 + 16]", f"    ja {ok}"]
        elif frame <= 4096:    # StackBig: compare SP - (frame - StackSmall)
            test = [f"    lea r12, [rsp - {frame - 128}]", "    cmp r12, qword ptr [r14 + 16]", f"    ja {ok}"]
        else:                  # huge frame: also catch the subtraction wrapping around
            test = ["    mov r12, rsp", f"    sub r12, {frame - 128}", f"    jb {check}_more",
                    "    cmp r12, qword ptr [r14 + 16]", f"    ja {ok}"]
        more = ([f"{check}_more:"] + [f"    push {r}" for r in _AMD64_SPILL] + ["    sub rsp, 8",
                "    call runtime.morestack_noctxt", "    add rsp, 8"]
                + [f"    pop {r}" for r in reversed(_AMD64_SPILL)] + [f"    jmp {check}"])
    else:
        if frame <= 128:
            test = ["    ldr x16, [x28, #16]", "    cmp sp, x16", f"    b.hi {ok}"]
        elif frame <= 4096:
            test = ["    ldr x16, [x28, #16]", f"    sub x17, sp, #{frame - 128}", "    cmp x17, x16", f"    b.hi {ok}"]
        else:                  # the constant does not fit an immediate: build it in x17
            d = frame - 128
            test = ["    ldr x16, [x28, #16]", f"    movz x17, #{d & 0xFFFF:#x}",
                    f"    movk x17, #{d >> 16:#x}, lsl #16", "    subs x17, sp, x17",
                    f"    b.lo {check}_more", "    cmp x17, x16", f"    b.hi {ok}"]
        spill = ["    stp x0, x1, [sp, #-128]!"] + [f"    stp x{i}, x{i + 1}, [sp, #{8 * i}]" for i in range(2, 16, 2)]
        fill = [f"    ldp x{i}, x{i + 1}, [sp, #{8 * i}]" for i in reversed(range(2, 16, 2))] + \
               ["    ldp x0, x1, [sp], #128"]
        more = [f"{check}_more:"] + spill + ["    mov x3, x30", "    bl runtime.morestack_noctxt"] + fill + \
               [f"    b {check}"]
    return [f"{lo}:", f"{check}:"] + test + more + [f"{ok}:", f"{hi}:"]


PSEUDO_OPS[".stackcheck"] = stackcheck
