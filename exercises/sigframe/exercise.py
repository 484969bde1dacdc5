"""Exercise `sigframe`: the Linux signal frame, built and undone (kernel side).

The student writes the four functions of emu/kernel/signal.py that build the
rt_sigframe and restore it in rt_sigreturn, on both arches (sigframe.py); they
replace _setup_frame_amd64/_arm64 (called by do_signal) and _sigreturn_amd64/_arm64
(called by sys_rt_sigreturn).

Every test runs programs/sigcheck_<arch>.s, a --bare program that installs a
handler with rt_sigaction, loads every register with a seeded value and sends
itself a signal with tgkill.  Code hooks take the register file at the signal
(`kill_insn`), at handler entry and after the return (`after_kill`); the handler
itself reads the frame at Linux's offsets into `seen`.  Expected values are
computed here from Linux's rules (arch/x86/kernel/signal{,_64}.c,
arch/arm64/kernel/signal.c), not from the project's code.
"""
from __future__ import annotations

import random
import struct

from emu.grade import Exercise
from emu.trace import events as ev
from emu.trace.events import Recorder

EX = Exercise(
    name="sigframe",
    title="The Linux signal frame: rt_sigframe and rt_sigreturn",
    kind="python",
    replaces={"setup_frame_amd64": "emu.kernel.signal._setup_frame_amd64",
              "sigreturn_amd64": "emu.kernel.signal._sigreturn_amd64",
              "setup_frame_arm64": "emu.kernel.signal._setup_frame_arm64",
              "sigreturn_arm64": "emu.kernel.signal._sigreturn_arm64"},
    files={"*": "sigframe.py"},
    seeds=(1, 2),
)

BUDGET = 200_000
PID = 1000
MASK64 = (1 << 64) - 1
SA_SIGINFO, SA_RESTORER, SA_ONSTACK = 0x4, 0x04000000, 0x08000000
SS_DISABLE = 2
SI_TKILL = -6
KILL_STOP = (1 << 8) | (1 << 18)                      # SIGKILL, SIGSTOP: never blocked
TGKILL = {"amd64": 234, "arm64": 131}
# Linux's offsets (uapi/asm/sigcontext.h, ucontext.h)
X86_GREGS = ("r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rdi", "rsi", "rbp", "rbx",
             "rdx", "rax", "rcx", "rsp", "rip", "rflags")
X86_IN = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
A64_MC = ["fault_address"] + [f"x{i}" for i in range(31)] + ["sp", "pc", "pstate"]
FPSIMD_MAGIC = 0x46508001
TRAMPOLINE = struct.pack("<II", 0xD2801168, 0xD4000001)     # movz x8, #139; svc #0
DF, TF, RF = 0x400, 0x100, 0x10000
FIX_EFLAGS = 0x40DD5 | RF                                   # AC OF DF TF SF ZF AF PF CF, RF


def sigmask(sig: int) -> int:
    return 1 << (sig - 1)


def rng(ctx, salt: str) -> random.Random:
    return random.Random(f"{salt}:{ctx.seed}")


class Scenario:
    """What one run of sigcheck does, drawn from the seed."""

    def __init__(self, ctx, salt: str, *, altstack: bool = False, edit_pc: bool = False,
                 edit_mask: bool = False, restorer: bool | None = None):
        r = rng(ctx, salt)
        self.arch = ctx.arch
        self.signo = r.choice([10, 12, 23, 34, 40, 50, 63])
        others = [s for s in range(1, 65) if s not in (9, 19, self.signo)]
        self.premask = sum(sigmask(s) for s in r.sample(others, 6))
        self.sa_mask = sum(sigmask(s) for s in r.sample(others, 4)) | sigmask(9)     # SIGKILL: dropped
        self.pad = r.randrange(8) * (8 if ctx.arch == "amd64" else 16)
        self.altstack = altstack
        self.ss_size = r.randrange(0x2000, 0x7FF8, 8) | 8 if altstack else 0          # a top that is 8 mod 16
        if restorer is None:
            restorer = True if ctx.arch == "amd64" else r.random() < 0.5
        self.restorer = restorer
        self.flags = SA_SIGINFO | (SA_RESTORER if restorer else 0) | (SA_ONSTACK if altstack else 0)
        self.edit_pc = r.getrandbits(64) if edit_pc else None
        self.edit_mask = (sum(sigmask(s) for s in r.sample(range(1, 65), 8)) | sigmask(19)) if edit_mask else None
        if ctx.arch == "amd64":
            names = X86_IN
        else:
            names = [f"x{i}" for i in range(31)]
        self.regs_in = {n: r.getrandbits(64) for n in names}
        if ctx.arch == "amd64":
            self.regs_in.update(rax=TGKILL["amd64"], rdi=PID, rsi=PID, rdx=self.signo)
        else:
            self.regs_in.update(x0=PID, x1=PID, x2=self.signo, x8=TGKILL["arm64"])
        self.vin = r.randbytes(256 if ctx.arch == "amd64" else 512)
        self.fpctl = (0x0800001F, 0x00C00000)              # FPSR (QC, IOC..IXC), FPCR (RMode)


class Run:
    """One run of sigcheck for a Scenario, with the register file at the signal
    (`before`), at handler entry (`entry`, plus the frame's bytes) and after the
    return (`after`)."""

    def __init__(self, ctx, sc: Scenario):
        self.ctx, self.sc, self.arch = ctx, sc, ctx.arch
        self.rec = Recorder(slices=False) if ctx.trace else Recorder(kinds=[ev.SIGNAL, ev.SIGRETURN])
        s = self.s = ctx.system(["sigcheck"], bare=True, trace=self.rec)
        sym, mem = self.sym, self.mem = s.image.symbols, s.machine.memory
        restorer = sym["restorer"] if sc.restorer else 0
        mem.write(sym["act"], struct.pack("<4Q", sym["handler"], sc.flags, restorer, sc.sa_mask))
        mem.write_u64(sym["signo"], sc.signo)
        if sc.altstack:
            mem.write(sym["alt_ss"], struct.pack("<QiiQ", sym["altstack"], 0, 0, sc.ss_size))
        mem.write_u64(sym["premask"], sc.premask)
        mem.write_u64(sym["pad"], sc.pad)
        if sc.edit_pc is not None:
            mem.write(sym["edit_pc"], struct.pack("<QQ", 1, sc.edit_pc))
        if sc.edit_mask is not None:
            mem.write(sym["edit_mask"], struct.pack("<QQ", 1, sc.edit_mask))
        if self.arch == "amd64":
            mem.write(sym["regs_in"], struct.pack("<15Q", *(sc.regs_in[n] for n in X86_IN)))
        else:
            mem.write(sym["regs_in"], struct.pack("<31Q", *(sc.regs_in[f"x{i}"] for i in range(31))))
            mem.write(sym["fpctl"], struct.pack("<QQ", *sc.fpctl))
        mem.write(sym["vin"], sc.vin)
        self.before = self.entry = self.after = None
        self.frame_bytes = b""
        m = s.machine
        m.add_code_hook(sym["kill_insn"], lambda cpu: setattr(self, "before", self._ctx(cpu)))
        m.add_code_hook(sym["handler"], self._at_handler)
        self.edited = False
        m.add_code_hook(sym["edited"], lambda cpu: setattr(self, "edited", True))
        m.add_code_hook(sym["after_kill"], lambda cpu: self.after is None and setattr(self, "after", self._ctx(cpu)))
        self.error = None
        try:        # (the grader makes a student's exception in the kernel end the run)
            self.out = ctx.run(s)
        except Exception as e:                               # noqa: BLE001 -- judged by start() / finished()
            if self.entry is None:
                raise                                        # the frame was never built: report it as it is
            self.error, self.out = e, None                   # the handler ran; the return went wrong

    def _ctx(self, cpu):
        c = cpu.context()
        c["blocked"] = self.s.kernel.by_cpu[cpu.id].blocked
        return c

    def _at_handler(self, cpu):
        if self.entry is None:
            self.entry = self._ctx(cpu)
            sp = self.frame_lo = self.entry[self.s.machine.isa.sp]
            # the frame, and on amd64 the fxsave image above it
            for n in ((1024, 440) if self.arch == "amd64" else (4688 + 16,)):
                if self.mem.fully_mapped(sp, sp + n):
                    self.frame_bytes = self.mem.read(sp, n)
                    break

    # ---- what Linux does ----------------------------------------------------------------------
    @property
    def sp_name(self):
        return "rsp" if self.arch == "amd64" else "sp"

    def placement(self) -> dict:
        """Where Linux puts the frame for this run's interrupted SP and action."""
        sc, sp0 = self.sc, self.before[self.sp_name]
        if self.arch == "amd64":
            sp = sc and (self.sym["altstack"] + sc.ss_size if sc.altstack else sp0 - 128)
            fpstate = (sp - 512) & ~63
            frame = ((fpstate - 440) & ~15) - 8
            return dict(top=sp, fpstate=fpstate, frame=frame, uc=frame + 8, info=frame + 312)
        top = self.sym["altstack"] + sc.ss_size if sc.altstack else sp0
        record = (top - 16) & ~15
        frame = record - 4688
        return dict(top=top, record=record, frame=frame, uc=frame + 128, info=frame)

    def interrupted(self) -> dict:
        """The registers the frame must hold: those right after tgkill returned 0."""
        b = dict(self.before)
        if self.arch == "amd64":
            b.update(rax=0, rcx=self.sym["after_kill"], r11=b["rflags"], rip=self.sym["after_kill"])
        else:
            b.update(x0=0, pc=self.sym["after_kill"])
        return b

    def seen(self, i: int) -> int:
        v = self.mem.read_u64(self.sym["seen"] + 8 * i)
        return v - (1 << 64) if v >> 63 and i in (5, 6, 7, 10) else v

    def seen_greg(self, i: int) -> int:
        return self.mem.read_u64(self.sym["seen_gregs"] + 8 * i)

    def word(self, addr: int, size: int = 8) -> int:
        """A word of the frame as it was at handler entry (memory now, if outside what was kept)."""
        off = addr - self.frame_lo
        if 0 <= off and off + size <= len(self.frame_bytes):
            return int.from_bytes(self.frame_bytes[off:off + size], "little")
        return int.from_bytes(self.mem.read(addr, size), "little")


def start(ctx, sc: Scenario) -> Run:
    """Run the scenario; fail unless the handler ran."""
    r = Run(ctx, sc)
    if r.entry is None:
        why = r.out.report.splitlines()[0] if r.out.report else f"status {r.out.status}"
        where = "the handler never ran" if r.before is not None else "the program never reached its tgkill"
        ctx.fail(f"{where}: {why}")
    return r


def finished(ctx, r: Run) -> None:
    """Fail unless the handler's return got the program back to after_kill and it exited 0."""
    if r.error is not None:
        e = r.error
        if isinstance(e, (AssertionError, NotImplementedError)):
            raise e
        ctx.fail(f"after the handler returned, rt_sigreturn raised {type(e).__name__}: {e}")
    if r.out.reason != "exit" or r.out.status != 0 or r.after is None:
        why = r.out.report.splitlines()[0] if r.out.report else f"status {r.out.status}"
        ctx.fail(f"after the handler returned, the program did not get back to after_kill and exit 0 "
                 f"({r.out.reason}): {why}")


def reg_hint(value: int, regs: dict, skip: str) -> str:
    """' (that is rdx's value)' when `value` is some other register's."""
    names = [n for n, v in regs.items() if v == value and n != skip and not n.startswith(("xmm", "v", "q"))]
    return f" (that is {names[0]}'s value)" if names and value else ""


# ---- 1. entering the handler ---------------------------------------------------------------------
@EX.test(2, budget=BUDGET)
def handler_entry(ctx):
    """At handler entry: the frame where Linux puts it, the ABI's stack alignment, and the handler's arguments."""
    r = start(ctx, Scenario(ctx, "entry"))
    check_entry(ctx, r)


