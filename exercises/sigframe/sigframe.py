"""Exercise `sigframe`: build the Linux signal frame, and undo it in rt_sigreturn
(Linux: arch/x86/kernel/signal.c + signal_64.c, arch/arm64/kernel/signal.c).

Write the four functions marked TODO.  They replace _setup_frame_amd64/_arm64 (which
do_signal calls to enter a handler) and _sigreturn_amd64/_arm64 (which the
rt_sigreturn system call runs) in emu/kernel/signal.py.  Everything else here is
given.  README.md has the layouts with every offset; grade with

    gosched-emu grade sigframe --solution DIR      (DIR holds your copy of this file)

The arguments:
  k      the kernel: k.mem (guest memory: copy_to_user / copy_from_user raise
         GuestFault on an unmapped or protected address), k.emit (trace events)
  t      the thread (Task): t.cpu is its CPU, t.blocked its blocked mask (a sigset,
         bit sig-1), t.sas_ss_sp / sas_ss_flags / sas_ss_size its alternate stack
  sig    the signal number
  act    its SigAction: handler, flags (SA_*), restorer, mask
  info   its SigInfo: info.pack() is the 128-byte siginfo; for a fault
         info.trap is set and info.arch = (err, trapno, cr2), info.addr the address
CPU registers: t.cpu.snapshot_regs() -> {"rax": ..., "rip": ..., "rflags": ...} or
{"x0": ..., "sp": ..., "pc": ..., "nzcv": ...}; t.cpu.load_regs({name: value, ...})
sets the ones named; t.cpu.sp is the stack pointer.
"""
from __future__ import annotations

import struct

from emu.kernel.signal import (
    # flags and values
    FIX_EFLAGS, MXCSR_DEFAULT, SA_ONSTACK, SA_RESTORER, SA_SIGINFO, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS,
    USER_CS, USER_DS, X86_DF, X86_RF, X86_TF, FPSIMD_MAGIC, FPSIMD_SIZE, PSR_DAIF, PSR_MODE32, PSR_MODE_MASK,
    PSR_NZCV, _MASK64,
    # the layouts, as named offsets (README.md has the pictures)
    X86_FRAME_SIZE, X86_UC, X86_INFO, X86_UC_STACK, X86_MCONTEXT, X86_SIGMASK, X86_FPSTATE, X86_GREGS,
    FXSAVE_SIZE, A64_FRAME_SIZE, A64_UC, A64_UC_STACK, A64_SIGMASK, A64_MCONTEXT, A64_RESERVED,
    # helpers
    _badframe, _find_fpsimd, _fxsave, _on_stack, _pack_stack_t, _restore_fpstate_amd64, _sigtramp,
    _unpack_stack_t, do_sigaltstack, on_sig_stack, sas_ss_flags, set_current_blocked)
from emu.kernel.syscalls import NORETURN
from emu.machine.memory import GuestFault
from emu.trace import events as ev

# The names above are emu/kernel/signal.py's own:
#   X86_UC = 8, X86_INFO = 312, X86_FRAME_SIZE = 440: the ucontext and siginfo in the frame
#   X86_UC_STACK = 16, X86_MCONTEXT = 40, X86_SIGMASK = 296: in the ucontext
#   X86_FPSTATE = 184: the fpstate pointer in the sigcontext; FXSAVE_SIZE = 512
#   X86_GREGS: the sigcontext's 18 registers in order (r8 ... rip, rflags = Linux's eflags)
#   A64_UC = 128, A64_FRAME_SIZE = 4688; A64_UC_STACK = 16, A64_SIGMASK = 40, A64_MCONTEXT = 176
#   (in the ucontext); A64_RESERVED = 288: __reserved in the sigcontext
# Helpers: _fxsave(cpu) -> the 512-byte image; _restore_fpstate_amd64(k, cpu, fpstate) ->
# "" or what is wrong; _sigtramp(k) -> the trampoline page (0: none); _find_fpsimd(raw,
# offset of __reserved in raw) -> the fpsimd record's offset or None; _badframe(k, t, why[,
# sp]) -> rt_sigreturn's failure (SIGSEGV); _pack_stack_t / _unpack_stack_t: stack_t bytes.


