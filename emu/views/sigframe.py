"""A Linux rt_sigframe in guest memory, annotated field by field, on both arches:
what the kernel saved when it delivered a signal, and what rt_sigreturn will
restore -- including any edit a handler made (Go's pushCall rewrites pc and sp).

Design note
  1. One table per arch (`FIELDS`) lists every field as (offset from the frame,
     size, name, the CPU register it holds).  Its offsets are built from the
     kernel's own constants (emu/kernel/signal.py: X86_UC, X86_MCONTEXT,
     X86_GREGS, A64_UC, A64_MCONTEXT, ...), so the view and the kernel cannot
     disagree about a struct; the few offsets the kernel writes as literals
     (x86 cs/gs/fs/ss at +144, err..fpstate at +152; arm64 sp/pc/pstate after
     regs[31]; the siginfo union at +16) are written here once, and a test
     decodes a frame the kernel really built and compares it with the CPU's
     registers at delivery.
  2. Layouts (offsets from the frame address, the handler's sp):
       x86_64  0 pretcode | 8 ucontext {uc_flags, uc_link, uc_stack, 48
               uc_mcontext = sigcontext {r8..r15 rdi rsi rbp rbx rdx rax rcx
               rsp rip eflags, cs gs fs ss, err trapno oldmask cr2, fpstate,
               reserved1[8]}, 304 uc_sigmask} | 312 siginfo; fpstate points at
               a 512-byte fxsave image below the frame.
       arm64   0 siginfo | 128 ucontext {uc_flags, uc_link, uc_stack, 168
               uc_sigmask, 304 uc_mcontext = sigcontext {fault_address,
               regs[31], sp, pc, pstate, 592 __reserved: fpsimd_context {magic
               0x46508001, size 528, fpsr, fpcr, vregs[32]}, then {0, 0}}} |
               4688 the frame record {x29, x30}.
  3. The arm64 __reserved area is walked record by record (magic, size), as
     the kernel's parse_user_sigframe does, and stops at the terminator, at a
     bad size or after the area.
  4. Everything is read when the view is built (a snapshot): build it in a code
     hook at the handler to see the frame as delivered, after the handler to
     see what rt_sigreturn will restore.
Rejected: reading the frame through the runtime's Ucontext (runtime/signal.py
knows only the registers a preemption touches, and a view of the kernel's
frame must not depend on the runtime being there).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from ..kernel import signal as ks
from .html import Table, hex64, page, page_text


@dataclass(frozen=True)
class FrameField:
    """One field: `size` bytes at `offset` from the frame.  `register` names the
    CPU register whose interrupted value it holds ("" for other fields)."""

    offset: int
    size: int
    name: str
    register: str = ""
    signed: bool = False
    note: str = ""


def _stack_t(base: int, prefix: str) -> list[FrameField]:
    # stack_t: ss_sp@0, ss_flags@8 (int), ss_size@16 (kernel: _STACK_T "<QiiQ")
    return [FrameField(base, 8, f"{prefix}.ss_sp"), FrameField(base + 8, 4, f"{prefix}.ss_flags", signed=True),
            FrameField(base + 16, 8, f"{prefix}.ss_size")]


def _siginfo(base: int) -> list[FrameField]:
    # si_signo@0, si_errno@4, si_code@8 (ints); the union at 16 (kernel: SigInfo.pack)
    return [FrameField(base, 4, "info.si_signo", signed=True),
            FrameField(base + 4, 4, "info.si_errno", signed=True),
            FrameField(base + 8, 4, "info.si_code", signed=True)]


def _siginfo_union(base: int, si_code: int) -> list[FrameField]:
    """The union at +16 as the signal's si_code selects it (Linux: SI_FROMUSER is si_code <= 0)."""
    if si_code <= 0:
        return [FrameField(base + 16, 4, "info.si_pid", signed=True, note="the sender's pid"),
                FrameField(base + 20, 4, "info.si_uid", note="the sender's uid")]
    return [FrameField(base + 16, 8, "info.si_addr", note="the faulting address")]


