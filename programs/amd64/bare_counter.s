# bare_counter.s (amd64): two threads share one counter.
#
# Each worker thread adds 1 to `counter` ITERATIONS times with an atomic
# read-modify-write (`lock inc`).  The main thread creates both with clone(2)
# on stacks it gets from mmap(2), joins each with a futex on its tid word
# (CLONE_CHILD_CLEARTID: the kernel zeroes the word and wakes it at exit),
# prints the total in decimal and exits 0.  Expected output: 200000.
#
# A --bare program: entry _start, no Go runtime, Linux syscalls only.
# Registers: syscall number in rax, arguments rdi rsi rdx r10 r8 r9.

.equ SYS_write, 1
.equ SYS_mmap, 9
.equ SYS_clone, 56
.equ SYS_exit, 60
.equ SYS_futex, 202
.equ SYS_exit_group, 231

.equ FUTEX_WAIT, 0
.equ PROT_RW, 3                 # PROT_READ | PROT_WRITE
.equ MAP_PRIVATE_ANON, 0x22     # MAP_PRIVATE | MAP_ANONYMOUS
# CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|PARENT_SETTID|CHILD_CLEARTID
.equ CLONE_THREAD_FLAGS, 0x350f00
.equ STACK_SIZE, 65536
.equ ITERATIONS, 100000

.text

# _start: the process entry; never returns.
.globl _start
_start:
    # create both workers; their tids land in tid1 / tid2
    lea rdi, [rip + tid1]
    call spawn
    lea rdi, [rip + tid2]
    call spawn

    # wait until both tid words are zero
    lea rdi, [rip + tid1]
    call join
    lea rdi, [rip + tid2]
    call join

    # print the total and exit(0)
    mov rdi, qword ptr [rip + counter]
    call print_u64
    xor edi, edi
    mov eax, SYS_exit_group
    syscall
    hlt                             # not reached

# spawn(tidword *uint32): start a thread running worker on a fresh stack.
# Clobbers rax, rcx, rdx, rsi, rdi, r8, r9, r10, r11, r12.
spawn:
    push rbp
    mov rbp, rsp
    push r12
    push r12                        # keep rsp 16-byte aligned
    mov r12, rdi                    # r12 = tid word

    # stack = mmap(0, STACK_SIZE, PROT_RW, MAP_PRIVATE_ANON, -1, 0)
    xor edi, edi
    mov esi, STACK_SIZE
    mov edx, PROT_RW
    mov r10d, MAP_PRIVATE_ANON
    mov r8, -1
    xor r9d, r9d
    mov eax, SYS_mmap
    syscall

    # clone(flags, stack top, ptid, ctid, tls=0): both tid pointers are the word
    lea rsi, [rax + STACK_SIZE]
    mov rdi, CLONE_THREAD_FLAGS
    mov rdx, r12
    mov r10, r12
    xor r8d, r8d
    mov eax, SYS_clone
    syscall
    test rax, rax
    jz thread_main                  # the child starts on its new stack

    pop r12
    pop r12
    pop rbp
    ret

# thread_main: first code of a new thread; runs worker, then exit(0).
thread_main:
    xor ebp, ebp                    # end of the frame-pointer chain
    call worker
    xor edi, edi
    mov eax, SYS_exit
    syscall
    hlt                             # not reached

# worker(): add 1 to counter ITERATIONS times, atomically.
# Clobbers rcx, rdi.
worker:
    push rbp
    mov rbp, rsp
    lea rdi, [rip + counter]
    mov ecx, ITERATIONS
1:
    lock inc qword ptr [rdi]        # the shared update
    dec ecx
    jnz 1b
    pop rbp
    ret

# join(tidword *uint32): sleep on the futex until the kernel zeroes the word.
# Clobbers rax, rcx, rdx, rsi, r10, r11, r12.
join:
    push rbp
    mov rbp, rsp
    push r12
    push r12
    mov r12, rdi                    # r12 = tid word
1:
    mov edx, dword ptr [r12]        # edx = tid still running, or 0
    test edx, edx
    jz 2f
    # futex(word, FUTEX_WAIT, tid, NULL): returns at once if the word changed
    mov rdi, r12
    mov esi, FUTEX_WAIT
    xor r10d, r10d
    mov eax, SYS_futex
    syscall
    jmp 1b
2:
    pop r12
    pop r12
    pop rbp
    ret

# print_u64(v uint64): write v in decimal and a newline to fd 1.
# Clobbers rax, rcx, rdx, rsi, rdi, r8, r11.
print_u64:
    push rbp
    mov rbp, rsp
    mov rax, rdi                    # rax = what is left to print
    lea rsi, [rip + numbuf_end]     # rsi = first digit (moves left)
    dec rsi
    mov byte ptr [rsi], 10          # the trailing newline
    mov r8, 10
1:
    xor edx, edx
    div r8                          # rax = rax / 10, rdx = digit
    add dl, 0x30
    dec rsi
    mov byte ptr [rsi], dl
    test rax, rax
    jnz 1b

    # write(1, rsi, numbuf_end - rsi)
    lea rdx, [rip + numbuf_end]
    sub rdx, rsi
    mov edi, 1
    mov eax, SYS_write
    syscall
    pop rbp
    ret

.data
.balign 8
counter:    .quad 0                 # the shared counter
tid1:       .long 0                 # worker tids (zeroed by the kernel at exit)
tid2:       .long 0

.bss
numbuf:     .space 32               # decimal digits of print_u64
numbuf_end:
