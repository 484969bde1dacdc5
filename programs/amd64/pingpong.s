# pingpong.s (amd64): two goroutines bounce a counter over two channels.
#
# main.main makes two unbuffered channels, `ping` and `pong`, and starts one
# goroutine, ponger.  Then, ROUNDS times, main sends the counter on ping,
# ponger receives it, adds 1 and sends it back on pong, and main receives the
# new value and prints it.  An unbuffered send completes only when a receiver
# takes the value (a rendezvous), so the two goroutines run strictly in turn
# and the output is the same for every --procs and --seed:
#
#   1
#   2
#   ...
#   10
#
# Finally main closes ping: ponger's receive returns ok=false and ponger
# returns (which ends the goroutine); main returns, which exits with status 0.
#
# In Go:
#   func ponger() { for v := range ping { pong <- v + 1 } }
#   func main() {
#       ping, pong = make(chan int), make(chan int)
#       go ponger()
#       v := 0
#       for i := 0; i < 10; i++ { ping <- v; v = <-pong; println(v) }
#       close(ping)
#   }
#
# A runtime program: entry main.main; runtime calls use Go's ABIInternal
# registers (arguments rax, rbx, rcx, ...; results rax, rbx).  A call
# clobbers every register except rsp, rbp and r14 (g, never written here),
# so values that must survive a call live in the stack frame.

.equ ROUNDS, 10

.text

# main.main(): play ROUNDS rounds, then close ping and return (exit 0).
# Frame: [rbp - 8] = the counter v, [rbp - 16] = rounds left.
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    sub rsp, 16

    # ping = makechan(0), pong = makechan(0): both unbuffered
    xor eax, eax                    # rax = buffer size 0
    call runtime.makechan
    mov qword ptr [rip + ping], rax
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + pong], rax

    # go ponger(0)
    lea rax, [rip + ponger]         # rax = fn
    xor ebx, ebx                    # rbx = its argument (unused)
    call runtime.newproc

    # v = 0; rounds left = ROUNDS
    mov qword ptr [rbp - 8], 0
    mov qword ptr [rbp - 16], ROUNDS
main.loop:
    # ping <- v: blocks until ponger is receiving
    mov rax, qword ptr [rip + ping] # rax = channel
    mov rbx, qword ptr [rbp - 8]    # rbx = word to send
    call runtime.chansend

    # v = <-pong; print v
    mov rax, qword ptr [rip + pong] # rax = channel
    call runtime.chanrecv           # rax = value, rbx = ok
    mov qword ptr [rbp - 8], rax
    call runtime.printint           # rax = value to print

    # next round
    dec qword ptr [rbp - 16]
    jnz main.loop

    # close(ping): ponger's next receive gets ok=false
    mov rax, qword ptr [rip + ping]
    call runtime.closechan

    # return from main.main: the process exits with status 0
    mov rsp, rbp
    pop rbp
    ret

# ponger(arg): receive v on ping, send v+1 on pong, until ping is closed.
ponger:
    push rbp
    mov rbp, rsp
ponger.loop:
    # v, ok = <-ping; stop when ping is closed
    mov rax, qword ptr [rip + ping] # rax = channel
    call runtime.chanrecv           # rax = value, rbx = ok
    test rbx, rbx
    jz ponger.done

    # pong <- v + 1
    lea rbx, [rax + 1]              # rbx = word to send
    mov rax, qword ptr [rip + pong] # rax = channel
    call runtime.chansend
    jmp ponger.loop

ponger.done:
    # returning from a goroutine's function ends the goroutine (runtime.goexit)
    pop rbp
    ret

.bss
.balign 8
ping:   .space 8                    # chan int: main -> ponger
pong:   .space 8                    # chan int: ponger -> main
