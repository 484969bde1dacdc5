// stackwords.s (arm64): a goroutine whose live data sits right at the top of its stack.
//
// main starts two workers (seeds 1 and 2).  Each keeps four live words at
// [sp], [sp+8], [sp+16] and [sp+24] -- the words nearest the stack pointer --
// and updates them every round of a loop with no calls, so only an async
// preemption can stop it.  Then it folds them into one checksum and sends it on a
// channel; main prints the sum of both.  A preemption that writes anything at or
// above the interrupted SP changes the checksum (or the worker's return).
.equ ITER, 20000

.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    mov x0, #0
    bl runtime.makechan
    adr x1, results
    str x0, [x1]

    // go worker(1); go worker(2)
    adr x0, worker
    mov x1, #1
    bl runtime.newproc
    adr x0, worker
    mov x1, #2
    bl runtime.newproc

    // print the sum of the two checksums (independent of their order)
    adr x0, results
    ldr x0, [x0]
    bl runtime.chanrecv
    str x0, [x29, #16]
    adr x0, results
    ldr x0, [x0]
    bl runtime.chanrecv
    ldr x1, [x29, #16]
    add x0, x0, x1
    bl runtime.printint
    ldp x29, x30, [sp], #32
    ret

// worker(seed): four live words at [sp] .. [sp+24]; sends their checksum on results.
worker:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    sub sp, sp, #32
    add x1, x0, #0x111
    str x1, [sp]
    add x1, x0, #0x222
    str x1, [sp, #8]
    add x1, x0, #0x333
    str x1, [sp, #16]
    add x1, x0, #0x444
    str x1, [sp, #24]
    mov w3, #ITER                       // w3 = rounds left
1:
    ldr x1, [sp]
    ldr x2, [sp, #8]
    add x1, x1, x2
    ror x1, x1, #57
    str x1, [sp]
    ldr x2, [sp, #16]
    eor x2, x2, x1
    str x2, [sp, #16]
    ldr x1, [sp, #24]
    add x1, x1, x2
    str x1, [sp, #24]
    ldr x2, [sp, #8]
    add x2, x2, #1
    str x2, [sp, #8]
    subs w3, w3, #1
    b.ne 1b

    // fold the four words into x1; results <- x1
    ldr x1, [sp]
    ldr x2, [sp, #8]
    eor x1, x1, x2
    ldr x2, [sp, #16]
    add x1, x1, x2
    ldr x2, [sp, #24]
    eor x1, x1, x2
    adr x0, results
    ldr x0, [x0]
    bl runtime.chansend
    add sp, sp, #32
    ldp x29, x30, [sp], #16
    ret

.data
results: .quad 0
