# sigcheck: a --bare program that sends itself a signal and looks at the frame
# (exercise `sigframe`).  The grader fills the .data inputs before it runs:
#   act / signo      the k_sigaction for `signo` (handler, flags, restorer, mask)
#   alt_ss           the stack_t given to sigaltstack (SS_DISABLE: none)
#   premask          the blocked mask before the signal
#   pad              bytes taken off rsp before the signal (moves the frame)
#   regs_in, vin     every general register and xmm register at the signal
#   edit_pc, edit_mask   what the handler changes in the frame (flag, value)
# At kill_insn every register holds its value from regs_in (rax, rdi, rsi, rdx:
# tgkill's number and arguments) and the flags hold CF, SF and DF.  The handler
# writes what it sees into `seen` (its arguments, the siginfo and ucontext fields
# at Linux's offsets, the mask while it runs), clobbers every register, and
# returns through sa_restorer.  Then the program stores the mask in mask_after
# and exits 0.
.text
.globl _start
_start:
    lea rdi, [rip + alt_ss]
    xor esi, esi
    mov eax, 131                        # sigaltstack(&alt_ss, NULL)
    syscall
    mov rdi, qword ptr [rip + signo]
    lea rsi, [rip + act]
    xor edx, edx
    mov r10d, 8
    mov eax, 13                         # rt_sigaction(signo, &act, NULL, 8)
    syscall
    mov edi, 2
    lea rsi, [rip + premask]
    xor edx, edx
    mov r10d, 8
    mov eax, 14                         # rt_sigprocmask(SIG_SETMASK, &premask, NULL, 8)
    syscall
    sub rsp, qword ptr [rip + pad]
    movdqu xmm0, xmmword ptr [rip + vin]
    movdqu xmm1, xmmword ptr [rip + vin + 16]
    movdqu xmm2, xmmword ptr [rip + vin + 32]
    movdqu xmm3, xmmword ptr [rip + vin + 48]
    movdqu xmm4, xmmword ptr [rip + vin + 64]
    movdqu xmm5, xmmword ptr [rip + vin + 80]
    movdqu xmm6, xmmword ptr [rip + vin + 96]
    movdqu xmm7, xmmword ptr [rip + vin + 112]
    movdqu xmm8, xmmword ptr [rip + vin + 128]
    movdqu xmm9, xmmword ptr [rip + vin + 144]
    movdqu xmm10, xmmword ptr [rip + vin + 160]
    movdqu xmm11, xmmword ptr [rip + vin + 176]
    movdqu xmm12, xmmword ptr [rip + vin + 192]
    movdqu xmm13, xmmword ptr [rip + vin + 208]
    movdqu xmm14, xmmword ptr [rip + vin + 224]
    movdqu xmm15, xmmword ptr [rip + vin + 240]
    mov eax, 1
    cmp eax, 2                          # CF and SF set
    std                                 # and DF: the handler must start with it clear
    mov rax, qword ptr [rip + regs_in]
    mov rbx, qword ptr [rip + regs_in + 8]
    mov rcx, qword ptr [rip + regs_in + 16]
    mov rdx, qword ptr [rip + regs_in + 24]
    mov rsi, qword ptr [rip + regs_in + 32]
    mov rdi, qword ptr [rip + regs_in + 40]
    mov rbp, qword ptr [rip + regs_in + 48]
    mov r8, qword ptr [rip + regs_in + 56]
    mov r9, qword ptr [rip + regs_in + 64]
    mov r10, qword ptr [rip + regs_in + 72]
    mov r11, qword ptr [rip + regs_in + 80]
    mov r12, qword ptr [rip + regs_in + 88]
    mov r13, qword ptr [rip + regs_in + 96]
    mov r14, qword ptr [rip + regs_in + 104]
    mov r15, qword ptr [rip + regs_in + 112]
kill_insn:
    syscall                             # tgkill(pid, tid, signo): the signal comes on the way out
after_kill:
    cld
    xor edi, edi
    xor esi, esi
    lea rdx, [rip + mask_after]
    mov r10d, 8
    mov eax, 14                         # rt_sigprocmask(0, NULL, &mask_after, 8)
    syscall
    xor edi, edi
    mov eax, 231                        # exit_group(0)
    syscall

edited:                                 # where a handler that edits the saved rip resumes
    jmp after_kill

