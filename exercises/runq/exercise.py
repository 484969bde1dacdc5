"""Exercise runq: a P's local run queue -- the ring, runnext, the spill to the global
queue and work stealing (emu/runtime/p.py; Go's proc.go).

The direct tests pause a real runtime at main.main (programs/bench_<arch>.s) and call
the student's functions on the idle Ps P1..P3 with test Gs G1..G640 made in the
program's .bss; they compare the bytes of the Ps and of the global queue with what
Go's algorithm leaves there.  The program tests run whole goroutine programs with
the student's queue under the scheduler."""
from __future__ import annotations

from collections import Counter

from emu.grade import Exercise
from emu.grade.substitute import python_substitution
from emu.runtime import p as runq
from emu.runtime.layout import G as G_LAYOUT, RUNQ_SIZE, _Grunnable
from emu.trace import events as ev
from emu.trace.events import Recorder

FUNCTIONS = ("runqput", "runqputslow", "runqget", "runqgrab", "runqsteal")

EX = Exercise(
    name="runq",
    title="runq: the P's lock-free run queue, runnext, spilling and work stealing",
    kind="python",
    replaces={name: f"emu.runtime.p.{name}" for name in FUNCTIONS},
    files={"*": "runq.py"},
    seeds=(1, 2),
)

# The project's own functions, taken before the grader substitutes the student's (it
# loads this file first): the bench's start-up and the reference outputs use them.
REFERENCE = {f"emu.runtime.p.{name}": getattr(runq, name) for name in FUNCTIONS}

U32 = 0xFFFFFFFF
NTEST = 640                 # test Gs in programs/bench_<arch>.s (testgs)
TESTGS_BYTES = 640 * 320


