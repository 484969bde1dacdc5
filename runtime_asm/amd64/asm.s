# asm.s (amd64): the runtime's machine code -- process entry, M start, context switches.
# Mirrors Go's runtime/asm_amd64.s; runtime_asm/arm64/asm.s has the same routines, in the
# same order, with the same labels and group comments.
#
# Conventions (Go's ABIInternal): arguments and results in RAX RBX RCX RDI RSI R8-R11;
# g in R14 and in TLS at fs:[-8] (= m.tls[0]); RSP and RBP survive a call, every other
# register may be clobbered.  Python runtime functions (runtime.schedinit, runtime.mstart1,
# ...) are called like any function: their symbols are stubs in the generated Python text.
# Offsets (g_sched, gobuf_sp ...) come from go_asm.inc, generated from emu/runtime/layout.py.

#include "../go_asm.inc"

.text

# _start: the process entry; Linux starts it with RSP at argc.  Never returns.
# Makes the OS stack g0's, ties m0 and g0 together, points TLS at m0.tls, then
# schedinit(argc, argv); newproc(runtime.main, 0); mstart().
.globl _start
_start:
    mov rdi, qword ptr [rsp]            # rdi = argc
    lea rsi, [rsp + 8]                  # rsi = argv

    # g0's stack is the top G0_STACK bytes of the OS stack
    lea rbx, [rip + runtime.g0]         # rbx = g0
    mov qword ptr [rbx + g_stack + stack_hi], rsp
    lea rax, [rsp - G0_STACK]
    mov qword ptr [rbx + g_stack + stack_lo], rax
    add rax, StackGuard
    mov qword ptr [rbx + g_stackguard0], rax
    mov qword ptr [rbx + g_stackguard1], rax

    # m0.g0 = g0, g0.m = m0
    lea rcx, [rip + runtime.m0]         # rcx = m0
    mov qword ptr [rcx + m_g0], rbx
    mov qword ptr [rbx + g_m], rcx

    # TLS: fs base = &m0.tls[1], so fs:[-8] is m0.tls[0], the g slot
    push rdi
    push rsi
    lea rax, [rcx + m_tls + 8]
    call runtime.settls
    pop rsi
    pop rdi
    lea rbx, [rip + runtime.g0]
    mov qword ptr fs:[-8], rbx
    mov r14, rbx                        # g = g0

    # schedinit(argc, argv)
    mov rax, rdi
    mov rbx, rsi
    call runtime.schedinit

    # the main goroutine: newproc(runtime.main, 0)
    lea rax, [rip + runtime.main]
    xor ebx, ebx
    call runtime.newproc

    # this thread becomes m0
    call runtime.mstart
    jmp bad_mstart                      # mstart never returns

# func mstart()
# The start of every M, on its g0 stack with g = g0.  Never returns.
# Records the top of g0's stack in g0.sched: mcall and systemstack switch to it.
# Clobbers everything.
.globl runtime.mstart
runtime.mstart:
    push rbp
    mov rbp, rsp
    # g0.sched = {sp: here, bp: here, pc: bad_mstart}: every mcall reuses this stack top
    mov qword ptr [r14 + g_sched + gobuf_sp], rsp
    mov qword ptr [r14 + g_sched + gobuf_bp], rbp
    lea rax, [rip + bad_mstart]
    mov qword ptr [r14 + g_sched + gobuf_pc], rax
    call runtime.mstart1                # Python: minit, then schedule(); never returns
    jmp bad_mstart

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
    lea r11, [rsp + 8]
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

# func systemstack(fn func())
# Run fn on the g0 stack and come back.  On g0 (or gsignal) fn is simply
# tail-called.  Clobbers everything but RSP, RBP, g.
.globl runtime.systemstack
runtime.systemstack:
    mov rdi, rax                        # rdi = fn
    mov rax, qword ptr [r14 + g_m]      # rax = m

    # already on g0 or gsignal: no switch
    cmp r14, qword ptr [rax + m_gsignal]
    je 1f
    mov rdx, qword ptr [rax + m_g0]     # rdx = g0
    cmp r14, rdx
    je 1f
    cmp r14, qword ptr [rax + m_curg]
    jne bad_systemstack                 # g is not gsignal, not g0, not curg: what is it?

    # save our state in g->sched; pretend to be systemstack_switch if the G stack is scanned
    call gosave_systemstack_switch

    # switch to g0 and its stack
    mov qword ptr fs:[-8], rdx
    mov r14, rdx
    mov rsp, qword ptr [rdx + g_sched + gobuf_sp]

    # call fn on g0
    call rdi

    # switch back to g: m.curg, its stack and frame pointer
    mov rax, qword ptr [r14 + g_m]
    mov rbx, qword ptr [rax + m_curg]   # rbx = g
    mov qword ptr fs:[-8], rbx
    mov r14, rbx
    mov rsp, qword ptr [rbx + g_sched + gobuf_sp]
    mov rbp, qword ptr [rbx + g_sched + gobuf_bp]
    mov qword ptr [rbx + g_sched + gobuf_sp], 0
    mov qword ptr [rbx + g_sched + gobuf_bp], 0
    ret
