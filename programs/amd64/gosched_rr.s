# gosched_rr.s (amd64): three goroutines take turns with runtime.gosched().
#
# main.main starts three goroutines running `spinner` with the ids 1, 2, 3,
# then waits for them: it receives three times on the unbuffered channel
# `done`.  Each spinner, ROUNDS times, prints "goroutine <id>" and calls
# runtime.gosched(), which puts it at the tail of the global run queue and
# lets the scheduler run someone else; then it sends its id on done and
# returns.  With one P (--procs 1) one goroutine runs at a time, and the order
# of the lines is the scheduler's order.  Output with --procs 1 --seed 0 (the
# same for every seed, and on both arches):
#
#   goroutine 3
#   goroutine 3
#   goroutine 1
#   goroutine 2
#   goroutine 3
#   goroutine 1
#   goroutine 2
#   goroutine 1
#   goroutine 2
#
# How the scheduler gets there:
#   1. newproc puts the new G in the P's `runnext` slot, and the G that was
#      there moves to the tail of the local run queue.  After the three
#      newprocs, runnext = spinner 3 and the local queue = [1, 2].
#   2. main blocks on done; the scheduler takes runnext first: spinner 3
#      prints and calls gosched, which puts it on the global queue: [3].
#   3. Every 61st round (p.schedtick % 61 == 0) the scheduler looks at the
#      global queue before the local one, so that global Gs cannot starve.
#      The tick is still 0 here (a G taken from runnext inherits the time slice
#      and does not advance it), so spinner 3 runs again at once.
#   4. Then the local queue: spinners 1 and 2 print and gosched; the global
#      queue is now [3, 1, 2], and from here on the three take turns in that
#      order: round-robin.
#   5. Spinner 3, one round ahead, finishes first; its send on done readies
#      main, which runs next (from runnext) and blocks again; then 1 and 2
#      print their last round.
# With more Ps the spinners run in parallel and the order of the lines depends
# on the interleaving (each line is still printed whole, by one write).
#
# In Go:
#   func spinner(id int) {
#       for i := 0; i < 3; i++ { fmt.Println("goroutine", id); runtime.Gosched() }
#       done <- id
#   }
#   func main() {
#       done = make(chan int)
#       for id := 1; id <= 3; id++ { go spinner(id) }
#       for i := 0; i < 3; i++ { <-done }
#   }
#
# A runtime program: entry main.main; runtime calls use Go's ABIInternal
# registers (arguments rax, rbx, rcx, ...; results rax, rbx).  A call
# clobbers every register except rsp, rbp and r14 (g, never written here),
# so values that must survive a call live in the stack frame.

.equ NSPINNERS, 3
.equ ROUNDS, 3
.equ LINE_LEN, 12                   # length of "goroutine 1\n"

.text

# main.main(): start the spinners, wait for all of them, return (exit 0).
# Frame: [rbp - 8] = loop counter.
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    sub rsp, 16

    # done = makechan(0): unbuffered
    xor eax, eax                    # rax = buffer size 0
    call runtime.makechan
    mov qword ptr [rip + done], rax

    # for id := 1; id <= NSPINNERS; id++ { go spinner(id) }
    mov qword ptr [rbp - 8], 1
main.spawn:
    lea rax, [rip + spinner]        # rax = fn
    mov rbx, qword ptr [rbp - 8]    # rbx = its argument: the id
    call runtime.newproc
    inc qword ptr [rbp - 8]
    cmp qword ptr [rbp - 8], NSPINNERS
    jle main.spawn

    # for i := 0; i < NSPINNERS; i++ { <-done }: main blocks, the spinners run
    mov qword ptr [rbp - 8], 0
main.wait:
    mov rax, qword ptr [rip + done] # rax = channel
    call runtime.chanrecv           # rax = an id, rbx = ok
    inc qword ptr [rbp - 8]
    cmp qword ptr [rbp - 8], NSPINNERS
    jl main.wait

    # return from main.main: the process exits with status 0
    mov rsp, rbp
    pop rbp
    ret

# spinner(id): ROUNDS times print "goroutine <id>" and yield; then done <- id.
# Frame: [rbp - 8] = id, [rbp - 16] = rounds left.
spinner:
    push rbp
    mov rbp, rsp
    sub rsp, 16
    mov qword ptr [rbp - 8], rax    # the id arrives in rax
    mov qword ptr [rbp - 16], ROUNDS
spinner.loop:
    # print "goroutine <id>\n": line id-1 of the table, in one write
    mov rax, qword ptr [rbp - 8]
    dec rax
    imul rax, rax, LINE_LEN         # rax = offset of our line
    lea rcx, [rip + lines]
    add rax, rcx                    # rax = pointer
    mov ebx, LINE_LEN               # rbx = length
    call runtime.printstr

    # runtime.gosched(): to the tail of the global run queue; another G runs
    call runtime.gosched

    # next round
    dec qword ptr [rbp - 16]
    jnz spinner.loop

    # done <- id: wakes main
    mov rax, qword ptr [rip + done] # rax = channel
    mov rbx, qword ptr [rbp - 8]    # rbx = word to send
    call runtime.chansend

    # returning from a goroutine's function ends the goroutine (runtime.goexit)
    mov rsp, rbp
    pop rbp
    ret

.data
# one line per spinner, LINE_LEN bytes each: a line is printed with one write,
# so lines from spinners running in parallel never mix
lines:  .ascii "goroutine 1\n"
        .ascii "goroutine 2\n"
        .ascii "goroutine 3\n"

.bss
.balign 8
done:   .space 8                    # chan int: spinners -> main
