// keeper: two goroutines fill the callee-saved registers with tagged values
// (id << 32 | register number) and call runtime.gosched 4 times each; after every
// switch back they check each register, SP and X29.  A lost register prints its
// code (-19 .. -26 for x19 .. x26, -99 SP/X29); main prints 7 at the end.
.equ ROUNDS, 4
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x0, #0
    bl runtime.makechan
    adr x1, done
    str x0, [x1]
    adr x0, worker
    mov x1, #1
    bl runtime.newproc
    adr x0, worker
    mov x1, #2
    bl runtime.newproc
    adr x0, done
    ldr x0, [x0]
    bl runtime.chanrecv
    adr x0, done
    ldr x0, [x0]
    bl runtime.chanrecv
    mov x0, #7
    bl runtime.printint
    ldp x29, x30, [sp], #16
    ret

// worker(id): frame [x29+16] = rounds left, [x29+24] = id << 32
worker:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    mov x1, #ROUNDS
    str x1, [x29, #16]
    lsl x0, x0, #32
    str x0, [x29, #24]
    add x19, x0, #19
    add x20, x0, #20
    add x21, x0, #21
    add x22, x0, #22
    add x23, x0, #23
    add x24, x0, #24
    add x25, x0, #25
    add x26, x0, #26
1:
    bl runtime.gosched
    // SP and X29 first: everything below reads the frame
    mov x1, sp
    cmp x1, x29
    b.ne lost_sp
    ldr x0, [x29, #24]
    mov x2, #19
    add x1, x0, #19
    cmp x19, x1
    b.ne lost
    mov x2, #20
    add x1, x0, #20
    cmp x20, x1
    b.ne lost
    mov x2, #21
    add x1, x0, #21
    cmp x21, x1
    b.ne lost
    mov x2, #22
    add x1, x0, #22
    cmp x22, x1
    b.ne lost
    mov x2, #23
    add x1, x0, #23
    cmp x23, x1
    b.ne lost
    mov x2, #24
    add x1, x0, #24
    cmp x24, x1
    b.ne lost
    mov x2, #25
    add x1, x0, #25
    cmp x25, x1
    b.ne lost
    mov x2, #26
    add x1, x0, #26
    cmp x26, x1
    b.ne lost
    ldr x1, [x29, #16]
    subs x1, x1, #1
    str x1, [x29, #16]
    b.ne 1b
finish:
    adr x0, done
    ldr x0, [x0]
    mov x1, #0
    bl runtime.chansend
    ldp x29, x30, [sp], #32
    ret
lost_sp:
    mov x2, #99
lost:
    neg x0, x2
    bl runtime.printint
    b finish

.data
done: .quad 0
