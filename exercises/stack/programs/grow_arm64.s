// grow: a recursion that outgrows its 8 KiB goroutine stack (exercise `stack`).
// main.main plants three words in its frame (the stack's hi, its lo, and lo - 8),
// then calls sum(depth).  Each sum frame is 64 bytes: its n, and a pointer to
// that n, kept on the stack.  When `park` is not 0, a sender goroutine is started
// and the deepest frame receives `park` from it on a channel, so main parks
// there, deep in its stack.  Prints sum(depth) + park.
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-48]!           // frame record (X29 chain, LR saved)
    mov x29, sp
    ldr x0, [x28, #8]                   // g.stack.hi: one past the stack (not inside it)
    str x0, [sp, #16]
    ldr x0, [x28]                       // g.stack.lo: inside the stack
    str x0, [sp, #24]
    sub x0, x0, #8                      // lo - 8: just below it
    str x0, [sp, #32]
    mov x0, #0
    bl runtime.makechan
    adr x1, chan0
    str x0, [x1]
    adr x1, park
    ldr x1, [x1]
    cbz x1, 1f
    adr x0, sender
    bl runtime.newproc                  // go sender(park)
1:
    adr x0, depth
    ldr x0, [x0]
    bl sum
    bl runtime.printint
    ldp x29, x30, [sp], #48
    ret

// sum(n) = n + sum(n - 1), sum(0) = 0 (or the value received when parking).
sum:
    .stackcheck 64
    stp x29, x30, [sp, #-64]!
    mov x29, sp
    str x0, [sp, #16]                   // n
    add x1, sp, #16
    str x1, [sp, #24]                   // &n: a pointer into this frame
    cbnz x0, 1f
sum.bottom:                             // sum(0): the deepest frame
    adr x1, park
    ldr x1, [x1]
    cbz x1, 2f
    adr x0, chan0
    ldr x0, [x0]
    bl runtime.chanrecv                 // parks, deep in the stack, until sender sends
2:
    ldp x29, x30, [sp], #64
    ret
1:
    sub x0, x0, #1
    bl sum
    ldr x1, [sp, #24]                   // through the pointer: n += sum(n - 1)
    ldr x2, [x1]
    add x2, x2, x0
    str x2, [x1]
    ldr x0, [sp, #16]
    ldp x29, x30, [sp], #64
    ret

sender:                                 // sender(v): ch <- v
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x1, x0
    adr x0, chan0
    ldr x0, [x0]
    bl runtime.chansend
    ldp x29, x30, [sp], #16
    ret

.data
depth: .quad 300
park:  .quad 0
chan0: .quad 0