def x86_64_fields() -> tuple[FrameField, ...]:
    uc = ks.X86_UC
    mc = uc + ks.X86_MCONTEXT
    f = [FrameField(0, 8, "pretcode", note="the handler returns here: sa_restorer"),
         FrameField(uc, 8, "uc.uc_flags", note="UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS"),
         FrameField(uc + 8, 8, "uc.uc_link")]
    f += _stack_t(uc + ks.X86_UC_STACK, "uc.uc_stack")
    for i, reg in enumerate(ks.X86_GREGS):
        name = "eflags" if reg == "rflags" else reg          # Linux's sigcontext names it eflags
        f.append(FrameField(mc + 8 * i, 8, f"uc.mcontext.{name}", register=reg))
    f += [FrameField(mc + 144 + 2 * i, 2, f"uc.mcontext.{seg}") for i, seg in enumerate(("cs", "gs", "fs", "ss"))]
    f += [FrameField(mc + 152 + 8 * i, 8, f"uc.mcontext.{n}", note=note) for i, (n, note) in enumerate((
        ("err", "the fault's error code (0: not a fault)"), ("trapno", "the fault's vector (0: not a fault)"),
        ("oldmask", "the blocked mask before delivery"), ("cr2", "the faulting address (0: not a fault)")))]
    f.append(FrameField(mc + ks.X86_FPSTATE, 8, "uc.mcontext.fpstate", note="-> the fxsave image (512 bytes)"))
    f += [FrameField(mc + ks.X86_SIGCONTEXT_SIZE + 8 * i, 8, f"uc.mcontext.reserved1[{i}]") for i in range(8)]
    f.append(FrameField(uc + ks.X86_SIGMASK, 8, "uc.uc_sigmask", note="restored by rt_sigreturn"))
    f += _siginfo(ks.X86_INFO)
    return tuple(f)


A64_RECORDS = ks.A64_UC + ks.A64_MCONTEXT + ks.A64_RESERVED     # __reserved, from the frame


def arm64_fields() -> tuple[FrameField, ...]:
    uc = ks.A64_UC
    mc = uc + ks.A64_MCONTEXT
    f = _siginfo(0)
    f += [FrameField(uc, 8, "uc.uc_flags"), FrameField(uc + 8, 8, "uc.uc_link")]
    f += _stack_t(uc + ks.A64_UC_STACK, "uc.uc_stack")
    f.append(FrameField(uc + ks.A64_SIGMASK, 8, "uc.uc_sigmask", note="restored by rt_sigreturn"))
    f.append(FrameField(mc, 8, "uc.mcontext.fault_address", note="the faulting address (0: not a fault)"))
    f += [FrameField(mc + 8 + 8 * i, 8, f"uc.mcontext.regs[{i}]", register=f"x{i}") for i in range(31)]
    f += [FrameField(mc + 256, 8, "uc.mcontext.sp", register="sp"),
          FrameField(mc + 264, 8, "uc.mcontext.pc", register="pc"),
          FrameField(mc + 272, 8, "uc.mcontext.pstate", note="NZCV in bits 31..28; EL0t, DAIF clear")]
    f += [FrameField(ks.A64_FRAME_SIZE, 8, "record.x29", note="frame record: the interrupted x29"),
          FrameField(ks.A64_FRAME_SIZE + 8, 8, "record.x30", note="frame record: the interrupted x30")]
    return tuple(f)


FIELDS = {"amd64": x86_64_fields(), "arm64": arm64_fields()}
FRAME_SIZE = {"amd64": ks.X86_FRAME_SIZE, "arm64": ks.A64_FRAME_SIZE + 16}   # arm64: + the frame record
INFO = {"amd64": ks.X86_INFO, "arm64": 0}             # the siginfo, from the frame
ROLE = {"amd64": {"pc": "rip", "sp": "rsp"}, "arm64": {"pc": "pc", "sp": "sp"}}
FRAME_ALIGN = {"amd64": 8, "arm64": 0}       # frame % 16 at handler entry (x86: as after a call)
RECORD_NAMES = {ks.FPSIMD_MAGIC: "fpsimd_context", ks.ESR_MAGIC: "esr_context", 0: "terminator"}
FXSAVE_FIELDS = ((0, 2, "fcw"), (2, 2, "fsw"), (4, 1, "ftw (abridged)"), (24, 4, "mxcsr"), (28, 4, "mxcsr_mask"))


@dataclass(frozen=True)
class Row:
    """One decoded line of the view: `addr` is absolute, `value` an int."""

    addr: int
    offset: int
    name: str
    value: int
    size: int
    register: str = ""
    note: str = ""


COUNT_ROWS = ("fpstate.xmm0-15", "fpsimd_context.vregs[32]")     # value: how many registers are non-zero


def _value_text(r: Row) -> str:
    if r.name in COUNT_ROWS or r.value < 0 or (r.name.startswith("info.") and r.size == 4):
        return str(r.value)
    return hex64(r.value) if r.size == 8 else f"{r.value:#x}"


