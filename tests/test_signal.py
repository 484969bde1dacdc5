"""Signals on both arches, against Linux's rules and frame layouts, with exact values.

Every test runs real machine code: bare programs install handlers with
rt_sigaction, send signals with tgkill/kill, take faults, and return through
rt_sigreturn.  Code hooks (`Machine.add_code_hook`) observe the registers at
the signal point (`kill_insn`), at handler entry and after the return
(`after_kill`); the frame is read from guest memory at handler entry.
"""
from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from emu.kernel import errno as E
from emu.kernel import signal as S
from emu.kernel.syscalls import number_of
from emu.machine.memory import PAGE, PROT_READ
from emu.trace import events as ev
from emu.trace.events import Recorder

from conftest import make_system, replay
from probes import SYSCALL_PROBE

PID = 1000
SIGUSR1, SIGUSR2, SIGSEGV, SIGURG = 10, 12, 11, 23
ALT_SIZE = 0x8000
PREMASK = S.sigmask(S.SIGPIPE) | S.sigmask(40)      # blocked before the signal: never sent
SA_MASK = S.sigmask(S.SIGALRM) | S.sigmask(63)      # sa_mask of the handler under test
MASK64 = (1 << 64) - 1


def signed(x: int) -> int:
    return x - (1 << 64) if x >> 63 else x


def u64s(mem, addr, n):
    return struct.unpack(f"<{n}Q", mem.read(addr, 8 * n))


def nr_table(arch):
    names = ("rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "tgkill", "kill",
             "exit_group", "exit", "mmap", "mprotect", "futex", "nanosleep", "clone")
    return {n: number_of(arch, n) for n in names}


# ---- the main program -------------------------------------------------------------------
# Installs up to three actions (actN_sig 0 = none: rt_sigaction(0) fails harmlessly),
# sets the altstack `ss` and the mask `premask`, loads every register from tables
# (regs_in, vin), sends itself a signal (the registers hold tgkill's arguments) at
# `kill_insn`, stores the result and exits 0.  Handlers:
#   h_ret      returns at once            h_clobber  clobbers every register, returns
#   h_edit     points the saved pc at `edited` (which sets edited_flag, then after_kill)
#   h_log      appends +sig, sends resend_sig while resend_n > 0, appends -sig
#   h_query    stores the mask, sigaltstack's report, and the result of changing it
#   h_bad_*    corrupt the frame in one way each before returning
MAIN = {
    "amd64": """
.text
.globl _start
_start:
    lea rdi, [rip + alt_ss]
    xor esi, esi
    mov eax, {sigaltstack}
    syscall
    mov rdi, qword ptr [rip + act0_sig]
    lea rsi, [rip + act0]
    xor edx, edx
    mov r10d, 8
    mov eax, {rt_sigaction}
    syscall
    mov rdi, qword ptr [rip + act1_sig]
    lea rsi, [rip + act1]
    xor edx, edx
    mov r10d, 8
    mov eax, {rt_sigaction}
    syscall
    mov rdi, qword ptr [rip + act2_sig]
    lea rsi, [rip + act2]
    xor edx, edx
    mov r10d, 8
    mov eax, {rt_sigaction}
    syscall
    mov edi, 2
    lea rsi, [rip + premask]
    xor edx, edx
    mov r10d, 8
    mov eax, {rt_sigprocmask}
    syscall
    movdqu xmm0, xmmword ptr [rip + vin]
    movdqu xmm1, xmmword ptr [rip + vin + 16]
    movdqu xmm2, xmmword ptr [rip + vin + 32]
    movdqu xmm3, xmmword ptr [rip + vin + 48]
    movdqu xmm4, xmmword ptr [rip + vin + 64]
    movdqu xmm5, xmmword ptr [rip + vin + 80]
    movdqu xmm6, xmmword ptr [rip + vin + 96]
    movdqu xmm7, xmmword ptr [rip + vin + 112]
    movdqu xmm8, xmmword ptr [rip + vin + 128]
    movdqu xmm9, xmmword ptr [rip + vin + 144]
    movdqu xmm10, xmmword ptr [rip + vin + 160]
    movdqu xmm11, xmmword ptr [rip + vin + 176]
    movdqu xmm12, xmmword ptr [rip + vin + 192]
    movdqu xmm13, xmmword ptr [rip + vin + 208]
    movdqu xmm14, xmmword ptr [rip + vin + 224]
    movdqu xmm15, xmmword ptr [rip + vin + 240]
    mov eax, 1
    cmp eax, 2
    std
    mov rax, qword ptr [rip + regs_in]
    mov rbx, qword ptr [rip + regs_in + 8]
    mov rcx, qword ptr [rip + regs_in + 16]
    mov rdx, qword ptr [rip + regs_in + 24]
    mov rsi, qword ptr [rip + regs_in + 32]
    mov rdi, qword ptr [rip + regs_in + 40]
    mov rbp, qword ptr [rip + regs_in + 48]
    mov r8, qword ptr [rip + regs_in + 56]
    mov r9, qword ptr [rip + regs_in + 64]
    mov r10, qword ptr [rip + regs_in + 72]
    mov r11, qword ptr [rip + regs_in + 80]
    mov r12, qword ptr [rip + regs_in + 88]
    mov r13, qword ptr [rip + regs_in + 96]
    mov r14, qword ptr [rip + regs_in + 104]
    mov r15, qword ptr [rip + regs_in + 112]
kill_insn:
    syscall
after_kill:
    mov qword ptr [rip + result], rax
    xor edi, edi
    mov eax, {exit_group}
    syscall

h_ret:
    ret

h_clobber:
    mov rax, -1
    mov rbx, -2
    mov rcx, -3
    mov rdx, -4
    mov rsi, -5
    mov rdi, -6
    mov rbp, -7
    mov r8, -8
    mov r9, -9
    mov r10, -10
    mov r11, -11
    mov r12, -12
    mov r13, -13
    mov r14, -14
    mov r15, -15
    pcmpeqd xmm0, xmm0
    pcmpeqd xmm1, xmm1
    pcmpeqd xmm2, xmm2
    pcmpeqd xmm3, xmm3
    pcmpeqd xmm4, xmm4
    pcmpeqd xmm5, xmm5
    pcmpeqd xmm6, xmm6
    pcmpeqd xmm7, xmm7
    pcmpeqd xmm8, xmm8
    pcmpeqd xmm9, xmm9
    pcmpeqd xmm10, xmm10
    pcmpeqd xmm11, xmm11
    pcmpeqd xmm12, xmm12
    pcmpeqd xmm13, xmm13
    pcmpeqd xmm14, xmm14
    pcmpeqd xmm15, xmm15
    ldmxcsr dword ptr [rip + junk_mxcsr]
    cmp rax, rax
    std
    ret

h_edit:
    lea rax, [rip + edited]
    mov qword ptr [rdx + 168], rax
    ret
edited:
    mov qword ptr [rip + edited_flag], 1
    jmp after_kill

h_log:
    mov rax, qword ptr [rip + log_n]
    lea rcx, [rip + log]
    mov qword ptr [rcx + rax*8], rdi
    inc rax
    mov qword ptr [rip + log_n], rax
    mov rax, qword ptr [rip + resend_n]
    test rax, rax
    jz h_log_out
    dec rax
    mov qword ptr [rip + resend_n], rax
    push rdi
    push rdi
    mov eax, {tgkill}
    mov edi, 1000
    mov esi, 1000
    mov rdx, qword ptr [rip + resend_sig]
    syscall
    pop rdi
    pop rdi
h_log_out:
    mov rax, qword ptr [rip + log_n]
    lea rcx, [rip + log]
    neg rdi
    mov qword ptr [rcx + rax*8], rdi
    inc rax
    mov qword ptr [rip + log_n], rax
    ret

h_query:
    xor edi, edi
    xor esi, esi
    lea rdx, [rip + q_mask]
    mov r10d, 8
    mov eax, {rt_sigprocmask}
    syscall
    xor edi, edi
    lea rsi, [rip + q_ss]
    mov eax, {sigaltstack}
    syscall
    lea rdi, [rip + alt_new]
    xor esi, esi
    mov eax, {sigaltstack}
    syscall
    mov qword ptr [rip + q_ss_res], rax
    ret

h_bad_fpstate:
    mov qword ptr [rdx + 224], 8
    ret
h_bad_mxcsr:
    mov rax, qword ptr [rdx + 224]
    mov dword ptr [rax + 24], 0xffffffff
    ret
h_null_fpstate:
    mov qword ptr [rdx + 224], 0
    ret
h_bad_sp:
    mov eax, 16
    mov rsp, rax
    mov eax, {rt_sigreturn}
    syscall
h_bad_pretcode:
    mov qword ptr [rsp], 16
    ret

restorer:
    mov eax, {rt_sigreturn}
    syscall

.data
.balign 16
act0_sig: .quad 0
act0:     .quad 0, 0, 0, 0
act1_sig: .quad 0
act1:     .quad 0, 0, 0, 0
act2_sig: .quad 0
act2:     .quad 0, 0, 0, 0
alt_ss:     .quad 0, 2, 0
alt_new:      .quad 0, 0, 0
premask:  .quad 0
regs_in:  .space 128
vin:      .space 256
junk_mxcsr: .long 0xff80
.balign 8
result:   .quad 0
edited_flag: .quad 0
log_n:    .quad 0
log:      .space 256
resend_n: .quad 0
resend_sig: .quad 0
q_mask:   .quad 0
q_ss:     .quad 0, 0, 0
q_ss_res: .quad 0
.balign 4096
altstack: .space 0x8000
""",
    "arm64": """
.text
.globl _start
_start:
    adr x0, alt_ss
    mov x1, #0
    mov x8, #{sigaltstack}
    svc #0
    adr x9, act0_sig
    ldr x0, [x9]
    adr x1, act0
    mov x2, #0
    mov x3, #8
    mov x8, #{rt_sigaction}
    svc #0
    adr x9, act1_sig
    ldr x0, [x9]
    adr x1, act1
    mov x2, #0
    mov x3, #8
    mov x8, #{rt_sigaction}
    svc #0
    adr x9, act2_sig
    ldr x0, [x9]
    adr x1, act2
    mov x2, #0
    mov x3, #8
    mov x8, #{rt_sigaction}
    svc #0
    mov x0, #2
    adr x1, premask
    mov x2, #0
    mov x3, #8
    mov x8, #{rt_sigprocmask}
    svc #0
    adr x9, vin
    ldp q0, q1, [x9, #0]
    ldp q2, q3, [x9, #32]
    ldp q4, q5, [x9, #64]
    ldp q6, q7, [x9, #96]
    ldp q8, q9, [x9, #128]
    ldp q10, q11, [x9, #160]
    ldp q12, q13, [x9, #192]
    ldp q14, q15, [x9, #224]
    ldp q16, q17, [x9, #256]
    ldp q18, q19, [x9, #288]
    ldp q20, q21, [x9, #320]
    ldp q22, q23, [x9, #352]
    ldp q24, q25, [x9, #384]
    ldp q26, q27, [x9, #416]
    ldp q28, q29, [x9, #448]
    ldp q30, q31, [x9, #480]
    adr x9, fpctl
    ldp x10, x11, [x9]
    msr fpsr, x10
    msr fpcr, x11
    mov x10, #1
    cmp x10, #2
    adr x9, regs_in
    ldp x0, x1, [x9, #0]
    ldp x2, x3, [x9, #16]
    ldp x4, x5, [x9, #32]
    ldp x6, x7, [x9, #48]
    ldr x8, [x9, #64]
    ldp x10, x11, [x9, #80]
    ldp x12, x13, [x9, #96]
    ldp x14, x15, [x9, #112]
    ldp x16, x17, [x9, #128]
    ldp x18, x19, [x9, #144]
    ldp x20, x21, [x9, #160]
    ldp x22, x23, [x9, #176]
    ldp x24, x25, [x9, #192]
    ldp x26, x27, [x9, #208]
    ldp x28, x29, [x9, #224]
    ldr x30, [x9, #240]
    ldr x9, [x9, #72]
kill_insn:
    svc #0
after_kill:
    adr x9, result
    str x0, [x9]
    mov x0, #0
    mov x8, #{exit_group}
    svc #0

h_ret:
    ret

h_clobber:
    adr x9, saved_lr
    str x30, [x9]
    mov x0, #-1
    mov x1, #-2
    mov x2, #-3
    mov x3, #-4
    mov x4, #-5
    mov x5, #-6
    mov x6, #-7
    mov x7, #-8
    mov x8, #-9
    mov x9, #-10
    mov x11, #-12
    mov x12, #-13
    mov x13, #-14
    mov x14, #-15
    mov x15, #-16
    mov x16, #-17
    mov x17, #-18
    mov x18, #-19
    mov x19, #-20
    mov x20, #-21
    mov x21, #-22
    mov x22, #-23
    mov x23, #-24
    mov x24, #-25
    mov x25, #-26
    mov x26, #-27
    mov x27, #-28
    mov x28, #-29
    mov x29, #-30
    mov x30, #-31
    movi v0.2d, #0xffffffffffffffff
    movi v1.2d, #0xffffffffffffffff
    movi v2.2d, #0xffffffffffffffff
    movi v3.2d, #0xffffffffffffffff
    movi v4.2d, #0xffffffffffffffff
    movi v5.2d, #0xffffffffffffffff
    movi v6.2d, #0xffffffffffffffff
    movi v7.2d, #0xffffffffffffffff
    movi v8.2d, #0xffffffffffffffff
    movi v9.2d, #0xffffffffffffffff
    movi v10.2d, #0xffffffffffffffff
    movi v11.2d, #0xffffffffffffffff
    movi v12.2d, #0xffffffffffffffff
    movi v13.2d, #0xffffffffffffffff
    movi v14.2d, #0xffffffffffffffff
    movi v15.2d, #0xffffffffffffffff
    movi v16.2d, #0xffffffffffffffff
    movi v17.2d, #0xffffffffffffffff
    movi v18.2d, #0xffffffffffffffff
    movi v19.2d, #0xffffffffffffffff
    movi v20.2d, #0xffffffffffffffff
    movi v21.2d, #0xffffffffffffffff
    movi v22.2d, #0xffffffffffffffff
    movi v23.2d, #0xffffffffffffffff
    movi v24.2d, #0xffffffffffffffff
    movi v25.2d, #0xffffffffffffffff
    movi v26.2d, #0xffffffffffffffff
    movi v27.2d, #0xffffffffffffffff
    movi v28.2d, #0xffffffffffffffff
    movi v29.2d, #0xffffffffffffffff
    movi v30.2d, #0xffffffffffffffff
    movi v31.2d, #0xffffffffffffffff
    mov x10, #-11
    msr fpsr, x10
    msr fpcr, x10
    movz x10, #0x3000, lsl #16
    msr nzcv, x10
    mov x10, #-11
    adr x10, saved_lr
    ldr x30, [x10]
    ret

h_edit:
    adr x9, edited
    str x9, [x2, #440]
    ret
edited:
    adr x9, edited_flag
    mov x10, #1
    str x10, [x9]
    b after_kill

h_log:
    adr x9, log_n
    ldr x10, [x9]
    adr x11, log
    str x0, [x11, x10, lsl #3]
    add x10, x10, #1
    str x10, [x9]
    adr x9, resend_n
    ldr x10, [x9]
    cbz x10, h_log_out
    sub x10, x10, #1
    str x10, [x9]
    stp x0, x30, [sp, #-16]!
    mov x0, #1000
    mov x1, #1000
    adr x9, resend_sig
    ldr x2, [x9]
    mov x8, #{tgkill}
    svc #0
    ldp x0, x30, [sp], #16
h_log_out:
    adr x9, log_n
    ldr x10, [x9]
    adr x11, log
    neg x12, x0
    str x12, [x11, x10, lsl #3]
    add x10, x10, #1
    str x10, [x9]
    ret

h_query:
    mov x0, #0
    mov x1, #0
    adr x2, q_mask
    mov x3, #8
    mov x8, #{rt_sigprocmask}
    svc #0
    mov x0, #0
    adr x1, q_ss
    mov x8, #{sigaltstack}
    svc #0
    adr x0, alt_new
    mov x1, #0
    mov x8, #{sigaltstack}
    svc #0
    adr x9, q_ss_res
    str x0, [x9]
    ret

h_bad_magic:
    str wzr, [x2, #464]
    ret
h_bad_pstate:
    mov x9, #0x3c5
    str x9, [x2, #448]
    ret
h_bad_align:
    add sp, sp, #8
    mov x8, #{rt_sigreturn}
    svc #0
h_bad_sp:
    mov x9, #16
    mov sp, x9
    mov x8, #{rt_sigreturn}
    svc #0

restorer:
    mov x8, #{rt_sigreturn}
    svc #0

.data
.balign 16
act0_sig: .quad 0
act0:     .quad 0, 0, 0, 0
act1_sig: .quad 0
act1:     .quad 0, 0, 0, 0
act2_sig: .quad 0
act2:     .quad 0, 0, 0, 0
alt_ss:     .quad 0, 2, 0
alt_new:      .quad 0, 0, 0
premask:  .quad 0
regs_in:  .space 256
vin:      .space 512
fpctl:    .quad 0, 0
result:   .quad 0
edited_flag: .quad 0
saved_lr: .quad 0
log_n:    .quad 0
log:      .space 256
resend_n: .quad 0
resend_sig: .quad 0
q_mask:   .quad 0
q_ss:     .quad 0, 0, 0
q_ss_res: .quad 0
.balign 4096
altstack: .space 0x8000
""",
}

