// The reference gogo and mcall (runtime_asm/arm64/asm.s) with one planted bug: see expect.txt.

#include "../go_asm.inc"

.text

// func gogo(buf *gobuf)
// Restore the state in buf and continue there: the end of every context switch.
// Never returns.  Clobbers R6-R8 (the jump goes through R6).
.globl runtime.gogo
runtime.gogo:
    ldr x5, [x0, #gobuf_g]              // x5 = gp
    ldr x4, [x5]                        // make sure g != nil (faults here if it is)

    // g = gp
    mov x28, x5

    // callee-saved registers (ours: Go has none)
    ldp x19, x20, [x0, #gobuf_callee + 0]
    ldp x21, x22, [x0, #gobuf_callee + 16]
    ldp x23, x24, [x0, #gobuf_callee + 32]
    ldp x25, x26, [x0, #gobuf_callee + 48]
    ldr x27, [x0, #gobuf_callee + 64]

    // stack, frame pointer, link register, first argument/result, closure context
    ldr x6, [x0, #gobuf_sp]
    mov sp, x6
    ldr x29, [x0, #gobuf_bp]
    ldr x30, [x0, #gobuf_lr]
    ldr x8, [x0, #gobuf_ret]
    ldr x7, [x0, #gobuf_ctxt]
    cbz x7, 1f
    mov x26, x7                         // a closure context overrides the saved x26
1:
    // clear what was restored (Go does it for the GC), then jump
    ldr x6, [x0, #gobuf_pc]
    str xzr, [x0, #gobuf_sp]
    str xzr, [x0, #gobuf_ret]
    str xzr, [x0, #gobuf_ctxt]
    str xzr, [x0, #gobuf_lr]
    str xzr, [x0, #gobuf_bp]
    mov x0, x8
    cmp xzr, xzr                        // flags as Go leaves them (the stack-split check expects "==")
runtime.gogo.jump:
    br x6

// func mcall(fn func(*g))
// Switch to m->g0's stack, call fn(g).  Fn must never return: it calls gogo to
// continue some G (maybe this one, which then returns from mcall).
// Saves the caller's state in g->sched.  Clobbers everything but what gogo restores.
.globl runtime.mcall
runtime.mcall:
    mov x9, x0                          // x9 = fn

    // save state in g->sched: the caller's SP, its FP, its return PC (LR)
    mov x10, sp
    str x10, [x28, #g_sched + gobuf_sp]
    str x30, [x28, #g_sched + gobuf_pc]
    str xzr, [x28, #g_sched + gobuf_lr]
    stp x19, x20, [x28, #g_sched + gobuf_callee + 0]
    stp x21, x22, [x28, #g_sched + gobuf_callee + 16]
    stp x23, x24, [x28, #g_sched + gobuf_callee + 32]
    stp x25, x26, [x28, #g_sched + gobuf_callee + 48]
    str x27, [x28, #g_sched + gobuf_callee + 64]

    // switch to m->g0 and its stack
    mov x0, x28                         // x0 = old g, fn's argument
    ldr x11, [x28, #g_m]                // x11 = m
    ldr x12, [x11, #m_g0]               // x12 = g0
    cmp x12, x28
    b.eq bad_mcall                      // g0 cannot mcall
    mov x28, x12
    ldr x10, [x12, #g_sched + gobuf_sp]
    mov sp, x10
    ldr x29, [x12, #g_sched + gobuf_bp]

    // fn(old g); it must not return
    stp xzr, xzr, [sp, #-16]!           // a zero frame record ends the frame chain
    blr x9
    b bad_mcall2

