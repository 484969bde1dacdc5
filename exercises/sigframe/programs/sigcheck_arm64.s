// sigcheck: a --bare program that sends itself a signal and looks at the frame
// (exercise `sigframe`).  The grader fills the .data inputs before it runs:
//   act / signo      the k_sigaction for `signo` (handler, flags, restorer, mask)
//   alt_ss           the stack_t given to sigaltstack (SS_DISABLE: none)
//   premask          the blocked mask before the signal
//   pad              bytes taken off sp before the signal (a multiple of 16)
//   regs_in, vin, fpctl   x0-x30, q0-q31, FPSR and FPCR at the signal
//   edit_pc, edit_mask   what the handler changes in the frame (flag, value)
// At kill_insn every register holds its value from regs_in (x0-x2, x8: tgkill's
// arguments and number) and NZCV holds N.  The handler writes what it sees into
// `seen` (its arguments, the siginfo and ucontext fields at Linux's offsets, the
// mask while it runs), clobbers every register but sp and x30, and returns to
// x30 (the restorer, or the kernel's trampoline).  Then the program stores the
// mask in mask_after and exits 0.
.text
.globl _start
_start:
    adr x0, alt_ss
    mov x1, #0
    mov x8, #132                        // sigaltstack(&alt_ss, NULL)
    svc #0
    adr x9, signo
    ldr x0, [x9]
    adr x1, act
    mov x2, #0
    mov x3, #8
    mov x8, #134                        // rt_sigaction(signo, &act, NULL, 8)
    svc #0
    mov x0, #2
    adr x1, premask
    mov x2, #0
    mov x3, #8
    mov x8, #135                        // rt_sigprocmask(SIG_SETMASK, &premask, NULL, 8)
    svc #0
    adr x9, pad
    ldr x9, [x9]
    mov x10, sp
    sub x10, x10, x9
    mov sp, x10
    adr x9, vin
    ldp q0, q1, [x9, #0]
    ldp q2, q3, [x9, #32]
    ldp q4, q5, [x9, #64]
    ldp q6, q7, [x9, #96]
    ldp q8, q9, [x9, #128]
    ldp q10, q11, [x9, #160]
    ldp q12, q13, [x9, #192]
    ldp q14, q15, [x9, #224]
    ldp q16, q17, [x9, #256]
    ldp q18, q19, [x9, #288]
    ldp q20, q21, [x9, #320]
    ldp q22, q23, [x9, #352]
    ldp q24, q25, [x9, #384]
    ldp q26, q27, [x9, #416]
    ldp q28, q29, [x9, #448]
    ldp q30, q31, [x9, #480]
    adr x9, fpctl
    ldr x10, [x9]
    msr fpsr, x10
    ldr x10, [x9, #8]
    msr fpcr, x10
    mov x0, #1
    cmp x0, #2                          // N set
    adr x9, regs_in
    ldp x0, x1, [x9, #0]
    ldp x2, x3, [x9, #16]
    ldp x4, x5, [x9, #32]
    ldp x6, x7, [x9, #48]
    ldr x8, [x9, #64]
    ldp x10, x11, [x9, #80]
    ldp x12, x13, [x9, #96]
    ldp x14, x15, [x9, #112]
    ldp x16, x17, [x9, #128]
    ldp x18, x19, [x9, #144]
    ldp x20, x21, [x9, #160]
    ldp x22, x23, [x9, #176]
    ldp x24, x25, [x9, #192]
    ldp x26, x27, [x9, #208]
    ldp x28, x29, [x9, #224]
    ldr x30, [x9, #240]
    ldr x9, [x9, #72]
kill_insn:
    svc #0                              // tgkill(pid, tid, signo): the signal comes on the way out
after_kill:
    mov x0, #0
    mov x1, #0
    adr x2, mask_after
    mov x3, #8
    mov x8, #135                        // rt_sigprocmask(0, NULL, &mask_after, 8)
    svc #0
    mov x0, #0
    mov x8, #94                         // exit_group(0)
    svc #0

edited:                                 // where a handler that edits the saved pc resumes
    b after_kill

// handler(sig, info, uc): on the frame the kernel built; returns to x30.
handler:
    adr x9, seen
    stp x0, x1, [x9, #0]                // sig, &info
    str x2, [x9, #16]                   // &uc
    mov x10, sp
    str x10, [x9, #24]
    str x29, [x9, #32]
    ldrsw x10, [x1]                     // info.si_signo     @0
    str x10, [x9, #40]
    ldrsw x10, [x1, #8]                 // info.si_code      @8
    str x10, [x9, #48]
    ldrsw x10, [x1, #16]                // info.si_pid       @16
    str x10, [x9, #56]
    ldr x10, [x2, #40]                  // uc.uc_sigmask     @40
    str x10, [x9, #64]
    ldr x10, [x2, #16]                  // uc.uc_stack.ss_sp @16
    str x10, [x9, #72]
    ldrsw x10, [x2, #24]                // uc.uc_stack.ss_flags @24
    str x10, [x9, #80]
    ldr x10, [x2, #32]                  // uc.uc_stack.ss_size  @32
    str x10, [x9, #88]
    ldr w10, [x2, #464]                 // uc.uc_mcontext.__reserved: the first record's magic
    str x10, [x9, #96]
    mov x19, x2                         // x19 = uc
    mov x20, x30                        // x20 = the return address (the restorer)
    adr x11, seen_gregs                 // uc.uc_mcontext: fault_address, regs[31], sp, pc, pstate
    add x12, x2, #176                   //   35 words at uc+176
    mov x13, #0
1:
    ldr x10, [x12, x13, lsl #3]
    str x10, [x11, x13, lsl #3]
    add x13, x13, #1
    cmp x13, #35
    b.ne 1b
    mov x0, #0
    mov x1, #0
    add x2, x9, #104
    mov x3, #8
    mov x8, #135                        // rt_sigprocmask(0, NULL, &seen[13], 8): the mask now
    svc #0
    adr x9, edit_pc
    ldr x10, [x9]
    cbz x10, 2f
    adr x10, edited
    str x10, [x19, #440]                // uc_mcontext.pc = edited
    ldr x10, [x9, #8]
    str x10, [x19, #336]                // uc_mcontext.regs[19] = edit_pc[1]
2:
    adr x9, edit_mask
    ldr x10, [x9]
    cbz x10, 3f
    ldr x10, [x9, #8]
    str x10, [x19, #40]                 // uc_sigmask = edit_mask[1]
3:
    mov x30, x20
    mov x0, #-1                         // clobber everything but sp and x30
    mov x1, #-2
    mov x2, #-3
    mov x3, #-4
    mov x4, #-5
    mov x5, #-6
    mov x6, #-7
    mov x7, #-8
    mov x8, #-9
    mov x9, #-10
    mov x10, #-11
    mov x11, #-12
    mov x12, #-13
    mov x13, #-14
    mov x14, #-15
    mov x15, #-16
    mov x16, #-17
    mov x17, #-18
    mov x18, #-19
    mov x19, #-20
    mov x20, #-21
    mov x21, #-22
    mov x22, #-23
    mov x23, #-24
    mov x24, #-25
    mov x25, #-26
    mov x26, #-27
    mov x27, #-28
    mov x28, #-29
    mov x29, #-30
    movi v0.16b, #0xff
    movi v1.16b, #0xff
    movi v2.16b, #0xff
    movi v3.16b, #0xff
    movi v4.16b, #0xff
    movi v5.16b, #0xff
    movi v6.16b, #0xff
    movi v7.16b, #0xff
    movi v8.16b, #0xff
    movi v9.16b, #0xff
    movi v10.16b, #0xff
    movi v11.16b, #0xff
    movi v12.16b, #0xff
    movi v13.16b, #0xff
    movi v14.16b, #0xff
    movi v15.16b, #0xff
    movi v16.16b, #0xff
    movi v17.16b, #0xff
    movi v18.16b, #0xff
    movi v19.16b, #0xff
    movi v20.16b, #0xff
    movi v21.16b, #0xff
    movi v22.16b, #0xff
    movi v23.16b, #0xff
    movi v24.16b, #0xff
    movi v25.16b, #0xff
    movi v26.16b, #0xff
    movi v27.16b, #0xff
    movi v28.16b, #0xff
    movi v29.16b, #0xff
    movi v30.16b, #0xff
    movi v31.16b, #0xff
    msr fpsr, xzr
    msr fpcr, xzr
    cmp x0, x0                          // Z and C, not N
    ret                                 // to x30: the restorer (or the kernel's trampoline)

restorer:                               // sa_restorer: rt_sigreturn()
    mov x8, #139
    svc #0

.data
.balign 16
act:        .quad 0, 0, 0, 0
signo:      .quad 0
alt_ss:     .quad 0, 2, 0
premask:    .quad 0
pad:        .quad 0
edit_pc:    .quad 0, 0
edit_mask:  .quad 0, 0
fpctl:      .quad 0, 0
regs_in:    .space 248
.balign 16
vin:        .space 512
seen:       .space 128
seen_gregs: .space 280
mask_after: .quad 0
.balign 4096
altstack:   .space 0x8000