# ---- the bench: a paused runtime, idle Ps and test Gs ---------------------------------------
class Bench:
    """A runtime paused at main.main with 4 Ps; P1..P3 are idle (nobody else touches
    them) and G1..G640 are test Gs in the program's .bss.  The machine never resumes."""

    def __init__(self, ctx):
        self.ctx = ctx
        with python_substitution(REFERENCE):        # the runtime's own start-up uses the reference queue
            s = ctx.system(["bench"], procs=4)
            rt = s.runtime
            res = s.machine.run(2_000_000, pause=lambda: rt.sched.main_started == 1)
        if res.reason != "paused":
            ctx.fail(f"grader bench: the runtime did not reach main.main ({res.reason})")
        if NTEST * G_LAYOUT.size > TESTGS_BYTES:
            ctx.fail("grader bench: programs/bench_<arch>.s has no room for the test Gs (G grew)")
        self.s, self.rt, self.sched = s, rt, rt.sched
        self.base = s.image.symbols["testgs"]
        self.gs = [rt.g(self.base + i * G_LAYOUT.size) for i in range(NTEST)]
        for i, g in enumerate(self.gs):
            g.zero()
            g.goid, g.atomicstatus = i + 1, _Grunnable
        self.ps = [rt.allp(i) for i in range(4)]
        self.reset()

    def G(self, i: int) -> int:
        """The address of test goroutine Gi (1-based)."""
        return self.gs[i - 1].addr

    # ---- state -----------------------------------------------------------------------
    def reset(self, head: int = 0) -> None:
        """Empty P1..P3 (runqhead = runqtail = head) and the global queue."""
        for pp in self.ps[1:]:
            pp.runqhead = pp.runqtail = head
            pp.runnext = 0
            for i in range(RUNQ_SIZE):
                pp.runq[i] = 0
        s = self.sched
        s.runq_head = s.runq_tail = 0
        s.runqsize = 0
        for g in self.gs:
            g.schedlink = 0

    def fill(self, pp, addrs, head: int) -> None:
        """Write a ring directly (not through the student's runqput)."""
        for i, a in enumerate(addrs):
            pp.runq[(head + i) % RUNQ_SIZE] = a
        pp.runqhead, pp.runqtail = head & U32, (head + len(addrs)) & U32

    def name(self, addr) -> str:
        if addr is None:
            return "None"
        if addr == 0:
            return "nil"
        i, r = divmod(addr - self.base, G_LAYOUT.size)
        if r == 0 and 0 <= i < NTEST:
            return f"G{i + 1}"
        return f"{addr:#x} (not a G)"

    def names(self, addrs) -> str:
        ns = [self.name(a) for a in addrs]
        if len(ns) > 8:
            ns = ns[:4] + [f"... ({len(ns) - 6} more) ..."] + ns[-2:]
        return "[" + ", ".join(ns) + "]"

    def ring(self, pp) -> list[int]:
        """The Gs of pp's ring, head first (runq[(runqhead + i) % 256])."""
        n = (pp.runqtail - pp.runqhead) & U32
        if n > RUNQ_SIZE:
            self.ctx.fail(f"P{pp.id}'s runqtail - runqhead = {n} ({pp.runqtail} - {pp.runqhead}) is more than "
                          f"the ring's 256 slots: the ring is corrupt (compute t - h mod 2**32, and never put "
                          f"more than 256)")
        return [pp.runq[(pp.runqhead + i) % RUNQ_SIZE] for i in range(n)]

    def global_queue(self) -> list[int]:
        s, out, a = self.sched, [], self.sched.runq_head
        while a:
            if len(out) > NTEST + 4 or a in out:
                self.ctx.fail(f"the global run queue (linked through g.schedlink) loops: "
                              f"{self.names(out[:6])}...: the last G of a batch must have schedlink = 0")
            out.append(a)
            a = self.rt.g(a).schedlink
        if out and s.runq_tail != out[-1]:
            self.ctx.fail(f"sched.runq_tail is {self.name(s.runq_tail)} but the global queue ends with "
                          f"{self.name(out[-1])}: append batches with globrunqputbatch")
        if s.runqsize != len(out):
            self.ctx.fail(f"sched.runqsize is {s.runqsize} but the global queue holds {len(out)} Gs "
                          f"{self.names(out)}: pass the batch's length to globrunqputbatch")
        return out

    def census(self, returned=(), what: str = "") -> None:
        """Every test G is in at most one place: a ring, a runnext, the global queue, or
        returned to the caller."""
        where: dict[int, list[str]] = {}
        for pp in self.ps[1:]:
            for a in self.ring(pp):
                where.setdefault(a, []).append(f"P{pp.id}'s ring")
            if pp.runnext:
                where.setdefault(pp.runnext, []).append(f"P{pp.id}'s runnext")
        for a in self.global_queue():
            where.setdefault(a, []).append("the global queue")
        for a in returned:
            if a:
                where.setdefault(a, []).append("the G returned")
        for a, places in where.items():
            if len(places) > 1:
                self.ctx.fail(f"{what}{self.name(a)} is in two places at once: {' and '.join(places)} "
                              f"(it would run twice)")

    # ---- calling the student's code ---------------------------------------------------
    def put(self, pp, i: int, next_: bool = False) -> None:
        runq.runqput(self.rt, pp, self.gs[i - 1], next_)

    def get(self, pp, doing: str):
        out = runq.runqget(self.rt, pp)
        if not (isinstance(out, tuple) and len(out) == 2):
            self.ctx.fail(f"{doing}: runqget returned {out!r}; it must return a pair (gp, inheritTime)")
        gp, inherit = out
        if gp is not None and not hasattr(gp, "addr"):
            self.ctx.fail(f"{doing}: runqget returned {gp!r} as the G; return rt.g(addr) (or None)")
        return (None if gp is None else gp.addr), inherit

    def expect_get(self, pp, want: int | None, inherit: bool, doing: str) -> None:
        got, inh = self.get(pp, doing)
        if want is None:
            self.ctx.expect(got is None and not inh,
                            f"{doing}: runqget on an empty queue returned ({self.name(got)}, {inh}); "
                            f"expected (None, False)")
            return
        if got != want:
            self.ctx.fail(f"{doing}: runqget returned {self.name(got)}, expected {self.name(want)}"
                          + (": the ring is FIFO: take runq[runqhead % 256], then advance runqhead"
                             if not inherit else ""))
        if bool(inh) != inherit:
            self.ctx.fail(f"{doing}: runqget returned inheritTime={inh} for {self.name(got)}: only the G "
                          f"taken from runnext inherits the time slice (True); a G from the ring does not (False)")

    def expect_ring(self, pp, want: list[int], after: str, hint: str = "") -> None:
        got = self.ring(pp)
        if got == want:
            return
        msg = (f"after {after}, P{pp.id}'s ring (runq[runqhead % 256] onwards) holds {self.names(got)}, "
               f"expected {self.names(want)}")
        if hint:
            msg += f": {hint}"
        elif len(got) != len(want):
            msg += f": runqtail - runqhead is {len(got)}, expected {len(want)}"
        else:
            i = next(k for k in range(len(got)) if got[k] != want[k])
            slot = (pp.runqhead + i) % RUNQ_SIZE
            msg += (f": runq[(runqhead + {i}) % 256] = runq[{slot}] holds {self.name(got[i])}, expected "
                    f"{self.name(want[i])}; the i-th G of the ring lives at runq[(runqhead + i) % 256]")
        self.ctx.fail(msg)


def G(b: Bench, lo: int, hi: int) -> list[int]:
    """Addresses of Glo..Ghi."""
    return [b.G(i) for i in range(lo, hi + 1)]


# ---- direct tests -------------------------------------------------------------------------
@EX.test(10, budget=2_000_000)
def put_get_fifo(ctx):
    """runqput(next_=False) appends to the ring; runqget takes from its head (FIFO)"""
    b = Bench(ctx)
    pp = b.ps[1]
    for start in (0, 1000):
        b.reset(start)
        for i in range(1, 6):
            b.put(pp, i)
        ctx.expect(pp.runnext == 0, f"runqput(next_=False) put {b.name(pp.runnext)} in runnext: only next_=True "
                                    f"uses runnext; other Gs go to the tail of the ring")
        b.expect_ring(pp, G(b, 1, 5), f"runqput(next_=False) of G1..G5 (runqhead = runqtail = {start})")
        b.census()
        for i in range(1, 6):
            b.expect_get(pp, b.G(i), False, f"taking G{i} back (G1..G5 were put, runqhead started at {start})")
        b.expect_get(pp, None, False, "after taking G1..G5 back")
        ctx.expect(pp.runqhead == (start + 5) & U32,
                   f"after 5 runqputs and 5 runqgets from runqhead = {start}, runqhead is {pp.runqhead}, "
                   f"expected {start + 5}")
    b.reset()
    for i in (1, 2, 3):
        b.put(pp, i)
    b.expect_get(pp, b.G(1), False, "put G1 G2 G3, get")
    b.put(pp, 4)
    b.put(pp, 5)
    b.expect_ring(pp, [b.G(2), b.G(3), b.G(4), b.G(5)], "put G1 G2 G3, get G1, put G4 G5")
    for i in (2, 3, 4, 5):
        b.expect_get(pp, b.G(i), False, f"put G1 G2 G3, get G1, put G4 G5, get ... G{i}")
    b.expect_get(pp, None, False, "after taking every G back")


