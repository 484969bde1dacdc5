# sys_linux.s (amd64): the system call wrappers the runtime uses.
# Mirrors Go's runtime/sys_linux_amd64.s; runtime_asm/arm64/sys_linux.s is parallel.
#
# Each wrapper takes Go ABIInternal arguments (RAX RBX RCX RDI RSI R8) and makes the
# Linux call (number in RAX; arguments RDI RSI RDX R10 R8 R9; `syscall` clobbers RCX
# and R11).  The result (or -errno) comes back in RAX.

#include "../go_asm.inc"

.equ SYS_write, 1
.equ SYS_rt_sigaction, 13
.equ SYS_rt_sigprocmask, 14
.equ SYS_rt_sigreturn, 15
.equ SYS_nanosleep, 35
.equ SYS_getpid, 39
.equ SYS_sigaltstack, 131
.equ SYS_clock_gettime, 228
.equ SYS_tgkill, 234
.equ SYS_read, 0
.equ SYS_pipe2, 293
.equ SYS_epoll_create1, 291
.equ SYS_epoll_ctl, 233
.equ SYS_epoll_pwait, 281
.equ SYS_mmap, 9
.equ SYS_munmap, 11
.equ SYS_mprotect, 10
.equ SYS_sched_yield, 24
.equ SYS_clone, 56
.equ SYS_exit, 60
.equ SYS_arch_prctl, 158
.equ SYS_gettid, 186
.equ SYS_futex, 202
.equ SYS_exit_group, 231
.equ ARCH_SET_FS, 0x1002
.equ CLONE_SETTLS, 0x80000

.text

# func exit(code int32)
# End the process (exit_group).  Never returns.
.globl runtime.exit
runtime.exit:
    mov edi, eax
    mov eax, SYS_exit_group
    syscall
    hlt                                 # not reached

# func write1(fd uintptr, p unsafe.Pointer, n int32) int32
.globl runtime.write1
runtime.write1:
    mov edx, ecx                        # n
    mov rsi, rbx                        # p
    mov edi, eax                        # fd
    mov eax, SYS_write
    syscall
    ret

# func futex(addr unsafe.Pointer, op int32, val uint32, ts unsafe.Pointer, addr2 unsafe.Pointer, val3 uint32) int32
.globl runtime.futex
runtime.futex:
    mov r9, r8                          # val3
    mov r8, rsi                         # addr2
    mov r10, rdi                        # ts
    mov edx, ecx                        # val
    mov esi, ebx                        # op
    mov rdi, rax                        # addr
    mov eax, SYS_futex
    syscall
    ret

# func mmap(addr unsafe.Pointer, n uintptr, prot, flags, fd int32, off uint32) (p unsafe.Pointer)
# Returns the address, or -errno.
.globl runtime.mmap
runtime.mmap:
    mov r9, r8                          # off
    mov r8, rsi                         # fd
    mov r10, rdi                        # flags
    mov rdx, rcx                        # prot
    mov rsi, rbx                        # n
    mov rdi, rax                        # addr
    mov eax, SYS_mmap
    syscall
    ret

# func munmap(addr unsafe.Pointer, n uintptr) int32
.globl runtime.munmap
runtime.munmap:
    mov rsi, rbx
    mov rdi, rax
    mov eax, SYS_munmap
    syscall
    ret

# func mprotect(addr unsafe.Pointer, n uintptr, prot int32) int32
.globl runtime.mprotect
runtime.mprotect:
    mov edx, ecx
    mov rsi, rbx
    mov rdi, rax
    mov eax, SYS_mprotect
    syscall
    ret

# func clone(flags int32, stk, mp, gp, fn unsafe.Pointer) int32
# Start a thread running fn on stack stk with m = mp, g = gp (mp's g0).
# The child gets TLS = &mp.tls[1] (CLONE_SETTLS), so its fs:[-8] is mp.tls[0].
# Returns the child's tid in the parent.  R12 and R13 carry fn and mp to the child;
# the parent gets its own back (callee-saved registers survive runtime calls).
.globl runtime.clone
runtime.clone:
    push r12
    push r13

    # copy mp, gp, fn where the child can find them (the kernel copies registers)
    mov r13, rcx                        # r13 = mp
    mov r9, rdi                         # r9 = gp
    mov r12, rsi                        # r12 = fn

    # clone(flags | CLONE_SETTLS, stk, NULL, NULL, &mp.tls[1])
    lea r8, [rcx + m_tls + 8]
    mov rdi, rax
    or rdi, CLONE_SETTLS
    mov rsi, rbx
    xor edx, edx
    xor r10d, r10d
    mov eax, SYS_clone
    syscall

    # in the parent, return
    test rax, rax
    jz 1f
    pop r13
    pop r12
    ret
1:
    # in the child, on the new stack: g = gp (TLS is already &mp.tls[1])
    xor ebp, ebp                        # end of the frame-pointer chain
    mov qword ptr fs:[-8], r9
    mov r14, r9
    call r12                            # fn = mstart; never returns

    # it did return: exit this thread
    mov edi, 111
    mov eax, SYS_exit
    syscall
    hlt

# func settls(addr)
# Set the FS base to addr, so fs:[-8] is the word below it (m.tls[0]).
.globl runtime.settls
runtime.settls:
    mov rsi, rax
    mov edi, ARCH_SET_FS
    mov eax, SYS_arch_prctl
    syscall
    ret

# func osyield()
.globl runtime.osyield
runtime.osyield:
    mov eax, SYS_sched_yield
    syscall
    ret

# func gettid() uint32
.globl runtime.gettid
runtime.gettid:
    mov eax, SYS_gettid
    syscall
    ret

# func rt_sigaction(sig uintptr, new, old *sigactiont, size uintptr) int32
.globl runtime.rt_sigaction
runtime.rt_sigaction:
    mov rdx, rcx                        # old
    mov r10d, edi                       # size
    mov rsi, rbx                        # new
    mov rdi, rax                        # sig
    mov eax, SYS_rt_sigaction
    syscall
    ret

# func sigreturn__sigaction()
# The sa_restorer of every handler: the handler's `ret` lands here, on the
# signal frame, and rt_sigreturn restores the interrupted context from it.
.globl runtime.sigreturn__sigaction
runtime.sigreturn__sigaction:
    mov eax, SYS_rt_sigreturn
    syscall
    hlt                                 # not reached

# func rtsigprocmask(how int32, new, old *sigset, size int32)
.globl runtime.rtsigprocmask
runtime.rtsigprocmask:
    mov r10d, edi                       # size
    mov rdx, rcx                        # old
    mov rsi, rbx                        # new
    mov edi, eax                        # how
    mov eax, SYS_rt_sigprocmask
    syscall
    ret

# func sigaltstack(new, old *stackt) int32
.globl runtime.sigaltstack
runtime.sigaltstack:
    mov rsi, rbx
    mov rdi, rax
    mov eax, SYS_sigaltstack
    syscall
    ret

# func tgkill(tgid, tid, sig int) int32
.globl runtime.tgkill
runtime.tgkill:
    mov edx, ecx
    mov esi, ebx
    mov edi, eax
    mov eax, SYS_tgkill
    syscall
    ret

# func getpid() int
.globl runtime.getpid
runtime.getpid:
    mov eax, SYS_getpid
    syscall
    ret

# func nanosleep(ts *timespec) int32
.globl runtime.nanosleep
runtime.nanosleep:
    xor esi, esi
    mov rdi, rax
    mov eax, SYS_nanosleep
    syscall
    ret

# func clock_gettime(clock int32, ts *timespec) int32
.globl runtime.clock_gettime
runtime.clock_gettime:
    mov rsi, rbx
    mov edi, eax
    mov eax, SYS_clock_gettime
    syscall
    ret

# func read(fd int32, p unsafe.Pointer, n int32) int32
.globl runtime.read1
runtime.read1:
    mov edx, ecx
    mov rsi, rbx
    mov edi, eax
    mov eax, SYS_read
    syscall
    ret

# func pipe2(fds *[2]int32, flags int32) int32
.globl runtime.pipe2
runtime.pipe2:
    mov esi, ebx
    mov rdi, rax
    mov eax, SYS_pipe2
    syscall
    ret

# func epollcreate1(flags int32) int32
.globl runtime.epollcreate1
runtime.epollcreate1:
    mov edi, eax
    mov eax, SYS_epoll_create1
    syscall
    ret

# func epollctl(epfd, op, fd int32, ev *epollevent) int32
.globl runtime.epollctl
runtime.epollctl:
    mov r10, rdi
    mov edx, ecx
    mov esi, ebx
    mov edi, eax
    mov eax, SYS_epoll_ctl
    syscall
    ret

# func epollwait(epfd int32, ev *epollevent, nev, timeout int32) int32  (epoll_pwait, no sigmask)
.globl runtime.epollwait
runtime.epollwait:
    mov r10, rdi
    mov edx, ecx
    mov rsi, rbx
    mov edi, eax
    xor r8d, r8d
    xor r9d, r9d
    mov eax, SYS_epoll_pwait
    syscall
    ret
