# gogo_mcall_amd64.s: YOUR runtime.gogo and runtime.mcall (amd64).
# Exercise gogo_mcall; read README.md first.  Grade with:
#   gosched-emu grade gogo_mcall --solution <folder holding this file and the arm64 one>
#
# Conventions (Go's ABIInternal): argument in RAX; g in R14 and in TLS at fs:[-8];
# offsets come from go_asm.inc (g_sched, g_m, m_g0, gobuf_sp, gobuf_pc, gobuf_g,
# gobuf_ctxt, gobuf_ret, gobuf_bp, gobuf_callee).  Keep the labels: the tools look for
# runtime.gogo, runtime.gogo.jump and runtime.mcall.

#include "../go_asm.inc"

.text

# func gogo(buf *gobuf)
# Restore the state in buf and continue there: the end of every context switch.
# Never returns.  Clobbers R11 (the jump goes through the buffer).
.globl runtime.gogo
runtime.gogo:
    mov r11, rax                        # r11 = buf
    mov rdx, qword ptr [r11 + gobuf_g]  # rdx = gp
    mov rcx, qword ptr [rdx]            # make sure g != nil (faults here if it is)

    # TODO(gogo): make gp the current g (in TLS and in R14), load the callee-saved
    # registers from gobuf.callee (rbx, r12, r13, r15, in that order), then RSP, RBP,
    # RAX (gobuf.ret) and RDX (gobuf.ctxt); clear sp, ret, ctxt and bp in the buffer.
    # Delete the next two lines when you have written it.
    lea rax, [rip + todo_gogo]
    call runtime.todo
runtime.gogo.jump:
    jmp qword ptr [r11 + gobuf_pc]

# func mcall(fn func(*g))
# Switch to m->g0's stack, call fn(g).  Fn must never return: it calls gogo to
# continue some G (maybe this one, which then returns from mcall).
# Saves the caller's state in g->sched.  Clobbers everything but what gogo restores.
.globl runtime.mcall
runtime.mcall:
    mov rdx, rax                        # rdx = fn

    # TODO(mcall): save the caller's state in g.sched (R14 is g): the PC it returns to
    # (on the stack at [rsp]), its SP after that return (rsp + 8), RBP, and rbx, r12,
    # r13, r15 in gobuf.callee.  Then switch to m->g0: rax = old g (fn's argument),
    # g = g0 (TLS and R14; jump to bad_mcall if g was already g0), RSP and RBP from
    # g0.sched.  Delete the next two lines when you have written it.
    lea rax, [rip + todo_mcall]
    call runtime.todo

    # fn(old g); it must not return
    push rax
    push rax                            # keep RSP 16-byte aligned at the call
    call rdx
    jmp bad_mcall2

.data
todo_gogo: .asciz "runtime.gogo (exercise gogo_mcall)"
todo_mcall: .asciz "runtime.mcall (exercise gogo_mcall)"