def check_entry(ctx, r: Run) -> None:
    e, p, sc = r.entry, r.placement(), r.sc
    sp = e[r.sp_name]
    if r.arch == "amd64":
        if (sp + 8) % 16:
            ctx.fail(f"misaligned frame: at handler entry rsp = {sp:#x}, so (rsp + 8) % 16 = {(sp + 8) % 16}; the "
                     f"x86-64 ABI wants (rsp + 8) % 16 == 0 at a function's first instruction (as right after a "
                     f"call), so Linux puts the frame at round_down(fpstate - 440, 16) - 8")
        if sp != p["frame"]:
            where = "on the alternate stack, whose top replaces rsp - 128" if sc.altstack else \
                "below the 128-byte red zone"
            ctx.fail(f"the frame (rsp at handler entry) is at {sp:#x}; Linux puts it at {p['frame']:#x}: start "
                     f"{where} ({p['top']:#x}), the 512-byte fxsave image at round_down(sp - 512, 64) = "
                     f"{p['fpstate']:#x}, then frame = round_down(fpstate - 440, 16) - 8")
        want = dict(rdi=sc.signo, rsi=p["info"], rdx=p["uc"], rax=0, rip=r.sym["handler"])
        what = dict(rdi="the signal number", rsi="&frame.info (frame + 312)", rdx="&frame.uc (frame + 8)",
                    rax="0 (no vector registers in use, as for a varargs call)", rip="sa_handler")
        for reg, v in want.items():
            ctx.expect(e[reg] == v, f"at handler entry {reg} = {e[reg]:#x}; it must be {what[reg]} = {v:#x}")
        ctx.expect(not e["rflags"] & (DF | TF | RF),
                   f"at handler entry rflags = {e['rflags']:#x}: Linux clears DF, TF and RF for the handler "
                   f"(the program set DF before the signal)")
        pret = r.mem.read_u64(sp)
        ctx.expect(pret == r.sym["restorer"],
                   f"[rsp] at handler entry (pretcode) is {pret:#x}; it must be sa_restorer ({r.sym['restorer']:#x}): "
                   f"the handler's `ret` goes there, and the restorer calls rt_sigreturn")
    else:
        if sp % 16:
            ctx.fail(f"misaligned frame: at handler entry sp = {sp:#x}, so sp % 16 = {sp % 16}; arm64 requires "
                     f"sp % 16 == 0 (a misaligned sp faults on the first access), so Linux rounds the frame "
                     f"record down: record = round_down(top - 16, 16), frame = record - 4688")
        if sp != p["frame"]:
            where = "the top of the alternate stack" if sc.altstack else "the interrupted sp (no red zone on arm64)"
            ctx.fail(f"the frame (sp at handler entry) is at {sp:#x}; Linux puts it at {p['frame']:#x}: top = "
                     f"{where} ({p['top']:#x}), the frame record {{x29, x30}} at round_down(top - 16, 16) = "
                     f"{p['record']:#x}, then the 4688-byte rt_sigframe below it")
        want = dict(x0=sc.signo, x1=p["info"], x2=p["uc"], x29=p["record"], pc=r.sym["handler"])
        what = dict(x0="the signal number", x1="&frame.info (frame + 0) under SA_SIGINFO",
                    x2="&frame.uc (frame + 128) under SA_SIGINFO", x29="the frame record's address (frame + 4688)",
                    pc="sa_handler")
        for reg, v in want.items():
            ctx.expect(e[reg] == v, f"at handler entry {reg} = {e[reg]:#x}; it must be {what[reg]} = {v:#x}")
        lr = e["x30"]
        if sc.restorer:
            ctx.expect(lr == r.sym["restorer"], f"at handler entry x30 = {lr:#x}; with SA_RESTORER it must be "
                       f"sa_restorer ({r.sym['restorer']:#x}): the handler returns there")
        else:
            try:
                code = r.mem.read(lr, 8)
            except Exception:                                   # noqa: BLE001
                code = b""
            ctx.expect(code == TRAMPOLINE, f"at handler entry x30 = {lr:#x}; without SA_RESTORER it must be the "
                       f"kernel's trampoline (`movz x8, #139; svc #0`, the given sigtramp(k)), which calls "
                       f"rt_sigreturn when the handler returns")


# ---- 2. what the handler reads at Linux's offsets ----------------------------------------------
@EX.test(3, depends=("handler_entry",), budget=BUDGET)
def frame_fields(ctx):
    """The handler reads si_signo, si_code, si_pid, uc_sigmask, uc_stack and every saved register at Linux's offsets."""
    r = start(ctx, Scenario(ctx, "fields"))
    check_entry(ctx, r)
    check_fields(ctx, r)


