// gogo_mcall_arm64.s: YOUR runtime.gogo and runtime.mcall (arm64).
// Exercise gogo_mcall; read README.md first.  Grade with:
//   gosched-emu grade gogo_mcall --solution <folder holding this file and the amd64 one>
//
// Conventions (Go's ABIInternal): argument in X0; g in X28; LR is X30, FP is X29;
// offsets come from go_asm.inc (g_sched, g_m, m_g0, gobuf_sp, gobuf_pc, gobuf_g,
// gobuf_ctxt, gobuf_ret, gobuf_lr, gobuf_bp, gobuf_callee).  Keep the labels: the tools
// look for runtime.gogo, runtime.gogo.jump and runtime.mcall.

#include "../go_asm.inc"

.text

// func gogo(buf *gobuf)
// Restore the state in buf and continue there: the end of every context switch.
// Never returns.  Clobbers R6-R8 (the jump goes through R6).
.globl runtime.gogo
runtime.gogo:
    ldr x5, [x0, #gobuf_g]              // x5 = gp
    ldr x4, [x5]                        // make sure g != nil (faults here if it is)

    // TODO(gogo): make gp the current g (X28), load x19..x27 from gobuf.callee (ldp pairs,
    // x27 last), then SP, X29 (gobuf.bp), X30 (gobuf.lr), X8 = gobuf.ret and X7 =
    // gobuf.ctxt (a non-zero ctxt goes to X26, the closure context); X6 = gobuf.pc;
    // clear sp, ret, ctxt, lr and bp in the buffer; X0 = ret; set the flags to "equal"
    // (cmp xzr, xzr) as Go leaves them.  Delete the next two lines when you have written it.
    adr x0, todo_gogo
    bl runtime.todo
runtime.gogo.jump:
    br x6

// func mcall(fn func(*g))
// Switch to m->g0's stack, call fn(g).  Fn must never return: it calls gogo to
// continue some G (maybe this one, which then returns from mcall).
// Saves the caller's state in g->sched.  Clobbers everything but what gogo restores.
.globl runtime.mcall
runtime.mcall:
    mov x9, x0                          // x9 = fn

    // TODO(mcall): save the caller's state in g.sched (X28 is g): its SP, X29, the PC it
    // returns to (X30, the link register), a zero gobuf.lr, and x19..x27 in gobuf.callee.
    // Then switch to m->g0: X0 = old g (fn's argument), X28 = g0 (b.eq bad_mcall if g was
    // already g0), SP and X29 from g0.sched.  Delete the next two lines when you have
    // written it.
    adr x0, todo_mcall
    bl runtime.todo

    // fn(old g); it must not return
    stp xzr, xzr, [sp, #-16]!           // a zero frame record ends the frame chain
    blr x9
    b bad_mcall2

.data
todo_gogo: .asciz "runtime.gogo (exercise gogo_mcall)"
todo_mcall: .asciz "runtime.mcall (exercise gogo_mcall)"
