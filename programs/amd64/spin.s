# spin.s (amd64): async preemption is real.
#
# With --procs 1, main starts a goroutine that spins forever in `1: jmp 1b` --
# no calls, so no cooperative yield point -- then yields to it with gosched.
# The spinner never gives the processor back by itself: only sysmon noticing it
# has run for 10 ms (forcePreemptNS), sending SIGURG, and the signal handler
# injecting a call to asyncPreempt gets main running again.  main then prints
# 1 and returns, which ends the process.  Expected output: 1
#
# main yields twice: the first gosched comes straight back, because Go's fairness
# check (every 61st schedtick, and schedtick is still 0) takes main itself from
# the global queue.  The second one hands the processor to the spinner.
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    lea rax, [rip + spinner]
    xor ebx, ebx
    call runtime.newproc            # go spinner()
    call runtime.gosched            # comes straight back (schedtick is 0: see above)
    call runtime.gosched            # the spinner runs: it will not come back on its own
    mov eax, 1
    call runtime.printint           # reached only after a preemption
    pop rbp
    ret

# spinner(): a tight loop with no calls
spinner:
    push rbp
    mov rbp, rsp
1:
    jmp 1b
