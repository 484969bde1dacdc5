# bench (amd64): the test bench of the netpoll exercise's direct tests.  The grader runs
# the runtime until main.main starts, pauses the machine and calls your functions on the
# test pollDescs in `testpds` with test Gs in `testgs`.
.text
.globl main.main
main.main:
1:  jmp 1b                          # never returns: the machine is paused here

.bss
.balign 64
testpds: .space 8*64                # room for 8 pollDescs (pollDesc is 32 bytes)
testgs: .space 8*320                # room for 8 test Gs (G.size is 312 bytes)
