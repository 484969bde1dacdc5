"""Small --bare programs used by the tests, one text per arch.

`SYSCALL_PROBE` performs one system call whose number and six arguments the
test writes into `args` before the run, stores the result in `result`, and
exits 0.  `buf` is 4 KiB of writable scratch memory for pointer arguments.
"""

SYSCALL_PROBE = {
    "amd64": """
.text
.globl _start
_start:
    lea rbx, [rip + args]
    mov rax, qword ptr [rbx]
    mov rdi, qword ptr [rbx + 8]
    mov rsi, qword ptr [rbx + 16]
    mov rdx, qword ptr [rbx + 24]
    mov r10, qword ptr [rbx + 32]
    mov r8, qword ptr [rbx + 40]
    mov r9, qword ptr [rbx + 48]
    syscall
    mov qword ptr [rip + result], rax
    xor edi, edi
    mov eax, 231
    syscall
.data
.balign 8
args:   .space 56
result: .quad 0x5a5a5a5a
.balign 4096
buf:    .space 4096
""",
    "arm64": """
.text
.globl _start
_start:
    adr x9, args
    ldr x8, [x9]
    ldr x0, [x9, #8]
    ldr x1, [x9, #16]
    ldr x2, [x9, #24]
    ldr x3, [x9, #32]
    ldr x4, [x9, #40]
    ldr x5, [x9, #48]
    svc #0
    adr x9, result
    str x0, [x9]
    mov x0, #0
    mov x8, #94
    svc #0
.data
.balign 8
args:   .space 56
result: .quad 0x5a5a5a5a
.balign 4096
buf:    .space 4096
""",
}

# clock_gettime(MONOTONIC, ts0); futex(futex_word, FUTEX_WAIT, 0, {0, 1ms}) -> result;
# clock_gettime(MONOTONIC, ts1); exit_group(0).  Optionally a second thread spins.
FUTEX_TIMEOUT = {
    "amd64": """
.text
.globl _start
_start:
    mov edi, 1
    lea rsi, [rip + ts0]
    mov eax, 228
    syscall
    lea rdi, [rip + futex_word]
    xor esi, esi
    xor edx, edx
    lea r10, [rip + timeout]
    mov eax, 202
    syscall
    mov qword ptr [rip + result], rax
    mov edi, 1
    lea rsi, [rip + ts1]
    mov eax, 228
    syscall
    xor edi, edi
    mov eax, 231
    syscall
.data
.balign 8
timeout: .quad 0, 1000000
ts0:     .quad 0, 0
ts1:     .quad 0, 0
result:  .quad 0
futex_word:    .long 0
""",
    "arm64": """
.text
.globl _start
_start:
    mov x0, #1
    adr x1, ts0
    mov x8, #113
    svc #0
    adr x0, futex_word
    mov x1, #0
    mov x2, #0
    adr x3, timeout
    mov x8, #98
    svc #0
    adr x9, result
    str x0, [x9]
    mov x0, #1
    adr x1, ts1
    mov x8, #113
    svc #0
    mov x0, #0
    mov x8, #94
    svc #0
.data
.balign 8
timeout: .quad 0, 1000000
ts0:     .quad 0, 0
ts1:     .quad 0, 0
result:  .quad 0
futex_word:    .long 0
""",
}

# _start calls crash_here, which stores to the address in `target`.
CRASH = {
    "amd64": """
.text
.globl _start
_start:
    push rbp
    mov rbp, rsp
    call crash_here
    hlt
crash_here:
    push rbp
    mov rbp, rsp
    mov rax, qword ptr [rip + target]
    mov qword ptr [rax], 1
    pop rbp
    ret
.data
target: .quad 0
""",
    "arm64": """
.text
.globl _start
_start:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    bl crash_here
    brk #0
crash_here:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    adr x0, target
    ldr x0, [x0]
    mov x1, #1
    str x1, [x0]
    ldp x29, x30, [sp], #16
    ret
.data
target: .quad 0
""",
}

SPIN = {
    "amd64": ".text\n.globl _start\n_start:\n    jmp _start\n",
    "arm64": ".text\n.globl _start\n_start:\n    b _start\n",
}

INVALID_INSN = {
    "amd64": ".text\n.globl _start\n_start:\n    nop\n    ud2\n",
    "arm64": ".text\n.globl _start\n_start:\n    nop\n    .long 0\n",
}

# A single thread waits on a futex forever.
DEADLOCK = {
    "amd64": """
.text
.globl _start
_start:
    lea rdi, [rip + futex_word]
    xor esi, esi
    xor edx, edx
    xor r10d, r10d
    mov eax, 202
    syscall
    jmp _start
.data
futex_word: .long 0
""",
    "arm64": """
.text
.globl _start
_start:
    adr x0, futex_word
    mov x1, #0
    mov x2, #0
    mov x3, #0
    mov x8, #98
    svc #0
    b _start
.data
futex_word: .long 0
""",
}