X86_IN = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
X86_GREGS = ("r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rdi", "rsi", "rbp", "rbx",
             "rdx", "rax", "rcx", "rsp", "rip", "rflags")
FPSR_IN, FPCR_IN = 0x0800001F, 0x00C00000


def vreg_value(i: int) -> int:
    return int.from_bytes(bytes((i * 16 + j) & 0xFF for j in range(16)), "little") | (i + 1) << 120


class Run:
    """One run of MAIN with hooks at the signal point, handler entries and after."""

    def __init__(self, arch, *, acts, sig=SIGUSR1, premask=PREMASK, altstack=False, ss_flags=0,
                 resend=(0, 0), trace=False, max_instructions=2_000_000, setup=None):
        self.arch = arch
        src = MAIN[arch].format(**nr_table(arch))
        self.rec = Recorder(slices=False) if trace else None
        self.s = make_system(arch, src, trace=self.rec or False)
        self.sym = sym = self.s.image.symbols
        self.mem = mem = self.s.machine.memory
        for i, (signo, handler, flags, mask) in enumerate(acts):
            mem.write_u64(sym[f"act{i}_sig"], signo)
            restorer = sym["restorer"] if flags & S.SA_RESTORER else 0
            mem.write(sym[f"act{i}"], struct.pack("<4Q", sym[handler], flags, restorer, mask))
        if altstack:
            mem.write(sym["alt_ss"], struct.pack("<QiiQ", sym["altstack"], ss_flags, 0, ALT_SIZE))
        mem.write_u64(sym["premask"], premask)
        mem.write_u64(sym["resend_n"], resend[0])
        mem.write_u64(sym["resend_sig"], resend[1])
        self.regs_in = self._regs_in(sig)
        if arch == "amd64":
            mem.write(sym["regs_in"], struct.pack("<15Q", *(self.regs_in[r] for r in X86_IN)))
            nv = 16
        else:
            mem.write(sym["regs_in"], struct.pack("<31Q", *(self.regs_in[f"x{i}"] for i in range(31))))
            mem.write(sym["fpctl"], struct.pack("<QQ", FPSR_IN, FPCR_IN))
            nv = 32
        mem.write(sym["vin"], b"".join(vreg_value(i).to_bytes(16, "little") for i in range(nv)))
        self.before = self.after = None
        self.entries: list[dict] = []
        m = self.s.machine
        m.add_code_hook(sym["kill_insn"], lambda cpu: setattr(self, "before", self._ctx(cpu)))
        m.add_code_hook(sym["after_kill"], lambda cpu: setattr(self, "after", self._ctx(cpu)))
        for name in sorted({a[1] for a in acts}):
            m.add_code_hook(sym[name], lambda cpu, name=name: self.entries.append(dict(self._ctx(cpu), handler=name)))
        if setup:
            setup(self)
        self.out = self.s.run(max_instructions)

    def _regs_in(self, sig):
        if self.arch == "amd64":
            vals = {r: 0x1000_0000_0000_0000 * (i + 1) + 0x0101_0101 * i for i, r in enumerate(X86_IN)}
            vals.update(rax=number_of("amd64", "tgkill"), rdi=PID, rsi=PID, rdx=sig)
        else:
            vals = {f"x{i}": 0x0100_0000_0000_0000 * (i + 1) + 0x0101_0101 * i for i in range(31)}
            vals.update(x0=PID, x1=PID, x2=sig, x8=number_of("arm64", "tgkill"))
        return vals

    def _ctx(self, cpu):
        ctx = cpu.context()
        t = self.s.kernel.by_cpu[cpu.id]
        ctx["blocked"] = t.blocked
        return ctx

    @property
    def task(self):
        return self.s.kernel.tasks[PID]

    def ok(self):
        assert (self.out.reason, self.out.status) == ("exit", 0), (self.out.report, replay(self.s))
        return self


