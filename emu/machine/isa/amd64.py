"""The amd64 (x86-64) ISA as data: Unicorn/Capstone/Keystone constants, registers
and their roles, the Linux syscall convention, and Go's ABIInternal.

Go facts (asm_amd64.s, ABIInternal): integer arguments in RAX, RBX, RCX, RDI,
RSI, R8, R9, R10, R11; g lives in R14 (and in TLS at FS:-8); R15 is the GOT
register under dynamic linking (we keep it free).  Linux: syscall number in RAX,
arguments RDI RSI RDX R10 R8 R9, result in RAX; the instruction clobbers RCX
(return RIP) and R11 (RFLAGS).
"""
import capstone
import keystone
import unicorn
from unicorn import x86_const

from .base import ISA, registers

_P = "UC_X86_"

AMD64 = ISA(
    name="amd64",
    uc_arch=unicorn.UC_ARCH_X86, uc_mode=unicorn.UC_MODE_64,
    cs_arch=capstone.CS_ARCH_X86, cs_mode=capstone.CS_MODE_64,
    ks_arch=keystone.KS_ARCH_X86, ks_mode=keystone.KS_MODE_64,
    gprs=registers(x86_const, _P,
                   "rax rbx rcx rdx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15 rip rflags fs_base",
                   callee_saved="rbx rbp r12 r13 r14 r15"),
    vregs=registers(x86_const, _P, " ".join(f"xmm{i}" for i in range(16)), size=16, vector=True),
    fp_control=registers(x86_const, _P, "mxcsr", size=4) + registers(x86_const, _P, "fpcw fpsw fptag", size=2),
    pc="rip", sp="rsp", fp="rbp", lr=None, flags="rflags", tls="fs_base", g="r14",
    syscall_nr="rax", syscall_args=("rdi", "rsi", "rdx", "r10", "r8", "r9"), syscall_ret="rax",
    syscall_clobbers=("rcx", "r11"),
    abi_args=("rax", "rbx", "rcx", "rdi", "rsi", "r8", "r9", "r10", "r11"),
    reserved=("r14",),
    insn_align=1,
    call_pushes_ret=True,
    comment="#",
)