class SigFrameView:
    """The rt_sigframe at `frame` (an address, or a SIGNAL trace event) in `system`'s memory.

    :ivar rows: every decoded field by offset from the frame: the frame's own
        fields, the siginfo union as si_code selects it, and (amd64) the fxsave
        image above the frame or (arm64) the __reserved records.
    :ivar regs: register name -> the interrupted value the frame holds.
    """

    def __init__(self, system, frame):
        if getattr(frame, "kind", None) == "signal":
            frame = frame.args[2]
        if not isinstance(frame, int) or frame <= 0:
            raise ValueError(f"SigFrameView: frame must be a frame address or a SIGNAL event, not {frame!r}")
        self.arch = system.arch
        self.mem, self.image = system.machine.memory, system.image
        self.frame = frame
        if frame % 16 != FRAME_ALIGN[self.arch]:
            raise ValueError(f"SigFrameView: {frame:#x} is not an {self.arch} rt_sigframe address "
                             f"(the frame is at {FRAME_ALIGN[self.arch]} mod 16: the handler's sp at entry)")
        size = FRAME_SIZE[self.arch]
        if not self.mem.fully_mapped(frame, frame + size):
            raise ValueError(f"SigFrameView: [{frame:#x}, {frame + size:#x}) is not mapped: no frame there")
        raw = self.mem.read(frame, size)
        self.rows = [self._row(raw, f) for f in FIELDS[self.arch]]
        self._by_name = {r.name: r for r in self.rows}
        info = INFO[self.arch]
        self.rows += [self._row(raw, f) for f in _siginfo_union(info, self["info.si_code"])]
        self.rows += self._fxsave_rows() if self.arch == "amd64" else self._record_rows(raw)
        self.rows.sort(key=lambda r: r.offset)
        self._by_name = {r.name: r for r in self.rows}
        self.regs = {r.register: r.value for r in self.rows if r.register}

    # ---- decoding ----------------------------------------------------------------------------
    def _row(self, raw: bytes, f: FrameField) -> Row:
        value = int.from_bytes(raw[f.offset:f.offset + f.size], "little", signed=f.signed)
        return Row(self.frame + f.offset, f.offset, f.name, value, f.size, f.register, f.note)

    def _fxsave_rows(self) -> list[Row]:
        at = self["uc.mcontext.fpstate"]
        if at == 0 or not self.mem.fully_mapped(at, at + ks.FXSAVE_SIZE):
            return []
        img = self.mem.read(at, ks.FXSAVE_SIZE)
        rows = [Row(at + o, at + o - self.frame, f"fpstate.{n}", int.from_bytes(img[o:o + s], "little"), s)
                for o, s, n in FXSAVE_FIELDS]
        live = sum(1 for i in range(16) if any(img[160 + 16 * i:176 + 16 * i]))
        rows.append(Row(at + 160, at + 160 - self.frame, "fpstate.xmm0-15", live, 256,
                        note=f"{live} of 16 xmm registers non-zero"))
        return rows

    def _record_rows(self, raw: bytes) -> list[Row]:
        """The __reserved records (magic, size, ...) up to the terminator."""
        rows, off = [], A64_RECORDS
        end = A64_RECORDS + ks.A64_RESERVED_SIZE
        while off + 8 <= end:
            magic, size = struct.unpack_from("<II", raw, off)
            kind = RECORD_NAMES.get(magic, f"unknown record {magic:#x}")
            rows.append(Row(self.frame + off, off, f"{kind}.magic", magic, 4, note=kind))
            rows.append(Row(self.frame + off + 4, off + 4, f"{kind}.size", size, 4))
            if magic == ks.FPSIMD_MAGIC and size >= 16:
                fpsr, fpcr = struct.unpack_from("<II", raw, off + 8)
                rows.append(Row(self.frame + off + 8, off + 8, "fpsimd_context.fpsr", fpsr, 4, "fpsr"))
                rows.append(Row(self.frame + off + 12, off + 12, "fpsimd_context.fpcr", fpcr, 4, "fpcr"))
                live = sum(1 for i in range(32) if any(raw[off + 16 + 16 * i:off + 32 + 16 * i]))
                rows.append(Row(self.frame + off + 16, off + 16, "fpsimd_context.vregs[32]", live, 512,
                                note=f"{live} of 32 q registers non-zero"))
            if magic == 0 or size < 8 or size % 16:
                break
            off += size
        return rows

    # ---- reading ------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> int:
        try:
            return self._by_name[name].value
        except KeyError:
            raise KeyError(f"SigFrameView: no field {name!r} in an {self.arch} frame") from None

    @property
    def pc(self) -> int:
        return self.regs[ROLE[self.arch]["pc"]]

    @property
    def sp(self) -> int:
        return self.regs[ROLE[self.arch]["sp"]]

    @property
    def signo(self) -> int:
        return self["info.si_signo"]

    @property
    def sigmask(self) -> int:
        return self["uc.uc_sigmask"]

    # ---- rendering ------------------------------------------------------------------------------
    def _meaning(self, r: Row) -> str:
        if r.name in ("pretcode", "record.x30") or r.register in ("rip", "pc"):
            sym = self.image.symbol_at(r.value)
            return f"{sym[0]}+{sym[1]}" + (f"  ({r.note})" if r.note else "") if sym else r.note
        if r.name == "info.si_signo":
            return ks.signame(r.value)
        if r.name == "info.si_code":
            return ks.SI_CODE_NAMES.get(r.value, "")
        return r.note

    def table(self) -> Table:
        rows, marked = [], set()
        for i, r in enumerate(self.rows):
            rows.append((f"+{r.offset:#x}" if r.offset >= 0 else f"-{-r.offset:#x}", r.name, _value_text(r),
                         r.register, self._meaning(r)))
            if r.register in ROLE[self.arch].values():
                marked.add(i)
        return Table(f"rt_sigframe at {self.frame:#x} ({self.arch})", ("offset", "field", "value", "register",
                                                                      "meaning"), rows, frozenset(marked))

    def header_lines(self) -> list[str]:
        return [f"{ks.signame(self.signo)}: rt_sigreturn resumes at pc {self.pc:#x} with sp {self.sp:#x}, "
                f"mask {self.sigmask:#x}"]

    def title(self) -> str:
        return f"signal frame {self.frame:#x}"

    def text(self) -> str:
        return page_text(self.title(), [self.table()], self.header_lines())

    def _repr_html_(self) -> str:
        return page(self.title(), [self.table()], self.header_lines())

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"<SigFrameView {self.arch} {self.frame:#x} {ks.signame(self.signo)} pc={self.pc:#x} sp={self.sp:#x}>"
