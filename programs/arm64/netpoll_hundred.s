// hundred (arm64): 100 readers, each parked on its own empty pipe; main then writes one
// byte to each pipe and adds up the read counts the readers send back: prints 100.
// (Used by tests/test_netpoll.py and the netpoll exercise.)
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    stp x19, x20, [sp, #16]
    mov x0, #100
    bl runtime.makechan
    adr x1, done
    str x0, [x1]
    mov x19, #0
1:
    bl runtime.pipe
    adr x2, fds
    str x1, [x2, x19, lsl #3]
    mov x1, x0
    adr x0, reader
    bl runtime.newproc
    add x19, x19, #1
    cmp x19, #100
    b.lt 1b
    bl runtime.gosched
    bl runtime.gosched
    mov x19, #0
2:
    adr x2, fds
    ldr x0, [x2, x19, lsl #3]
    adr x1, one
    mov x2, #1
    bl runtime.write
    add x19, x19, #1
    cmp x19, #100
    b.lt 2b
    mov x19, #0
    mov x20, #0
3:
    adr x0, done
    ldr x0, [x0]
    bl runtime.chanrecv
    add x20, x20, x0
    add x19, x19, #1
    cmp x19, #100
    b.lt 3b
    mov x0, x20
    bl runtime.printint
    ldp x19, x20, [sp, #16]
    ldp x29, x30, [sp], #32
    ret
reader:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    add x1, sp, #16
    mov x2, #8
    bl runtime.read
    mov x1, x0
    adr x0, done
    ldr x0, [x0]
    bl runtime.chansend
    ldp x29, x30, [sp], #32
    ret
.data
done: .quad 0
one: .byte 7
.balign 8
fds: .space 800
