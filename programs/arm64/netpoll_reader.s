// reader (arm64): main makes a pipe and an unbuffered channel `done` and starts a reader
// goroutine, which reads up to 16 bytes from the pipe (it parks in IO wait while the
// pipe is empty), prints the count and sends the first byte on done.  main yields twice,
// spins SPIN iterations, sleeps NAP ns (if not 0), prints 1, writes "abc" itself if
// SELFWRITE is 1, then receives on done and prints the byte (so it prints 1, 3, 97).
// Tests change the three .equ lines below; the pipe's fds are 6 (read) and 7
// (write): 3 is the netpoller's epoll, 4/5 its break pipe.  (Used by tests/test_netpoll.py and the netpoll exercise.)

.equ SELFWRITE, 1
.equ SPIN, 1
.equ NAP, 0
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x0, #0
    bl runtime.makechan
    adr x2, done
    str x0, [x2]
    bl runtime.pipe
    adr x2, rfd
    str x0, [x2]
    adr x2, wfd
    str x1, [x2]
    adr x0, reader
    mov x1, #0
    bl runtime.newproc
    bl runtime.gosched
    bl runtime.gosched
    adr x0, spin                        // spin a while (so an idle M can block in epoll)
    ldr x0, [x0]
0:
    subs x0, x0, #1
    b.ne 0b
    adr x0, nap
    ldr x0, [x0]
    cbz x0, 0f
    bl runtime.sleep                    // runtime.sleep(nap ns)
0:
    mov x0, #1
    bl runtime.printint
    adr x0, selfwrite
    ldr x0, [x0]
    cbz x0, 1f
    adr x0, wfd
    ldr x0, [x0]
    adr x1, msg
    mov x2, #3
    bl runtime.write
1:
    adr x0, done
    ldr x0, [x0]
    bl runtime.chanrecv
    bl runtime.printint
    ldp x29, x30, [sp], #16
    ret
reader:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    adr x0, rfd
    ldr x0, [x0]
    adr x1, buf
    mov x2, #16
    bl runtime.read
    bl runtime.printint
    adr x1, buf
    ldrb w1, [x1]
    adr x0, done
    ldr x0, [x0]
    bl runtime.chansend
    ldp x29, x30, [sp], #16
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
