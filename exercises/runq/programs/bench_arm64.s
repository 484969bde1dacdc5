// bench (arm64): the test bench of the runq exercise's direct tests.  The grader runs
// the runtime until main.main starts (so every P exists in memory), pauses the machine
// and calls your functions on the idle Ps P1..P3 with test Gs made in `testgs`.
.text
.globl main.main
main.main:
1:  b 1b                            // never returns: the machine is paused here

.bss
.balign 64
testgs: .space 640*320              // room for 640 test Gs (G.size is 312 bytes)
