"""Runtime programs used by tests/test_runtime.py, one text per arch."""

from pathlib import Path

# 10,000 goroutines; goroutine i sends 2i+1 on a buffered channel; main sums them.
# The sum of the first N odd numbers is N*N = 100000000.
MANY = {
    "amd64": """
.equ N, 10000
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    sub rsp, 16
    mov eax, N
    call runtime.makechan
    mov qword ptr [rip + done], rax
    mov qword ptr [rbp - 8], 0
1:
    lea rax, [rip + worker]
    mov rbx, qword ptr [rbp - 8]
    call runtime.newproc
    inc qword ptr [rbp - 8]
    cmp qword ptr [rbp - 8], N
    jl 1b
    mov qword ptr [rbp - 8], 0
    mov qword ptr [rbp - 16], 0
2:
    mov rax, qword ptr [rip + done]
    call runtime.chanrecv
    add qword ptr [rbp - 16], rax
    inc qword ptr [rbp - 8]
    cmp qword ptr [rbp - 8], N
    jl 2b
    mov rax, qword ptr [rbp - 16]
    call runtime.printint
    mov rsp, rbp
    pop rbp
    ret
worker:
    push rbp
    mov rbp, rsp
    lea rbx, [rax + rax + 1]
    mov rax, qword ptr [rip + done]
    call runtime.chansend
    pop rbp
    ret
.data
done: .quad 0
""",
    "arm64": """
.equ N, 10000
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    mov x0, #N
    bl runtime.makechan
    adr x1, done
    str x0, [x1]
    str xzr, [x29, #16]
1:
    adr x0, worker
    ldr x1, [x29, #16]
    bl runtime.newproc
    ldr x0, [x29, #16]
    add x0, x0, #1
    str x0, [x29, #16]
    mov x1, #N
    cmp x0, x1
    b.lt 1b
    str xzr, [x29, #16]
    str xzr, [x29, #24]
2:
    adr x0, done
    ldr x0, [x0]
    bl runtime.chanrecv
    ldr x1, [x29, #24]
    add x1, x1, x0
    str x1, [x29, #24]
    ldr x0, [x29, #16]
    add x0, x0, #1
    str x0, [x29, #16]
    mov x1, #N
    cmp x0, x1
    b.lt 2b
    ldr x0, [x29, #24]
    bl runtime.printint
    ldp x29, x30, [sp], #32
    ret
worker:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    add x1, x0, x0
    add x1, x1, #1
    adr x0, done
    ldr x0, [x0]
    bl runtime.chansend
    ldp x29, x30, [sp], #16
    ret
.data
done: .quad 0
""",
}

# main creates 300 goroutines that return at once, without ever yielding
# (programs/<arch>/runq_spill.s, shared with the runq exercise).
SPILL = {arch: (Path(__file__).resolve().parents[1] / "programs" / arch / "runq_spill.s").read_text()
         for arch in ("amd64", "arm64")}

# Callee-saved registers hold magic values across gosched and a blocking chanrecv.
# Prints 7 when every one survived; exits 1 otherwise.  (amd64 RBX is also chanrecv's
# second result register, so it is not checked after the receive.)
CALLEE = {
    "amd64": """
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    mov eax, 0
    call runtime.makechan
    mov qword ptr [rip + chan0], rax
    lea rax, [rip + sender]
    xor ebx, ebx
    call runtime.newproc
    mov rbx, 0x1111
    mov r12, 0x2222
    mov r13, 0x3333
    mov r15, 0x5555
    call runtime.gosched
    call runtime.gosched
    cmp rbx, 0x1111
    jne bad
    mov rax, qword ptr [rip + chan0]
    call runtime.chanrecv
    call runtime.gosched
    cmp r12, 0x2222
    jne bad
    cmp r13, 0x3333
    jne bad
    cmp r15, 0x5555
    jne bad
    mov eax, 7
    call runtime.printint
    pop rbp
    ret
bad:
    mov eax, 1
    call runtime.exit
sender:
    push rbp
    mov rbp, rsp
    mov rbx, 0x9999
    mov r12, 0x9999
    mov r13, 0x9999
    mov r15, 0x9999
    call runtime.gosched
    call runtime.gosched
    call runtime.gosched
    mov rax, qword ptr [rip + chan0]
    mov ebx, 42
    call runtime.chansend
    pop rbp
    ret
.data
chan0: .quad 0
""",
    "arm64": """
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x0, #0
    bl runtime.makechan
    adr x1, chan0
    str x0, [x1]
    adr x0, sender
    mov x1, #0
    bl runtime.newproc
    mov x19, #0x1111
    mov x20, #0x2222
    mov x21, #0x3333
    mov x22, #0x4444
    mov x23, #0x5555
    mov x24, #0x6666
    mov x25, #0x7777
    mov x26, #0x8888
    bl runtime.gosched
    bl runtime.gosched
    adr x0, chan0
    ldr x0, [x0]
    bl runtime.chanrecv
    bl runtime.gosched
    mov x0, #0x1111
    cmp x19, x0
    b.ne bad
    mov x0, #0x2222
    cmp x20, x0
    b.ne bad
    mov x0, #0x3333
    cmp x21, x0
    b.ne bad
    mov x0, #0x4444
    cmp x22, x0
    b.ne bad
    mov x0, #0x5555
    cmp x23, x0
    b.ne bad
    mov x0, #0x6666
    cmp x24, x0
    b.ne bad
    mov x0, #0x7777
    cmp x25, x0
    b.ne bad
    mov x0, #0x8888
    cmp x26, x0
    b.ne bad
    mov x0, #7
    bl runtime.printint
    ldp x29, x30, [sp], #16
    ret
bad:
    mov x0, #1
    bl runtime.exit
sender:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x19, #0x9999
    mov x20, #0x9999
    mov x21, #0x9999
    mov x22, #0x9999
    mov x23, #0x9999
    mov x24, #0x9999
    mov x25, #0x9999
    mov x26, #0x9999
    bl runtime.gosched
    bl runtime.gosched
    bl runtime.gosched
    adr x0, chan0
    ldr x0, [x0]
    mov x1, #42
    bl runtime.chansend
    ldp x29, x30, [sp], #16
    ret
.data
chan0: .quad 0
""",
}

# main starts N spinners (N = 1 here; tests rewrite it) that each count down
# 4,000,000 with no calls (8,000,000 instructions, 80 ms at 100 MHz), then send 7;
# main waits for all of them and prints the sum.
BOUNDED_SPIN = {
    "amd64": """
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    push r12
    push r13
    mov eax, 0
    call runtime.makechan
    mov qword ptr [rip + done], rax
    mov eax, 1
    mov r12, rax
    mov r13, rax
1:
    lea rax, [rip + spinner]
    xor ebx, ebx
    call runtime.newproc
    dec r12
    jnz 1b
    call runtime.gosched
    call runtime.gosched
    xor r12d, r12d
2:
    mov rax, qword ptr [rip + done]
    call runtime.chanrecv
    add r12, rax
    dec r13
    jnz 2b
    mov rax, r12
    call runtime.printint
    pop r13
    pop r12
    pop rbp
    ret
spinner:
    push rbp
    mov rbp, rsp
    mov ecx, 4000000
3:
    dec ecx
    jnz 3b
    mov rax, qword ptr [rip + done]
    mov ebx, 7
    call runtime.chansend
    pop rbp
    ret
.data
done: .quad 0
""",
    "arm64": """
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    stp x19, x20, [sp, #16]
    mov x0, #0
    bl runtime.makechan
    adr x1, done
    str x0, [x1]
    mov x0, #1
    mov x19, x0
    mov x20, x0
1:
    adr x0, spinner
    mov x1, #0
    bl runtime.newproc
    subs x19, x19, #1
    b.ne 1b
    bl runtime.gosched
    bl runtime.gosched
    mov x19, #0
2:
    adr x0, done
    ldr x0, [x0]
    bl runtime.chanrecv
    add x19, x19, x0
    subs x20, x20, #1
    b.ne 2b
    mov x0, x19
    bl runtime.printint
    ldp x19, x20, [sp, #16]
    ldp x29, x30, [sp], #32
    ret
spinner:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    movz x2, #0x0900
    movk x2, #0x3d, lsl #16
3:
    subs x2, x2, #1
    b.ne 3b
    adr x0, done
    ldr x0, [x0]
    mov x1, #7
    bl runtime.chansend
    ldp x29, x30, [sp], #16
    ret
.data
done: .quad 0
""",
}
