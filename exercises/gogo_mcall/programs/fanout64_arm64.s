// (exercise copy of programs/arm64/fanout.s with 64 workers and 200 jobs)
// fanout.s (arm64): fan-out / fan-in with 1,000 worker goroutines.
//
// main.main makes two channels: `jobs`, buffered with room for every job, and
// `results`, unbuffered.  It starts NWORKERS worker goroutines (fan-out), sends
// the jobs 0, 1, ..., NJOBS-1 on jobs and closes it.  Each worker receives
// jobs n until jobs is closed and drained, and sends n*n on results for each.
// main receives NJOBS results (fan-in), adds them up and prints the sum:
//
//   332833500                       (0*0 + 1*1 + ... + 999*999)
//
// then returns, which exits with status 0.  Which worker squares which job,
// and in what order the results arrive, depends on --procs and --seed; the sum
// does not.  Because jobs has room for all NJOBS words, main never blocks while
// sending them.  With one P (--procs 1) no worker runs until main blocks in its
// first receive on results, so every job goes through the buffer.  With more
// Ps, workers start on the other Ps (stolen from main's run queue) while main is
// still spawning: a worker already waiting in its receive gets its job handed
// over directly by main's send, and a worker with a result waits on results'
// send queue until main collects it.
//
// In Go:
//   func worker(i int) { for n := range jobs { results <- n * n } }
//   func main() {
//       jobs, results = make(chan int, 1000), make(chan int)
//       for i := 0; i < 1000; i++ { go worker(i) }
//       for n := 0; n < 1000; n++ { jobs <- n }
//       close(jobs)
//       sum := 0
//       for i := 0; i < 1000; i++ { sum += <-results }
//       println(sum)
//   }
//
// A runtime program: entry main.main; runtime calls use Go's ABIInternal
// registers (arguments x0, x1, x2, ...; results x0, x1).  A call clobbers
// every register except sp, x29 and x28 (g); x18, x27 and x28 are never
// written here.  Values that must survive a call live in the stack frame.

.equ NWORKERS, 64
.equ NJOBS, 200

.text

// main.main(): fan the jobs out to the workers, fan the results in, print the sum.
// Frame: [x29, #16] = loop counter i, [x29, #24] = sum.
.globl main.main
main.main:
    stp x29, x30, [sp, #-32]!
    mov x29, sp

    // jobs = makechan(NJOBS): main can queue every job without blocking
    mov x0, #NJOBS                  // x0 = buffer size
    bl runtime.makechan
    adr x1, jobs
    str x0, [x1]

    // results = makechan(0): unbuffered, each send waits for main
    mov x0, #0                      // x0 = buffer size 0
    bl runtime.makechan
    adr x1, results
    str x0, [x1]

    // fan out: for i := 0; i < NWORKERS; i++ { go worker(i) }
    str xzr, [x29, #16]
main.spawn:
    adr x0, worker                  // x0 = fn
    ldr x1, [x29, #16]              // x1 = its argument: the worker index
    bl runtime.newproc
    ldr x0, [x29, #16]
    add x0, x0, #1
    str x0, [x29, #16]
    cmp x0, #NWORKERS
    b.lt main.spawn

    // for n := 0; n < NJOBS; n++ { jobs <- n }
    str xzr, [x29, #16]
main.send:
    adr x0, jobs
    ldr x0, [x0]                    // x0 = channel
    ldr x1, [x29, #16]              // x1 = the job n
    bl runtime.chansend
    ldr x0, [x29, #16]
    add x0, x0, #1
    str x0, [x29, #16]
    cmp x0, #NJOBS
    b.lt main.send

    // close(jobs): once the buffer is drained, the workers' receives get ok=false
    adr x0, jobs
    ldr x0, [x0]
    bl runtime.closechan

    // fan in: sum = 0; for i := 0; i < NJOBS; i++ { sum += <-results }
    str xzr, [x29, #24]
    str xzr, [x29, #16]
main.collect:
    adr x0, results
    ldr x0, [x0]                    // x0 = channel
    bl runtime.chanrecv             // x0 = value, x1 = ok
    ldr x2, [x29, #24]
    add x2, x2, x0
    str x2, [x29, #24]
    ldr x0, [x29, #16]
    add x0, x0, #1
    str x0, [x29, #16]
    cmp x0, #NJOBS
    b.lt main.collect

    // print the sum and return from main.main: exit status 0
    ldr x0, [x29, #24]              // x0 = value to print
    bl runtime.printint
    ldp x29, x30, [sp], #32
    ret

// worker(i): for n := range jobs { results <- n * n }.  The index i (in x0)
// is not needed: the workers are interchangeable.
worker:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
worker.loop:
    // n, ok = <-jobs; stop when jobs is closed and drained
    adr x0, jobs
    ldr x0, [x0]                    // x0 = channel
    bl runtime.chanrecv             // x0 = n, x1 = ok
    cbz x1, worker.done

    // results <- n * n
    mul x1, x0, x0                  // x1 = word to send
    adr x0, results
    ldr x0, [x0]                    // x0 = channel
    bl runtime.chansend
    b worker.loop

worker.done:
    // returning from a goroutine's function ends the goroutine (runtime.goexit)
    ldp x29, x30, [sp], #16
    ret

.bss
.balign 8
jobs:       .space 8                // chan int, buffered: main -> workers
results:    .space 8                // chan int, unbuffered: workers -> main
