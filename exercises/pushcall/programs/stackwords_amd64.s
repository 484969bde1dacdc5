# stackwords.s (amd64): a goroutine whose live data sits right at the top of its stack.
#
# main starts two workers (seeds 1 and 2).  Each keeps four live words at
# [rsp], [rsp+8], [rsp+16] and [rsp+24] -- the words nearest the stack pointer --
# and updates them every round of a loop with no calls, so only an async
# preemption can stop it.  Then it folds them into one checksum and sends it on a
# channel; main prints the sum of both.  A preemption that writes anything at or
# above the interrupted RSP changes the checksum (or the worker's return).
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

# worker(seed): four live words at [rsp] .. [rsp+24]; sends their checksum on results.
worker:
    push rbp
    mov rbp, rsp
    sub rsp, 32
    lea rbx, [rax + 0x1111]
    mov qword ptr [rsp], rbx
    lea rbx, [rax + 0x2222]
    mov qword ptr [rsp + 8], rbx
    lea rbx, [rax + 0x3333]
    mov qword ptr [rsp + 16], rbx
    lea rbx, [rax + 0x4444]
    mov qword ptr [rsp + 24], rbx
    mov ecx, ITER                       # ecx = rounds left
1:
    mov rax, qword ptr [rsp]
    add rax, qword ptr [rsp + 8]
    rol rax, 7
    mov qword ptr [rsp], rax
    mov rdx, qword ptr [rsp + 16]
    xor rdx, rax
    mov qword ptr [rsp + 16], rdx
    mov rax, qword ptr [rsp + 24]
    add rax, rdx
    mov qword ptr [rsp + 24], rax
    add qword ptr [rsp + 8], 1
    dec ecx
    jnz 1b

    # fold the four words into rbx; results <- rbx
    mov rbx, qword ptr [rsp]
    xor rbx, qword ptr [rsp + 8]
    add rbx, qword ptr [rsp + 16]
    xor rbx, qword ptr [rsp + 24]
    mov rax, qword ptr [rip + results]
    call runtime.chansend
    mov rsp, rbp
    pop rbp
    ret

.data
results: .quad 0
