# stackgrow.s (amd64): goroutine stacks grow, in the two ways the runtime knows.
#
# Every goroutine starts on an 8 KiB stack (runtime_options "initial_stack").
# Both recursions below go 100,001 frames deep with a 64-byte frame each:
# about 6.4 MB of stack, so each stack is copied ten times, 8 KiB -> 16 KiB
# -> ... -> 8 MiB, always to a stack twice the size.
#
# 1. Go's way: the prologue check.  sum starts with `.stackcheck 64`, which
#    the assembler expands into what the Go compiler puts at the top of every
#    function: compare RSP with g.stackguard0 (stack.lo + 928, read through
#    R14 = g) and, if the 64-byte frame would not fit, call
#    runtime.morestack_noctxt.  morestack (asm) saves the function's state in
#    g.sched and calls newstack on g0, which allocates the bigger stack, copies
#    the old one over (moving every saved RBP in the frame-pointer chain by
#    the distance between the two stacks) and resumes the function right after
#    its call to morestack; the check runs again and now passes.
#    Trace events: "stackgrow" (goid, old lo/hi, new lo/hi, relocated words,
#    bytes copied).
#
# 2. The guard page: sumsq has no check (a "nosplit" function).  It just
#    pushes, and runs off the bottom of its stack into the PROT_NONE page the
#    runtime keeps below every stack.  The CPU faults, the kernel delivers
#    SIGSEGV on the M's signal stack (gsignal), and the runtime's handler sees
#    a fault in the running G's guard page: it grows and copies the stack,
#    moves RSP/RBP (and any register pointing into the old stack) in the
#    saved signal context, and returns to the faulting instruction, which
#    now succeeds.  Trace events: "stackgrow" then "guardgrow" (goid, pc).
#    sumsq runs in a new goroutine (a fresh 8 KiB stack: main's stack is
#    already big by then), which sends its result to main on a channel.
#
# In Go:
#   func sum(n int) int   { if n == 0 { return 0 }; return n + sum(n-1) }
#   //go:nosplit  (Go's linker would reject this recursion: "nosplit stack overflow")
#   func sumsq(n int) int { if n == 0 { return 0 }; return n*n + sumsq(n-1) }
#   func main() {
#       println(sum(100000))
#       sqch := make(chan int)
#       go func() { sqch <- sumsq(100000) }()
#       println(<-sqch)
#   }
#
# Expected output (any --procs, any --seed):
#   5000050000          sum(100000)   = 100000 * 100001 / 2
#   333338333350000     sumsq(100000) = 100000 * 100001 * 200001 / 6
#
# Part 2 needs guard pages, which are off by default (they are costly with
# thousands of goroutines):
#   gosched-emu run programs/amd64/stackgrow.s --arch amd64 --guard-pages --trace 2>&1 | grep grow
# shows 20 "stackgrow" events (10 for goroutine 1, 10 for goroutine 2) and 10
# "guardgrow" events.  Without --guard-pages nothing stops sumsq: it writes
# about 6 MB below its 8 KiB stack, over whatever is mapped there -- here the
# stacks part 1 left behind, so the output still comes out right, by luck, as
# in C without guard pages.  The trace then shows no guardgrow at all.

.equ N, 100000

.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp

    # 1. println(sum(N)): grows main's stack through the prologue check
    mov eax, N
    call sum
    call runtime.printint           # 5000050000

    # 2. go squarer(N); println(<-sqch): grows the new goroutine's stack
    #    through the guard page
    xor eax, eax
    call runtime.makechan           # unbuffered
    mov qword ptr [rip + sqch], rax
    lea rax, [rip + squarer]
    mov ebx, N
    call runtime.newproc            # go squarer(N)
    mov rax, qword ptr [rip + sqch]
    call runtime.chanrecv           # rax = sumsq(N)
    call runtime.printint           # 333338333350000

    pop rbp
    ret                             # main returns: exit 0

# sum(n) = n + sum(n - 1): a 64-byte frame (return address, saved RBP, 48
# bytes of locals), with Go's prologue check in front.
sum:
    .stackcheck 64                  # grow first if 64 bytes do not fit
    push rbp                        # frame record: [rbp] = caller's rbp,
    mov rbp, rsp                    #               [rbp + 8] = return address
    sub rsp, 48
    mov qword ptr [rbp - 8], rax    # save n: it does not survive the call
    test rax, rax
    jz sum.bottom
    dec rax
    call sum                        # rax = sum(n - 1)
    add rax, qword ptr [rbp - 8]    # + n
    mov rsp, rbp
    pop rbp
    ret
sum.bottom:                         # n == 0, the deepest frame (100,001 deep): rax = 0
    mov rsp, rbp
    pop rbp
    ret

# sumsq(n) = n*n + sumsq(n - 1): the same 64-byte frame, but NO check -- the
# first push below the stack faults in the guard page.
sumsq:
    push rbp                        # <- faults here when the stack is full
    mov rbp, rsp
    sub rsp, 48
    mov qword ptr [rbp - 8], rax
    test rax, rax
    jz sumsq.bottom
    dec rax
    call sumsq                      # rax = sumsq(n - 1)  (or faults here)
    mov rcx, qword ptr [rbp - 8]
    imul rcx, rcx
    add rax, rcx                    # + n*n
    mov rsp, rbp
    pop rbp
    ret
sumsq.bottom:                       # n == 0, the deepest frame: rax = 0
    mov rsp, rbp
    pop rbp
    ret

# squarer(n): the goroutine: sqch <- sumsq(n); returning ends it
squarer:
    push rbp
    mov rbp, rsp
    call sumsq
    mov rbx, rax
    mov rax, qword ptr [rip + sqch]
    call runtime.chansend
    pop rbp
    ret

.data
sqch: .quad 0
