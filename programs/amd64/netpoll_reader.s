# reader (amd64): main makes a pipe and an unbuffered channel `done` and starts a reader
# goroutine, which reads up to 16 bytes from the pipe (it parks in IO wait while the
# pipe is empty), prints the count and sends the first byte on done.  main yields twice,
# spins SPIN iterations, sleeps NAP ns (if not 0), prints 1, writes "abc" itself if
# SELFWRITE is 1, then receives on done and prints the byte (so it prints 1, 3, 97).
# Tests change the three .equ lines below; the pipe's fds are 6 (read) and 7
# (write): 3 is the netpoller's epoll, 4/5 its break pipe.  (Used by tests/test_netpoll.py and the netpoll exercise.)

.equ SELFWRITE, 1
.equ SPIN, 1
.equ NAP, 0
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
selfwrite: .quad SELFWRITE
spin: .quad SPIN
nap: .quad NAP
rfd: .quad 0
wfd: .quad 0
done: .quad 0
msg: .ascii "abc"
buf: .space 16