@EX.test(10, depends=("put_get_fifo",), budget=2_000_000)
def runnext(ctx):
    """runqput(next_=True) uses runnext and kicks the old one to the ring; runqget takes runnext first"""
    b = Bench(ctx)
    pp = b.ps[1]
    b.put(pp, 1, True)
    ctx.expect(pp.runnext == b.G(1), f"after runqput(G1, next_=True) on an empty P, runnext is "
                                     f"{b.name(pp.runnext)}, expected G1")
    b.expect_ring(pp, [], "runqput(G1, next_=True) on an empty P")
    b.put(pp, 2, True)
    ctx.expect(pp.runnext == b.G(2), f"after runqput(G2, next_=True), runnext is {b.name(pp.runnext)}, expected G2")
    b.census()
    b.expect_ring(pp, [b.G(1)], "runqput(G1, next_=True) then runqput(G2, next_=True)",
                  "the old runnext G1 must be kicked out to the tail of the ring, not lost")
    b.put(pp, 3)
    b.expect_ring(pp, [b.G(1), b.G(3)], "then runqput(G3, next_=False)")
    got, inh = b.get(pp, "runnext = G2, ring = [G1, G3]")
    if got != b.G(2):
        ctx.fail(f"runqget returned {b.name(got)} while G2 was in runnext: runqget must take runnext first "
                 f"(it jumps the queue) and return inheritTime=True for it; a G left in runnext is stranded "
                 f"(go-lib bug 18: an M went to sleep with work in runnext)")
    ctx.expect(inh is True or inh == 1, f"runqget returned G2 from runnext with inheritTime={inh}: a G from "
                                        f"runnext inherits the current time slice (True)")
    ctx.expect(pp.runnext == 0, f"runqget took G2 from runnext but left runnext = {b.name(pp.runnext)}: clear "
                                f"it, or G2 runs twice")
    b.expect_get(pp, b.G(1), False, "runnext taken, ring = [G1, G3]")
    b.expect_get(pp, b.G(3), False, "ring = [G3]")
    b.expect_get(pp, None, False, "after taking every G back")


@EX.test(10, depends=("put_get_fifo",), budget=2_000_000)
def full_ring(ctx):
    """256 Gs fill the ring exactly, every slot used once, with no spill"""
    b = Bench(ctx)
    pp = b.ps[1]
    for start in (5, 200):
        b.reset(start)
        for i in range(1, 257):
            b.put(pp, i)
        ctx.expect(b.sched.runqsize == 0 and b.sched.runq_head == 0,
                   f"runqput moved Gs to the global queue ({b.names(b.global_queue())}) although the ring had "
                   f"room: the ring holds 256 Gs; spill only when runqtail - runqhead == 256")
        b.expect_ring(pp, G(b, 1, 256), f"256 runqputs from runqhead = {start}")
        b.census()
        for i in range(1, 257):
            b.expect_get(pp, b.G(i), False, f"taking back the {i}th of 256 Gs (runqhead started at {start})")
        b.expect_get(pp, None, False, "after taking all 256 Gs back")


@EX.test(15, depends=("full_ring",), budget=2_000_000)
def spill(ctx):
    """the 257th G moves the ring's older half plus itself to the global queue (runqputslow)"""
    b = Bench(ctx)
    pp, s = b.ps[1], b.sched
    b.reset(7)
    old = b.G(600)                              # already on the global queue
    s.runq_head = s.runq_tail = old
    s.runqsize = 1
    for i in range(1, 257):
        b.put(pp, i)
    b.put(pp, 257)
    want_global = [old] + G(b, 1, 128) + [b.G(257)]
    got = b.global_queue()
    if got != want_global:
        hint = ""
        if old not in got:
            hint = ": runqputslow replaced the global queue instead of appending to it (use globrunqputbatch)"
        elif len(got) == 1:
            hint = ": nothing was moved: when the ring is full (t - h == 256) runqput must call runqputslow"
        elif b.G(257) not in got:
            hint = ": the G being put (G257) goes to the global queue too, after the ring's older half"
        ctx.fail(f"after 257 runqputs (ring full at the 257th), the global queue holds {b.names(got)}, expected "
                 f"{b.names(want_global)} (what was there, then the ring's 128 oldest Gs, then the new G){hint}")
    ctx.expect(b.rt.g(b.G(257)).schedlink == 0, "the last G moved to the global queue (G257) must have schedlink = 0")
    b.expect_ring(pp, G(b, 129, 256), "the spill (257 runqputs)",
                  "runqputslow must advance runqhead by 128: G1..G128 left the ring for the global queue")
    ctx.expect(pp.runnext == 0, f"runqput(next_=False) left {b.name(pp.runnext)} in runnext")
    b.census()
    b.put(pp, 258)
    b.expect_ring(pp, G(b, 129, 256) + [b.G(258)], "the spill and one more runqput (the ring has room again)")
    for i in range(129, 257):
        b.expect_get(pp, b.G(i), False, "taking back the ring after the spill")


