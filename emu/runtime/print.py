"""print and throw (Go: print.go, panic.go): the runtime's output, fatal errors and
the goroutine dump, written through the write(2) wrapper like everything else.

`runtime.printint` / `runtime.printstr` write to standard output (fd 1), as
fmt.Println would; Go's builtin println writes to standard error.  Fatal errors
go to standard error, exactly as Go prints them, and exit with status 2.
"""
from __future__ import annotations

from .layout import _Gdead, _Gpreempted, _Grunnable, _Grunning, _Gsyscall, _Gwaiting
from .oslinux import exit_, write
from .pycall import export

PRINTBUF = 512

# waitReason (runtime2.go), the part we use.
WAIT_REASONS = {0: "", 1: "chan receive (nil chan)", 2: "chan send (nil chan)", 3: "chan receive",
                4: "chan send", 5: "select", 6: "sleep", 7: "sync.Mutex.Lock", 8: "IO wait"}
waitReasonChanReceiveNilChan, waitReasonChanSendNilChan, waitReasonChanReceive, waitReasonChanSend = 1, 2, 3, 4


def gwrite(rt, fd: int, data: bytes):
    """Write `data` to fd through the M's print buffer (generator)."""
    buf = rt.getm().printbuf or rt.m0.printbuf
    for i in range(0, len(data), PRINTBUF):
        chunk = data[i:i + PRINTBUF]
        rt.mem.write(buf, chunk)
        yield from write(rt, fd, buf, len(chunk))


@export("runtime.printint")
def printint(rt, v):
    """printint(v int): v in decimal and a newline, on standard output."""
    if v >= 1 << 63:
        v -= 1 << 64
    yield from gwrite(rt, 1, b"%d\n" % v)


@export("runtime.printstr")
def printstr(rt, p, n):
    """printstr(p *byte, n int): n bytes at p, on standard output."""
    yield from write(rt, 1, p, n)


def where(rt, pc: int) -> str:
    sym = rt.image.symbol_at(pc)
    line = rt.image.line_at(pc)
    s = f"{sym[0]}+{sym[1]:#x}" if sym else f"{pc:#x}"
    return s + (f"\n\t{line.file}:{line.line}" if line else "")


def _parked_in(rt, gp) -> int:
    """Where a G that is switched out called into the runtime: its saved SP points at
    the cookie of the Python frame that called mcall, which knows its caller."""
    if not gp.sched.sp or gp.atomicstatus & ~0x1000 in (_Grunning, _Gdead):
        return 0
    frame = rt.boundary.frames.get(rt.mem.read_u64(gp.sched.sp))
    return frame.caller if frame else 0


def goroutine_dump(rt) -> str:
    """Go's traceback of all goroutines, as much as hand-written asm allows: the
    header, and where a parked G called into the runtime."""
    out = []
    me = rt.getg() if rt.cpu is not None else None
    cur = rt.m(me.m).curg if me and me.m else 0
    g = rt.sched.allg
    while g:
        gp = rt.g(g)
        s = gp.atomicstatus & ~0x1000
        if s != _Gdead and gp.addr != rt.g0.addr and gp.goid:
            if gp.addr == cur:
                state = "running"
            elif s == _Gwaiting:
                state = WAIT_REASONS.get(gp.waitreason, "waiting")
            else:
                state = {_Grunnable: "runnable", _Grunning: "running", _Gsyscall: "syscall",
                         _Gpreempted: "preempted"}.get(s, str(s))
            out.append(f"goroutine {gp.goid} [{state}]:")
            caller = _parked_in(rt, gp)
            if caller:
                out.append(where(rt, caller))
            if gp.gopc and gp.goid != 1:
                out.append(f"created by {where(rt, gp.gopc)}")
            out.append("")
        g = gp.alllink
    return "\n".join(out)


def fatal(rt, msg: str):
    """Go's fatal/throw: report on stderr, dump goroutines, exit(2).  Never returns."""
    text = f"fatal error: {msg}\n"
    rt.fatal = msg
    try:
        text += "\n" + goroutine_dump(rt)
    except Exception as e:         # a corrupt G list must not hide the fatal error itself
        text += f"\n(goroutine dump failed: {e})\n"
    yield from gwrite(rt, 2, text.encode())
    yield from exit_(rt, 2)


throw = fatal


def panic_(rt, msg: str):
    """A runtime panic with no recover: Go prints `panic: msg` and exits 2."""
    rt.fatal = f"panic: {msg}"
    text = f"panic: {msg}\n\n" + goroutine_dump(rt)
    yield from gwrite(rt, 2, text.encode())
    yield from exit_(rt, 2)


_BAD = {1: "mstart returned", 2: "runtime: mcall called on m->g0 stack", 3: "runtime: mcall function returned",
        4: "systemstack called from unexpected goroutine", 5: "goexit1 returned",
        6: "runtime: morestack on g0", 7: "morestack on gsignal", 8: "runtime: newstack returned"}


@export("runtime.badasm")
def badasm(rt, code):
    """badasm(code): an impossible path in the assembly (bad_* stubs) was taken."""
    yield from throw(rt, _BAD.get(code, f"bad asm path {code}"))


@export("runtime.todo")
def todo(rt, msg):
    """todo(msg *byte): an exercise skeleton's unwritten part was reached (exercises/)."""
    text = rt.mem.read_cstring(msg, 200).decode(errors="replace") if msg else "?"
    yield from throw(rt, f"TODO: {text} is not written yet (this is still the exercise's skeleton)")
