# grow: a recursion that outgrows its 8 KiB goroutine stack (exercise `stack`).
# main.main plants three words in its frame (the stack's hi, its lo, and lo - 8),
# then calls sum(depth).  Each sum frame is 64 bytes: its n, and a pointer to
# that n, kept on the stack.  When `park` is not 0, a sender goroutine is started
# and the deepest frame receives `park` from it on a channel, so main parks
# there, deep in its stack.  Prints sum(depth) + park.
.text
.globl main.main
main.main:
    push rbp                            # frame record (RBP chain)
    mov rbp, rsp
    sub rsp, 32
    mov rax, qword ptr [r14 + 8]        # g.stack.hi: one past the stack (not inside it)
    mov qword ptr [rbp - 8], rax
    mov rax, qword ptr [r14]            # g.stack.lo: inside the stack
    mov qword ptr [rbp - 16], rax
    sub rax, 8                          # lo - 8: just below it
    mov qword ptr [rbp - 24], rax
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + chan0], rax
    mov rbx, qword ptr [rip + park]
    test rbx, rbx
    jz 1f
    lea rax, [rip + sender]
    call runtime.newproc                # go sender(park)
1:
    mov rax, qword ptr [rip + depth]
    call sum
    call runtime.printint
    mov rsp, rbp
    pop rbp
    ret

# sum(n) = n + sum(n - 1), sum(0) = 0 (or the value received when parking).
sum:
    .stackcheck 64
    push rbp
    mov rbp, rsp
    sub rsp, 48
    mov qword ptr [rbp - 8], rax        # n
    lea rcx, [rbp - 8]
    mov qword ptr [rbp - 16], rcx       # &n: a pointer into this frame
    test rax, rax
    jnz 1f
sum.bottom:                             # sum(0): the deepest frame
    mov rbx, qword ptr [rip + park]
    test rbx, rbx
    jz 2f
    mov rax, qword ptr [rip + chan0]
    call runtime.chanrecv               # parks, deep in the stack, until sender sends
2:
    mov rsp, rbp
    pop rbp
    ret
1:
    dec rax
    call sum
    mov rcx, qword ptr [rbp - 16]       # through the pointer: n += sum(n - 1)
    add qword ptr [rcx], rax
    mov rax, qword ptr [rbp - 8]
    mov rsp, rbp
    pop rbp
    ret

sender:                                 # sender(v): ch <- v
    push rbp
    mov rbp, rsp
    mov rbx, rax
    mov rax, qword ptr [rip + chan0]
    call runtime.chansend
    pop rbp
    ret

.data
depth: .quad 300
park:  .quad 0
chan0: .quad 0