def sa_flags(arch, flags=0):
    """SA flags a Go-like handler uses on `arch` (amd64 needs SA_RESTORER)."""
    return flags | S.SA_SIGINFO | (S.SA_RESTORER if arch == "amd64" else 0)


def expected_after(r: Run) -> dict:
    """The registers right after the tgkill syscall returns 0 (as if no signal came)."""
    b = dict(r.before)
    if r.arch == "amd64":
        b.update(rax=0, rcx=r.sym["after_kill"], r11=b["rflags"], rip=r.sym["after_kill"])
    else:
        b.update(x0=0, pc=r.sym["after_kill"])
    return b


# ---- frame layout ---------------------------------------------------------------------------
def test_frame_layout_at_handler_entry(arch):
    r = Run(arch, acts=[(SIGUSR1, "h_ret", sa_flags(arch), SA_MASK)]).ok()
    mem, b, e = r.mem, r.before, r.entries[0]
    exp = expected_after(r)
    if arch == "amd64":
        fpstate = (b["rsp"] - 128 - 512) & ~63           # below the red zone, 64-aligned
        frame = ((fpstate - 440) & ~15) - 8
        assert e["rsp"] == frame and frame % 16 == 8
        assert (e["rdi"], e["rsi"], e["rdx"], e["rax"], e["rip"]) == (
            SIGUSR1, frame + 312, frame + 8, 0, r.sym["h_ret"])
        assert b["rflags"] & S.X86_DF and e["rflags"] & (S.X86_DF | S.X86_TF | S.X86_RF) == 0
        assert e["rflags"] & S.X86_CF and e["rflags"] & ~S.X86_DF == b["rflags"] & ~S.X86_DF
        assert fpstate + 512 <= b["rsp"] - 128 and frame + 440 <= fpstate
        uc = frame + 8
        assert mem.read_u64(frame) == r.sym["restorer"]                     # pretcode
        assert u64s(mem, uc, 2) == (6, 0)           # UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS, uc_link
        assert struct.unpack("<QiiQ", mem.read(uc + 16, 24)) == (0, S.SS_DISABLE, 0, 0)
        gregs = u64s(mem, uc + 40, 18)
        for i, name in enumerate(X86_GREGS):
            assert gregs[i] == exp[name], name
        assert struct.unpack("<HHHH", mem.read(uc + 184, 8)) == (0x33, 0, 0, 0x2B)
        assert u64s(mem, uc + 192, 5) == (0, 0, PREMASK, 0, fpstate)     # err trapno oldmask cr2 fpstate
        assert u64s(mem, uc + 232, 8) == (0,) * 8
        assert mem.read_u64(uc + 296) == PREMASK                              # uc_sigmask
        info = frame + 312
        fcw, fsw = struct.unpack("<HH", mem.read(fpstate, 4))
        assert fcw == b["fpcw"]
        assert struct.unpack("<II", mem.read(fpstate + 24, 8)) == (b["mxcsr"], 0xFFFF)
        for i in range(16):
            assert int.from_bytes(mem.read(fpstate + 160 + 16 * i, 16), "little") == vreg_value(i)
        # the handler starts with a clean SSE state
        assert all(e[f"xmm{i}"] == 0 for i in range(16)) and e["mxcsr"] == 0x1F80
    else:
        record = (b["sp"] - 16) & ~15
        frame = record - 4688
        assert (e["sp"], e["x29"]) == (frame, record)
        assert u64s(mem, record, 2) == (b["x29"], b["x30"])
        assert (e["x0"], e["x1"], e["x2"], e["pc"]) == (SIGUSR1, frame, frame + 128, r.sym["h_ret"])
        tramp = e["x30"]
        region = mem.find(tramp)
        assert (region.start, region.prot, region.name) == (tramp, 5, "[vdso]")
        assert mem.read(tramp, 8) == struct.pack("<II", 0xD2801168, 0xD4000001)
        assert r.s.kernel.sigtramp == tramp
        uc = frame + 128
        assert u64s(mem, uc, 2) == (0, 0)
        assert struct.unpack("<QiiQ", mem.read(uc + 16, 24)) == (0, S.SS_DISABLE, 0, 0)
        assert mem.read_u64(uc + 40) == PREMASK
        mc = uc + 176
        assert mem.read_u64(mc) == 0                                          # fault_address
        regs = u64s(mem, mc + 8, 31)
        for i in range(31):
            assert regs[i] == exp[f"x{i}"], f"x{i}"
        assert u64s(mem, mc + 256, 3) == (b["sp"], r.sym["after_kill"], b["nzcv"])
        assert b["nzcv"] == 0x80000000                                        # N from cmp 1, 2
        fp = mc + 288
        assert struct.unpack("<IIII", mem.read(fp, 16)) == (0x46508001, 528, FPSR_IN, FPCR_IN)
        for i in range(32):
            assert int.from_bytes(mem.read(fp + 16 + 16 * i, 16), "little") == vreg_value(i)
        assert struct.unpack("<II", mem.read(fp + 528, 8)) == (0, 0)         # terminator
        info = frame
    assert struct.unpack("<iiiiiI", mem.read(info, 24)) == (SIGUSR1, 0, S.SI_TKILL, 0, PID, 0)
    assert e["blocked"] == PREMASK | SA_MASK | S.sigmask(SIGUSR1)
    # after rt_sigreturn: everything as if the syscall had just returned
    after = r.after
    for name, v in exp.items():
        if name != "blocked":
            assert after[name] == v, name
    assert after["blocked"] == PREMASK
    assert signed(r.mem.read_u64(r.sym["result"])) == 0


@pytest.mark.parametrize("arch", ["arm64"])
def test_arm64_sa_restorer_is_the_return_address(arch):
    r = Run(arch, acts=[(SIGUSR1, "h_ret", S.SA_SIGINFO | S.SA_RESTORER, 0)]).ok()
    assert r.entries[0]["x30"] == r.sym["restorer"]
    assert r.s.kernel.sigtramp is None           # the trampoline page is mapped only when needed


def test_without_sa_siginfo_arm64_leaves_x1_x2(arch):
    r = Run(arch, acts=[(SIGUSR1, "h_ret", sa_flags(arch) & ~S.SA_SIGINFO, 0)]).ok()
    e, b = r.entries[0], r.before
    if arch == "arm64":
        assert (e["x1"], e["x2"]) == (b["x1"], b["x2"])      # Linux sets them under SA_SIGINFO only
    else:
        assert (e["rsi"], e["rdx"]) == (e["rsp"] + 312, e["rsp"] + 8)    # x86 always does


def test_handler_runs_on_the_altstack_with_sa_onstack(arch):
    r = Run(arch, acts=[(SIGUSR1, "h_ret", sa_flags(arch, S.SA_ONSTACK), 0)], altstack=True, trace=True).ok()
    alt, e, mem = r.sym["altstack"], r.entries[0], r.mem
    top = alt + ALT_SIZE
    if arch == "amd64":
        fpstate = (top - 512) & ~63
        frame = ((fpstate - 440) & ~15) - 8
        assert e["rsp"] == frame and mem.read_u64(frame + 8 + 224) == fpstate
        uc = frame + 8
    else:
        frame = ((top - 16) & ~15) - 4688
        assert e["sp"] == frame and e["x29"] == top - 16
        uc = frame + 128
    assert alt < frame < top
    # uc_stack: the altstack as the thread set it (flags 0, as Linux 4.7+ writes them)
    assert struct.unpack("<QiiQ", mem.read(uc + 16, 24)) == (alt, 0, 0, ALT_SIZE)
    [sig] = r.rec.of(ev.SIGNAL)
    assert sig.args == (SIGUSR1, r.sym["h_ret"], frame, True)
    [ret] = r.rec.of(ev.SIGRETURN)
    assert ret.args == (r.sym["after_kill"], r.before[r.s.machine.isa.sp])


def test_without_sa_onstack_the_altstack_is_not_used(arch):
    r = Run(arch, acts=[(SIGUSR1, "h_ret", sa_flags(arch), 0)], altstack=True).ok()
    sp = r.entries[0][r.s.machine.isa.sp]
    assert not r.sym["altstack"] < sp <= r.sym["altstack"] + ALT_SIZE
    assert sp < r.before[r.s.machine.isa.sp]


def test_nested_signal_on_the_altstack_stays_on_it(arch):
    acts = [(SIGUSR1, "h_log", sa_flags(arch, S.SA_ONSTACK), 0), (SIGUSR2, "h_log", sa_flags(arch, S.SA_ONSTACK), 0)]
    r = Run(arch, acts=acts, altstack=True, resend=(1, SIGUSR2), trace=True).ok()
    first, second = r.rec.of(ev.SIGNAL)
    assert (first.args[0], second.args[0]) == (SIGUSR1, SIGUSR2)
    assert first.args[3] and second.args[3]
    alt = r.sym["altstack"]
    assert alt < second.args[2] < first.args[2] < alt + ALT_SIZE        # below the first, no switch


# ---- registers and the saved context ----------------------------------------------------------
def test_registers_flags_and_vector_registers_survive_a_clobbering_handler(arch):
    r = Run(arch, acts=[(SIGUSR1, "h_clobber", sa_flags(arch), 0)]).ok()
    exp = expected_after(r)
    names = list(r.s.machine.isa.gprs) + list(r.s.machine.isa.vregs) + list(r.s.machine.isa.fp_control)
    for reg in names:
        if reg.name == "fptag":
            continue
        assert r.after[reg.name] == exp[reg.name], reg.name
    if arch == "arm64":
        assert (r.after["fpsr"], r.after["fpcr"]) == (FPSR_IN, FPCR_IN)


def test_a_handler_that_edits_the_saved_pc_resumes_there(arch):
    r = Run(arch, acts=[(SIGUSR1, "h_edit", sa_flags(arch), 0)]).ok()
    assert r.mem.read_u64(r.sym["edited_flag"]) == 1
    assert signed(r.mem.read_u64(r.sym["result"])) == 0


# ---- masks ------------------------------------------------------------------------------------
def test_mask_during_the_handler_and_after(arch):
    r = Run(arch, acts=[(SIGUSR1, "h_query", sa_flags(arch), SA_MASK | S.sigmask(S.SIGKILL))]).ok()
    during = r.mem.read_u64(r.sym["q_mask"])
    assert during == PREMASK | SA_MASK | S.sigmask(SIGUSR1)          # SIGKILL never blocks
    assert r.task.blocked == PREMASK and r.after["blocked"] == PREMASK


