// gosched_rr.s (arm64): three goroutines take turns with runtime.gosched().
//
// main.main starts three goroutines running `spinner` with the ids 1, 2, 3,
// then waits for them: it receives three times on the unbuffered channel
// `done`.  Each spinner, ROUNDS times, prints "goroutine <id>" and calls
// runtime.gosched(), which puts it at the tail of the global run queue and
// lets the scheduler run someone else; then it sends its id on done and
// returns.  With one P (--procs 1) one goroutine runs at a time, and the order
// of the lines is the scheduler's order.  Output with --procs 1 --seed 0 (the
// same for every seed, and on both arches):
//
//   goroutine 3
//   goroutine 3
//   goroutine 1
//   goroutine 2
//   goroutine 3
//   goroutine 1
//   goroutine 2
//   goroutine 1
//   goroutine 2
//
// How the scheduler gets there:
//   1. newproc puts the new G in the P's `runnext` slot, and the G that was
//      there moves to the tail of the local run queue.  After the three
//      newprocs, runnext = spinner 3 and the local queue = [1, 2].
//   2. main blocks on done; the scheduler takes runnext first: spinner 3
//      prints and calls gosched, which puts it on the global queue: [3].
//   3. Every 61st round (p.schedtick % 61 == 0) the scheduler looks at the
//      global queue before the local one, so that global Gs cannot starve.
//      The tick is still 0 here (a G taken from runnext inherits the time slice
//      and does not advance it), so spinner 3 runs again at once.
//   4. Then the local queue: spinners 1 and 2 print and gosched; the global
//      queue is now [3, 1, 2], and from here on the three take turns in that
//      order: round-robin.
//   5. Spinner 3, one round ahead, finishes first; its send on done readies
//      main, which runs next (from runnext) and blocks again; then 1 and 2
//      print their last round.
// With more Ps the spinners run in parallel and the order of the lines depends
// on the interleaving (each line is still printed whole, by one write).
//
// In Go:
//   func spinner(id int) {
//       for i := 0; i < 3; i++ { fmt.Println("goroutine", id); runtime.Gosched() }
//       done <- id
//   }
//   func main() {
//       done = make(chan int)
//       for id := 1; id <= 3; id++ { go spinner(id) }
//       for i := 0; i < 3; i++ { <-done }
//   }
//
// A runtime program: entry main.main; runtime calls use Go's ABIInternal
// registers (arguments x0, x1, x2, ...; results x0, x1).  A call clobbers
// every register except sp, x29 and x28 (g); x18, x27 and x28 are never
// written here.  Values that must survive a call live in the stack frame.

.equ NSPINNERS, 3
.equ ROUNDS, 3
.equ LINE_LEN, 12                   // length of "goroutine 1\n"

.text

// main.main(): start the spinners, wait for all of them, return (exit 0).
// Frame: [x29, #16] = loop counter.
.globl main.main
main.main:
    stp x29, x30, [sp, #-32]!
    mov x29, sp

    // done = makechan(0): unbuffered
    mov x0, #0                      // x0 = buffer size 0
    bl runtime.makechan
    adr x1, done
    str x0, [x1]

    // for id := 1; id <= NSPINNERS; id++ { go spinner(id) }
    mov x0, #1
    str x0, [x29, #16]
main.spawn:
    adr x0, spinner                 // x0 = fn
    ldr x1, [x29, #16]              // x1 = its argument: the id
    bl runtime.newproc
    ldr x0, [x29, #16]
    add x0, x0, #1
    str x0, [x29, #16]
    cmp x0, #NSPINNERS
    b.le main.spawn

    // for i := 0; i < NSPINNERS; i++ { <-done }: main blocks, the spinners run
    str xzr, [x29, #16]
main.wait:
    adr x0, done
    ldr x0, [x0]                    // x0 = channel
    bl runtime.chanrecv             // x0 = an id, x1 = ok
    ldr x0, [x29, #16]
    add x0, x0, #1
    str x0, [x29, #16]
    cmp x0, #NSPINNERS
    b.lt main.wait

    // return from main.main: the process exits with status 0
    ldp x29, x30, [sp], #32
    ret

// spinner(id): ROUNDS times print "goroutine <id>" and yield; then done <- id.
// Frame: [x29, #16] = id, [x29, #24] = rounds left.
spinner:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    str x0, [x29, #16]              // the id arrives in x0
    mov x0, #ROUNDS
    str x0, [x29, #24]
spinner.loop:
    // print "goroutine <id>\n": line id-1 of the table, in one write
    ldr x0, [x29, #16]
    sub x0, x0, #1
    mov x1, #LINE_LEN
    mul x0, x0, x1                  // x0 = offset of our line
    adr x2, lines
    add x0, x2, x0                  // x0 = pointer
    mov x1, #LINE_LEN               // x1 = length
    bl runtime.printstr

    // runtime.gosched(): to the tail of the global run queue; another G runs
    bl runtime.gosched

    // next round
    ldr x0, [x29, #24]
    subs x0, x0, #1
    str x0, [x29, #24]
    b.ne spinner.loop

    // done <- id: wakes main
    adr x0, done
    ldr x0, [x0]                    // x0 = channel
    ldr x1, [x29, #16]              // x1 = word to send
    bl runtime.chansend

    // returning from a goroutine's function ends the goroutine (runtime.goexit)
    ldp x29, x30, [sp], #32
    ret

.data
// one line per spinner, LINE_LEN bytes each: a line is printed with one write,
// so lines from spinners running in parallel never mix
lines:  .ascii "goroutine 1\n"
        .ascii "goroutine 2\n"
        .ascii "goroutine 3\n"

.bss
.balign 8
done:   .space 8                    // chan int: spinners -> main
