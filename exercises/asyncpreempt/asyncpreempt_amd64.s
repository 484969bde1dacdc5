# asyncpreempt_amd64.s -- exercise asyncpreempt: write runtime.asyncPreempt (amd64).
#
# Replace each TODO block (and the `lea`/`call runtime.todo` pair under it) with
# the instructions it asks for.  README.md explains the contract; the frame table
# below is the layout the grader and the tools expect.
# Grade: gosched-emu grade asyncpreempt --solution DIR   (DIR holds this file)

.text

# func asyncPreempt()
# Injected by the SIGURG handler (pushCall): it looks as if the interrupted code
# called it, with the resume PC pushed as the return address.  Saves every
# register the interrupted code may have live -- flags first, before anything can
# change them -- calls asyncPreempt2 (which switches away through mcall), and,
# when this G runs again, restores them all and returns to the resume PC.
# Frame (Go's mkpreempt layout), relative to RSP at the call of asyncPreempt2:
#   [rsp+0 .. rsp+104]   RAX RCX RDX RBX RSI RDI R8 R9 R10 R11 R12 R13 R14 R15
#   [rsp+112+16*i]       XMM0-XMM15, all 128 bits (movups)
#   [rsp+368]            RFLAGS (pushfq)
#   [rsp+376]            the interrupted RBP (push rbp)
#   [rsp+384]            the resume PC (pushed by pushCall: our return address)
# Clobbers nothing.
.globl runtime.asyncPreempt
runtime.asyncPreempt:
    # TODO 1: the frame record, then the flags before any instruction can change
    #   them: push RBP, point RBP at it, push the flags, then make room for the
    #   368 bytes of register slots.
    # TODO 2: the general registers at [rsp+0] .. [rsp+104], in the table's order.
    # TODO 3: the vector registers, all 128 bits, at [rsp+112+16*i].
    lea rax, [rip + .Ltodo_save]
    call runtime.todo

    # switch away; returns when this G is scheduled again
    call runtime.asyncPreempt2

    # TODO 4: restore everything, in reverse: the vector registers, the general
    #   registers, drop the 368 bytes, then the flags (last: the instruction that
    #   drops the slots changes them) and RBP.
    lea rax, [rip + .Ltodo_restore]
    call runtime.todo
runtime.asyncPreempt.return:
    ret                                 # to the resume PC

.data
.Ltodo_save: .asciz "asyncPreempt's save (TODO 1-3 in asyncpreempt_amd64.s)"
.Ltodo_restore: .asciz "asyncPreempt's restore (TODO 4 in asyncpreempt_amd64.s)"
