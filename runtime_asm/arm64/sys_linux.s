// sys_linux.s (arm64): the system call wrappers the runtime uses.
// Mirrors Go's runtime/sys_linux_arm64.s; runtime_asm/amd64/sys_linux.s is parallel.
//
// Each wrapper takes Go ABIInternal arguments (R0-R5), which already sit where Linux
// wants them (number in R8; arguments R0-R5; `svc #0`).  The result (or -errno)
// comes back in R0.

#include "../go_asm.inc"

.equ SYS_write, 64
.equ SYS_rt_sigaction, 134
.equ SYS_rt_sigprocmask, 135
.equ SYS_rt_sigreturn, 139
.equ SYS_nanosleep, 101
.equ SYS_getpid, 172
.equ SYS_sigaltstack, 132
.equ SYS_clock_gettime, 113
.equ SYS_tgkill, 131
.equ SYS_read, 63
.equ SYS_pipe2, 59
.equ SYS_epoll_create1, 20
.equ SYS_epoll_ctl, 21
.equ SYS_epoll_pwait, 22
.equ SYS_mmap, 222
.equ SYS_munmap, 215
.equ SYS_mprotect, 226
.equ SYS_sched_yield, 124
.equ SYS_clone, 220
.equ SYS_exit, 93
.equ SYS_gettid, 178
.equ SYS_futex, 98
.equ SYS_exit_group, 94

.text

// func exit(code int32)
// End the process (exit_group).  Never returns.
.globl runtime.exit
runtime.exit:
    mov x8, #SYS_exit_group
    svc #0
    brk #0                              // not reached

// func write1(fd uintptr, p unsafe.Pointer, n int32) int32
.globl runtime.write1
runtime.write1:
    mov x8, #SYS_write
    svc #0
    ret

// func futex(addr unsafe.Pointer, op int32, val uint32, ts unsafe.Pointer, addr2 unsafe.Pointer, val3 uint32) int32
.globl runtime.futex
runtime.futex:
    mov x8, #SYS_futex
    svc #0
    ret

// func mmap(addr unsafe.Pointer, n uintptr, prot, flags, fd int32, off uint32) (p unsafe.Pointer)
// Returns the address, or -errno.
.globl runtime.mmap
runtime.mmap:
    mov x8, #SYS_mmap
    svc #0
    ret

// func munmap(addr unsafe.Pointer, n uintptr) int32
.globl runtime.munmap
runtime.munmap:
    mov x8, #SYS_munmap
    svc #0
    ret

// func mprotect(addr unsafe.Pointer, n uintptr, prot int32) int32
.globl runtime.mprotect
runtime.mprotect:
    mov x8, #SYS_mprotect
    svc #0
    ret

// func clone(flags int32, stk, mp, gp, fn unsafe.Pointer) int32
// Start a thread running fn on stack stk with g = gp (mp's g0).  No TLS on
// arm64: g is R28.  Returns the child's tid in the parent.  R10-R12 carry mp, gp
// and fn to the child (caller-saved: nothing to give back to the parent).
.globl runtime.clone
runtime.clone:
    // copy mp, gp, fn where the child can find them (the kernel copies registers)
    mov x10, x2                         // x10 = mp
    mov x11, x3                         // x11 = gp
    mov x12, x4                         // x12 = fn

    // clone(flags, stk, NULL, NULL, NULL)
    mov x2, #0
    mov x3, #0
    mov x4, #0
    mov x8, #SYS_clone
    svc #0

    // in the parent, return
    cbz x0, 1f
    ret
1:
    // in the child, on the new stack: g = gp
    mov x29, #0                         // end of the frame-pointer chain
    mov x28, x11
    blr x12                             // fn = mstart; never returns

    // it did return: exit this thread
    mov x0, #111
    mov x8, #SYS_exit
    svc #0
    brk #0

// func settls(addr): amd64 only (arch_prctl); pure-Go arm64 keeps g in R28 and never
// sets TPIDR_EL0, so there is no routine here.

// func osyield()
.globl runtime.osyield
runtime.osyield:
    mov x8, #SYS_sched_yield
    svc #0
    ret

// func gettid() uint32
.globl runtime.gettid
runtime.gettid:
    mov x8, #SYS_gettid
    svc #0
    ret

// func rt_sigaction(sig uintptr, new, old *sigactiont, size uintptr) int32
.globl runtime.rt_sigaction
runtime.rt_sigaction:
    mov x8, #SYS_rt_sigaction
    svc #0
    ret

// func sigreturn__sigaction()
// amd64 installs it as sa_restorer; arm64 handlers return to the kernel's own
// trampoline (x30), so this one is only a named twin for parallel traces.
.globl runtime.sigreturn__sigaction
runtime.sigreturn__sigaction:
    mov x8, #SYS_rt_sigreturn
    svc #0
    brk #0                              // not reached

// func rtsigprocmask(how int32, new, old *sigset, size int32)
.globl runtime.rtsigprocmask
runtime.rtsigprocmask:
    mov x8, #SYS_rt_sigprocmask
    svc #0
    ret

// func sigaltstack(new, old *stackt) int32
.globl runtime.sigaltstack
runtime.sigaltstack:
    mov x8, #SYS_sigaltstack
    svc #0
    ret

// func tgkill(tgid, tid, sig int) int32
.globl runtime.tgkill
runtime.tgkill:
    mov x8, #SYS_tgkill
    svc #0
    ret

// func getpid() int
.globl runtime.getpid
runtime.getpid:
    mov x8, #SYS_getpid
    svc #0
    ret

// func nanosleep(ts *timespec) int32
.globl runtime.nanosleep
runtime.nanosleep:
    mov x1, #0
    mov x8, #SYS_nanosleep
    svc #0
    ret

// func clock_gettime(clock int32, ts *timespec) int32
.globl runtime.clock_gettime
runtime.clock_gettime:
    mov x8, #SYS_clock_gettime
    svc #0
    ret

// func read(fd int32, p unsafe.Pointer, n int32) int32
.globl runtime.read1
runtime.read1:
    mov x8, #SYS_read
    svc #0
    ret

// func pipe2(fds *[2]int32, flags int32) int32
.globl runtime.pipe2
runtime.pipe2:
    mov x8, #SYS_pipe2
    svc #0
    ret

// func epollcreate1(flags int32) int32
.globl runtime.epollcreate1
runtime.epollcreate1:
    mov x8, #SYS_epoll_create1
    svc #0
    ret

// func epollctl(epfd, op, fd int32, ev *epollevent) int32
.globl runtime.epollctl
runtime.epollctl:
    mov x8, #SYS_epoll_ctl
    svc #0
    ret

// func epollwait(epfd int32, ev *epollevent, nev, timeout int32) int32  (epoll_pwait, no sigmask)
.globl runtime.epollwait
runtime.epollwait:
    mov x4, #0
    mov x5, #0
    mov x8, #SYS_epoll_pwait
    svc #0
    ret
