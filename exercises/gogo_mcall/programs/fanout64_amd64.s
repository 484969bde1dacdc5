# (exercise copy of programs/amd64/fanout.s with 64 workers and 200 jobs)
# fanout.s (amd64): fan-out / fan-in with 1,000 worker goroutines.
#
# main.main makes two channels: `jobs`, buffered with room for every job, and
# `results`, unbuffered.  It starts NWORKERS worker goroutines (fan-out), sends
# the jobs 0, 1, ..., NJOBS-1 on jobs and closes it.  Each worker receives
# jobs n until jobs is closed and drained, and sends n*n on results for each.
# main receives NJOBS results (fan-in), adds them up and prints the sum:
#
#   332833500                       (0*0 + 1*1 + ... + 999*999)
#
# then returns, which exits with status 0.  Which worker squares which job,
# and in what order the results arrive, depends on --procs and --seed; the sum
# does not.  Because jobs has room for all NJOBS words, main never blocks while
# sending them.  With one P (--procs 1) no worker runs until main blocks in its
# first receive on results, so every job goes through the buffer.  With more
# Ps, workers start on the other Ps (stolen from main's run queue) while main is
# still spawning: a worker already waiting in its receive gets its job handed
# over directly by main's send, and a worker with a result waits on results'
# send queue until main collects it.
#
# In Go:
#   func worker(i int) { for n := range jobs { results <- n * n } }
#   func main() {
#       jobs, results = make(chan int, 1000), make(chan int)
#       for i := 0; i < 1000; i++ { go worker(i) }
#       for n := 0; n < 1000; n++ { jobs <- n }
#       close(jobs)
#       sum := 0
#       for i := 0; i < 1000; i++ { sum += <-results }
#       println(sum)
#   }
#
# A runtime program: entry main.main; runtime calls use Go's ABIInternal
# registers (arguments rax, rbx, rcx, ...; results rax, rbx).  A call
# clobbers every register except rsp, rbp and r14 (g, never written here),
# so values that must survive a call live in the stack frame.

.equ NWORKERS, 64
.equ NJOBS, 200

.text

# main.main(): fan the jobs out to the workers, fan the results in, print the sum.
# Frame: [rbp - 8] = loop counter i, [rbp - 16] = sum.
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    sub rsp, 16

    # jobs = makechan(NJOBS): main can queue every job without blocking
    mov eax, NJOBS                  # rax = buffer size
    call runtime.makechan
    mov qword ptr [rip + jobs], rax

    # results = makechan(0): unbuffered, each send waits for main
    xor eax, eax                    # rax = buffer size 0
    call runtime.makechan
    mov qword ptr [rip + results], rax

    # fan out: for i := 0; i < NWORKERS; i++ { go worker(i) }
    mov qword ptr [rbp - 8], 0
main.spawn:
    lea rax, [rip + worker]         # rax = fn
    mov rbx, qword ptr [rbp - 8]    # rbx = its argument: the worker index
    call runtime.newproc
    inc qword ptr [rbp - 8]
    cmp qword ptr [rbp - 8], NWORKERS
    jl main.spawn

    # for n := 0; n < NJOBS; n++ { jobs <- n }
    mov qword ptr [rbp - 8], 0
main.send:
    mov rax, qword ptr [rip + jobs] # rax = channel
    mov rbx, qword ptr [rbp - 8]    # rbx = the job n
    call runtime.chansend
    inc qword ptr [rbp - 8]
    cmp qword ptr [rbp - 8], NJOBS
    jl main.send

    # close(jobs): once the buffer is drained, the workers' receives get ok=false
    mov rax, qword ptr [rip + jobs]
    call runtime.closechan

    # fan in: sum = 0; for i := 0; i < NJOBS; i++ { sum += <-results }
    mov qword ptr [rbp - 16], 0
    mov qword ptr [rbp - 8], 0
main.collect:
    mov rax, qword ptr [rip + results]  # rax = channel
    call runtime.chanrecv           # rax = value, rbx = ok
    add qword ptr [rbp - 16], rax
    inc qword ptr [rbp - 8]
    cmp qword ptr [rbp - 8], NJOBS
    jl main.collect

    # print the sum and return from main.main: exit status 0
    mov rax, qword ptr [rbp - 16]   # rax = value to print
    call runtime.printint
    mov rsp, rbp
    pop rbp
    ret

# worker(i): for n := range jobs { results <- n * n }.  The index i (in rax)
# is not needed: the workers are interchangeable.
worker:
    push rbp
    mov rbp, rsp
worker.loop:
    # n, ok = <-jobs; stop when jobs is closed and drained
    mov rax, qword ptr [rip + jobs] # rax = channel
    call runtime.chanrecv           # rax = n, rbx = ok
    test rbx, rbx
    jz worker.done

    # results <- n * n
    imul rax, rax
    mov rbx, rax                    # rbx = word to send
    mov rax, qword ptr [rip + results]  # rax = channel
    call runtime.chansend
    jmp worker.loop

worker.done:
    # returning from a goroutine's function ends the goroutine (runtime.goexit)
    pop rbp
    ret

.bss
.balign 8
jobs:       .space 8                # chan int, buffered: main -> workers
results:    .space 8                # chan int, unbuffered: workers -> main
