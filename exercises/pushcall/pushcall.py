"""Exercise pushcall: make the interrupted goroutine "call" asyncPreempt.

Go: runtime/signal_amd64.go and signal_arm64.go, `func (c *sigctxt) pushCall`,
called by doSigPreempt (signal_unix.go) when SIGURG interrupts a goroutine at an
async safe point.  Read README.md first; grade with
    gosched-emu grade pushcall --solution DIR      (DIR holds your copy of this file)

What you can use (everything is in emulated memory, nothing is a Python object):
  uc["pc"], uc["sp"], uc["fp"]   the interrupted PC, SP and frame pointer (RBP / x29),
  uc["lr"]                        and on arm64 the link register x30, as the kernel
                                  saved them in the signal frame's ucontext.  Reading
                                  and assigning them reads and writes that memory;
                                  rt_sigreturn loads the registers back from it.
  rt.mem.read_u64(addr), rt.mem.write_u64(addr, value)   the goroutine's memory
  rt.isa.name                     "amd64" or "arm64"
  rt.isa.lr                       None on amd64 (no link register), "x30" on arm64
"""


def pushCall(rt, uc, target: int, resume: int) -> None:
    """Edit the ucontext `uc` so that, when the signal handler returns, the goroutine
    runs `target` (asyncPreempt) as if the instruction at `resume` had called it.

    amd64: the return address `resume` goes on the goroutine's stack, as `call` would
    push it, and the goroutine continues at `target`.
    arm64: `bl` would put the return address in LR (x30), which the goroutine may
    still need: keep the interrupted LR on the stack first (16 bytes, SP stays
    16-byte aligned), and Go's frame pointer word below it, then LR = `resume` and
    continue at `target`.

    Only the goroutine's stack below the interrupted SP and the ucontext's pc, sp
    (and lr) may change.
    """
    # TODO: write pushCall (README.md, "The contract").
    raise NotImplementedError("TODO: pushCall in pushcall.py is not written yet")
