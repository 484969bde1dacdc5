// pingpong: two goroutines bounce one byte over two pipes through the netpoller
// (exercise `epoll`, benchmarks/bench_netpoll.py).  main writes a byte to pipe A and reads pipe B, `rounds` times;
// the ponger reads A and writes B.  Each read finds its pipe empty first, so every
// round trip parks both goroutines in IO wait (netpollblock) and wakes them through
// epoll_pwait: the runtime registers every pipe end edge-triggered
// (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET).  Prints the number of rounds.
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    str x19, [sp, #16]
    mov x0, #0
    bl runtime.makechan
    adr x1, done
    str x0, [x1]
    bl runtime.pipe
    adr x2, ar
    str x0, [x2]
    adr x2, aw
    str x1, [x2]
    bl runtime.pipe
    adr x2, br
    str x0, [x2]
    adr x2, bw
    str x1, [x2]
    adr x0, ponger
    mov x1, #0
    bl runtime.newproc
    adr x19, rounds
    ldr x19, [x19]
1:
    adr x0, aw                          // ping: write(aw, "p", 1)
    ldr x0, [x0]
    adr x1, ping
    mov x2, #1
    bl runtime.write
    adr x0, br                          // wait for pong: read(br, buf, 1)
    ldr x0, [x0]
    adr x1, mbuf
    mov x2, #1
    bl runtime.read
    subs x19, x19, #1
    b.ne 1b
    adr x0, done
    ldr x0, [x0]
    bl runtime.chanrecv
    adr x0, rounds
    ldr x0, [x0]
    bl runtime.printint
    ldr x19, [sp, #16]
    ldp x29, x30, [sp], #32
    ret
ponger:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    str x19, [sp, #16]
    adr x19, rounds
    ldr x19, [x19]
1:
    adr x0, ar                          // read(ar, buf, 1)
    ldr x0, [x0]
    adr x1, pbuf
    mov x2, #1
    bl runtime.read
    adr x0, bw                          // write(bw, buf, 1)
    ldr x0, [x0]
    adr x1, pbuf
    mov x2, #1
    bl runtime.write
    subs x19, x19, #1
    b.ne 1b
    adr x0, done
    ldr x0, [x0]
    mov x1, #1
    bl runtime.chansend
    ldr x19, [sp, #16]
    ldp x29, x30, [sp], #32
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
