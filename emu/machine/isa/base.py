"""ISA adapters as data (the archinfo pattern).

Design note
  1. An ISA is a frozen record: engine constants (Unicorn, Capstone, Keystone), a
     tuple of `Register` records whose flags carry their roles (argument, callee
     saved, g, TLS ...), the Linux syscall convention and Go's ABIInternal.
  2. Unicorn register ids are derived by a naming rule (``UC_<ARCH>_REG_<NAME>``),
     not a hand-written table; a name the engine lacks fails at import time.
  3. Everything arch-specific the rest of the code needs is a field here, so
     machine, kernel and runtime code is written once for both ISAs.
Rejected: subclasses with methods per arch (behaviour would drift apart between
the two files); optional roles discovered with hasattr (a missing mapping must be
an error, not a silently lost feature).
"""
from __future__ import annotations

from dataclasses import dataclass, field


class ArchError(Exception):
    """An ISA description is inconsistent (raised while building it)."""


@dataclass(frozen=True)
class Register:
    """One architectural register.

    :ivar name: canonical lower-case name (``rax``, ``x0``, ``pc``).
    :ivar size: width in bytes (8 for integer registers, 16 for vector registers,
        4 or 2 for FP control registers).
    :ivar uc_id: Unicorn register id, derived from the name by the ISA's rule.
    :ivar callee_saved: preserved across calls in the platform C ABI.
    :ivar vector: a SIMD/FP register (read through the wrapper, 128-bit).
    """

    name: str
    uc_id: int
    size: int = 8
    callee_saved: bool = False
    vector: bool = False


@dataclass(frozen=True)
class ISA:
    """Everything arch-specific, as data.  See amd64.py and arm64.py.

    :ivar name: ``amd64`` or ``arm64`` (Go's GOARCH names).
    :ivar gprs: integer registers in the order the register file is read and shown.
    :ivar vregs: vector registers (xmm0-15 / v0-31).
    :ivar fp_control: FP/SIMD control and status registers (amd64 MXCSR and the
        x87 control/status/tag words; arm64 FPSR, FPCR): part of a thread's
        context (clone copies them, signal frames save them).
    :ivar pc, sp, fp, lr, flags: names of the special registers (lr is None on amd64).
    :ivar tls: the thread pointer register Linux sets for CLONE_SETTLS.
    :ivar g: the register Go keeps the current g in (R14 / R28).
    :ivar syscall_nr, syscall_args, syscall_ret: the Linux system call convention.
    :ivar syscall_clobbers: registers the syscall instruction itself destroys.
    :ivar abi_args: Go ABIInternal integer argument/result registers, in order.
    :ivar reserved: registers user programs must never write (see README contract).
    :ivar insn_align: required alignment of instruction addresses.
    """

    name: str
    uc_arch: int
    uc_mode: int
    cs_arch: int
    cs_mode: int
    ks_arch: int
    ks_mode: int
    gprs: tuple[Register, ...]
    vregs: tuple[Register, ...]
    pc: str
    sp: str
    fp: str
    lr: str | None
    flags: str
    tls: str
    g: str
    syscall_nr: str
    syscall_args: tuple[str, ...]
    syscall_ret: str
    syscall_clobbers: tuple[str, ...]
    abi_args: tuple[str, ...]
    reserved: tuple[str, ...]
    insn_align: int
    call_pushes_ret: bool
    comment: str
    fp_control: tuple[Register, ...]
    by_name: dict[str, Register] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regs = {r.name: r for r in self.gprs + self.vregs + self.fp_control}
        object.__setattr__(self, "by_name", regs)
        named = [self.pc, self.sp, self.fp, self.flags, self.tls, self.g, self.syscall_nr,
                 self.syscall_ret, *self.syscall_args, *self.abi_args, *self.reserved,
                 *self.syscall_clobbers] + ([self.lr] if self.lr else [])
        for n in named:
            if n not in regs:
                raise ArchError(f"ISA {self.name}: role names register {n!r}, which is not in its register file")

    def reg(self, name: str) -> Register:
        """The register record for `name`; unknown names are an error."""
        try:
            return self.by_name[name]
        except KeyError:
            raise ArchError(f"ISA {self.name} has no register {name!r}") from None

    @property
    def callee_saved(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.gprs if r.callee_saved)


def uc_register(const_module, prefix: str, name: str) -> int:
    """Unicorn id of register `name` by the naming rule ``<prefix>REG_<NAME>``."""
    attr = f"{prefix}REG_{name.upper()}"
    try:
        return getattr(const_module, attr)
    except AttributeError:
        raise ArchError(f"Unicorn has no register constant {attr}") from None


def registers(const_module, prefix: str, names: str, *, callee_saved: str = "",
              size: int = 8, vector: bool = False) -> tuple[Register, ...]:
    """Build register records from a whitespace-separated name list."""
    saved = set(callee_saved.split())
    return tuple(Register(n, uc_register(const_module, prefix, n), size, n in saved, vector)
                 for n in names.split())
