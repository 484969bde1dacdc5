// asyncpreempt_arm64.s -- exercise asyncpreempt: write runtime.asyncPreempt (arm64).
//
// Replace each TODO block (and the `adr`/`bl runtime.todo` pair under it) with
// the instructions it asks for.  README.md explains the contract; the frame table
// below is the layout the grader and the tools expect.
// Grade: gosched-emu grade asyncpreempt --solution DIR   (DIR holds this file)

.text

// func asyncPreempt()
// Injected by the SIGURG handler (pushCall): LR holds the resume PC and the
// interrupted function's own LR sits at [sp] (pushCall pushed 16 bytes).  Saves
// every register the interrupted code may have live -- NZCV, FPSR and FPCR too --
// calls asyncPreempt2 (which switches away through mcall), and, when this G runs
// again, restores them all and jumps to the resume PC through R27 (REGTMP, never
// live at a safe point) so that LR comes back intact.
// Frame, relative to SP at the call of asyncPreempt2 (784 bytes above it are the
// interrupted SP):
//   [sp+0]  x29, [sp+8] the resume PC (LR at entry): a frame record
//   [sp+16+8*i]          x0-x17 (x18, the platform register, is skipped)
//   [sp+160 .. sp+216]   x19-x26
//   [sp+224] NZCV, [sp+232] FPSR, [sp+240] FPCR
//   [sp+256+16*i]        q0-q31, all 128 bits (Go saves only d0-d31)
//   [sp+768]             the interrupted LR (pushed by pushCall)
// Clobbers R27.
.globl runtime.asyncPreempt
runtime.asyncPreempt:
    // TODO 1: the frame: lower SP by 768 without touching the flags, store the
    //   frame record (x29 and the resume PC in LR) at [sp], point x29 at it.
    // TODO 2: the general registers: x0-x17 at [sp+16+8*i], x19-x26 from [sp+160].
    // TODO 3: NZCV, FPSR and FPCR at [sp+224/232/240] (mrs through a register you
    //   have saved already), then q0-q31, all 128 bits, at [sp+256+16*i].
    adr x0, .Ltodo_save
    bl runtime.todo

    // switch away; returns when this G is scheduled again
    bl runtime.asyncPreempt2

    // TODO 4: restore everything, in reverse: q0-q31, FPCR, FPSR, NZCV (msr), the
    //   general registers; then x27 = the resume PC, x30 = the interrupted LR
    //   (from [sp+768]), x29, and drop our 768 bytes and pushCall's 16.
    adr x0, .Ltodo_restore
    bl runtime.todo
runtime.asyncPreempt.return:
    br x27                              // to the resume PC

.data
.Ltodo_save: .asciz "asyncPreempt's save (TODO 1-3 in asyncpreempt_arm64.s)"
.Ltodo_restore: .asciz "asyncPreempt's restore (TODO 4 in asyncpreempt_arm64.s)"