def test_same_signal_is_deferred_until_the_handler_returns(arch):
    r = Run(arch, acts=[(SIGUSR1, "h_log", sa_flags(arch), 0)], resend=(1, SIGUSR1)).ok()
    assert _log(r) == [SIGUSR1, -SIGUSR1, SIGUSR1, -SIGUSR1]


def test_sa_nodefer_allows_nested_delivery_of_the_same_signal(arch):
    r = Run(arch, acts=[(SIGUSR1, "h_log", sa_flags(arch, S.SA_NODEFER), 0)], resend=(1, SIGUSR1)).ok()
    assert _log(r) == [SIGUSR1, SIGUSR1, -SIGUSR1, -SIGUSR1]
    assert r.task.blocked == PREMASK


def test_a_different_signal_nests_unless_in_sa_mask(arch):
    acts = [(SIGUSR1, "h_log", sa_flags(arch), 0), (SIGUSR2, "h_log", sa_flags(arch), 0)]
    r = Run(arch, acts=acts, resend=(1, SIGUSR2)).ok()
    assert _log(r) == [SIGUSR1, SIGUSR2, -SIGUSR2, -SIGUSR1]
    acts = [(SIGUSR1, "h_log", sa_flags(arch), S.sigmask(SIGUSR2)), (SIGUSR2, "h_log", sa_flags(arch), 0)]
    r = Run(arch, acts=acts, resend=(1, SIGUSR2)).ok()
    assert _log(r) == [SIGUSR1, -SIGUSR1, SIGUSR2, -SIGUSR2]


def test_a_blocked_signal_stays_pending(arch):
    # SIGUSR1 is blocked when sent and never unblocked: no handler runs, it stays queued.
    r = Run(arch, acts=[(SIGUSR1, "h_log", sa_flags(arch), 0)], premask=S.sigmask(SIGUSR1)).ok()
    assert _log(r) == [] and SIGUSR1 in r.task.pending
    assert r.entries == []


def test_sigprocmask_unblocking_delivers_the_pending_signal(arch):
    src = UNBLOCK[arch].format(**nr_table(arch))
    s = make_system(arch, src)
    sym, mem = s.image.symbols, s.machine.memory
    act = struct.pack("<4Q", sym["handler"], sa_flags(arch), sym["restorer"] if arch == "amd64" else 0, 0)
    mem.write(sym["act"], act)
    out = s.run(200_000)
    assert (out.reason, out.status) == ("exit", 0), out.report
    # order: the kill returned 0 while blocked, nothing ran; unblock; handler; then marker
    assert u64s(mem, sym["log"], 4) == (1, 2, 3, 0)
    assert mem.read_u64(sym["oldmask"]) == S.sigmask(SIGUSR1)


# The handler logs 2; the main line logs 1 after the blocked tgkill and 3 after unblocking.
UNBLOCK = {
    "amd64": """
.text
.globl _start
_start:
    mov edi, 10
    lea rsi, [rip + act]
    xor edx, edx
    mov r10d, 8
    mov eax, {rt_sigaction}
    syscall
    mov qword ptr [rip + set], 0x200
    xor edi, edi
    lea rsi, [rip + set]
    xor edx, edx
    mov r10d, 8
    mov eax, {rt_sigprocmask}
    syscall
    mov edi, 1000
    mov esi, 1000
    mov edx, 10
    mov eax, {tgkill}
    syscall
    mov rax, qword ptr [rip + n]
    lea rcx, [rip + log]
    mov qword ptr [rcx + rax*8], 1
    inc qword ptr [rip + n]
    mov edi, 1
    lea rsi, [rip + set]
    lea rdx, [rip + oldmask]
    mov r10d, 8
    mov eax, {rt_sigprocmask}
    syscall
    mov rax, qword ptr [rip + n]
    lea rcx, [rip + log]
    mov qword ptr [rcx + rax*8], 3
    inc qword ptr [rip + n]
    xor edi, edi
    mov eax, {exit_group}
    syscall
handler:
    mov rax, qword ptr [rip + n]
    lea rcx, [rip + log]
    mov qword ptr [rcx + rax*8], 2
    inc qword ptr [rip + n]
    ret
restorer:
    mov eax, {rt_sigreturn}
    syscall
.data
.balign 8
act: .quad 0, 0, 0, 0
set: .quad 0
oldmask: .quad 0
n: .quad 0
log: .space 64
""",
    "arm64": """
.text
.globl _start
_start:
    mov x0, #10
    adr x1, act
    mov x2, #0
    mov x3, #8
    mov x8, #{rt_sigaction}
    svc #0
    adr x9, set
    mov x10, #0x200
    str x10, [x9]
    mov x0, #0
    adr x1, set
    mov x2, #0
    mov x3, #8
    mov x8, #{rt_sigprocmask}
    svc #0
    mov x0, #1000
    mov x1, #1000
    mov x2, #10
    mov x8, #{tgkill}
    svc #0
    mov x12, #1
    bl log_it
    mov x0, #1
    adr x1, set
    adr x2, oldmask
    mov x3, #8
    mov x8, #{rt_sigprocmask}
    svc #0
    mov x12, #3
    bl log_it
    mov x0, #0
    mov x8, #{exit_group}
    svc #0
log_it:
    adr x9, n
    ldr x10, [x9]
    adr x11, log
    str x12, [x11, x10, lsl #3]
    add x10, x10, #1
    str x10, [x9]
    ret
handler:
    stp x29, x30, [sp, #-16]!
    mov x12, #2
    bl log_it
    ldp x29, x30, [sp], #16
    ret
restorer:
    mov x8, #{rt_sigreturn}
    svc #0
.data
.balign 8
act: .quad 0, 0, 0, 0
set: .quad 0
oldmask: .quad 0
n: .quad 0
log: .space 64
""",
}


def _log(r: Run) -> list[int]:
    n = r.mem.read_u64(r.sym["log_n"])
    return [signed(x) for x in u64s(r.mem, r.sym["log"], n)] if n else []


def test_sa_resethand_runs_the_handler_once(arch):
    r = Run(arch, acts=[(SIGUSR1, "h_log", sa_flags(arch, S.SA_RESETHAND), 0)], resend=(1, SIGUSR1))
    # the second SIGUSR1 finds SIG_DFL: the process dies of it after the first handler
    assert _log(r) == [SIGUSR1, -SIGUSR1]
    assert (r.out.reason, r.out.status) == ("crash", 128 + SIGUSR1)


# ---- default actions ---------------------------------------------------------------------------
def test_unhandled_sigusr1_kills_with_status_138(arch):
    r = Run(arch, acts=[])
    assert (r.out.reason, r.out.status) == ("crash", 128 + SIGUSR1)
    lines = r.out.report.splitlines()
    assert lines[0] == "gosched-emu: thread 1000 (cpu 0) killed by SIGUSR1: sent by tgkill from thread 1000"
    assert lines[1].startswith(f"  pc  {r.sym['after_kill']:#x} <after_kill>")
    assert r.after is None                       # it never returned to user code


@pytest.mark.parametrize("sig", [SIGURG, S.SIGCHLD, S.SIGWINCH, S.SIGCONT])
def test_default_ignored_signals_do_nothing(arch, sig):
    r = Run(arch, acts=[], sig=sig).ok()
    assert r.task.pending == {} and signed(r.mem.read_u64(r.sym["result"])) == 0


def test_sig_ign_drops_the_signal(arch):
    r = Run(arch, acts=[(SIGUSR1, "h_ret", S.SIG_IGN, 0)], setup=_install_ign).ok()
    assert r.entries == [] and r.task.pending == {}


def _install_ign(r: Run) -> None:
    r.mem.write(r.sym["act0"], struct.pack("<4Q", S.SIG_IGN, 0, 0, 0))


def test_stop_signal_ends_the_run_as_stopped(arch):
    r = Run(arch, acts=[], sig=S.SIGTSTP)
    assert (r.out.reason, r.out.status) == ("crash", 128 + S.SIGTSTP)
    assert r.out.report.startswith("gosched-emu: thread 1000 (cpu 0) stopped by SIGTSTP: sent by tgkill")


def test_sigkill_cannot_be_caught_or_blocked(arch):
    r = Run(arch, acts=[(S.SIGKILL, "h_ret", sa_flags(arch), 0)], sig=S.SIGKILL, premask=MASK64)
    assert (r.out.reason, r.out.status) == ("crash", 128 + S.SIGKILL)
    assert r.entries == []


# ---- trace ---------------------------------------------------------------------------------------
def test_trace_events_for_delivery_and_sigreturn(arch):
    r = Run(arch, acts=[(SIGUSR1, "h_ret", sa_flags(arch), 0)], trace=True).ok()
    [sig], [ret] = r.rec.of(ev.SIGNAL), r.rec.of(ev.SIGRETURN)
    sp = r.s.machine.isa.sp
    assert sig.args == (SIGUSR1, r.sym["h_ret"], r.entries[0][sp], False)
    assert ret.args == (r.sym["after_kill"], r.before[sp])
    assert f"signal 10 to handler {r.sym['h_ret']:#x}" in str(sig)
    names = [e.args[0] for e in r.rec.of(ev.SYSCALL)]
    assert names[-3:] == ["tgkill", "rt_sigreturn", "exit_group"]
    # rt_sigreturn writes no return value: no SYSRET follows it
    i = next(i for i, e in enumerate(r.rec.events) if e.kind == ev.SYSCALL and e.args[0] == "rt_sigreturn")
    assert r.rec.events[i + 1].kind == ev.SIGRETURN


def test_delivery_hooks_run_before_the_frame_with_the_interrupted_registers(arch):
    seen = []

    def setup(r):
        r.s.kernel.delivery_hooks.append(lambda t, sig: seen.append((t.tid, sig, t.cpu.pc)))
    acts = [(SIGUSR1, "h_ret", sa_flags(arch), 0), (SIGURG, "h_ret", sa_flags(arch), 0)]
    r = Run(arch, acts=acts, setup=setup).ok()
    assert seen == [(PID, SIGUSR1, r.sym["after_kill"])]
    r = Run(arch, acts=[], sig=SIGURG, setup=setup).ok()       # ignored by default: no delivery
    assert seen == [(PID, SIGUSR1, r.sym["after_kill"])]


