# regstress.s (amd64): every register live, all the time.
#
# main starts two workers (seeds 1 and 2).  Each runs ITER rounds of a loop that
# keeps values in every general register a program may use (RAX RBX RCX RDX RSI
# RDI R8-R13, R15 as the counter, RBP as the frame pointer), in the flags (add then
# adc: the carry lives across an instruction boundary; dec then jnz) and in all
# 128 bits of XMM0-XMM15.  Then it folds them into one checksum and sends it on a
# channel; main prints the sum of both.  The loop has no calls, so only an async
# preemption can stop it; if a preemption lost or changed any register or flag,
# the checksum changes.  The preemption transparency checker (emu/analysis)
# runs this program under a storm of preemptions.
.equ ITER, 20000

.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    sub rsp, 16
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + results], rax

    # go worker(1); go worker(2)
    lea rax, [rip + worker]
    mov ebx, 1
    call runtime.newproc
    lea rax, [rip + worker]
    mov ebx, 2
    call runtime.newproc

    # print the sum of the two checksums (independent of their order)
    mov rax, qword ptr [rip + results]
    call runtime.chanrecv
    mov qword ptr [rbp - 8], rax
    mov rax, qword ptr [rip + results]
    call runtime.chanrecv
    add rax, qword ptr [rbp - 8]
    call runtime.printint
    mov rsp, rbp
    pop rbp
    ret

# worker(seed): the register storm; sends its checksum on results.
worker:
    push rbp
    mov rbp, rsp

    # every register gets a value derived from the seed (in rax)
    lea rbx, [rax + 0x11]
    lea rcx, [rax + 0x22]
    lea rdx, [rax + 0x33]
    lea rsi, [rax + 0x44]
    lea rdi, [rax + 0x55]
    lea r8, [rax + 0x66]
    lea r9, [rax + 0x77]
    lea r10, [rax + 0x88]
    lea r11, [rax + 0x99]
    lea r12, [rax + 0xaa]
    lea r13, [rax + 0xbb]
    movq xmm0, rax
    movq xmm1, rbx
    movq xmm2, rcx
    movq xmm3, rdx
    movq xmm4, rsi
    movq xmm5, rdi
    movq xmm6, r8
    movq xmm7, r9
    movq xmm8, r10
    movq xmm9, r11
    movq xmm10, r12
    movq xmm11, r13
    movq xmm12, rax
    movq xmm13, rbx
    movq xmm14, rcx
    movq xmm15, rdx
    punpcklqdq xmm0, xmm5
    punpcklqdq xmm1, xmm6
    punpcklqdq xmm2, xmm7
    punpcklqdq xmm3, xmm8
    punpcklqdq xmm4, xmm9
    punpcklqdq xmm5, xmm10
    punpcklqdq xmm6, xmm11
    punpcklqdq xmm7, xmm12
    punpcklqdq xmm8, xmm13
    punpcklqdq xmm9, xmm14
    punpcklqdq xmm10, xmm15
    punpcklqdq xmm11, xmm0
    punpcklqdq xmm12, xmm1
    punpcklqdq xmm13, xmm2
    punpcklqdq xmm14, xmm3
    punpcklqdq xmm15, xmm4
    mov r15d, ITER                      # r15 = rounds left
1:
    # integer chain; the carry flows from add into the adcs
    add rax, rbx
    adc rcx, rdx
    adc rsi, rdi
    xor r8, rax
    rol r9, 13
    add r9, r8
    sub r10, r9
    imul r11, r10, 0x9e37
    xor r12, r11
    add r13, r12
    ror rbx, 7
    add rdx, r13
    xor rdi, rcx
    add rbx, rsi
    # vector chain: every xmm register, all 128 bits
    paddq xmm0, xmm1
    pxor xmm1, xmm2
    paddq xmm2, xmm3
    pxor xmm3, xmm4
    paddq xmm4, xmm5
    pxor xmm5, xmm6
    paddq xmm6, xmm7
    pxor xmm7, xmm8
    paddq xmm8, xmm9
    pxor xmm9, xmm10
    paddq xmm10, xmm11
    pxor xmm11, xmm12
    paddq xmm12, xmm13
    pxor xmm13, xmm14
    paddq xmm14, xmm15
    pxor xmm15, xmm0
    dec r15d                            # flags live until jnz
    jnz 1b

    # fold everything into rax
    add rax, rbx
    xor rax, rcx
    add rax, rdx
    xor rax, rsi
    add rax, rdi
    xor rax, r8
    add rax, r9
    xor rax, r10
    add rax, r11
    xor rax, r12
    add rax, r13
    pxor xmm0, xmm1
    pxor xmm0, xmm2
    pxor xmm0, xmm3
    pxor xmm0, xmm4
    pxor xmm0, xmm5
    pxor xmm0, xmm6
    pxor xmm0, xmm7
    pxor xmm0, xmm8
    pxor xmm0, xmm9
    pxor xmm0, xmm10
    pxor xmm0, xmm11
    pxor xmm0, xmm12
    pxor xmm0, xmm13
    pxor xmm0, xmm14
    pxor xmm0, xmm15
    movq rbx, xmm0
    add rax, rbx
    punpckhqdq xmm0, xmm0
    movq rbx, xmm0
    xor rax, rbx

    # results <- checksum
    mov rbx, rax
    mov rax, qword ptr [rip + results]
    call runtime.chansend
    pop rbp
    ret

.data
results: .quad 0