@EX.test(5, depends=("spill",), budget=2_000_000)
def wraparound(ctx):
    """runqhead and runqtail are free-running u32s: the ring works across 2**32"""
    b = Bench(ctx)
    pp = b.ps[1]
    start = (1 << 32) - 16
    b.reset(start)
    for i in range(1, 41):
        b.put(pp, i)
    b.expect_ring(pp, G(b, 1, 40), f"40 runqputs from runqhead = runqtail = {start:#x} (2**32 - 16)",
                  "runqtail wraps to 24: compute t - h mod 2**32 ((t - h) & 0xFFFFFFFF)")
    for i in range(1, 41):
        b.expect_get(pp, b.G(i), False, f"taking back the {i}th of 40 Gs put across 2**32")
    b.expect_get(pp, None, False, "after taking back the 40 Gs put across 2**32")
    start = (1 << 32) - 128
    b.reset(start)
    for i in range(1, 258):
        b.put(pp, i)
    got = b.global_queue()
    ctx.expect(got == G(b, 1, 128) + [b.G(257)],
               f"257 runqputs from runqhead = {start:#x} (2**32 - 128): the global queue holds {b.names(got)}, "
               f"expected [G1 .. G128, G257]: with runqtail wrapped past 2**32, 'is the ring full' must still "
               f"compute (t - h) & 0xFFFFFFFF")
    b.expect_ring(pp, G(b, 129, 256), f"257 runqputs from runqhead = {start:#x}")