# ---- corrupted frames ------------------------------------------------------------------------------
BAD = {
    "amd64": {
        "h_bad_fpstate": "rt_sigreturn: fpstate 0x8 is not 16-byte aligned",
        "h_bad_mxcsr": "rt_sigreturn: MXCSR 0xffffffff has reserved bits set",
        "h_bad_sp": "rt_sigreturn: no readable signal frame at 0x8",
    },
    "arm64": {
        "h_bad_magic": "rt_sigreturn: no valid fpsimd_context record",
        "h_bad_pstate": "rt_sigreturn: pstate 0x3c5 is not EL0t with DAIF clear",
        "h_bad_align": "rt_sigreturn: sp ",
        "h_bad_sp": "rt_sigreturn: no readable signal frame at 0x10",
    },
}


@pytest.mark.parametrize("arch,handler", [(a, name) for a in BAD for name in BAD[a]])
def test_a_corrupted_frame_is_sigsegv(arch, handler, capsys):
    r = Run(arch, acts=[(SIGUSR1, handler, sa_flags(arch), 0)])
    assert (r.out.reason, r.out.status) == ("crash", 139), r.out.report
    assert r.out.report.startswith("gosched-emu: thread 1000 (cpu 0) killed by SIGSEGV: " + BAD[arch][handler])
    assert "kernel bug" not in capsys.readouterr().err


def test_a_corrupted_frame_goes_to_the_sigsegv_handler(arch):
    bad = "h_bad_fpstate" if arch == "amd64" else "h_bad_magic"
    acts = [(SIGUSR1, bad, sa_flags(arch), 0), (SIGSEGV, "h_log", sa_flags(arch), 0)]
    r = Run(arch, acts=acts).ok()
    assert _log(r) == [SIGSEGV, -SIGSEGV]
    segv = r.entries[1]
    info = segv["rsi"] if arch == "amd64" else segv["x1"]
    signo, _, code = struct.unpack("<iii", r.mem.read(info, 12))
    if arch == "amd64":
        assert (signo, code) == (SIGSEGV, S.SI_KERNEL)
    else:                            # arm64_notify_segfault(sp): SEGV_ACCERR at the (mapped) sp
        assert (signo, code) == (SIGSEGV, S.SEGV_ACCERR)
        assert r.mem.read_u64(info + 16) == r.before["sp"]
    # the bad frame's registers were restored, and rt_sigreturn returned 0
    assert r.after[r.s.machine.isa.pc] == r.sym["after_kill"]
    assert signed(r.mem.read_u64(r.sym["result"])) == 0


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_frame_corruption_never_hurts_the_host(arch, data, capsys):
    """Whatever a handler does to its frame, rt_sigreturn answers as Linux would:
    the run ends in an exit, a guest crash or the budget, never a host error."""
    size = 440 + 512 if arch == "amd64" else 4688 + 16
    writes = data.draw(st.lists(st.tuples(st.integers(0, size // 8 - 1), st.one_of(
        st.sampled_from([0, 1, 0x10, 0x3C5, 0x46508001, MASK64, 1 << 63]),
        st.integers(0, MASK64))), min_size=1, max_size=6), label="writes")

    def corrupt(r):
        sp = r.s.machine.isa.sp

        def hook(cpu):
            frame = cpu.read(sp)
            for off, val in writes:
                r.mem.write_u64(frame + 8 * off, val)
        r.s.machine.add_code_hook(r.sym["h_ret"], hook)
    r = Run(arch, acts=[(SIGUSR1, "h_ret", sa_flags(arch), 0), (SIGSEGV, "h_ret", sa_flags(arch), 0)],
            setup=corrupt, max_instructions=3_000)
    assert r.out.reason in ("exit", "crash", "budget", "deadlock"), r.out
    assert "kernel bug" not in capsys.readouterr().err


@pytest.mark.parametrize("arch", ["amd64"])
def test_x86_null_fpstate_restores_the_initial_sse_state(arch):
    r = Run(arch, acts=[(SIGUSR1, "h_null_fpstate", sa_flags(arch), 0)]).ok()
    assert all(r.after[f"xmm{i}"] == 0 for i in range(16)) and r.after["mxcsr"] == 0x1F80
    assert r.after["rbx"] == r.before["rbx"]


@pytest.mark.parametrize("arch", ["amd64"])
def test_x86_garbage_pretcode_faults_in_user_space(arch):
    r = Run(arch, acts=[(SIGUSR1, "h_bad_pretcode", sa_flags(arch), 0)])
    assert r.out.status == 139
    assert "killed by SIGSEGV (SEGV_MAPERR): execute at unmapped address 0x10" in r.out.report


@pytest.mark.parametrize("arch", ["amd64"])
def test_x86_requires_sa_restorer(arch):
    r = Run(arch, acts=[(SIGUSR1, "h_ret", S.SA_SIGINFO, 0)])
    assert (r.out.reason, r.out.status) == ("crash", 139)
    assert "cannot deliver SIGUSR1 to its handler" in r.out.report and "no SA_RESTORER" in r.out.report
    assert r.entries == []


def test_a_frame_that_cannot_be_written_forces_sigsegv(arch):
    # The altstack is unmapped by the host before the signal: the frame write faults.
    def unmap(r):
        r.mem.protect(r.sym["altstack"], ALT_SIZE, PROT_READ)
    r = Run(arch, acts=[(SIGUSR1, "h_ret", sa_flags(arch, S.SA_ONSTACK), 0)], altstack=True, setup=unmap)
    assert (r.out.reason, r.out.status) == ("crash", 139)
    assert "killed by SIGSEGV: cannot deliver SIGUSR1 to its handler" in r.out.report
    assert "cannot write the frame" in r.out.report


@pytest.mark.parametrize("arch", ["amd64"])
def test_x86_a_nested_frame_that_overflows_the_altstack_is_sigsegv(arch):
    # With the minimum altstack (2048 bytes) the first frame (~1 KiB with its
    # fxsave image) fits, the nested one does not: Linux refuses it.
    def small(r):
        r.mem.write(r.sym["alt_ss"], struct.pack("<QiiQ", r.sym["altstack"], 0, 0, S.MINSIGSTKSZ["amd64"]))
    acts = [(SIGUSR1, "h_log", sa_flags(arch, S.SA_ONSTACK), 0), (SIGUSR2, "h_log", sa_flags(arch, S.SA_ONSTACK), 0)]
    r = Run(arch, acts=acts, resend=(1, SIGUSR2), setup=small)
    assert (r.out.reason, r.out.status) == ("crash", 139)
    assert "cannot deliver SIGUSR2 to its handler" in r.out.report
    assert "overflows the alternate signal stack" in r.out.report
    assert _log(r) == [SIGUSR1]


# ---- sigaltstack -----------------------------------------------------------------------------------
def test_sigaltstack_reports_ss_onstack_and_refuses_changes_on_it(arch):
    r = Run(arch, acts=[(SIGUSR1, "h_query", sa_flags(arch, S.SA_ONSTACK), 0)], altstack=True).ok()
    sp, flags, _, size = struct.unpack("<QiiQ", r.mem.read(r.sym["q_ss"], 24))
    assert (sp, flags, size) == (r.sym["altstack"], S.SS_ONSTACK, ALT_SIZE)
    assert signed(r.mem.read_u64(r.sym["q_ss_res"])) == -E.EPERM
    assert (r.task.sas_ss_sp, r.task.sas_ss_size) == (r.sym["altstack"], ALT_SIZE)


def test_sigaltstack_reports_zero_off_it_and_disable_without_one(arch):
    r = Run(arch, acts=[(SIGUSR1, "h_query", sa_flags(arch), 0)], altstack=True).ok()
    assert struct.unpack("<QiiQ", r.mem.read(r.sym["q_ss"], 24)) == (r.sym["altstack"], 0, 0, ALT_SIZE)
    assert signed(r.mem.read_u64(r.sym["q_ss_res"])) == -E.ENOMEM     # alt_new = {0, 0, 0}: too small
    r = Run(arch, acts=[(SIGUSR1, "h_query", sa_flags(arch), 0)]).ok()
    assert struct.unpack("<QiiQ", r.mem.read(r.sym["q_ss"], 24)) == (0, S.SS_DISABLE, 0, 0)


def test_ss_autodisarm_disables_the_altstack_while_handling(arch):
    r = Run(arch, acts=[(SIGUSR1, "h_query", sa_flags(arch, S.SA_ONSTACK), 0)], altstack=True,
            ss_flags=S.SS_AUTODISARM - (1 << 32)).ok()
    sp, flags, _, size = struct.unpack("<QiiQ", r.mem.read(r.sym["q_ss"], 24))
    assert (sp, flags & 0xFFFFFFFF, size) == (0, S.SS_DISABLE, 0)         # disarmed in the handler
    # sigreturn restored it from uc_stack
    assert (r.task.sas_ss_sp, r.task.sas_ss_size, r.task.sas_ss_flags) == (r.sym["altstack"], ALT_SIZE,
                                                                            S.SS_AUTODISARM)


def probe(arch, name, *args, setup=None):
    """Run one syscall through SYSCALL_PROBE; (result, system)."""
    s = make_system(arch, SYSCALL_PROBE[arch])
    sym = s.image.symbols
    vals = [a(sym) if callable(a) else a for a in args] + [0] * (6 - len(args))
    s.machine.memory.write(sym["args"], struct.pack("<7Q", number_of(arch, name), *[v & MASK64 for v in vals]))
    if setup:
        setup(s)
    out = s.run(1_000_000)
    assert out.reason == "exit", (out.report, replay(s))
    return signed(s.machine.memory.read_u64(sym["result"])), s


def buf(off=0):
    return lambda sym: sym["buf"] + off


def put(off, data):
    def setup(s):
        s.machine.memory.write(s.image.symbols["buf"] + off, data)
    return setup


def test_sigaltstack_errors(arch):
    small = S.MINSIGSTKSZ[arch] - 1
    res, _ = probe(arch, "sigaltstack", buf(), 0, setup=put(0, struct.pack("<QiiQ", 0x500000, 0, 0, small)))
    assert res == -E.ENOMEM
    res, s = probe(arch, "sigaltstack", buf(), 0,
                   setup=put(0, struct.pack("<QiiQ", 0x500000, 0, 0, small + 1)))
    assert res == 0 and (s.main.sas_ss_sp, s.main.sas_ss_size, s.main.sas_ss_flags) == (0x500000, small + 1, 0)
    res, _ = probe(arch, "sigaltstack", buf(), 0, setup=put(0, struct.pack("<QiiQ", 0x500000, 7, 0, 1 << 16)))
    assert res == -E.EINVAL
    res, s = probe(arch, "sigaltstack", buf(), 0, setup=put(0, struct.pack("<QiiQ", 0x500000, 2, 0, 5)))
    assert res == 0 and (s.main.sas_ss_sp, s.main.sas_ss_size, s.main.sas_ss_flags) == (0, 0, S.SS_DISABLE)
    res, s = probe(arch, "sigaltstack", 0, buf(64), setup=put(64, b"\xff" * 24))
    assert res == 0 and struct.unpack("<QiiQ", s.machine.memory.read(s.image.symbols["buf"] + 64, 24)) == (
        0, S.SS_DISABLE, 0, 0)


@pytest.mark.parametrize("sp_off,flags", [(0, 0), (1, S.SS_ONSTACK), (ALT_SIZE, S.SS_ONSTACK),
                                          (ALT_SIZE + 1, 0)])
def test_sigaltstack_on_stack_is_the_range_above_ss_sp_up_to_its_top(arch, sp_off, flags):
    # Linux's on_sig_stack: ss_sp < sp <= ss_sp + ss_size (the stack grows down from the top)
    def setup(s):
        s.main.sas_ss_sp, s.main.sas_ss_size, s.main.sas_ss_flags = 0x500000, ALT_SIZE, 0
        s.main.cpu.sp = 0x500000 + sp_off
    res, s = probe(arch, "sigaltstack", 0, buf(), setup=setup)
    assert res == 0
    assert struct.unpack("<QiiQ", s.machine.memory.read(s.image.symbols["buf"], 24)) == (
        0x500000, flags, 0, ALT_SIZE)


@pytest.mark.parametrize("name,args", [
    ("rt_sigaction", (SIGUSR1, 0x10, 0, 8)),
    ("rt_sigaction", (SIGUSR1, 0, 0x10, 8)),
    ("rt_sigaction", (SIGUSR1, lambda sym: sym["_start"], lambda sym: sym["_start"], 8)),
    ("rt_sigprocmask", (0, 0x10, 0, 8)),
    ("rt_sigprocmask", (0, 0, lambda sym: sym["_start"], 8)),
    ("sigaltstack", (0x10, 0)),
    ("sigaltstack", (0, lambda sym: sym["_start"])),
])
def test_bad_pointers_are_efault(arch, name, args):
    res, _ = probe(arch, name, *args)
    assert res == -E.EFAULT


# ---- rt_sigaction / rt_sigprocmask rules ------------------------------------------------------------
@pytest.mark.parametrize("sig,size,act", [
    (0, 8, False), (65, 8, False), (-1, 8, False), (S.SIGKILL, 8, True), (S.SIGSTOP, 8, True),
    (SIGUSR1, 4, False), (SIGUSR1, 16, True),
])
def test_rt_sigaction_einval(arch, sig, size, act):
    res, _ = probe(arch, "rt_sigaction", sig, buf() if act else 0, 0, size)
    assert res == -E.EINVAL


def test_rt_sigaction_returns_the_old_action_and_masks_what_linux_masks(arch):
    act = struct.pack("<4Q", 0x401000, 0x1C000004 | 0x400, 0x402000, MASK64)
    res, s = probe(arch, "rt_sigaction", SIGUSR1, buf(), buf(64), 8, setup=put(0, act))
    assert res == 0
    assert u64s(s.machine.memory, s.image.symbols["buf"] + 64, 4) == (0, 0, 0, 0)   # SIG_DFL before
    a = s.kernel.sighand[SIGUSR1]
    # SA_UNSUPPORTED (0x400) is cleared; SIGKILL/SIGSTOP are never in sa_mask
    assert (a.handler, a.flags, a.restorer, a.mask) == (0x401000, 0x1C000004, 0x402000, MASK64 & ~S.UNBLOCKABLE)
    res, s = probe(arch, "rt_sigaction", S.SIGKILL, 0, buf(64), 8)
    assert res == 0                                  # reading SIGKILL's action is allowed


@pytest.mark.parametrize("how,start,arg,want", [
    (0, 0b0110, 0b1001, 0b1111),                     # SIG_BLOCK
    (1, 0b0111, 0b0101, 0b0010),                     # SIG_UNBLOCK
    (2, 0b0111, 0b1000, 0b1000),                     # SIG_SETMASK
    (2, 0, MASK64, MASK64 & ~S.UNBLOCKABLE),         # SIGKILL/SIGSTOP never blockable
])
def test_rt_sigprocmask(arch, how, start, arg, want):
    def setup(s):
        s.main.blocked = start
        put(0, struct.pack("<Q", arg))(s)
    res, s = probe(arch, "rt_sigprocmask", how, buf(), buf(8), 8, setup=setup)
    assert res == 0 and s.main.blocked == want
    assert s.machine.memory.read_u64(s.image.symbols["buf"] + 8) == start


def test_rt_sigprocmask_einval(arch):
    assert probe(arch, "rt_sigprocmask", 3, buf(), 0, 8)[0] == -E.EINVAL
    assert probe(arch, "rt_sigprocmask", 3, 0, buf(), 8)[0] == 0          # no new set: how unchecked
    assert probe(arch, "rt_sigprocmask", 0, buf(), 0, 4)[0] == -E.EINVAL


@pytest.mark.parametrize("name,args,want", [
    ("tgkill", (PID, PID, 0), 0),
    ("tgkill", (PID, 4242, 0), -E.ESRCH),
    ("tgkill", (4242, PID, 0), -E.ESRCH),
    ("tgkill", (0, PID, 0), -E.EINVAL),
    ("tgkill", (PID, 0, 0), -E.EINVAL),
    ("tgkill", (PID, PID, 65), -E.EINVAL),
    ("tgkill", (PID, 4242, 65), -E.ESRCH),           # the thread is looked up first
    ("tkill", (PID, 0), 0),
    ("tkill", (-5, 0), -E.EINVAL),
    ("tkill", (PID, -1), -E.EINVAL),
    ("kill", (PID, 0), 0),
    ("kill", (0, 0), 0),
    ("kill", (-PID, 0), 0),
    ("kill", (-1, 0), -E.ESRCH),
    ("kill", (4242, 0), -E.ESRCH),
    ("kill", (PID, 99), -E.EINVAL),
    ("kill", (PID, SIGURG), 0),
])
def test_kill_family_checks(arch, name, args, want):
    assert probe(arch, name, *args)[0] == want


def test_kill_sends_si_user(arch):
    def setup(s):
        s.kernel.sighand[SIGUSR1] = S.SigAction(S.SIG_IGN)
    # with SIG_IGN the signal is dropped; check the queued info with the signal blocked instead
    def setup_blocked(s):
        s.main.blocked = S.sigmask(SIGUSR1)
    res, s = probe(arch, "kill", PID, SIGUSR1, setup=setup_blocked)
    assert res == 0
    [info] = s.kernel.shared_pending[SIGUSR1]
    assert info.pack()[:24] == struct.pack("<iiiiiI", SIGUSR1, 0, S.SI_USER, 0, PID, 0)
    res, s = probe(arch, "kill", PID, SIGUSR1, setup=setup)
    assert res == 0 and s.kernel.shared_pending == {}


def test_setting_sig_ign_discards_a_pending_signal(arch):
    def setup(s):
        s.main.blocked = S.sigmask(SIGUSR1)
        s.main.pending[SIGUSR1] = [S.SigInfo(SIGUSR1, S.SI_TKILL, pid=PID)]
        put(0, struct.pack("<4Q", S.SIG_IGN, 0, 0, 0))(s)
    res, s = probe(arch, "rt_sigaction", SIGUSR1, buf(), 0, 8, setup=setup)
    assert res == 0 and s.main.pending == {}


def test_a_process_signal_waits_for_a_thread_that_unblocks_it(arch):
    s = make_system(arch, SYSCALL_PROBE[arch])
    k, main = s.kernel, s.main
    other = k.new_task(s.machine.new_cpu())
    main.blocked = other.blocked = S.sigmask(SIGUSR1)
    S.send_signal(k, main, main, S.SigInfo(SIGUSR1, S.SI_USER, pid=PID), group=True)
    assert SIGUSR1 in k.shared_pending
    assert not main.cpu.kernel_work and not other.cpu.kernel_work
    S.set_current_blocked(k, other, 0)                   # the other thread unblocks it: it takes it
    assert other.cpu.kernel_work and not main.cpu.kernel_work
    # a thread that blocks a process signal again hands it on; so does one that exits
    other.cpu.kernel_work = False
    main.blocked = 0
    S.set_current_blocked(k, other, S.sigmask(SIGUSR1))
    assert main.cpu.kernel_work
    main.cpu.kernel_work = False
    other.blocked = 0
    main.state = "dead"
    S.exit_signals(k, main)
    assert other.cpu.kernel_work


def test_standard_signals_do_not_queue_twice_realtime_ones_do(arch):
    s = make_system(arch, SYSCALL_PROBE[arch])
    k, t = s.kernel, s.main
    t.blocked = S.ALL & ~S.UNBLOCKABLE
    for sig in (SIGUSR1, SIGUSR1, 40, 40):
        S.send_signal(k, t, t, S.SigInfo(sig, S.SI_TKILL, pid=PID))
    assert [len(t.pending[sig]) for sig in (SIGUSR1, 40)] == [1, 2]


# ---- interrupted waits, other threads ---------------------------------------------------------------
# The main thread clones a child (which inherits the mask), spins, then signals it
# (op 0: tgkill the child, op 1: kill the process), and waits for `done`.
# The child: mode 0 futex WAIT forever, mode 1 nanosleep 5 s (rem -> rem), mode 2
# unblocks everything and spins until the handler has run.  It stores its wait's
# result in wait_res, sets done, and exits.
THREADS = {
    "amd64": """
.text
.globl _start
_start:
    mov edi, 10
    lea rsi, [rip + act]
    xor edx, edx
    mov r10d, 8
    mov eax, {rt_sigaction}
    syscall
    mov edi, 2
    lea rsi, [rip + premask]
    xor edx, edx
    mov r10d, 8
    mov eax, {rt_sigprocmask}
    syscall
    mov edi, 0x150f00
    lea rsi, [rip + child_stack_top]
    lea rdx, [rip + child_tid]
    xor r10d, r10d
    xor r8d, r8d
    mov eax, {clone}
    syscall
    test rax, rax
    jz child
    mov ecx, 20000
spin:
    dec ecx
    jnz spin
    mov rax, qword ptr [rip + op]
    test rax, rax
    jnz by_kill
    mov edi, 1000
    mov esi, dword ptr [rip + child_tid]
    mov edx, 10
    mov eax, {tgkill}
    syscall
    jmp sent
by_kill:
    mov edi, 1000
    mov esi, 10
    mov eax, {kill}
    syscall
sent:
    mov qword ptr [rip + kill_res], rax
wait_done:
    mov rax, qword ptr [rip + done]
    test rax, rax
    jz wait_done
    xor edi, edi
    mov eax, {exit_group}
    syscall

child:
    mov rax, qword ptr [rip + mode]
    cmp rax, 1
    je child_sleep
    cmp rax, 2
    je child_spin
    lea rdi, [rip + futex_word]
    xor esi, esi
    xor edx, edx
    xor r10d, r10d
    mov eax, {futex}
    syscall
    jmp child_done
child_sleep:
    lea rdi, [rip + req]
    lea rsi, [rip + rem]
    mov eax, {nanosleep}
    syscall
    jmp child_done
child_spin:
    mov edi, 2
    lea rsi, [rip + zero]
    xor edx, edx
    mov r10d, 8
    mov eax, {rt_sigprocmask}
    syscall
child_loop:
    mov rax, qword ptr [rip + hits]
    test rax, rax
    jz child_loop
child_done:
    mov qword ptr [rip + wait_res], rax
    mov qword ptr [rip + done], 1
    xor edi, edi
    mov eax, {exit}
    syscall

handler:
    inc qword ptr [rip + hits]
    ret
restorer:
    mov eax, {rt_sigreturn}
    syscall

.data
.balign 16
act: .quad 0, 0, 0, 0
premask: .quad 0
zero: .quad 0
op: .quad 0
mode: .quad 0
child_tid: .quad 0
kill_res: .quad 0
wait_res: .quad 0
done: .quad 0
hits: .quad 0
futex_word: .quad 0
req: .quad 5, 0
rem: .quad 0, 0
.balign 16
child_stack: .space 16384
child_stack_top:
""",
    "arm64": """
.text
.globl _start
_start:
    mov x0, #10
    adr x1, act
    mov x2, #0
    mov x3, #8
    mov x8, #{rt_sigaction}
    svc #0
    mov x0, #2
    adr x1, premask
    mov x2, #0
    mov x3, #8
    mov x8, #{rt_sigprocmask}
    svc #0
    movz x0, #0x0f00
    movk x0, #0x15, lsl #16
    adr x1, child_stack_top
    adr x2, child_tid
    mov x3, #0
    mov x4, #0
    mov x8, #{clone}
    svc #0
    cbz x0, child
    movz x9, #20000
spin:
    subs x9, x9, #1
    b.ne spin
    adr x9, op
    ldr x9, [x9]
    cbnz x9, by_kill
    mov x0, #1000
    adr x1, child_tid
    ldr w1, [x1]
    mov x2, #10
    mov x8, #{tgkill}
    svc #0
    b sent
by_kill:
    mov x0, #1000
    mov x1, #10
    mov x8, #{kill}
    svc #0
sent:
    adr x9, kill_res
    str x0, [x9]
wait_done:
    adr x9, done
    ldr x9, [x9]
    cbz x9, wait_done
    mov x0, #0
    mov x8, #{exit_group}
    svc #0

child:
    adr x9, mode
    ldr x9, [x9]
    cmp x9, #1
    b.eq child_sleep
    cmp x9, #2
    b.eq child_spin
    adr x0, futex_word
    mov x1, #0
    mov x2, #0
    mov x3, #0
    mov x8, #{futex}
    svc #0
    b child_done
child_sleep:
    adr x0, req
    adr x1, rem
    mov x8, #{nanosleep}
    svc #0
    b child_done
child_spin:
    mov x0, #2
    adr x1, zero
    mov x2, #0
    mov x3, #8
    mov x8, #{rt_sigprocmask}
    svc #0
child_loop:
    adr x9, hits
    ldr x0, [x9]
    cbz x0, child_loop
child_done:
    adr x9, wait_res
    str x0, [x9]
    adr x9, done
    mov x10, #1
    str x10, [x9]
    mov x0, #0
    mov x8, #{exit}
    svc #0

handler:
    adr x9, hits
    ldr x10, [x9]
    add x10, x10, #1
    str x10, [x9]
    ret
restorer:
    mov x8, #{rt_sigreturn}
    svc #0

.data
.balign 16
act: .quad 0, 0, 0, 0
premask: .quad 0
zero: .quad 0
op: .quad 0
mode: .quad 0
child_tid: .quad 0
kill_res: .quad 0
wait_res: .quad 0
done: .quad 0
hits: .quad 0
futex_word: .quad 0
req: .quad 5, 0
rem: .quad 0, 0
.balign 16
child_stack: .space 16384
child_stack_top:
""",
}


def run_threads(arch, *, mode, op=0, premask=0):
    rec = Recorder(slices=False)
    s = make_system(arch, THREADS[arch].format(**nr_table(arch)), trace=rec)
    sym, mem = s.image.symbols, s.machine.memory
    mem.write(sym["act"], struct.pack("<4Q", sym["handler"], sa_flags(arch), sym["restorer"] if arch == "amd64" else 0, 0))
    mem.write_u64(sym["mode"], mode)
    mem.write_u64(sym["op"], op)
    mem.write_u64(sym["premask"], premask)
    entries = []
    s.machine.add_code_hook(sym["handler"], lambda cpu: entries.append((cpu.id, cpu.context())))
    out = s.run(2_000_000)
    assert (out.reason, out.status) == ("exit", 0), (out.report, replay(s))
    return s, rec, entries


@pytest.mark.parametrize("mode,reason", [(0, "futex"), (1, "nanosleep")])
def test_tgkill_interrupts_a_wait_with_eintr_then_runs_the_handler(arch, mode, reason):
    s, rec, entries = run_threads(arch, mode=mode)
    sym, mem = s.image.symbols, s.machine.memory
    assert signed(mem.read_u64(sym["kill_res"])) == 0
    assert signed(mem.read_u64(sym["wait_res"])) == -E.EINTR
    assert mem.read_u64(sym["hits"]) == 1
    [(cpu_id, ctx)] = entries
    assert cpu_id == 1                                   # the child's CPU
    child = s.kernel.by_cpu.get(1) or s.kernel.tasks[1001]
    wakes = [e for e in rec.of(ev.WAKE) if e.cpu == 1]
    assert [w.args for w in wakes] == [(reason, "signal")]
    # the frame saved the syscall's result: the handler ran after the wait returned -EINTR
    frame = ctx["rsp"] if arch == "amd64" else ctx["sp"]
    saved = mem.read_u64(frame + 8 + 40 + 13 * 8) if arch == "amd64" else mem.read_u64(frame + 128 + 176 + 8)
    assert signed(saved) == -E.EINTR
    assert s.kernel.futex_queues == {} and child.tid == 1001
    if mode == 1:                                        # nanosleep wrote the time left
        sec, nsec = struct.unpack("<qq", mem.read(sym["rem"], 16))
        block = next(e for e in rec.of(ev.BLOCK) if e.cpu == 1)
        slept = wakes[0].cycles - block.cycles
        assert sec * 10**9 + nsec == 5 * 10**9 - s.machine.cycles_to_ns(slept)


def test_kill_goes_to_a_thread_that_does_not_block_it(arch):
    # main blocks SIGUSR1 (the child inherits it, then unblocks): kill(pid) reaches the child
    s, rec, entries = run_threads(arch, mode=2, op=1, premask=S.sigmask(SIGUSR1))
    assert [cpu_id for cpu_id, _ in entries] == [1]
    info = entries[0][1]["rsi"] if arch == "amd64" else entries[0][1]["x1"]
    assert struct.unpack("<iiiiiI", s.machine.memory.read(info, 24)) == (SIGUSR1, 0, S.SI_USER, 0, PID, 0)
    assert s.kernel.shared_pending == {}


# ---- faults ----------------------------------------------------------------------------------------
# mode 0: store 42 to *target, then load it back into result; mode 1: an invalid
# instruction; mode 2: a breakpoint (int3 / brk #0).  h_fix maps the faulting page
# (mmap MAP_FIXED, or mprotect if `fix_prot`) and returns to retry; h_skip steps
# over the instruction.  Both record si_code and si_addr.
FAULTS = {
    "amd64": """
.text
.globl _start
_start:
    mov edi, 11
    lea rsi, [rip + act_segv]
    xor edx, edx
    mov r10d, 8
    mov eax, {rt_sigaction}
    syscall
    mov edi, 4
    lea rsi, [rip + act_skip]
    xor edx, edx
    mov r10d, 8
    mov eax, {rt_sigaction}
    syscall
    mov edi, 5
    lea rsi, [rip + act_skip]
    xor edx, edx
    mov r10d, 8
    mov eax, {rt_sigaction}
    syscall
    mov rax, qword ptr [rip + mode]
    cmp rax, 1
    je do_ill
    cmp rax, 2
    je do_trap
    mov rax, qword ptr [rip + target]
    mov rcx, 42
fault_insn:
    mov qword ptr [rax], rcx
    mov rbx, qword ptr [rax]
    mov qword ptr [rip + result], rbx
    jmp out
do_ill:
ill_insn:
    ud2
    mov qword ptr [rip + result], 7
    jmp out
do_trap:
trap_insn:
    int3
    mov qword ptr [rip + result], 9
out:
    xor edi, edi
    mov eax, {exit_group}
    syscall

h_fix:
    mov eax, dword ptr [rsi + 8]
    mov qword ptr [rip + seen_code], rax
    mov rax, qword ptr [rsi + 16]
    mov qword ptr [rip + seen_addr], rax
    mov rdi, rax
    and rdi, -4096
    mov esi, 4096
    mov rax, qword ptr [rip + fix_prot]
    test rax, rax
    jnz h_fix_prot
    mov edx, 3
    mov r10d, 0x32
    mov r8, -1
    xor r9d, r9d
    mov eax, {mmap}
    syscall
    ret
h_fix_prot:
    mov edx, 3
    mov eax, {mprotect}
    syscall
    ret

h_skip:
    mov eax, dword ptr [rsi + 8]
    mov qword ptr [rip + seen_code], rax
    mov rax, qword ptr [rsi + 16]
    mov qword ptr [rip + seen_addr], rax
    mov rax, qword ptr [rip + skip_len]
    add qword ptr [rdx + 168], rax
    ret

restorer:
    mov eax, {rt_sigreturn}
    syscall

.data
.balign 8
act_segv: .quad 0, 0, 0, 0
act_skip: .quad 0, 0, 0, 0
mode: .quad 0
target: .quad 0
fix_prot: .quad 0
skip_len: .quad 0
result: .quad 0
seen_code: .quad 0
seen_addr: .quad 0
""",
    "arm64": """
.text
.globl _start
_start:
    mov x0, #11
    adr x1, act_segv
    mov x2, #0
    mov x3, #8
    mov x8, #{rt_sigaction}
    svc #0
    mov x0, #4
    adr x1, act_skip
    mov x2, #0
    mov x3, #8
    mov x8, #{rt_sigaction}
    svc #0
    mov x0, #5
    adr x1, act_skip
    mov x2, #0
    mov x3, #8
    mov x8, #{rt_sigaction}
    svc #0
    adr x9, mode
    ldr x9, [x9]
    cmp x9, #1
    b.eq do_ill
    cmp x9, #2
    b.eq do_trap
    adr x9, target
    ldr x0, [x9]
    mov x1, #42
fault_insn:
    str x1, [x0]
    ldr x2, [x0]
    adr x9, result
    str x2, [x9]
    b out
do_ill:
ill_insn:
    .long 0
    mov x2, #7
    adr x9, result
    str x2, [x9]
    b out
do_trap:
trap_insn:
    brk #0
    mov x2, #9
    adr x9, result
    str x2, [x9]
out:
    mov x0, #0
    mov x8, #{exit_group}
    svc #0

h_fix:
    ldr w9, [x1, #8]
    adr x10, seen_code
    str x9, [x10]
    ldr x9, [x1, #16]
    adr x10, seen_addr
    str x9, [x10]
    and x0, x9, #-4096
    mov x1, #4096
    mov x2, #3
    adr x10, fix_prot
    ldr x10, [x10]
    cbnz x10, h_fix_prot
    mov x3, #0x32
    mov x4, #-1
    mov x5, #0
    mov x8, #{mmap}
    svc #0
    ret
h_fix_prot:
    mov x8, #{mprotect}
    svc #0
    ret

h_skip:
    ldr w9, [x1, #8]
    adr x10, seen_code
    str x9, [x10]
    ldr x9, [x1, #16]
    adr x10, seen_addr
    str x9, [x10]
    ldr x9, [x2, #440]
    adr x10, skip_len
    ldr x10, [x10]
    add x9, x9, x10
    str x9, [x2, #440]
    ret

restorer:
    mov x8, #{rt_sigreturn}
    svc #0

.data
.balign 8
act_segv: .quad 0, 0, 0, 0
act_skip: .quad 0, 0, 0, 0
mode: .quad 0
target: .quad 0
fix_prot: .quad 0
skip_len: .quad 0
result: .quad 0
seen_code: .quad 0
seen_addr: .quad 0
""",
}