def check_fields(ctx, r: Run) -> None:
    sc, p = r.sc, r.placement()
    for i, name, want in ((5, "info.si_signo (offset 0)", sc.signo), (6, "info.si_code (offset 8)", SI_TKILL),
                          (7, "info.si_pid (offset 16)", PID)):
        got = r.seen(i)
        if got != want:
            extra = " (SI_TKILL: sent by tgkill)" if want == SI_TKILL else ""
            ctx.fail(f"the handler read {name} = {got}; it must be {want}{extra}: the siginfo is written at "
                     f"&info (frame + {p['info'] - p['frame']}) under SA_SIGINFO")
    got = r.seen(8)
    ctx.expect(got == sc.premask,
               f"the handler read uc.uc_sigmask (uc + {296 if r.arch == 'amd64' else 40}) = {got:#x}; it must be "
               f"the mask before the signal, {sc.premask:#x} (rt_sigreturn restores it from there)")
    ss = (r.seen(9), r.seen(10), r.seen(11))
    want_ss = (r.sym["altstack"], 0, sc.ss_size) if sc.altstack else (0, SS_DISABLE, 0)
    ctx.expect(ss == want_ss, f"the handler read uc.uc_stack (uc + 16) = {{ss_sp {ss[0]:#x}, ss_flags {ss[1]}, "
               f"ss_size {ss[2]:#x}}}; it must be the thread's altstack as set, {{{want_ss[0]:#x}, {want_ss[1]}, "
               f"{want_ss[2]:#x}}} (SS_DISABLE = 2 when there is none)")
    regs = r.interrupted()
    if r.arch == "amd64":
        for i, name in enumerate(X86_GREGS):
            got, want = r.seen_greg(i), regs[name]
            if got != want:
                field = "eflags" if name == "rflags" else name
                ctx.fail(f"the sigcontext field {field} at uc + {40 + 8 * i} (uc_mcontext + {8 * i}) holds "
                         f"{got:#x}{reg_hint(got, regs, name)}, but the interrupted {name} was {want:#x}: the "
                         f"sigcontext is r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags, 8 bytes each")
        got = r.seen(12)
        ctx.expect(got == p["fpstate"], f"the handler read uc_mcontext.fpstate (uc + 224) = {got:#x}; it must point "
                   f"at the fxsave image, {p['fpstate']:#x} = round_down(sp - 512, 64)")
    else:
        nzcv = regs["nzcv"] & 0xF0000000
        want_mc = dict(regs, fault_address=0, pstate=nzcv)
        for i, name in enumerate(A64_MC):
            got, want = r.seen_greg(i), want_mc[name]
            if got != want:
                field = name if name in ("fault_address", "sp", "pc", "pstate") else f"regs[{name[1:]}]"
                ctx.fail(f"the sigcontext field {field} at uc + {176 + 8 * i} (uc_mcontext + {8 * i}) holds "
                         f"{got:#x}{reg_hint(got, want_mc, name)}, but it must be {want:#x}"
                         f"{' (the interrupted ' + name + ')' if name.startswith('x') or name in ('sp', 'pc') else ''}"
                         f": the sigcontext is fault_address, regs[0..30], sp, pc, pstate, 8 bytes each, at uc + 176")
        got = r.seen(12) & 0xFFFFFFFF
        ctx.expect(got == FPSIMD_MAGIC, f"the first record in uc_mcontext.__reserved (uc + 464) has magic {got:#x}; "
                   f"it must be the fpsimd_context, magic {FPSIMD_MAGIC:#x}")