@EX.test(15, depends=("put_get_fifo",), budget=2_000_000)
def steal(ctx):
    """runqsteal/runqgrab take half of the victim's ring (its oldest), and runnext only when allowed"""
    b = Bench(ctx)
    thief, victim = b.ps[2], b.ps[1]
    # runqgrab's own contract
    b.reset()
    b.fill(victim, G(b, 1, 7), 250)
    batch: list = []
    n = runq.runqgrab(b.rt, victim, batch, False)
    if n == 7:
        ctx.fail("runqgrab took all 7 Gs of a ring holding G1..G7: a thief takes half, rounded up "
                 "(7 - 7//2 = 4), so that the victim keeps work")
    ctx.expect(n == 4 and list(batch) == G(b, 1, 4),
               f"runqgrab of a ring holding G1..G7 returned {n} with batch {b.names(batch)}; expected 4 with "
               f"[G1, G2, G3, G4]: n = (t - h) - (t - h) // 2, the oldest Gs, appended to batch in ring order")
    if b.ring(victim) == G(b, 1, 7):
        ctx.fail("runqgrab copied G1..G4 out of a ring holding G1..G7 but the victim still holds all seven: "
                 "runqgrab must publish the new runqhead (Go's CAS on head) so the grabbed Gs leave the victim")
    b.expect_ring(victim, G(b, 5, 7), "runqgrab took G1..G4 (runqhead must advance by 4)")
    # runqsteal: half, rounded up; the last grabbed runs; the others go to the thief's ring
    for k, vhead, thead, mine in ((1, 0, 0, 0), (2, 3, 0, 0), (7, 250, 254, 2), (128, 100, 7, 0), (256, 90, 0, 0)):
        b.reset()
        b.fill(victim, G(b, 1, k), vhead)
        b.fill(thief, G(b, 501, 500 + mine), thead)
        vtail, thhead = victim.runqtail, thief.runqhead
        doing = (f"runqsteal by P2 (holding {mine} Gs) from P1 holding G1..G{k}: ")
        gp = runq.runqsteal(b.rt, thief, victim, False)
        if gp is not None and not hasattr(gp, "addr"):
            ctx.fail(f"{doing}runqsteal returned {gp!r}: return the G as rt.g(addr) (the scheduler runs it)")
        gpa = None if gp is None else gp.addr
        n = k - k // 2
        left = b.ring(victim)
        if left != G(b, n + 1, k):
            if not left and k > 1:
                ctx.fail(f"{doing}it took all {k} of the victim's Gs: a thief takes half, rounded up "
                         f"({k} - {k}//2 = {n}), so that the victim keeps work")
            if left == G(b, 1, k) and gpa:
                ctx.fail(f"{doing}the victim still holds all of G1..G{k}: runqgrab must publish the new "
                         f"runqhead (Go's CAS on head) so the grabbed Gs leave the victim")
            ctx.fail(f"{doing}the victim's ring is {b.names(left)}, expected {b.names(G(b, n + 1, k))}: "
                     f"the thief takes the {n} oldest (from runqhead)")
        b.census([gpa], doing)
        ctx.expect(victim.runqtail == vtail, f"{doing}the victim's runqtail changed ({vtail} -> "
                                             f"{victim.runqtail}): only its owner writes runqtail")
        ctx.expect(thief.runqhead == thhead, f"{doing}the thief's runqhead changed ({thhead} -> "
                                             f"{thief.runqhead}): runqsteal appends at the thief's tail")
        if gpa != b.G(n):
            ctx.fail(f"{doing}runqsteal returned {b.name(gpa)}: it must return the last G grabbed (G{n}) "
                     f"as rt.g(addr); the others, G1..G{n - 1}, go to the thief's ring in order")
        b.expect_ring(thief, G(b, 501, 500 + mine) + G(b, 1, n - 1),
                      f"{doing[:-2]} (the thief's ring: what it had, then the stolen Gs but the last)")
    # runnext: only when the ring is empty, and only with stealRunNextG
    b.reset()
    victim.runnext = b.G(9)
    gp = runq.runqsteal(b.rt, thief, victim, False)
    ctx.expect(gp is None and victim.runnext == b.G(9),
               f"runqsteal(stealRunNextG=False) from a P with only G9 in runnext returned {b.name(getattr(gp, 'addr', gp))}"
               f" and left runnext = {b.name(victim.runnext)}: only the last of stealWork's 4 rounds may take "
               f"runnext (the G its P is about to run); return None and leave it")
    gp = runq.runqsteal(b.rt, thief, victim, True)
    gpa = None if gp is None else getattr(gp, "addr", gp)
    ctx.expect(gpa == b.G(9) and victim.runnext == 0,
               f"runqsteal(stealRunNextG=True) from a P with an empty ring and G9 in runnext returned "
               f"{b.name(gpa)} and left runnext = {b.name(victim.runnext)}: with an empty ring it takes "
               f"runnext (clear it) and returns that G")
    b.census([gpa])
    b.reset()
    b.fill(victim, G(b, 1, 3), 0)
    victim.runnext = b.G(9)
    gp = runq.runqsteal(b.rt, thief, victim, True)
    gpa = None if gp is None else getattr(gp, "addr", gp)
    ctx.expect(gpa == b.G(2) and victim.runnext == b.G(9),
               f"runqsteal(stealRunNextG=True) from a P with ring [G1, G2, G3] and G9 in runnext returned "
               f"{b.name(gpa)} and left runnext = {b.name(victim.runnext)}: runnext is taken only when the "
               f"ring is empty; here the thief takes G1, G2 and runs G2")
    b.census([gpa])
    b.reset()
    ctx.expect(runq.runqsteal(b.rt, thief, victim, True) is None, "runqsteal from an empty P must return None")


# ---- whole programs ------------------------------------------------------------------------
def _run(ctx, sources, *, procs: int, kinds=(), reference: bool = False, **kw):
    """Run to the end (the student's queue, or the reference's); (outcome, recorder)."""
    rec = Recorder(kinds=list(kinds) or [ev.STEAL])
    if procs > 1:
        kw.setdefault("policy", "random")
    if reference:
        with python_substitution(REFERENCE):
            out = ctx.run(ctx.system(sources, procs=procs, trace=rec, **kw))
    else:
        out = ctx.run(ctx.system(sources, procs=procs, trace=rec, **kw))
    return out, rec


