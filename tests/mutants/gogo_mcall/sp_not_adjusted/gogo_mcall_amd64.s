# The reference gogo and mcall (runtime_asm/amd64/asm.s) with one planted bug: see expect.txt.

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

    # g = gp, in the register and in TLS
    mov qword ptr fs:[-8], rdx
    mov r14, rdx

    # callee-saved registers (ours: Go has none)
    mov rbx, qword ptr [r11 + gobuf_callee + 0]
    mov r12, qword ptr [r11 + gobuf_callee + 8]
    mov r13, qword ptr [r11 + gobuf_callee + 16]
    mov r15, qword ptr [r11 + gobuf_callee + 24]

    # stack, frame pointer, first argument/result, closure context
    mov rsp, qword ptr [r11 + gobuf_sp]
    mov rbp, qword ptr [r11 + gobuf_bp]
    mov rax, qword ptr [r11 + gobuf_ret]
    mov rdx, qword ptr [r11 + gobuf_ctxt]

    # clear what was restored (Go does it for the GC), then jump
    mov qword ptr [r11 + gobuf_sp], 0
    mov qword ptr [r11 + gobuf_ret], 0
    mov qword ptr [r11 + gobuf_ctxt], 0
    mov qword ptr [r11 + gobuf_bp], 0
runtime.gogo.jump:
    jmp qword ptr [r11 + gobuf_pc]

# func mcall(fn func(*g))
# Switch to m->g0's stack, call fn(g).  Fn must never return: it calls gogo to
# continue some G (maybe this one, which then returns from mcall).
# Saves the caller's state in g->sched.  Clobbers everything but what gogo restores.
.globl runtime.mcall
runtime.mcall:
    mov rdx, rax                        # rdx = fn

    # save state in g->sched: the caller's PC, its SP (just above the PC), its BP
    mov r11, qword ptr [rsp]
    mov qword ptr [r14 + g_sched + gobuf_pc], r11
    mov r11, rsp
    mov qword ptr [r14 + g_sched + gobuf_sp], r11
    mov qword ptr [r14 + g_sched + gobuf_bp], rbp
    mov qword ptr [r14 + g_sched + gobuf_callee + 0], rbx
    mov qword ptr [r14 + g_sched + gobuf_callee + 8], r12
    mov qword ptr [r14 + g_sched + gobuf_callee + 16], r13
    mov qword ptr [r14 + g_sched + gobuf_callee + 24], r15

    # switch to m->g0 and its stack
    mov rax, r14                        # rax = old g, fn's argument
    mov rbx, qword ptr [r14 + g_m]      # rbx = m
    mov rsi, qword ptr [rbx + m_g0]     # rsi = g0
    cmp rsi, r14
    je bad_mcall                        # g0 cannot mcall
    mov qword ptr fs:[-8], rsi
    mov r14, rsi
    mov rsp, qword ptr [rsi + g_sched + gobuf_sp]
    mov rbp, qword ptr [rsi + g_sched + gobuf_bp]

    # fn(old g); it must not return
    push rax
    push rax                            # keep RSP 16-byte aligned at the call
    call rdx
    jmp bad_mcall2

