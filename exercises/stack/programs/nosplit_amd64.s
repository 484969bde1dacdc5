# nosplit: a recursion without the prologue check (exercise `stack`), run with
# guard pages: it runs off the bottom of its 8 KiB stack into the PROT_NONE page
# below it, and the SIGSEGV handler grows the stack (grow_from_fault -> copystack
# with the interrupted registers).  Before it starts, main.main puts two integers
# that merely lie nearby the stack in r12 and r13 (saved in `nearby`): hi + 256, just
# above the stack, and lo - 4096 - 256, just below its guard page.  No one may
# change them.  Each deep frame keeps its caller's rbx and points rbx at its own n.
# Prints deep(depth).
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    push r12
    push r13
    push rbx
    sub rsp, 8
    mov r12, qword ptr [r14 + 8]        # g.stack.hi + 256: an integer just above the stack
    add r12, 256
    mov r13, qword ptr [r14]            # g.stack.lo - 4096 - 256: just below the guard page
    sub r13, 4352
    mov qword ptr [rip + nearby], r12
    mov qword ptr [rip + nearby + 8], r13
    xor ebx, ebx
    mov rax, qword ptr [rip + depth]
    call deep
    mov qword ptr [rip + nearby + 16], r12        # what r12 and r13 hold at the end
    mov qword ptr [rip + nearby + 24], r13
    call runtime.printint
    add rsp, 8
    pop rbx
    pop r13
    pop r12
    pop rbp
    ret

# deep(n) = n + deep(n - 1), deep(0) = 0; nosplit.
deep:
    push rbp
    mov rbp, rsp
    sub rsp, 48
    mov qword ptr [rbp - 8], rax        # n
    mov qword ptr [rbp - 16], rbx       # the caller's rbx (a pointer to its n)
    lea rbx, [rbp - 8]                  # rbx = &n
    test rax, rax
    jnz 1f
deep.bottom:                            # deep(0): the deepest frame
    jmp 2f
1:
    dec rax
    call deep
    add rax, qword ptr [rbx]            # n + deep(n - 1), through rbx
2:
    mov rbx, qword ptr [rbp - 16]
    mov rsp, rbp
    pop rbp
    ret

.data
depth: .quad 150
nearby:  .quad 0, 0, 0, 0