# ---- x86_64 ----------------------------------------------------------------------------------
def setup_frame_amd64(k, t, sig, act, info):
    """Build the x86_64 rt_sigframe for `sig` and enter its handler.  Returns
    (frame, None), or (None, why) when Linux would refuse the frame (the caller
    turns that into SIGSEGV)."""
    cpu = t.cpu
    regs = cpu.snapshot_regs()                    # the interrupted registers
    rsp = regs["rsp"]
    nested = on_sig_stack(t, rsp)                 # already on the altstack (a nested signal)
    # TODO 1 -- placement:
    #   sp = rsp - 128 (skip the red zone); but under SA_ONSTACK, when
    #   sas_ss_flags(t, sp) == 0 (an altstack exists and we are not on it), sp = the
    #   altstack's top, t.sas_ss_sp + t.sas_ss_size, and `entering` = True.
    #   fpstate = round_down(sp - 512, 64); frame = round_down(fpstate - 440, 16) - 8.
    raise NotImplementedError("TODO: setup_frame_amd64: place the frame, fill it, enter the handler")
    # given: Linux refuses these (the caller turns the refusal into SIGSEGV)
    if (nested or entering) and not _on_stack(t, frame):
        return None, f"the frame at {frame:#x} overflows the alternate signal stack"
    if not act.flags & SA_RESTORER:
        return None, "no SA_RESTORER (an x86_64 handler returns through sa_restorer)"
    err, trapno, cr2 = info.arch if info.trap is not None else (0, 0, 0)
    # TODO 2 -- the 440-byte frame (README.md has the picture):
    #   +0 pretcode = act.restorer; +8 the ucontext: uc_flags = UC_SIGCONTEXT_SS |
    #   UC_STRICT_RESTORE_SS, uc_link 0, uc_stack (_pack_stack_t(t.sas_ss_sp,
    #   t.sas_ss_flags, t.sas_ss_size)), the sigcontext at uc + 40 (X86_GREGS; then cs =
    #   USER_CS, gs, fs = 0, ss = USER_DS as u16; err, trapno, oldmask = t.blocked, cr2;
    #   the fpstate pointer; 8 reserved words), uc_sigmask = t.blocked at uc + 296;
    #   +312 the siginfo.
    # TODO 3 -- write it with k.mem.copy_to_user: the fxsave image _fxsave(cpu) at
    #   fpstate, the frame, and info.pack() at frame + 312 only under SA_SIGINFO.  On
    #   GuestFault: return None, f"cannot write the frame at {frame:#x} ({e})".
    # TODO 4 -- enter the handler: rdi = sig, rsi = &info, rdx = &uc, rax = 0,
    #   rsp = frame, rip = act.handler, rflags without DF, RF and TF.
    # given: the handler starts with a clean SSE state (fpu__clear_user_states)
    cpu.write("mxcsr", MXCSR_DEFAULT)
    cpu.set_vector_bytes(bytes(256))
    return frame, None


def sigreturn_amd64(k, t):
    """rt_sigreturn on x86_64: the handler's `ret` popped pretcode, so the frame is
    at rsp - 8.  Restore the context saved there (a handler may have edited it) and
    return NORETURN (rax is the frame's, not a result)."""
    cpu = t.cpu
    frame = (cpu.sp - 8) & _MASK64
    # TODO:
    #   1. read the ucontext (k.mem.copy_from_user); on GuestFault:
    #      return _badframe(k, t, f"rt_sigreturn: no readable signal frame at {frame:#x}")
    #   2. the blocked mask := uc_sigmask (set_current_blocked(k, t, mask))
    #   3. the 18 registers of the sigcontext (cpu.load_regs); of rflags only the bits
    #      in FIX_EFLAGS come from the frame, the rest stay as they are
    #   4. the FP state: trouble = _restore_fpstate_amd64(k, cpu, the fpstate pointer);
    #      if trouble: return _badframe(k, t, f"rt_sigreturn: {trouble} (frame {frame:#x})")
    #   5. the altstack: do_sigaltstack(k, t, _unpack_stack_t(the 24 bytes of uc_stack), cpu.sp)
    #   6. k.emit(t, ev.SIGRETURN, the new rip, the new rsp); return NORETURN
    raise NotImplementedError("TODO: sigreturn_amd64: restore mask, registers, FP state, altstack")