# ---- 3. the whole frame, byte by byte ------------------------------------------------------------
@EX.test(2, depends=("handler_entry",), budget=BUDGET)
def frame_bytes(ctx):
    """Every other field of the frame at handler entry: uc_flags, segments, oldmask, the FP/SIMD state, the frame record."""
    from emu.views.sigframe import SigFrameView
    r = start(ctx, Scenario(ctx, "bytes"))
    check_entry(ctx, r)
    p, b, sc = r.placement(), r.before, r.sc
    frame = p["frame"]
    w = r.word

    def field(name, addr, got, want, why):
        if got != want:
            ctx.fail(f"{name} at frame + {addr - frame} ({addr:#x}) is {got:#x}; it must be {want:#x}: {why}")
    if r.arch == "amd64":
        uc, mc, fp = p["uc"], p["uc"] + 40, p["fpstate"]
        field("pretcode", frame, w(frame), r.sym["restorer"], "sa_restorer, where the handler's ret goes")
        field("uc.uc_flags", uc, w(uc), 6, "UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS")
        field("uc.uc_link", uc + 8, w(uc + 8), 0, "no linked context")
        for i, (seg, want) in enumerate((("cs", 0x33), ("gs", 0), ("fs", 0), ("ss", 0x2B))):
            field(f"uc_mcontext.{seg}", mc + 144 + 2 * i, w(mc + 144 + 2 * i, 2), want,
                  "the user segments (16 bits each after eflags)")
        for i, (name, want) in enumerate((("err", 0), ("trapno", 0), ("oldmask", sc.premask), ("cr2", 0))):
            field(f"uc_mcontext.{name}", mc + 152 + 8 * i, w(mc + 152 + 8 * i), want,
                  "err, trapno and cr2 describe a fault (none here); oldmask is the mask before the signal")
        for i in range(8):
            field(f"uc_mcontext.reserved1[{i}]", mc + 192 + 8 * i, w(mc + 192 + 8 * i), 0, "reserved: zero")
        field("fpstate.fcw", fp, w(fp, 2), b["fpcw"], "the fxsave image starts with the x87 control word")
        field("fpstate.mxcsr", fp + 24, w(fp + 24, 4), b["mxcsr"], "MXCSR at the signal, at +24 in the image")
        field("fpstate.mxcsr_mask", fp + 28, w(fp + 28, 4), 0xFFFF, "the MXCSR bits the CPU supports")
        for i in range(16):
            field(f"fpstate.xmm{i}", fp + 160 + 16 * i, w(fp + 160 + 16 * i, 16), b[f"xmm{i}"],
                  "the fxsave image holds xmm0-15 at +160")
    else:
        uc = p["uc"]
        field("uc.uc_flags", uc, w(uc), 0, "no flags on arm64")
        field("uc.uc_link", uc + 8, w(uc + 8), 0, "no linked context")
        rec = uc + 464
        field("fpsimd_context.magic", rec, w(rec, 4), FPSIMD_MAGIC, "the first record of __reserved (uc + 464)")
        field("fpsimd_context.size", rec + 4, w(rec + 4, 4), 528, "8 header + fpsr + fpcr + 32 * 16")
        field("fpsimd_context.fpsr", rec + 8, w(rec + 8, 4), b["fpsr"], "FPSR at the signal")
        field("fpsimd_context.fpcr", rec + 12, w(rec + 12, 4), b["fpcr"], "FPCR at the signal")
        for i in range(32):
            field(f"fpsimd_context.vregs[{i}]", rec + 16 + 16 * i, w(rec + 16 + 16 * i, 16), b[f"q{i}"],
                  "the 128-bit q registers")
        field("the terminator record", rec + 528, w(rec + 528), 0, "{magic 0, size 0} ends the records")
        field("record.x29", p["record"], w(p["record"]), b["x29"], "the frame record {x29, x30} above the frame")
        field("record.x30", p["record"] + 8, w(p["record"] + 8), b["x30"], "the frame record {x29, x30}")
    # the project's decoder agrees with all of the above (a cross-check of the grader itself)
    view = SigFrameView(r.s, frame)
    ctx.expect(view.signo == sc.signo and view.pc == r.sym["after_kill"] and view.sp == b[r.sp_name],
               f"decoded field by field (emu/views/sigframe.py), the frame holds si_signo {view.signo}, pc "
               f"{view.pc:#x}, sp {view.sp:#x}; the signal was {sc.signo}, interrupted at pc "
               f"{r.sym['after_kill']:#x} with sp {b[r.sp_name]:#x}")


# ---- 4. rt_sigreturn: every register -----------------------------------------------------------
@EX.test(3, depends=("handler_entry",), budget=BUDGET)
def sigreturn_restores(ctx):
    """The handler clobbers every register; after rt_sigreturn each one (GPRs, flags, vector, FP control) is as at the signal."""
    r = start(ctx, Scenario(ctx, "restore"))
    finished(ctx, r)
    check_restored(ctx, r)


