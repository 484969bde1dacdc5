# hundred (amd64): 100 readers, each parked on its own empty pipe; main then writes one
# byte to each pipe and adds up the read counts the readers send back: prints 100.
# (Used by tests/test_netpoll.py and the netpoll exercise.)
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    push r12
    push r13
    mov eax, 100
    call runtime.makechan
    mov qword ptr [rip + done], rax
    xor r12d, r12d
1:
    call runtime.pipe
    lea rcx, [rip + fds]
    mov qword ptr [rcx + r12*8], rbx
    lea rbx, [rax]
    lea rax, [rip + reader]
    call runtime.newproc
    inc r12
    cmp r12, 100
    jl 1b
    call runtime.gosched
    call runtime.gosched
    xor r12d, r12d
2:
    lea rcx, [rip + fds]
    mov rax, qword ptr [rcx + r12*8]
    lea rbx, [rip + one]
    mov ecx, 1
    call runtime.write
    inc r12
    cmp r12, 100
    jl 2b
    xor r12d, r12d
    xor r13d, r13d
3:
    mov rax, qword ptr [rip + done]
    call runtime.chanrecv
    add r13, rax
    inc r12
    cmp r12, 100
    jl 3b
    mov rax, r13
    call runtime.printint
    pop r13
    pop r12
    pop rbp
    ret
reader:
    push rbp
    mov rbp, rsp
    sub rsp, 16
    lea rbx, [rsp]
    mov ecx, 8
    call runtime.read
    mov rbx, rax
    mov rax, qword ptr [rip + done]
    call runtime.chansend
    mov rsp, rbp
    pop rbp
    ret
.data
done: .quad 0
one: .byte 7
.balign 8
fds: .space 800
