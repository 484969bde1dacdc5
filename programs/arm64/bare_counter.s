// bare_counter.s (arm64): two threads share one counter.
//
// Each worker thread adds 1 to `counter` ITERATIONS times with an atomic
// read-modify-write (an `ldaxr`/`stlxr` loop).  The main thread creates both
// with clone(2) on stacks it gets from mmap(2), joins each with a futex on its
// tid word (CLONE_CHILD_CLEARTID: the kernel zeroes the word and wakes it at
// exit), prints the total in decimal and exits 0.  Expected output: 200000.
//
// A --bare program: entry _start, no Go runtime, Linux syscalls only.
// Registers: syscall number in x8, arguments x0-x5, `svc #0`.

.equ SYS_write, 64
.equ SYS_mmap, 222
.equ SYS_clone, 220
.equ SYS_exit, 93
.equ SYS_futex, 98
.equ SYS_exit_group, 94

.equ FUTEX_WAIT, 0
.equ PROT_RW, 3                 // PROT_READ | PROT_WRITE
.equ MAP_PRIVATE_ANON, 0x22     // MAP_PRIVATE | MAP_ANONYMOUS
// CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|PARENT_SETTID|CHILD_CLEARTID = 0x350f00
.equ CLONE_FLAGS_LO, 0x0f00
.equ CLONE_FLAGS_HI, 0x35
.equ STACK_SIZE, 65536
// ITERATIONS = 100000 = 0x186a0
.equ ITERATIONS_LO, 0x86a0
.equ ITERATIONS_HI, 0x1

.text

// _start: the process entry; never returns.
.globl _start
_start:
    // create both workers; their tids land in tid1 / tid2
    adr x0, tid1
    bl spawn
    adr x0, tid2
    bl spawn

    // wait until both tid words are zero
    adr x0, tid1
    bl join
    adr x0, tid2
    bl join

    // print the total and exit(0)
    adr x0, counter
    ldr x0, [x0]
    bl print_u64
    mov x0, #0
    mov x8, #SYS_exit_group
    svc #0
    brk #0                          // not reached

// spawn(tidword *uint32): start a thread running worker on a fresh stack.
// Clobbers x0-x8, x19.
spawn:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    str x19, [sp, #16]
    mov x19, x0                     // x19 = tid word

    // stack = mmap(0, STACK_SIZE, PROT_RW, MAP_PRIVATE_ANON, -1, 0)
    mov x0, #0
    mov x1, #STACK_SIZE
    mov x2, #PROT_RW
    mov x3, #MAP_PRIVATE_ANON
    mov x4, #-1
    mov x5, #0
    mov x8, #SYS_mmap
    svc #0

    // clone(flags, stack top, ptid, tls=0, ctid): both tid pointers are the word
    add x1, x0, #STACK_SIZE
    movz x0, #CLONE_FLAGS_LO
    movk x0, #CLONE_FLAGS_HI, lsl #16
    mov x2, x19
    mov x3, #0
    mov x4, x19
    mov x8, #SYS_clone
    svc #0
    cbz x0, thread_main             // the child starts on its new stack

    ldr x19, [sp, #16]
    ldp x29, x30, [sp], #32
    ret

// thread_main: first code of a new thread; runs worker, then exit(0).
thread_main:
    mov x29, #0                     // end of the frame-pointer chain
    bl worker
    mov x0, #0
    mov x8, #SYS_exit
    svc #0
    brk #0                          // not reached

// worker(): add 1 to counter ITERATIONS times, atomically.
// Clobbers x1-x4.
worker:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    adr x1, counter
    movz x4, #ITERATIONS_LO
    movk x4, #ITERATIONS_HI, lsl #16
1:
    ldaxr x2, [x1]                  // the shared update
    add x2, x2, #1
    stlxr w3, x2, [x1]
    cbnz w3, 1b
    subs x4, x4, #1
    b.ne 1b
    ldp x29, x30, [sp], #16
    ret

// join(tidword *uint32): sleep on the futex until the kernel zeroes the word.
// Clobbers x0-x3, x8, x19.
join:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    str x19, [sp, #16]
    mov x19, x0                     // x19 = tid word
1:
    ldr w2, [x19]                   // w2 = tid still running, or 0
    cbz w2, 2f
    // futex(word, FUTEX_WAIT, tid, NULL): returns at once if the word changed
    mov x0, x19
    mov x1, #FUTEX_WAIT
    mov x3, #0
    mov x8, #SYS_futex
    svc #0
    b 1b
2:
    ldr x19, [sp, #16]
    ldp x29, x30, [sp], #32
    ret

// print_u64(v uint64): write v in decimal and a newline to fd 1.
// Clobbers x0-x4, x8.
print_u64:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    // x0 = what is left to print, x1 = first digit (moves left)
    adr x1, numbuf_end
    sub x1, x1, #1
    mov w2, #10
    strb w2, [x1]                   // the trailing newline
    mov x3, #10
1:
    udiv x4, x0, x3                 // x4 = x0 / 10
    msub x2, x4, x3, x0             // x2 = digit
    add w2, w2, #0x30
    sub x1, x1, #1
    strb w2, [x1]
    mov x0, x4
    cbnz x0, 1b

    // write(1, x1, numbuf_end - x1)
    adr x2, numbuf_end
    sub x2, x2, x1
    mov x0, #1
    mov x8, #SYS_write
    svc #0
    ldp x29, x30, [sp], #16
    ret

.data
.balign 8
counter:    .quad 0                 // the shared counter
tid1:       .long 0                 // worker tids (zeroed by the kernel at exit)
tid2:       .long 0

.bss
numbuf:     .space 32               // decimal digits of print_u64
numbuf_end:
