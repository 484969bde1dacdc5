// hello: main prints 7 and returns (exit 0).  Starting main's goroutine needs gogo;
// its return goes through goexit, which needs mcall.
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x0, #7
    bl runtime.printint
    ldp x29, x30, [sp], #16
    ret
