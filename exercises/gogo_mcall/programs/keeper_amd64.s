# keeper: two goroutines fill the callee-saved registers with tagged values
# (id << 32 | register number) and call runtime.gosched 4 times each; after every
# switch back they check each register, RSP and RBP.  A lost register prints its
# code (-1 rbx, -12 r12, -13 r13, -15 r15, -99 RSP/RBP); main prints 7 at the end.
.equ ROUNDS, 4
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + done], rax
    lea rax, [rip + worker]
    mov ebx, 1
    call runtime.newproc
    lea rax, [rip + worker]
    mov ebx, 2
    call runtime.newproc
    mov rax, qword ptr [rip + done]
    call runtime.chanrecv
    mov rax, qword ptr [rip + done]
    call runtime.chanrecv
    mov eax, 7
    call runtime.printint
    pop rbp
    ret

# worker(id): frame [rbp-8] = rounds left, [rbp-16] = id << 32
worker:
    push rbp
    mov rbp, rsp
    sub rsp, 16
    mov qword ptr [rbp - 8], ROUNDS
    shl rax, 32
    mov qword ptr [rbp - 16], rax
    lea rbx, [rax + 1]
    lea r12, [rax + 12]
    lea r13, [rax + 13]
    lea r15, [rax + 15]
1:
    call runtime.gosched
    # RSP and RBP first: everything below reads the frame
    lea rax, [rsp + 16]
    cmp rax, rbp
    jne lost_sp
    mov rax, qword ptr [rbp - 16]
    lea rcx, [rax + 1]
    cmp rbx, rcx
    jne lost_rbx
    lea rcx, [rax + 12]
    cmp r12, rcx
    jne lost_r12
    lea rcx, [rax + 13]
    cmp r13, rcx
    jne lost_r13
    lea rcx, [rax + 15]
    cmp r15, rcx
    jne lost_r15
    dec qword ptr [rbp - 8]
    jnz 1b
finish:
    mov rax, qword ptr [rip + done]
    xor ebx, ebx
    call runtime.chansend
    mov rsp, rbp
    pop rbp
    ret
lost_sp:
    mov rax, -99
    jmp report
lost_rbx:
    mov rax, -1
    jmp report
lost_r12:
    mov rax, -12
    jmp report
lost_r13:
    mov rax, -13
    jmp report
lost_r15:
    mov rax, -15
report:
    call runtime.printint
    jmp finish

.data
done: .quad 0