def _ok(ctx, out, what: str):
    if out.status != 0:
        first = out.first_error
        hint = ""
        if "pidleput: P has non-empty run queue" in first:
            hint = " (an M gave up its P with a G still queued: is runnext taken by runqget?)"
        elif "casgstatus" in first:
            hint = " (a G was scheduled while it was not runnable: is a G on two queues at once?)"
        elif "checkdead: runnable g" in first:
            hint = " (a runnable G is on no run queue: was it lost by runqput or runqputslow?)"
        ctx.fail(f"{what}: the program did not exit 0 (status {out.status}): {first}{hint}")


@EX.test(5, depends=("spill", "runnext"), budget=5_000_000)
def spill_program(ctx):
    """300 newprocs on one P: 129 Gs on the global queue, 170 in the ring, goroutine 301 in runnext"""
    rec = Recorder(kinds=[ev.NEWPROC])
    s = ctx.system(["runq_spill"], procs=1, trace=rec)
    res = s.machine.run(ctx.budget, pause=lambda: len(rec.events) == 301)
    if res.reason != "paused":
        out = s.run(ctx.budget)
        _ok(ctx, out, "spill (300 newprocs)")
        ctx.fail(f"spill: the program ended after {len(rec.events)} newprocs")
    rt = s.runtime
    sched, p0 = rt.sched, rt.allp(0)
    goid = lambda a: rt.g(a).goid if a else 0                            # noqa: E731
    ring = [p0.runq[(p0.runqhead + i) % RUNQ_SIZE] for i in range(min((p0.runqtail - p0.runqhead) & U32, 300))]
    glob, a = [], sched.runq_head
    while a and len(glob) < 400:
        glob.append(goid(a))
        a = rt.g(a).schedlink
    want_glob = list(range(2, 130)) + [258]
    want_ring = list(range(130, 258)) + list(range(259, 301))
    ctx.expect(goid(p0.runnext) == 301,
               f"after 300 newprocs (each runqput(next_=True)), P0's runnext holds goroutine {goid(p0.runnext)}, "
               f"expected 301 (the newest)")
    ctx.expect(glob == want_glob and sched.runqsize == 129,
               f"after 300 newprocs the global queue holds {len(glob)} Gs (runqsize {sched.runqsize}): "
               f"goroutines {_short(glob)}, expected 129: {_short(want_glob)} (when goroutine 259 kicked 258 "
               f"out of runnext into the full ring, the ring's older half 2..129 and 258 spilled)")
    ctx.expect([goid(a) for a in ring] == want_ring,
               f"after 300 newprocs P0's ring holds goroutines {_short([goid(a) for a in ring])}, expected "
               f"{_short(want_ring)}")
    out = s.run(ctx.budget)
    _ok(ctx, out, "spill (300 newprocs, then every one runs)")


def _lost(rt) -> list[int]:
    """goids of the _Grunnable Gs that are on no run queue (allg walked through g.alllink)."""
    queued = set()
    for i in range(rt.sched.gomaxprocs):
        pp = rt.allp(i)
        n = min((pp.runqtail - pp.runqhead) & U32, RUNQ_SIZE)
        queued.update(pp.runq[(pp.runqhead + k) % RUNQ_SIZE] for k in range(n))
        queued.add(pp.runnext)
    a, steps = rt.sched.runq_head, 0
    while a and steps < 100_000:
        queued.add(a)
        a, steps = rt.g(a).schedlink, steps + 1
    lost, a = [], rt.sched.allg
    while a:
        g = rt.g(a)
        if g.atomicstatus == _Grunnable and a not in queued:
            lost.append(g.goid)
        a = g.alllink
    return sorted(lost)


def _short(xs) -> str:
    xs = list(xs)
    return str(xs) if len(xs) <= 8 else f"[{', '.join(map(str, xs[:4]))}, ... ({len(xs) - 6} more), {xs[-2]}, {xs[-1]}]"


PINGPONG = b"".join(b"%d\n" % i for i in range(1, 11))
GOSCHED_RR_1P = b"goroutine 3\ngoroutine 3\ngoroutine 1\ngoroutine 2\ngoroutine 3\ngoroutine 1\n" \
                b"goroutine 2\ngoroutine 1\ngoroutine 2\n"


