# spill (amd64): main starts 300 goroutines that return at once, without yielding in
# between, so P0's run queue overflows: see exercises/runq/README.md and tests/test_runtime.py.  Then main yields
# (runtime.gosched) and returns.
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    push r12
    push r12
    xor r12d, r12d
1:
    lea rax, [rip + nothing]
    mov rbx, r12
    call runtime.newproc
    inc r12
    cmp r12, 300
    jl 1b
    call runtime.gosched
    pop r12
    pop r12
    pop rbp
    ret
nothing:
    ret