1:
    jmp rdi                             # tail call fn on the current stack

# func systemstack_switch()
# Never runs: systemstack leaves its address in g.sched.pc, so a traceback of a
# G that is on the system stack shows it.
.globl runtime.systemstack_switch
runtime.systemstack_switch:
    nop
    jmp bad_systemstack

# gosave_systemstack_switch: save the state of systemstack's caller in g->sched,
# with pc = systemstack_switch+1.  Called only by systemstack.  Clobbers R9.
gosave_systemstack_switch:
    lea r9, [rip + runtime.systemstack_switch + 1]
    mov qword ptr [r14 + g_sched + gobuf_pc], r9
    lea r9, [rsp + 8]
    mov qword ptr [r14 + g_sched + gobuf_sp], r9
    mov qword ptr [r14 + g_sched + gobuf_ret], 0
    mov qword ptr [r14 + g_sched + gobuf_bp], rbp
    ret

# func goexit()
# The return address of every goroutine's first function: newproc plants
# goexit+1 (Go's PCQuantum) there, so returning from fn lands on the call below.
.globl runtime.goexit
runtime.goexit:
    nop                                 # so that goexit+1 is the call
    call runtime.goexit1                # Python: mcall(goexit0); never returns
    jmp bad_goexit

# func morestack()
# Called by a function's prologue check (.stackcheck) when its frame would not
# fit: `call runtime.morestack_noctxt` from the function's check block, so [rsp] is
# the return into that block.  Saves the function's state in g.sched (and
# m.morebuf), switches to g0 and calls newstack, which grows the stack (or
# preempts the G) and resumes the function after the call with gogo.  The
# `_noctxt` variant has no closure context (RDX = 0).  Clobbers R9, R11 and what
# the check block spilled.
.globl runtime.morestack_noctxt
runtime.morestack_noctxt:
    xor edx, edx
.globl runtime.morestack
runtime.morestack:
    # cannot grow the scheduler stack (m->g0) or the signal stack (m->gsignal)
    mov r11, qword ptr [r14 + g_m]      # r11 = m
    cmp r14, qword ptr [r11 + m_g0]
    je bad_morestackg0
    cmp r14, qword ptr [r11 + m_gsignal]
    je bad_morestackgsignal

    # m->morebuf = the function's state at the call (for tracebacks)
    mov r9, qword ptr [rsp]
    mov qword ptr [r11 + m_morebuf + gobuf_pc], r9
    lea r9, [rsp + 8]
    mov qword ptr [r11 + m_morebuf + gobuf_sp], r9
    mov qword ptr [r11 + m_morebuf + gobuf_g], r14

    # g->sched = the function's context: resume at the return into its check block
    mov r9, qword ptr [rsp]
    mov qword ptr [r14 + g_sched + gobuf_pc], r9
    lea r9, [rsp + 8]
    mov qword ptr [r14 + g_sched + gobuf_sp], r9
    mov qword ptr [r14 + g_sched + gobuf_bp], rbp
    mov qword ptr [r14 + g_sched + gobuf_ctxt], rdx
    mov qword ptr [r14 + g_sched + gobuf_callee + 0], rbx
    mov qword ptr [r14 + g_sched + gobuf_callee + 8], r12
    mov qword ptr [r14 + g_sched + gobuf_callee + 16], r13
    mov qword ptr [r14 + g_sched + gobuf_callee + 24], r15

    # switch to m->g0 and its stack; newstack never returns
    mov rsi, qword ptr [r11 + m_g0]     # rsi = g0
    mov qword ptr fs:[-8], rsi
    mov r14, rsi
    mov rsp, qword ptr [rsi + g_sched + gobuf_sp]
    mov rbp, qword ptr [rsi + g_sched + gobuf_bp]
    push rax
    push rax                            # keep RSP 16-byte aligned at the call
    call runtime.newstack               # Python: grow, copy, gogo back
    jmp bad_morestack

# func sigtramp(sig uint32, info *siginfo, ctx unsafe.Pointer)
# The handler the kernel calls for every signal the runtime installs, on the
# signal stack (gsignal) with the C calling convention: rdi, rsi, rdx.  Moves to
# Go's ABI (g in R14 from TLS, arguments in RAX RBX RCX), calls sigtrampgo, and
# returns into sa_restorer (sigreturn__sigaction), which calls rt_sigreturn.
# Preserves the C callee-saved registers.
.globl runtime.sigtramp
runtime.sigtramp:
    # C ABI -> Go ABI: keep the C callee-saved registers
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    sub rsp, 8                          # keep RSP 16-byte aligned at the call

    # g from TLS, arguments in Go's registers
    mov r14, qword ptr fs:[-8]
    mov rax, rdi                        # rax = sig
    mov rbx, rsi                        # rbx = info
    mov rcx, rdx                        # rcx = ctx (the ucontext to edit)
    call runtime.sigtrampgo             # Python: sighandler

    add rsp, 8
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret                                 # into sa_restorer

