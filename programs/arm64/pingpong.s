// pingpong.s (arm64): two goroutines bounce a counter over two channels.
//
// main.main makes two unbuffered channels, `ping` and `pong`, and starts one
// goroutine, ponger.  Then, ROUNDS times, main sends the counter on ping,
// ponger receives it, adds 1 and sends it back on pong, and main receives the
// new value and prints it.  An unbuffered send completes only when a receiver
// takes the value (a rendezvous), so the two goroutines run strictly in turn
// and the output is the same for every --procs and --seed:
//
//   1
//   2
//   ...
//   10
//
// Finally main closes ping: ponger's receive returns ok=false and ponger
// returns (which ends the goroutine); main returns, which exits with status 0.
//
// In Go:
//   func ponger() { for v := range ping { pong <- v + 1 } }
//   func main() {
//       ping, pong = make(chan int), make(chan int)
//       go ponger()
//       v := 0
//       for i := 0; i < 10; i++ { ping <- v; v = <-pong; println(v) }
//       close(ping)
//   }
//
// A runtime program: entry main.main; runtime calls use Go's ABIInternal
// registers (arguments x0, x1, x2, ...; results x0, x1).  A call clobbers
// every register except sp, x29 and x28 (g); x18, x27 and x28 are never
// written here.  Values that must survive a call live in the stack frame.

.equ ROUNDS, 10

.text

// main.main(): play ROUNDS rounds, then close ping and return (exit 0).
// Frame: [x29, #16] = the counter v, [x29, #24] = rounds left.
.globl main.main
main.main:
    stp x29, x30, [sp, #-32]!
    mov x29, sp

    // ping = makechan(0), pong = makechan(0): both unbuffered
    mov x0, #0                      // x0 = buffer size 0
    bl runtime.makechan
    adr x1, ping
    str x0, [x1]
    mov x0, #0
    bl runtime.makechan
    adr x1, pong
    str x0, [x1]

    // go ponger(0)
    adr x0, ponger                  // x0 = fn
    mov x1, #0                      // x1 = its argument (unused)
    bl runtime.newproc

    // v = 0; rounds left = ROUNDS
    str xzr, [x29, #16]
    mov x0, #ROUNDS
    str x0, [x29, #24]
main.loop:
    // ping <- v: blocks until ponger is receiving
    adr x0, ping
    ldr x0, [x0]                    // x0 = channel
    ldr x1, [x29, #16]              // x1 = word to send
    bl runtime.chansend

    // v = <-pong; print v
    adr x0, pong
    ldr x0, [x0]                    // x0 = channel
    bl runtime.chanrecv             // x0 = value, x1 = ok
    str x0, [x29, #16]
    bl runtime.printint             // x0 = value to print

    // next round
    ldr x0, [x29, #24]
    subs x0, x0, #1
    str x0, [x29, #24]
    b.ne main.loop

    // close(ping): ponger's next receive gets ok=false
    adr x0, ping
    ldr x0, [x0]
    bl runtime.closechan

    // return from main.main: the process exits with status 0
    ldp x29, x30, [sp], #32
    ret

// ponger(arg): receive v on ping, send v+1 on pong, until ping is closed.
ponger:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
ponger.loop:
    // v, ok = <-ping; stop when ping is closed
    adr x0, ping
    ldr x0, [x0]                    // x0 = channel
    bl runtime.chanrecv             // x0 = value, x1 = ok
    cbz x1, ponger.done

    // pong <- v + 1
    add x1, x0, #1                  // x1 = word to send
    adr x0, pong
    ldr x0, [x0]                    // x0 = channel
    bl runtime.chansend
    b ponger.loop

ponger.done:
    // returning from a goroutine's function ends the goroutine (runtime.goexit)
    ldp x29, x30, [sp], #16
    ret

.bss
.balign 8
ping:   .space 8                    // chan int: main -> ponger
pong:   .space 8                    // chan int: ponger -> main
