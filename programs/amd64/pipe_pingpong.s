# pingpong: two goroutines bounce one byte over two pipes through the netpoller
# (exercise `epoll`, benchmarks/bench_netpoll.py).  main writes a byte to pipe A and reads pipe B, `rounds` times;
# the ponger reads A and writes B.  Each read finds its pipe empty first, so every
# round trip parks both goroutines in IO wait (netpollblock) and wakes them through
# epoll_pwait: the runtime registers every pipe end edge-triggered
# (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET).  Prints the number of rounds.
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    push r12
    push r12
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + done], rax
    call runtime.pipe
    mov qword ptr [rip + ar], rax
    mov qword ptr [rip + aw], rbx
    call runtime.pipe
    mov qword ptr [rip + br], rax
    mov qword ptr [rip + bw], rbx
    lea rax, [rip + ponger]
    xor ebx, ebx
    call runtime.newproc
    mov r12, qword ptr [rip + rounds]
1:
    mov rax, qword ptr [rip + aw]       # ping: write(aw, "p", 1)
    lea rbx, [rip + ping]
    mov ecx, 1
    call runtime.write
    mov rax, qword ptr [rip + br]       # wait for pong: read(br, buf, 1)
    lea rbx, [rip + mbuf]
    mov ecx, 1
    call runtime.read
    dec r12
    jnz 1b
    mov rax, qword ptr [rip + done]
    call runtime.chanrecv
    mov rax, qword ptr [rip + rounds]
    call runtime.printint
    pop r12
    pop r12
    pop rbp
    ret
ponger:
    push rbp
    mov rbp, rsp
    push r12
    push r12
    mov r12, qword ptr [rip + rounds]
1:
    mov rax, qword ptr [rip + ar]       # read(ar, buf, 1)
    lea rbx, [rip + pbuf]
    mov ecx, 1
    call runtime.read
    mov rax, qword ptr [rip + bw]       # write(bw, buf, 1)
    lea rbx, [rip + pbuf]
    mov ecx, 1
    call runtime.write
    dec r12
    jnz 1b
    mov rax, qword ptr [rip + done]
    mov ebx, 1
    call runtime.chansend
    pop r12
    pop r12
    pop rbp
    ret
.data
rounds: .quad 20
done: .quad 0
ar: .quad 0
aw: .quad 0
br: .quad 0
bw: .quad 0
ping: .byte 112
mbuf: .byte 0
pbuf: .byte 0