# func asyncPreempt()
# Injected by the SIGURG handler (pushCall): it looks as if the interrupted code
# called it, with the resume PC pushed as the return address.  Saves every
# register the interrupted code may have live -- flags first, before anything can
# change them -- calls asyncPreempt2 (which switches away through mcall), and,
# when this G runs again, restores them all and returns to the resume PC.
# Frame (Go's mkpreempt layout): [rsp+0..104] RAX RCX RDX RBX RSI RDI R8-R15,
# [rsp+112+16i] X0-X15; above it RFLAGS, then the caller's RBP.  Clobbers nothing.
.globl runtime.asyncPreempt
runtime.asyncPreempt:
    push rbp
    mov rbp, rsp
    pushfq                              # flags first
    sub rsp, 368

    # the general registers
    mov qword ptr [rsp + 0], rax
    mov qword ptr [rsp + 8], rcx
    mov qword ptr [rsp + 16], rdx
    mov qword ptr [rsp + 24], rbx
    mov qword ptr [rsp + 32], rsi
    mov qword ptr [rsp + 40], rdi
    mov qword ptr [rsp + 48], r8
    mov qword ptr [rsp + 56], r9
    mov qword ptr [rsp + 64], r10
    mov qword ptr [rsp + 72], r11
    mov qword ptr [rsp + 80], r12
    mov qword ptr [rsp + 88], r13
    mov qword ptr [rsp + 96], r14
    mov qword ptr [rsp + 104], r15

    # the vector registers, all 128 bits
    movups xmmword ptr [rsp + 112], xmm0
    movups xmmword ptr [rsp + 128], xmm1
    movups xmmword ptr [rsp + 144], xmm2
    movups xmmword ptr [rsp + 160], xmm3
    movups xmmword ptr [rsp + 176], xmm4
    movups xmmword ptr [rsp + 192], xmm5
    movups xmmword ptr [rsp + 208], xmm6
    movups xmmword ptr [rsp + 224], xmm7
    movups xmmword ptr [rsp + 240], xmm8
    movups xmmword ptr [rsp + 256], xmm9
    movups xmmword ptr [rsp + 272], xmm10
    movups xmmword ptr [rsp + 288], xmm11
    movups xmmword ptr [rsp + 304], xmm12
    movups xmmword ptr [rsp + 320], xmm13
    movups xmmword ptr [rsp + 336], xmm14
    movups xmmword ptr [rsp + 352], xmm15

    # switch away; returns when this G is scheduled again
    call runtime.asyncPreempt2

    # restore everything, in reverse
    movups xmm15, xmmword ptr [rsp + 352]
    movups xmm14, xmmword ptr [rsp + 336]
    movups xmm13, xmmword ptr [rsp + 320]
    movups xmm12, xmmword ptr [rsp + 304]
    movups xmm11, xmmword ptr [rsp + 288]
    movups xmm10, xmmword ptr [rsp + 272]
    movups xmm9, xmmword ptr [rsp + 256]
    movups xmm8, xmmword ptr [rsp + 240]
    movups xmm7, xmmword ptr [rsp + 224]
    movups xmm6, xmmword ptr [rsp + 208]
    movups xmm5, xmmword ptr [rsp + 192]
    movups xmm4, xmmword ptr [rsp + 176]
    movups xmm3, xmmword ptr [rsp + 160]
    movups xmm2, xmmword ptr [rsp + 144]
    movups xmm1, xmmword ptr [rsp + 128]
    movups xmm0, xmmword ptr [rsp + 112]
    mov r15, qword ptr [rsp + 104]
    mov r14, qword ptr [rsp + 96]
    mov r13, qword ptr [rsp + 88]
    mov r12, qword ptr [rsp + 80]
    mov r11, qword ptr [rsp + 72]
    mov r10, qword ptr [rsp + 64]
    mov r9, qword ptr [rsp + 56]
    mov r8, qword ptr [rsp + 48]
    mov rdi, qword ptr [rsp + 40]
    mov rsi, qword ptr [rsp + 32]
    mov rbx, qword ptr [rsp + 24]
    mov rdx, qword ptr [rsp + 16]
    mov rcx, qword ptr [rsp + 8]
    mov rax, qword ptr [rsp + 0]
    add rsp, 368
    popfq                               # flags last: the add above changed them
    pop rbp
runtime.asyncPreempt.return:
    ret                                 # to the resume PC

# Impossible paths: each reports its name through runtime.badasm (Python), which throws.
bad_mstart:
    mov eax, 1
    call runtime.badasm
bad_mcall:
    mov eax, 2
    call runtime.badasm
bad_mcall2:
    mov eax, 3
    call runtime.badasm
bad_systemstack:
    mov eax, 4
    call runtime.badasm
bad_goexit:
    mov eax, 5
    call runtime.badasm
bad_morestackg0:
    mov eax, 6
    call runtime.badasm
bad_morestackgsignal:
    mov eax, 7
    call runtime.badasm
bad_morestack:
    mov eax, 8
    call runtime.badasm

.bss
.balign 64
.globl runtime.g0
runtime.g0:     .space g__size          # the g of m0's scheduling stack
.globl runtime.m0
runtime.m0:     .space m__size          # the first M: this thread
.globl runtime.sched
runtime.sched:  .space schedt__size     # the scheduler's global state