def check_restored(ctx, r: Run, skip=()):
    want, got = r.interrupted(), r.after
    isa = r.s.machine.isa
    names = [x.name for x in isa.gprs + isa.vregs + isa.fp_control if x.name not in ("fptag", "fs_base", "tpidr_el0")]
    for name in names:
        if name in skip or got[name] == want[name]:
            continue
        if name == "rflags":
            diff = got[name] ^ want[name]
            ctx.fail(f"after rt_sigreturn rflags = {got[name]:#x}, but it was {want[name]:#x} at the signal "
                     f"(bits {diff:#x} differ): restore the flags in FIX_EFLAGS from the frame's eflags")
        ctx.fail(f"after rt_sigreturn {name} = {got[name]:#x}, but it was {want[name]:#x} when the signal came "
                 f"(the handler had clobbered it): rt_sigreturn must restore every register from the frame")


# ---- 5. rt_sigreturn: the signal mask ----------------------------------------------------------
@EX.test(2, depends=("handler_entry",), budget=BUDGET)
def sigreturn_mask(ctx):
    """While the handler runs the mask is old | sa_mask | sig; rt_sigreturn restores uc_sigmask, also after the handler edits it."""
    r = start(ctx, Scenario(ctx, "mask"))
    finished(ctx, r)
    sc = r.sc
    during = r.seen(13)
    want = (sc.premask | sc.sa_mask | sigmask(sc.signo)) & ~KILL_STOP
    ctx.expect(during == want, f"while the handler ran the blocked mask was {during:#x}; expected {want:#x} "
               f"(the old mask | sa_mask | the signal itself)")
    after = r.mem.read_u64(r.sym["mask_after"])
    ctx.expect(after == sc.premask,
               f"after rt_sigreturn the blocked mask is {after:#x}, but the frame's uc_sigmask held {sc.premask:#x} "
               f"(the mask before the signal): rt_sigreturn must restore the blocked mask from uc_sigmask "
               f"(set_current_blocked)")
    r = start(ctx, Scenario(ctx, "mask2", edit_mask=True))
    finished(ctx, r)
    after = r.mem.read_u64(r.sym["mask_after"])
    want = r.sc.edit_mask & ~KILL_STOP
    ctx.expect(after == want,
               f"the handler wrote {r.sc.edit_mask:#x} into uc_sigmask; after rt_sigreturn the blocked mask is "
               f"{after:#x}, expected {want:#x} (never SIGKILL or SIGSTOP): rt_sigreturn must restore the blocked "
               f"mask from uc_sigmask in the frame, as the handler left it")


# ---- 6. a handler that edits its frame ---------------------------------------------------------
@EX.test(1, depends=("sigreturn_restores",), budget=BUDGET)
def handler_edits_frame(ctx):
    """The handler writes a new pc and a new rbx/x19 into the frame: rt_sigreturn resumes there with that value."""
    r = start(ctx, Scenario(ctx, "edit", edit_pc=True))
    finished(ctx, r)
    reg = "rbx" if r.arch == "amd64" else "x19"
    ctx.expect(r.edited, f"the handler set the saved {'rip' if r.arch == 'amd64' else 'pc'} to `edited`, but the "
               f"program resumed at the signal point: rt_sigreturn must take the pc from the frame in memory (as "
               f"the handler left it), not from a copy kept elsewhere")
    ctx.expect(r.after[reg] == r.sc.edit_pc,
               f"the handler wrote {r.sc.edit_pc:#x} into the saved {reg}; after rt_sigreturn {reg} = "
               f"{r.after[reg]:#x}: restore the registers from the frame as the handler left it")
    check_restored(ctx, r, skip=(reg,))


# ---- 7. SA_ONSTACK: the alternate signal stack ---------------------------------------------------
@EX.test(2, depends=("handler_entry",), budget=BUDGET)
def altstack(ctx):
    """With sigaltstack and SA_ONSTACK the frame is built at the top of the altstack (whose size is 8 mod 16)."""
    r = start(ctx, Scenario(ctx, "alt", altstack=True))
    check_entry(ctx, r)
    check_fields(ctx, r)
    finished(ctx, r)
    check_restored(ctx, r)
    sig = r.rec.of(ev.SIGNAL)
    ctx.expect(bool(sig) and sig[0].args[3], "the kernel did not report the frame on the altstack")
