// asm.s (arm64): the runtime's machine code -- process entry, M start, context switches.
// Mirrors Go's runtime/asm_arm64.s; runtime_asm/amd64/asm.s has the same routines, in the
// same order, with the same labels and group comments.
//
// Conventions (Go's ABIInternal): arguments and results in R0-R15; g in R28 only (pure-Go
// arm64 never uses TPIDR_EL0); R29 is the frame pointer, R30 the link register, R27 the
// assembler's scratch (REGTMP).  SP and R29 survive a call, every other register may be
// clobbered.  Python runtime functions (runtime.schedinit, runtime.mstart1, ...) are
// called like any function: their symbols are stubs in the generated Python text.
// Offsets (g_sched, gobuf_sp ...) come from go_asm.inc, generated from emu/runtime/layout.py.

#include "../go_asm.inc"

.text

// _start: the process entry; Linux starts it with SP at argc.  Never returns.
// Makes the OS stack g0's, ties m0 and g0 together (no TLS on arm64: g is R28),
// then schedinit(argc, argv); newproc(runtime.main, 0); mstart().
.globl _start
_start:
    ldr x0, [sp]                        // x0 = argc
    add x1, sp, #8                      // x1 = argv

    // g0's stack is the top G0_STACK bytes of the OS stack
    adr x19, runtime.g0                 // x19 = g0
    mov x2, sp
    str x2, [x19, #g_stack + stack_hi]
    sub x2, x2, #G0_STACK
    str x2, [x19, #g_stack + stack_lo]
    add x2, x2, #StackGuard
    str x2, [x19, #g_stackguard0]
    str x2, [x19, #g_stackguard1]

    // m0.g0 = g0, g0.m = m0
    adr x20, runtime.m0                 // x20 = m0
    str x19, [x20, #m_g0]
    str x20, [x19, #g_m]

    // g = g0 (R28 only: nothing to set in TLS)
    mov x28, x19

    // schedinit(argc, argv)
    bl runtime.schedinit

    // the main goroutine: newproc(runtime.main, 0)
    adr x0, runtime.main
    mov x1, #0
    bl runtime.newproc

    // this thread becomes m0
    bl runtime.mstart
    b bad_mstart                        // mstart never returns

// func mstart()
// The start of every M, on its g0 stack with g = g0.  Never returns.
// Records the top of g0's stack in g0.sched: mcall and systemstack switch to it.
// Clobbers everything.
.globl runtime.mstart
runtime.mstart:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    // g0.sched = {sp: here, bp: here, pc: bad_mstart}: every mcall reuses this stack top
    mov x0, sp
    str x0, [x28, #g_sched + gobuf_sp]
    str x29, [x28, #g_sched + gobuf_bp]
    adr x0, bad_mstart
    str x0, [x28, #g_sched + gobuf_pc]
    bl runtime.mstart1                  // Python: minit, then schedule(); never returns
    b bad_mstart

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
    str x29, [x28, #g_sched + gobuf_bp]
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

// func systemstack(fn func())
// Run fn on the g0 stack and come back.  On g0 (or gsignal) fn is simply
// called on the current stack.  Clobbers everything but SP, R29, g.
.globl runtime.systemstack
runtime.systemstack:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x3, x0                          // x3 = fn
    ldr x4, [x28, #g_m]                 // x4 = m

    // already on g0 or gsignal: no switch
    ldr x5, [x4, #m_gsignal]
    cmp x28, x5
    b.eq 1f
    ldr x5, [x4, #m_g0]                 // x5 = g0
    cmp x28, x5
    b.eq 1f
    ldr x6, [x4, #m_curg]
    cmp x28, x6
    b.ne bad_systemstack                // g is not gsignal, not g0, not curg: what is it?

    // save our state in g->sched; pretend to be systemstack_switch if the G stack is scanned
    bl gosave_systemstack_switch

    // switch to g0 and its stack
    mov x28, x5
    ldr x7, [x5, #g_sched + gobuf_sp]
    mov sp, x7
    ldr x29, [x5, #g_sched + gobuf_bp]

    // call fn on g0
    blr x3

    // switch back to g: m.curg, its stack and frame pointer
    ldr x4, [x28, #g_m]
    ldr x6, [x4, #m_curg]               // x6 = g
    mov x28, x6
    ldr x7, [x6, #g_sched + gobuf_sp]
    mov sp, x7
    ldr x29, [x6, #g_sched + gobuf_bp]
    str xzr, [x6, #g_sched + gobuf_sp]
    str xzr, [x6, #g_sched + gobuf_bp]
    ldp x29, x30, [sp], #16
    ret
1:
    blr x3                              // call fn on the current stack
    ldp x29, x30, [sp], #16
    ret

// func systemstack_switch()
// Never runs: systemstack leaves its address in g.sched.pc, so a traceback of a
// G that is on the system stack shows it.
.globl runtime.systemstack_switch
runtime.systemstack_switch:
    nop
    nop
    b bad_systemstack

// gosave_systemstack_switch: save the state of systemstack's caller in g->sched,
// with pc = systemstack_switch+8.  Called only by systemstack.  Clobbers R10.
gosave_systemstack_switch:
    adr x10, runtime.systemstack_switch
    add x10, x10, #8
    str x10, [x28, #g_sched + gobuf_pc]
    mov x10, sp
    str x10, [x28, #g_sched + gobuf_sp]
    str xzr, [x28, #g_sched + gobuf_ret]
    str xzr, [x28, #g_sched + gobuf_lr]
    str x29, [x28, #g_sched + gobuf_bp]
    ret

// func goexit()
// The return address of every goroutine's first function: newproc puts
// goexit+4 (Go's PCQuantum) in LR, so returning from fn lands on the call below.
.globl runtime.goexit
runtime.goexit:
    nop                                 // so that goexit+4 is the call
    bl runtime.goexit1                  // Python: mcall(goexit0); never returns
    b bad_goexit

// func morestack()
// Called by a function's prologue check (.stackcheck) when its frame would not
// fit: `mov x3, x30; bl runtime.morestack_noctxt` from the function's check block,
// so LR is the return into that block and x3 the function's own LR.  Saves the
// function's state in g.sched (and m.morebuf), switches to g0 and calls newstack,
// which grows the stack (or preempts the G) and resumes the function after the
// call with gogo (LR = x3 again).  The `_noctxt` variant has no closure context.
// Clobbers R9-R13 and what the check block spilled.
.globl runtime.morestack_noctxt
runtime.morestack_noctxt:
    mov x9, #0                          // x9 = closure context: none
    b morestack_common
.globl runtime.morestack
runtime.morestack:
    mov x9, x26                         // x9 = closure context (R26)
morestack_common:
    // cannot grow the scheduler stack (m->g0) or the signal stack (m->gsignal)
    ldr x11, [x28, #g_m]                // x11 = m
    ldr x12, [x11, #m_g0]
    cmp x28, x12
    b.eq bad_morestackg0
    ldr x12, [x11, #m_gsignal]
    cmp x28, x12
    b.eq bad_morestackgsignal

    // m->morebuf = the function's caller (its LR, passed in x3) and its SP
    str x3, [x11, #m_morebuf + gobuf_pc]
    mov x12, sp
    str x12, [x11, #m_morebuf + gobuf_sp]
    str x28, [x11, #m_morebuf + gobuf_g]

    // g->sched = the function's context: resume at the return into its check block
    str x12, [x28, #g_sched + gobuf_sp]
    str x30, [x28, #g_sched + gobuf_pc]
    str x3, [x28, #g_sched + gobuf_lr]
    str x29, [x28, #g_sched + gobuf_bp]
    str x9, [x28, #g_sched + gobuf_ctxt]
    stp x19, x20, [x28, #g_sched + gobuf_callee + 0]
    stp x21, x22, [x28, #g_sched + gobuf_callee + 16]
    stp x23, x24, [x28, #g_sched + gobuf_callee + 32]
    stp x25, x26, [x28, #g_sched + gobuf_callee + 48]
    str x27, [x28, #g_sched + gobuf_callee + 64]

    // switch to m->g0 and its stack; newstack never returns
    ldr x12, [x11, #m_g0]               // x12 = g0
    mov x28, x12
    ldr x13, [x12, #g_sched + gobuf_sp]
    mov sp, x13
    ldr x29, [x12, #g_sched + gobuf_bp]
    stp xzr, xzr, [sp, #-16]!           // a zero frame record ends the frame chain
    bl runtime.newstack                 // Python: grow, copy, gogo back
    b bad_morestack

// func sigtramp(sig uint32, info *siginfo, ctx unsafe.Pointer)
// The handler the kernel calls for every signal the runtime installs, on the
// signal stack (gsignal) with the C calling convention: x0, x1, x2 -- already
// Go's argument registers; g is R28, which the kernel leaves untouched.  Calls
// sigtrampgo and returns to x30, the kernel's trampoline (rt_sigreturn).
// Preserves the C callee-saved registers (x19-x28, d8-d15).
.globl runtime.sigtramp
runtime.sigtramp:
    // C ABI -> Go ABI: keep the C callee-saved registers
    stp x29, x30, [sp, #-176]!
    mov x29, sp
    stp x19, x20, [sp, #16]
    stp x21, x22, [sp, #32]
    stp x23, x24, [sp, #48]
    stp x25, x26, [sp, #64]
    stp x27, x28, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]

    // arguments are already in x0 (sig), x1 (info), x2 (ctx, the ucontext to edit)
    bl runtime.sigtrampgo               // Python: sighandler

    ldp d14, d15, [sp, #144]
    ldp d12, d13, [sp, #128]
    ldp d10, d11, [sp, #112]
    ldp d8, d9, [sp, #96]
    ldp x27, x28, [sp, #80]
    ldp x25, x26, [sp, #64]
    ldp x23, x24, [sp, #48]
    ldp x21, x22, [sp, #32]
    ldp x19, x20, [sp, #16]
    ldp x29, x30, [sp], #176
    ret                                 // to the kernel's trampoline

// func asyncPreempt()
// Injected by the SIGURG handler (pushCall): LR holds the resume PC and the
// interrupted function's own LR sits at [sp] (pushCall pushed 16 bytes).  Saves
// every register the interrupted code may have live -- NZCV, FPSR and FPCR too --
// calls asyncPreempt2 (which switches away through mcall), and, when this G runs
// again, restores them all and jumps to the resume PC through R27 (REGTMP, never
// live at a safe point) so that LR comes back intact.
// Frame: [sp+0] x29, [sp+8] resume PC (a frame record), [sp+16+8i] x0-x17, x18 skipped
// (platform), [sp+160..216] x19-x26, [sp+224] NZCV, [sp+232] FPSR, [sp+240] FPCR,
// [sp+256+16i] q0-q31 (all 128 bits; Go saves only d0-d31).  Clobbers R27.
.globl runtime.asyncPreempt
runtime.asyncPreempt:
    sub sp, sp, #768                    // (sub, not subs: the flags are still the program's)
    stp x29, x30, [sp]                  // frame record: caller's FP, resume PC
    mov x29, sp

    // the general registers
    stp x0, x1, [sp, #16]
    stp x2, x3, [sp, #32]
    stp x4, x5, [sp, #48]
    stp x6, x7, [sp, #64]
    stp x8, x9, [sp, #80]
    stp x10, x11, [sp, #96]
    stp x12, x13, [sp, #112]
    stp x14, x15, [sp, #128]
    stp x16, x17, [sp, #144]
    stp x19, x20, [sp, #160]
    stp x21, x22, [sp, #176]
    stp x23, x24, [sp, #192]
    stp x25, x26, [sp, #208]

    // flags and FP status, then the vector registers
    mrs x0, nzcv
    str x0, [sp, #224]
    mrs x0, fpsr
    str x0, [sp, #232]
    mrs x0, fpcr
    str x0, [sp, #240]
    stp q0, q1, [sp, #256]
    stp q2, q3, [sp, #288]
    stp q4, q5, [sp, #320]
    stp q6, q7, [sp, #352]
    stp q8, q9, [sp, #384]
    stp q10, q11, [sp, #416]
    stp q12, q13, [sp, #448]
    stp q14, q15, [sp, #480]
    stp q16, q17, [sp, #512]
    stp q18, q19, [sp, #544]
    stp q20, q21, [sp, #576]
    stp q22, q23, [sp, #608]
    stp q24, q25, [sp, #640]
    stp q26, q27, [sp, #672]
    stp q28, q29, [sp, #704]
    stp q30, q31, [sp, #736]

    // switch away; returns when this G is scheduled again
    bl runtime.asyncPreempt2

    // restore everything, in reverse
    ldp q30, q31, [sp, #736]
    ldp q28, q29, [sp, #704]
    ldp q26, q27, [sp, #672]
    ldp q24, q25, [sp, #640]
    ldp q22, q23, [sp, #608]
    ldp q20, q21, [sp, #576]
    ldp q18, q19, [sp, #544]
    ldp q16, q17, [sp, #512]
    ldp q14, q15, [sp, #480]
    ldp q12, q13, [sp, #448]
    ldp q10, q11, [sp, #416]
    ldp q8, q9, [sp, #384]
    ldp q6, q7, [sp, #352]
    ldp q4, q5, [sp, #320]
    ldp q2, q3, [sp, #288]
    ldp q0, q1, [sp, #256]
    ldr x0, [sp, #240]
    msr fpcr, x0
    ldr x0, [sp, #232]
    msr fpsr, x0
    ldr x0, [sp, #224]
    msr nzcv, x0
    ldp x25, x26, [sp, #208]
    ldp x23, x24, [sp, #192]
    ldp x21, x22, [sp, #176]
    ldp x19, x20, [sp, #160]
    ldp x16, x17, [sp, #144]
    ldp x14, x15, [sp, #128]
    ldp x12, x13, [sp, #112]
    ldp x10, x11, [sp, #96]
    ldp x8, x9, [sp, #80]
    ldp x6, x7, [sp, #64]
    ldp x4, x5, [sp, #48]
    ldp x2, x3, [sp, #32]
    ldp x0, x1, [sp, #16]
    ldr x27, [sp, #8]                   // x27 = resume PC
    ldr x30, [sp, #768]                 // the interrupted function's LR (saved by pushCall)
    ldr x29, [sp]
    add sp, sp, #784                    // our frame and pushCall's 16 bytes
runtime.asyncPreempt.return:
    br x27

// Impossible paths: each reports its name through runtime.badasm (Python), which throws.
bad_mstart:
    mov x0, #1
    bl runtime.badasm
bad_mcall:
    mov x0, #2
    bl runtime.badasm
bad_mcall2:
    mov x0, #3
    bl runtime.badasm
bad_systemstack:
    mov x0, #4
    bl runtime.badasm
bad_goexit:
    mov x0, #5
    bl runtime.badasm
bad_morestackg0:
    mov x0, #6
    bl runtime.badasm
bad_morestackgsignal:
    mov x0, #7
    bl runtime.badasm
bad_morestack:
    mov x0, #8
    bl runtime.badasm

.bss
.balign 64
.globl runtime.g0
runtime.g0:     .space g__size          // the g of m0's scheduling stack
.globl runtime.m0
runtime.m0:     .space m__size          // the first M: this thread
.globl runtime.sched
runtime.sched:  .space schedt__size     // the scheduler's global state