# handler(sig, info, uc): C ABI, on the frame the kernel built.
handler:
    mov qword ptr [rip + seen], rdi     # sig
    mov qword ptr [rip + seen + 8], rsi # &info
    mov qword ptr [rip + seen + 16], rdx    # &uc
    mov qword ptr [rip + seen + 24], rsp
    mov qword ptr [rip + seen + 32], rax
    mov r12, rdx                        # r12 = uc
    movsxd rax, dword ptr [rsi]         # info.si_signo     @0
    mov qword ptr [rip + seen + 40], rax
    movsxd rax, dword ptr [rsi + 8]     # info.si_code      @8
    mov qword ptr [rip + seen + 48], rax
    movsxd rax, dword ptr [rsi + 16]    # info.si_pid       @16
    mov qword ptr [rip + seen + 56], rax
    mov rax, qword ptr [r12 + 296]      # uc.uc_sigmask     @296
    mov qword ptr [rip + seen + 64], rax
    mov rax, qword ptr [r12 + 16]       # uc.uc_stack.ss_sp @16
    mov qword ptr [rip + seen + 72], rax
    movsxd rax, dword ptr [r12 + 24]    # uc.uc_stack.ss_flags @24
    mov qword ptr [rip + seen + 80], rax
    mov rax, qword ptr [r12 + 32]       # uc.uc_stack.ss_size  @32
    mov qword ptr [rip + seen + 88], rax
    mov rax, qword ptr [r12 + 224]      # uc.uc_mcontext.fpstate @40+184
    mov qword ptr [rip + seen + 96], rax
    lea r8, [rip + seen_gregs]          # uc.uc_mcontext: 18 words at uc+40
    xor ecx, ecx
1:
    mov rax, qword ptr [r12 + 40 + rcx*8]
    mov qword ptr [r8 + rcx*8], rax
    inc ecx
    cmp ecx, 18
    jne 1b
    xor edi, edi
    xor esi, esi
    lea rdx, [rip + seen + 104]
    mov r10d, 8
    mov eax, 14                         # rt_sigprocmask(0, NULL, &seen[13], 8): the mask now
    syscall
    cmp qword ptr [rip + edit_pc], 0
    je 2f
    lea rax, [rip + edited]
    mov qword ptr [r12 + 40 + 16*8], rax    # uc_mcontext.rip = edited
    mov rax, qword ptr [rip + edit_pc + 8]
    mov qword ptr [r12 + 40 + 11*8], rax    # uc_mcontext.rbx = edit_pc[1]
2:
    cmp qword ptr [rip + edit_mask], 0
    je 3f
    mov rax, qword ptr [rip + edit_mask + 8]
    mov qword ptr [r12 + 296], rax      # uc_sigmask = edit_mask[1]
3:
    mov rax, -1                         # clobber everything but rsp
    mov rbx, -2
    mov rcx, -3
    mov rdx, -4
    mov rsi, -5
    mov rdi, -6
    mov rbp, -7
    mov r8, -8
    mov r9, -9
    mov r10, -10
    mov r11, -11
    mov r12, -12
    mov r13, -13
    mov r14, -14
    mov r15, -15
    pcmpeqd xmm0, xmm0
    pcmpeqd xmm1, xmm1
    pcmpeqd xmm2, xmm2
    pcmpeqd xmm3, xmm3
    pcmpeqd xmm4, xmm4
    pcmpeqd xmm5, xmm5
    pcmpeqd xmm6, xmm6
    pcmpeqd xmm7, xmm7
    pcmpeqd xmm8, xmm8
    pcmpeqd xmm9, xmm9
    pcmpeqd xmm10, xmm10
    pcmpeqd xmm11, xmm11
    pcmpeqd xmm12, xmm12
    pcmpeqd xmm13, xmm13
    pcmpeqd xmm14, xmm14
    pcmpeqd xmm15, xmm15
    ldmxcsr dword ptr [rip + junk_mxcsr]
    cmp rax, rax                        # ZF and PF, not CF or SF
    ret                                 # into sa_restorer

restorer:                               # sa_restorer: rt_sigreturn()
    mov eax, 15
    syscall

.data
.balign 16
act:        .quad 0, 0, 0, 0
signo:      .quad 0
alt_ss:     .quad 0, 2, 0
premask:    .quad 0
pad:        .quad 0
edit_pc:    .quad 0, 0
edit_mask:  .quad 0, 0
regs_in:    .space 128
vin:        .space 256
junk_mxcsr: .long 0xff80
.balign 8
seen:       .space 128
seen_gregs: .space 144
mask_after: .quad 0
.balign 4096
altstack:   .space 0x8000