# ---- arm64 -----------------------------------------------------------------------------------
def setup_frame_arm64(k, t, sig, act, info):
    """Build the arm64 rt_sigframe for `sig` and enter its handler.  Returns
    (frame, None), or (None, why) when the frame cannot be written."""
    cpu = t.cpu
    regs = cpu.snapshot_regs()                    # x0-x30, sp, pc, nzcv
    # TODO 1 -- placement (no red zone on arm64):
    #   top = regs["sp"]; under SA_ONSTACK, when sas_ss_flags(t, top) == 0, top = the
    #   altstack's top.  The frame record {x29, x30} at record = round_down(top - 16, 16);
    #   frame = record - 4688.
    # TODO 2 -- the 4688-byte frame (README.md has the picture): +0 the siginfo; +128
    #   the ucontext: uc_flags 0, uc_link 0, uc_stack at uc + 16, uc_sigmask =
    #   t.blocked at uc + 40, the sigcontext at uc + 176: fault_address (info.addr for
    #   a fault, else 0), regs[0..30], sp, pc, pstate (regs["nzcv"] & PSR_NZCV); its
    #   __reserved area at uc + 464: the fpsimd_context record {FPSIMD_MAGIC,
    #   FPSIMD_SIZE, fpsr, fpcr (u32 each), the 32 q registers: cpu.vector_bytes()},
    #   then the terminator {0, 0}.
    # TODO 3 -- the return address: act.restorer under SA_RESTORER, else _sigtramp(k)
    #   (the kernel's `movz x8, #139; svc #0` page; 0 means no page could be mapped:
    #   return None, "no free page for the signal return trampoline").
    # TODO 4 -- write the ucontext, the record {x29, x30} and (only under SA_SIGINFO)
    #   info.pack() with k.mem.copy_to_user; on GuestFault: return None,
    #   f"cannot write the frame at {frame:#x} ({e})".
    # TODO 5 -- enter the handler: x0 = sig, under SA_SIGINFO x1 = &info, x2 = &uc;
    #   sp = frame, x29 = record, x30 = the return address, pc = act.handler.
    raise NotImplementedError("TODO: setup_frame_arm64: place the frame, fill it, enter the handler")


def sigreturn_arm64(k, t):
    """rt_sigreturn on arm64: the frame is at sp (which must be 16-byte aligned).
    Restore the context saved there (a handler may have edited it) and return
    NORETURN (x0 is the frame's, not a result)."""
    cpu = t.cpu
    frame = cpu.sp
    if frame % 16:                                # given
        return _badframe(k, t, f"rt_sigreturn: sp {frame:#x} is not 16-byte aligned", frame)
    # TODO:
    #   1. read the 4688-byte frame; on GuestFault:
    #      return _badframe(k, t, f"rt_sigreturn: no readable signal frame at {frame:#x}", frame)
    #   2. the blocked mask := uc_sigmask
    #   3. x0-x30, sp and pc from the sigcontext, and nzcv = pstate & PSR_NZCV (cpu.load_regs)
    #   4. refuse a pstate with any of PSR_MODE_MASK | PSR_MODE32 | PSR_DAIF set:
    #      return _badframe(k, t, f"rt_sigreturn: pstate {pstate:#x} is not EL0t with DAIF clear "
    #                            f"(frame {frame:#x})", the new sp)
    #   5. the fpsimd record: at = _find_fpsimd(raw, offset of __reserved in raw); None:
    #      return _badframe(k, t, f"rt_sigreturn: no valid fpsimd_context record (frame {frame:#x})", the new sp)
    #      else fpsr, fpcr (cpu.write) and the q registers (cpu.set_vector_bytes) from it
    #   6. the altstack: do_sigaltstack(k, t, _unpack_stack_t(uc_stack's 24 bytes), cpu.sp)
    #   7. k.emit(t, ev.SIGRETURN, the new pc, the new sp); return NORETURN
    raise NotImplementedError("TODO: sigreturn_arm64: restore mask, registers, FP/SIMD state, altstack")
