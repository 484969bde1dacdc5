// spill (arm64): main starts 300 goroutines that return at once, without yielding in
// between, so P0's run queue overflows: see exercises/runq/README.md and tests/test_runtime.py.  Then main yields
// (runtime.gosched) and returns.
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    str x19, [sp, #16]
    mov x19, #0
1:
    adr x0, nothing
    mov x1, x19
    bl runtime.newproc
    add x19, x19, #1
    cmp x19, #300
    b.lt 1b
    bl runtime.gosched
    ldr x19, [sp, #16]
    ldp x29, x30, [sp], #32
    ret
nothing:
    ret
