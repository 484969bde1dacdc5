// stackgrow.s (arm64): goroutine stacks grow, in the two ways the runtime knows.
//
// Every goroutine starts on an 8 KiB stack (runtime_options "initial_stack").
// Both recursions below go 100,001 frames deep with a 64-byte frame each:
// about 6.4 MB of stack, so each stack is copied ten times, 8 KiB -> 16 KiB
// -> ... -> 8 MiB, always to a stack twice the size.
//
// 1. Go's way: the prologue check.  sum starts with `.stackcheck 64`, which
//    the assembler expands into what the Go compiler puts at the top of every
//    function: compare SP with g.stackguard0 (stack.lo + 928, read through
//    X28 = g) and, if the 64-byte frame would not fit, call
//    runtime.morestack_noctxt (with the function's own LR in X3).
//    morestack (asm) saves the function's state in g.sched and calls
//    newstack on g0, which allocates the bigger stack, copies the old one
//    over (moving every saved X29 in the frame-pointer chain by the distance
//    between the two stacks) and resumes the function right after its call
//    to morestack; the check runs again and now passes.
//    Trace events: "stackgrow" (goid, old lo/hi, new lo/hi, relocated words,
//    bytes copied).
//
// 2. The guard page: sumsq has no check (a "nosplit" function).  It just
//    stores, and runs off the bottom of its stack into the PROT_NONE page the
//    runtime keeps below every stack.  The CPU faults, the kernel delivers
//    SIGSEGV on the M's signal stack (gsignal), and the runtime's handler sees
//    a fault in the running G's guard page: it grows and copies the stack,
//    moves SP/X29 (and any register pointing into the old stack) in the saved
//    signal context, and returns to the faulting instruction, which now
//    succeeds.  The faulting `stp x29, x30, [sp, #-64]!` has not written SP
//    back (a faulting access changes nothing), so the retry is exact.
//    Trace events: "stackgrow" then "guardgrow" (goid, pc).
//    sumsq runs in a new goroutine (a fresh 8 KiB stack: main's stack is
//    already big by then), which sends its result to main on a channel.
//
// In Go:
//   func sum(n int) int   { if n == 0 { return 0 }; return n + sum(n-1) }
//   //go:nosplit  (Go's linker would reject this recursion: "nosplit stack overflow")
//   func sumsq(n int) int { if n == 0 { return 0 }; return n*n + sumsq(n-1) }
//   func main() {
//       println(sum(100000))
//       sqch := make(chan int)
//       go func() { sqch <- sumsq(100000) }()
//       println(<-sqch)
//   }
//
// Expected output (any --procs, any --seed):
//   5000050000          sum(100000)   = 100000 * 100001 / 2
//   333338333350000     sumsq(100000) = 100000 * 100001 * 200001 / 6
//
// Part 2 needs guard pages, which are off by default (they are costly with
// thousands of goroutines):
//   gosched-emu run programs/arm64/stackgrow.s --arch arm64 --guard-pages --trace 2>&1 | grep grow
// shows 20 "stackgrow" events (10 for goroutine 1, 10 for goroutine 2) and 10
// "guardgrow" events.  Without --guard-pages nothing stops sumsq: it writes
// about 6 MB below its 8 KiB stack, over whatever is mapped there -- here the
// stacks part 1 left behind, so the output still comes out right, by luck, as
// in C without guard pages.  The trace then shows no guardgrow at all.

.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-16]!
    mov x29, sp

    // 1. println(sum(100000)): grows main's stack through the prologue check
    movz x0, #0x86a0
    movk x0, #0x1, lsl #16          // x0 = 100000 (0x186a0: two 16-bit halves)
    bl sum
    bl runtime.printint             // 5000050000

    // 2. go squarer(100000); println(<-sqch): grows the new goroutine's stack
    //    through the guard page
    mov x0, #0
    bl runtime.makechan             // unbuffered
    adr x1, sqch
    str x0, [x1]
    adr x0, squarer
    movz x1, #0x86a0
    movk x1, #0x1, lsl #16          // x1 = 100000
    bl runtime.newproc              // go squarer(100000)
    adr x0, sqch
    ldr x0, [x0]
    bl runtime.chanrecv             // x0 = sumsq(100000)
    bl runtime.printint             // 333338333350000

    ldp x29, x30, [sp], #16
    ret                             // main returns: exit 0

// sum(n) = n + sum(n - 1): a 64-byte frame (frame record X29/X30 and 48
// bytes of locals), with Go's prologue check in front.
sum:
    .stackcheck 64                  // grow first if 64 bytes do not fit
    stp x29, x30, [sp, #-64]!       // frame record: [x29] = caller's x29,
    mov x29, sp                     //               [x29 + 8] = return address
    str x0, [sp, #16]               // save n: it does not survive the call
    cbz x0, sum.bottom
    sub x0, x0, #1
    bl sum                          // x0 = sum(n - 1)
    ldr x1, [sp, #16]
    add x0, x0, x1                  // + n
    ldp x29, x30, [sp], #64
    ret
sum.bottom:                         // n == 0, the deepest frame (100,001 deep): x0 = 0
    ldp x29, x30, [sp], #64
    ret

// sumsq(n) = n*n + sumsq(n - 1): the same 64-byte frame, but NO check -- the
// first store below the stack faults in the guard page.
sumsq:
    stp x29, x30, [sp, #-64]!       // <- faults here when the stack is full
    mov x29, sp
    str x0, [sp, #16]
    cbz x0, sumsq.bottom
    sub x0, x0, #1
    bl sumsq                        // x0 = sumsq(n - 1)
    ldr x1, [sp, #16]
    madd x0, x1, x1, x0             // + n*n
    ldp x29, x30, [sp], #64
    ret
sumsq.bottom:                       // n == 0, the deepest frame: x0 = 0
    ldp x29, x30, [sp], #64
    ret

// squarer(n): the goroutine: sqch <- sumsq(n); returning ends it
squarer:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    bl sumsq
    mov x1, x0
    adr x0, sqch
    ldr x0, [x0]
    bl runtime.chansend
    ldp x29, x30, [sp], #16
    ret

.data
sqch: .quad 0