def fault_system(arch, *, mode, segv=True, skip=True, skip_len=0, trace=False):
    rec = Recorder(slices=False) if trace else None
    s = make_system(arch, FAULTS[arch].format(**nr_table(arch)), trace=rec or False)
    sym, mem = s.image.symbols, s.machine.memory
    restorer = sym["restorer"] if arch == "amd64" else 0
    if segv:
        mem.write(sym["act_segv"], struct.pack("<4Q", sym["h_fix"], sa_flags(arch), restorer, 0))
    if skip:
        mem.write(sym["act_skip"], struct.pack("<4Q", sym["h_skip"], sa_flags(arch), restorer, 0))
    mem.write_u64(sym["mode"], mode)
    mem.write_u64(sym["skip_len"], skip_len)
    return s, sym, mem, rec


def test_sigsegv_handler_maps_the_page_and_the_store_is_retried(arch):
    s, sym, mem, rec = fault_system(arch, mode=0, trace=True)
    # a free page well below the top of the mmap area (arm64 maps its trampoline page there)
    target = mem.free_range(PAGE, s.kernel.mmap_min, s.kernel.mmap_top) - 64 * PAGE + 0x123 * 8
    mem.write_u64(sym["target"], target)
    entries = []
    s.machine.add_code_hook(sym["h_fix"], lambda cpu: entries.append(cpu.context()))
    out = s.run(1_000_000)
    assert (out.reason, out.status) == ("exit", 0), out.report
    assert (mem.read_u64(sym["result"]), mem.read_u64(sym["seen_addr"])) == (42, target)
    assert mem.read_u64(sym["seen_code"]) == S.SEGV_MAPERR
    [e] = entries
    if arch == "amd64":
        uc = e["rsp"] + 8
        assert mem.read_u64(uc + 40 + 16 * 8) == sym["fault_insn"]               # saved rip
        assert u64s(mem, uc + 192, 4) == (2 | 4, 14, 0, target)    # err (write, user), trapno #PF, cr2
    else:
        uc = e["sp"] + 128
        assert mem.read_u64(uc + 176 + 264) == sym["fault_insn"]                 # saved pc
        assert mem.read_u64(uc + 176) == target                                   # fault_address
    assert [f.args for f in rec.of(ev.FAULT)] == [("SIGSEGV", "write", target, "unmapped")]


def test_a_fault_signal_is_delivered_before_a_lower_pending_one(arch):
    # SIGHUP becomes pending (from the host) just before the faulting store; both
    # are deliverable at once.  Linux dequeues the synchronous SIGSEGV first, so
    # its frame holds the faulting context; SIGHUP's frame nests on top of it.
    s, sym, mem, _ = fault_system(arch, mode=0, skip_len=0)
    target = mem.free_range(PAGE, s.kernel.mmap_min, s.kernel.mmap_top) - 64 * PAGE
    mem.write_u64(sym["target"], target)
    k = s.kernel
    k.sighand[S.SIGHUP] = S.SigAction(sym["h_skip"], sa_flags(arch), sym["restorer"] if arch == "amd64" else 0, 0)
    s.machine.add_code_hook(sym["fault_insn"], lambda cpu: S.send_signal(
        k, None, s.main, S.SigInfo(S.SIGHUP, S.SI_KERNEL)) if not s.main.pending else None)
    order = []
    s.machine.add_code_hook(sym["h_fix"], lambda cpu: order.append(("segv", _saved_pc(arch, mem, cpu))))
    s.machine.add_code_hook(sym["h_skip"], lambda cpu: order.append(("hup", _saved_pc(arch, mem, cpu))))
    out = s.run(1_000_000)
    assert (out.reason, out.status) == ("exit", 0), out.report
    assert order == [("hup", sym["h_fix"]), ("segv", sym["fault_insn"])]
    assert mem.read_u64(sym["result"]) == 42


def _saved_pc(arch, mem, cpu):
    """The interrupted pc in the frame of the handler `cpu` is entering."""
    if arch == "amd64":
        return mem.read_u64(cpu.read("rsp") + 8 + 40 + 16 * 8)
    return mem.read_u64(cpu.read("sp") + 128 + 176 + 264)


def test_sigsegv_accerr_handler_mprotects_and_retries(arch):
    s, sym, mem, _ = fault_system(arch, mode=0)
    page = mem.free_range(PAGE, s.kernel.mmap_min, s.kernel.mmap_top) - 64 * PAGE
    mem.map(page, PAGE, PROT_READ, "ro")
    mem.write_u64(sym["target"], page + 8)
    mem.write_u64(sym["fix_prot"], 1)
    out = s.run(1_000_000)
    assert (out.reason, out.status) == ("exit", 0), out.report
    assert (mem.read_u64(sym["result"]), mem.read_u64(sym["seen_code"])) == (42, S.SEGV_ACCERR)
    assert mem.read_u64(sym["seen_addr"]) == page + 8


def test_sigsegv_without_handler_keeps_the_crash_report(arch):
    s, sym, mem, _ = fault_system(arch, mode=0, segv=False)
    mem.write_u64(sym["target"], 0x10)
    out = s.run(1_000_000)
    assert (out.reason, out.status) == ("crash", 139)
    assert out.report.splitlines()[0] == ("gosched-emu: thread 1000 (cpu 0) killed by SIGSEGV (SEGV_MAPERR): "
                                          "write to unmapped address 0x10")


def test_a_blocked_sigsegv_kills_even_with_a_handler(arch):
    s, sym, mem, _ = fault_system(arch, mode=0)
    mem.write_u64(sym["target"], 0x10)
    s.main.blocked = S.sigmask(SIGSEGV)
    out = s.run(1_000_000)
    assert out.status == 139 and "killed by SIGSEGV (SEGV_MAPERR)" in out.report


def test_sigill_handler_gets_the_pc_and_can_skip_the_instruction(arch):
    s, sym, mem, _ = fault_system(arch, mode=1, skip_len=2 if arch == "amd64" else 4)
    out = s.run(1_000_000)
    assert (out.reason, out.status) == ("exit", 0), out.report
    assert mem.read_u64(sym["result"]) == 7
    code = S.ILL_ILLOPN if arch == "amd64" else S.ILL_ILLOPC       # as Linux's trap handlers
    assert (mem.read_u64(sym["seen_code"]), mem.read_u64(sym["seen_addr"])) == (code, sym["ill_insn"])


def test_sigtrap_from_a_breakpoint(arch):
    s, sym, mem, _ = fault_system(arch, mode=2, skip_len=0 if arch == "amd64" else 4)
    out = s.run(1_000_000)
    assert (out.reason, out.status) == ("exit", 0), out.report
    assert mem.read_u64(sym["result"]) == 9
    if arch == "amd64":      # int3 is a trap: the saved rip is already past it; SI_KERNEL, no address
        assert (mem.read_u64(sym["seen_code"]), mem.read_u64(sym["seen_addr"])) == (S.SI_KERNEL, 0)
    else:                    # brk: the saved pc is the brk; TRAP_BRKPT with si_addr = pc
        assert (mem.read_u64(sym["seen_code"]), mem.read_u64(sym["seen_addr"])) == (S.TRAP_BRKPT,
                                                                                    sym["trap_insn"])


def test_sigill_without_handler_keeps_the_crash_report(arch):
    s, sym, mem, _ = fault_system(arch, mode=1, skip=False)
    out = s.run(1_000_000)
    assert out.status == 128 + 4 and "killed by SIGILL" in out.report


def test_a_fault_on_an_unusable_stack_is_fatal(arch):
    # SIGSEGV has a handler but no altstack and the stack pointer is garbage:
    # the frame cannot be written, and force_sigsegv(SIGSEGV) kills.
    s, sym, mem, _ = fault_system(arch, mode=0)
    mem.write_u64(sym["target"], 0x10)
    s.main.cpu.sp = 0x2000
    out = s.run(1_000_000)
    assert (out.reason, out.status) == ("crash", 139)
    assert "killed by SIGSEGV: cannot deliver SIGSEGV to its handler" in out.report
