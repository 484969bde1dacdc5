// farend: a reader goroutine parks on an empty pipe that only the far end (the
// grader, through kernel.peer) writes, at a chosen virtual time (exercise `epoll`).
// main prints 1 and waits for the reader's report on a channel; with every
// goroutine waiting, the last M blocks in epoll_pwait(-1) until the write.  The
// reader prints the byte count it read and main prints the first byte.
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
selfwrite: .quad 0
spin: .quad 1
nap: .quad 0
rfd: .quad 0
wfd: .quad 0
done: .quad 0
msg: .ascii "abc"
buf: .space 16