@EX.test(5, depends=("runnext", "steal"), budget=5_000_000)
def pingpong(ctx):
    """pingpong: two goroutines in turn over unbuffered channels, on 1 and 4 Ps"""
    for procs in (1, 4):
        out, _ = _run(ctx, ["pingpong"], procs=procs)
        _ok(ctx, out, f"pingpong on {procs} P(s)")
        ctx.expect(out.stdout == PINGPONG, f"pingpong on {procs} P(s) printed {out.stdout!r}, expected 1..10")


@EX.test(10, depends=("runnext", "steal"), budget=5_000_000)
def gosched_rr(ctx):
    """gosched_rr: runnext, the global queue and schedtick fairness give Go's exact order on 1 P"""
    out, _ = _run(ctx, ["gosched_rr"], procs=1)
    _ok(ctx, out, "gosched_rr on 1 P")
    if out.stdout != GOSCHED_RR_1P:
        lines = out.stdout.decode(errors="replace").strip().split("\n")
        ctx.fail(f"gosched_rr on 1 P printed {lines}, expected Go's order 3 3 1 2 3 1 2 1 2 (spinner 3, in "
                 f"runnext, runs first and inherits the time slice, so schedtick stays 0 and its gosched puts "
                 f"it on the global queue, which the %61 fairness check takes at once)")
    out, _ = _run(ctx, ["gosched_rr"], procs=4)
    _ok(ctx, out, "gosched_rr on 4 Ps")
    ref, _ = _run(ctx, ["gosched_rr"], procs=4, reference=True)
    lines = Counter(out.stdout.split(b"\n")[:-1])
    ctx.expect(lines == Counter({b"goroutine 1": 3, b"goroutine 2": 3, b"goroutine 3": 3}),
               f"gosched_rr on 4 Ps printed {out.stdout!r}: each spinner must print its line 3 times")
    ctx.expect(out.stdout == ref.stdout,
               f"gosched_rr on 4 Ps (seed {ctx.seed}) printed {out.stdout!r}, but the reference run queue "
               f"prints {ref.stdout!r} with the same seed")


def _fanout(ctx, n: int):
    """programs/<arch>/fanout.s with n workers and n jobs."""
    return ctx.program("fanout", NWORKERS=n, NJOBS=n)


@EX.test(15, depends=("spill_program", "steal"), budget=10_000_000)
def fanout(ctx):
    """fanout: 300 workers on 1 P (spill and refill from the global queue), 100 on 4 Ps (stealing)"""
    for procs, n in ((1, 300), (4, 100)):
        want = b"%d\n" % sum(i * i for i in range(n))
        s = ctx.system([_fanout(ctx, n)], procs=procs, policy="random" if procs > 1 else "round-robin",
                       trace=(rec := Recorder(kinds=[ev.STEAL, ev.SWITCH])))
        out = ctx.run(s)
        _ok(ctx, out, f"fanout ({n} workers) on {procs} P(s)")
        ctx.expect(out.stdout == want, f"fanout ({n} workers) on {procs} P(s) printed {out.stdout!r}, "
                                       f"expected {want!r}")
        if procs == 1:          # (with one P no G can be between two queues when main exits)
            lost = _lost(s.runtime)
            ctx.expect(not lost, f"fanout ({n} workers) on 1 P: when main returned, goroutine(s) {_short(lost)} "
                                 f"were _Grunnable but on no run queue (no ring, runnext or the global "
                                 f"queue): they were lost, and would never run")
        if procs > 1:
            ctx.expect(rec.of(ev.STEAL), f"fanout on {procs} Ps: no work stealing happened (no STEAL event): "
                                         f"idle Ps find the workers on P0's queue through runqsteal")
            ran_on = {e.args[1] for e in rec.of(ev.SWITCH)}
            ctx.expect(len(ran_on) > 1, f"fanout on {procs} Ps: every G ran on P{ran_on.pop()}: the other Ps "
                                        f"never stole a worker")
