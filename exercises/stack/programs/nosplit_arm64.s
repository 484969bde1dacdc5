// nosplit: a recursion without the prologue check (exercise `stack`), run with
// guard pages: it runs off the bottom of its 8 KiB stack into the PROT_NONE page
// below it, and the SIGSEGV handler grows the stack (grow_from_fault -> copystack
// with the interrupted registers).  Before it starts, main.main puts two integers
// that merely lie nearby the stack in x20 and x21 (saved in `nearby`): hi + 256, just
// above the stack, and lo - 4096 - 256, just below its guard page.  No one may
// change them.  Each deep frame keeps its caller's x19 and points x19 at its own n.
// Prints deep(depth).
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-48]!
    mov x29, sp
    stp x19, x20, [sp, #16]
    str x21, [sp, #32]
    ldr x20, [x28, #8]                  // g.stack.hi + 256: an integer just above the stack
    add x20, x20, #256
    ldr x21, [x28]                      // g.stack.lo - 4096 - 256: just below the guard page
    sub x21, x21, #4096
    sub x21, x21, #256
    adr x0, nearby
    stp x20, x21, [x0]
    mov x19, #0
    adr x0, depth
    ldr x0, [x0]
    bl deep
    adr x1, nearby
    stp x20, x21, [x1, #16]             // what x20 and x21 hold at the end
    bl runtime.printint
    ldr x21, [sp, #32]
    ldp x19, x20, [sp, #16]
    ldp x29, x30, [sp], #48
    ret

// deep(n) = n + deep(n - 1), deep(0) = 0; nosplit.
deep:
    stp x29, x30, [sp, #-64]!
    mov x29, sp
    str x0, [sp, #16]                   // n
    str x19, [sp, #24]                  // the caller's x19 (a pointer to its n)
    add x19, sp, #16                    // x19 = &n
    cbnz x0, 1f
deep.bottom:                            // deep(0): the deepest frame
    b 2f
1:
    sub x0, x0, #1
    bl deep
    ldr x1, [x19]                       // n + deep(n - 1), through x19
    add x0, x0, x1
2:
    ldr x19, [sp, #24]
    ldp x29, x30, [sp], #64
    ret

.data
depth: .quad 150
nearby:  .quad 0, 0, 0, 0
