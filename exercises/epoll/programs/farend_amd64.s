# farend: a reader goroutine parks on an empty pipe that only the far end (the
# grader, through kernel.peer) writes, at a chosen virtual time (exercise `epoll`).
# main prints 1 and waits for the reader's report on a channel; with every
# goroutine waiting, the last M blocks in epoll_pwait(-1) until the write.  The
# reader prints the byte count it read and main prints the first byte.
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + done], rax
    call runtime.pipe
    mov qword ptr [rip + rfd], rax
    mov qword ptr [rip + wfd], rbx
    lea rax, [rip + reader]
    xor ebx, ebx
    call runtime.newproc
    call runtime.gosched
    call runtime.gosched
    mov rcx, qword ptr [rip + spin]     # spin a while (so an idle M can block in epoll)
0:
    dec rcx
    jnz 0b
    mov rax, qword ptr [rip + nap]
    test rax, rax
    jz 0f
    call runtime.sleep                  # runtime.sleep(nap ns)
0:
    mov eax, 1
    call runtime.printint
    cmp qword ptr [rip + selfwrite], 0
    je 1f
    mov rax, qword ptr [rip + wfd]
    lea rbx, [rip + msg]
    mov ecx, 3
    call runtime.write
1:
    mov rax, qword ptr [rip + done]
    call runtime.chanrecv
    call runtime.printint
    pop rbp
    ret
reader:
    push rbp
    mov rbp, rsp
    mov rax, qword ptr [rip + rfd]
    lea rbx, [rip + buf]
    mov ecx, 16
    call runtime.read
    call runtime.printint
    movzx ebx, byte ptr [rip + buf]
    mov rax, qword ptr [rip + done]
    call runtime.chansend
    pop rbp
    ret
.data
selfwrite: .quad 0
spin: .quad 1
nap: .quad 0
rfd: .quad 0
wfd: .quad 0
done: .quad 0
msg: .ascii "abc"
buf: .space 16
