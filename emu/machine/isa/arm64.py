"""The arm64 (AArch64) ISA as data: Unicorn/Capstone/Keystone constants, registers
and their roles, the Linux syscall convention, and Go's ABIInternal.

Go facts (asm_arm64.s, ABIInternal): integer arguments in R0-R15; g lives in R28;
R27 is REGTMP (assembler scratch); R18 is the platform register; R29 is the frame
pointer and R30 the link register.  Linux: syscall number in X8, arguments X0-X5,
result in X0; `svc #0` clobbers nothing else.  The thread pointer is TPIDR_EL0.
"""
import capstone
import keystone
import unicorn
from unicorn import arm64_const

from .base import ISA, registers

_P = "UC_ARM64_"

ARM64 = ISA(
    name="arm64",
    uc_arch=unicorn.UC_ARCH_ARM64, uc_mode=unicorn.UC_MODE_ARM,
    cs_arch=capstone.CS_ARCH_ARM64, cs_mode=capstone.CS_MODE_ARM,
    ks_arch=keystone.KS_ARCH_ARM64, ks_mode=keystone.KS_MODE_LITTLE_ENDIAN,
    gprs=registers(arm64_const, _P,
                   " ".join(f"x{i}" for i in range(31)) + " sp pc nzcv tpidr_el0",
                   callee_saved=" ".join(f"x{i}" for i in range(19, 30))),
    vregs=registers(arm64_const, _P, " ".join(f"q{i}" for i in range(32)), size=16, vector=True),
    fp_control=registers(arm64_const, _P, "fpsr fpcr", size=4),
    pc="pc", sp="sp", fp="x29", lr="x30", flags="nzcv", tls="tpidr_el0", g="x28",
    syscall_nr="x8", syscall_args=("x0", "x1", "x2", "x3", "x4", "x5"), syscall_ret="x0",
    syscall_clobbers=(),
    abi_args=tuple(f"x{i}" for i in range(16)),
    reserved=("x18", "x27", "x28"),
    insn_align=4,
    call_pushes_ret=False,
    comment="//",
)
