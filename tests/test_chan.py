"""Channels on both arches: unbuffered rendezvous, buffered FIFO order, a full buffer
blocking its sender, close (waking receivers and senders), receiving from closed
channels, the runtime's panics and deadlock report; the example programs in
programs/<arch>/ (pingpong.s, fanout.s, gosched_rr.s); and determinism of fanout.s.

Each small program below exists once per arch and prints the same lines on both.
Where a test is about blocking, the expected output is forced by causality (a line
printed after an operation that needs the other goroutine), so it is the same for
every --procs and seed; with one P the blocking really happens, which the trace shows.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from emu.trace import events as ev
from emu.trace.events import Recorder

from conftest import make_system, replay

PROGRAMS = Path(__file__).resolve().parents[1] / "programs"
BUDGET = 50_000_000
DEADLOCK = b"fatal error: all goroutines are asleep - deadlock!\n"


def run(arch, source, *, procs=1, seed=0, trace=None, name="prog.s", **kw):
    if trace is not None:
        kw["trace"] = trace
    s = make_system(arch, source, name=name, bare=False, procs=procs, seed=seed, **kw)
    return s, s.run(BUDGET)


def lines(*vals) -> bytes:
    return b"".join(b"%d\n" % v for v in vals)


def parked(rec: Recorder, goid: int) -> int:
    """How many times goroutine `goid` blocked (_Grunning -> _Gwaiting)."""
    return sum(1 for e in rec.of(ev.GSTATUS) if e.args[0] == goid and e.args[1:3] == ("_Grunning", "_Gwaiting"))


# ---- unbuffered: the sender waits for the receiver ---------------------------------------------------
# main starts `sender`, yields three times (so that, with one P, the sender reaches its
# send and blocks), prints 1, receives.  The sender prints 2 only after its send has
# completed, and main prints the value (42) only after the sender has printed: 1 2 42.
# If the send did not wait for a receiver, the sender would print 2 before main's 1.
RENDEZVOUS = {
    "amd64": """
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    sub rsp, 16
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + chan_a], rax
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + chan_done], rax
    lea rax, [rip + sender]
    xor ebx, ebx
    call runtime.newproc
    call runtime.gosched
    call runtime.gosched
    call runtime.gosched
    mov eax, 1
    call runtime.printint
    mov rax, qword ptr [rip + chan_a]
    call runtime.chanrecv
    mov qword ptr [rbp - 8], rax
    mov rax, qword ptr [rip + chan_done]
    call runtime.chanrecv
    mov rax, qword ptr [rbp - 8]
    call runtime.printint
    mov rsp, rbp
    pop rbp
    ret
sender:
    push rbp
    mov rbp, rsp
    mov rax, qword ptr [rip + chan_a]
    mov ebx, 42
    call runtime.chansend
    mov eax, 2
    call runtime.printint
    mov rax, qword ptr [rip + chan_done]
    xor ebx, ebx
    call runtime.chansend
    pop rbp
    ret
.bss
.balign 8
chan_a: .space 8
chan_done: .space 8
""",
    "arm64": """
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    mov x0, #0
    bl runtime.makechan
    adr x1, chan_a
    str x0, [x1]
    mov x0, #0
    bl runtime.makechan
    adr x1, chan_done
    str x0, [x1]
    adr x0, sender
    mov x1, #0
    bl runtime.newproc
    bl runtime.gosched
    bl runtime.gosched
    bl runtime.gosched
    mov x0, #1
    bl runtime.printint
    adr x0, chan_a
    ldr x0, [x0]
    bl runtime.chanrecv
    str x0, [x29, #16]
    adr x0, chan_done
    ldr x0, [x0]
    bl runtime.chanrecv
    ldr x0, [x29, #16]
    bl runtime.printint
    ldp x29, x30, [sp], #32
    ret
sender:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    adr x0, chan_a
    ldr x0, [x0]
    mov x1, #42
    bl runtime.chansend
    mov x0, #2
    bl runtime.printint
    adr x0, chan_done
    ldr x0, [x0]
    mov x1, #0
    bl runtime.chansend
    ldp x29, x30, [sp], #16
    ret
.bss
.balign 8
chan_a: .space 8
chan_done: .space 8
""",
}


@pytest.mark.parametrize("procs,seed", [(1, 0), (2, 1), (4, 2)])
def test_unbuffered_send_waits_for_the_receiver(arch, procs, seed):
    rec = Recorder(kinds=[ev.GSTATUS])
    s, out = run(arch, RENDEZVOUS[arch], procs=procs, seed=seed, trace=rec)
    assert (out.status, out.stdout, out.stderr) == (0, lines(1, 2, 42), b""), (out.report, replay(s))
    if procs == 1:
        assert parked(rec, 2) >= 1          # the sender (goroutine 2) blocked in its send


# ---- buffered: FIFO order, no blocking while there is room ---------------------------------------------
# One goroutine only: sends 1..5 into a channel of capacity 5 (a blocking send would be a
# deadlock), then receives five times and prints the values.
FIFO = {
    "amd64": """
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    sub rsp, 16
    mov eax, 5
    call runtime.makechan
    mov qword ptr [rip + chan_a], rax
    mov qword ptr [rbp - 8], 1
1:
    mov rax, qword ptr [rip + chan_a]
    mov rbx, qword ptr [rbp - 8]
    call runtime.chansend
    inc qword ptr [rbp - 8]
    cmp qword ptr [rbp - 8], 5
    jle 1b
    mov qword ptr [rbp - 8], 5
2:
    mov rax, qword ptr [rip + chan_a]
    call runtime.chanrecv
    call runtime.printint
    dec qword ptr [rbp - 8]
    jnz 2b
    mov rsp, rbp
    pop rbp
    ret
.bss
.balign 8
chan_a: .space 8
""",
    "arm64": """
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    mov x0, #5
    bl runtime.makechan
    adr x1, chan_a
    str x0, [x1]
    mov x0, #1
    str x0, [x29, #16]
1:
    adr x0, chan_a
    ldr x0, [x0]
    ldr x1, [x29, #16]
    bl runtime.chansend
    ldr x0, [x29, #16]
    add x0, x0, #1
    str x0, [x29, #16]
    cmp x0, #5
    b.le 1b
    mov x0, #5
    str x0, [x29, #16]
2:
    adr x0, chan_a
    ldr x0, [x0]
    bl runtime.chanrecv
    bl runtime.printint
    ldr x0, [x29, #16]
    subs x0, x0, #1
    str x0, [x29, #16]
    b.ne 2b
    ldp x29, x30, [sp], #32
    ret
.bss
.balign 8
chan_a: .space 8
""",
}


def test_buffered_channel_is_fifo_and_does_not_block_while_there_is_room(arch):
    rec = Recorder(kinds=[ev.GSTATUS])
    s, out = run(arch, FIFO[arch], trace=rec)
    assert (out.status, out.stdout, out.stderr) == (0, lines(1, 2, 3, 4, 5), b""), (out.report, replay(s))
    assert parked(rec, 1) == 0              # main never blocked


# ---- buffered: a full buffer blocks the sender until a receive ------------------------------------------
# The sender sends 1, 2, 3 into a channel of capacity 2, then prints 101.  main yields,
# prints 0, receives one value, waits for the sender's `done`, then prints the value and
# receives the other two: 0 101 1 2 3.  101 can only come after main's receive, and the
# values come out in the order they were sent, including the one that waited.
FULL = {
    "amd64": """
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    sub rsp, 16
    mov eax, 2
    call runtime.makechan
    mov qword ptr [rip + chan_a], rax
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + chan_done], rax
    lea rax, [rip + sender]
    xor ebx, ebx
    call runtime.newproc
    call runtime.gosched
    call runtime.gosched
    call runtime.gosched
    xor eax, eax
    call runtime.printint
    mov rax, qword ptr [rip + chan_a]
    call runtime.chanrecv
    mov qword ptr [rbp - 8], rax
    mov rax, qword ptr [rip + chan_done]
    call runtime.chanrecv
    mov rax, qword ptr [rbp - 8]
    call runtime.printint
    mov rax, qword ptr [rip + chan_a]
    call runtime.chanrecv
    call runtime.printint
    mov rax, qword ptr [rip + chan_a]
    call runtime.chanrecv
    call runtime.printint
    mov rsp, rbp
    pop rbp
    ret
sender:
    push rbp
    mov rbp, rsp
    mov rax, qword ptr [rip + chan_a]
    mov ebx, 1
    call runtime.chansend
    mov rax, qword ptr [rip + chan_a]
    mov ebx, 2
    call runtime.chansend
    mov rax, qword ptr [rip + chan_a]
    mov ebx, 3
    call runtime.chansend
    mov eax, 101
    call runtime.printint
    mov rax, qword ptr [rip + chan_done]
    xor ebx, ebx
    call runtime.chansend
    pop rbp
    ret
.bss
.balign 8
chan_a: .space 8
chan_done: .space 8
""",
    "arm64": """
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    mov x0, #2
    bl runtime.makechan
    adr x1, chan_a
    str x0, [x1]
    mov x0, #0
    bl runtime.makechan
    adr x1, chan_done
    str x0, [x1]
    adr x0, sender
    mov x1, #0
    bl runtime.newproc
    bl runtime.gosched
    bl runtime.gosched
    bl runtime.gosched
    mov x0, #0
    bl runtime.printint
    adr x0, chan_a
    ldr x0, [x0]
    bl runtime.chanrecv
    str x0, [x29, #16]
    adr x0, chan_done
    ldr x0, [x0]
    bl runtime.chanrecv
    ldr x0, [x29, #16]
    bl runtime.printint
    adr x0, chan_a
    ldr x0, [x0]
    bl runtime.chanrecv
    bl runtime.printint
    adr x0, chan_a
    ldr x0, [x0]
    bl runtime.chanrecv
    bl runtime.printint
    ldp x29, x30, [sp], #32
    ret
sender:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    adr x0, chan_a
    ldr x0, [x0]
    mov x1, #1
    bl runtime.chansend
    adr x0, chan_a
    ldr x0, [x0]
    mov x1, #2
    bl runtime.chansend
    adr x0, chan_a
    ldr x0, [x0]
    mov x1, #3
    bl runtime.chansend
    mov x0, #101
    bl runtime.printint
    adr x0, chan_done
    ldr x0, [x0]
    mov x1, #0
    bl runtime.chansend
    ldp x29, x30, [sp], #16
    ret
.bss
.balign 8
chan_a: .space 8
chan_done: .space 8
""",
}


@pytest.mark.parametrize("procs,seed", [(1, 0), (2, 1), (4, 2)])
def test_full_buffer_blocks_the_sender_until_a_receive(arch, procs, seed):
    rec = Recorder(kinds=[ev.GSTATUS])
    s, out = run(arch, FULL[arch], procs=procs, seed=seed, trace=rec)
    assert (out.status, out.stdout, out.stderr) == (0, lines(0, 101, 1, 2, 3), b""), (out.report, replay(s))
    if procs == 1:
        assert parked(rec, 2) >= 1          # the sender blocked on its third send


# ---- close wakes a blocked receiver with (0, false) --------------------------------------------------------
# The receiver blocks on an unbuffered channel nobody sends to; main yields, prints 7 and
# closes the channel.  The receiver wakes with value 0 and ok 0 and prints both: 7 0 0.
CLOSE_WAKES_RECEIVER = {
    "amd64": """
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + chan_a], rax
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + chan_done], rax
    lea rax, [rip + receiver]
    xor ebx, ebx
    call runtime.newproc
    call runtime.gosched
    call runtime.gosched
    call runtime.gosched
    mov eax, 7
    call runtime.printint
    mov rax, qword ptr [rip + chan_a]
    call runtime.closechan
    mov rax, qword ptr [rip + chan_done]
    call runtime.chanrecv
    pop rbp
    ret
receiver:
    push rbp
    mov rbp, rsp
    sub rsp, 16
    mov rax, qword ptr [rip + chan_a]
    call runtime.chanrecv
    mov qword ptr [rbp - 8], rbx
    call runtime.printint
    mov rax, qword ptr [rbp - 8]
    call runtime.printint
    mov rax, qword ptr [rip + chan_done]
    xor ebx, ebx
    call runtime.chansend
    mov rsp, rbp
    pop rbp
    ret
.bss
.balign 8
chan_a: .space 8
chan_done: .space 8
""",
    "arm64": """
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x0, #0
    bl runtime.makechan
    adr x1, chan_a
    str x0, [x1]
    mov x0, #0
    bl runtime.makechan
    adr x1, chan_done
    str x0, [x1]
    adr x0, receiver
    mov x1, #0
    bl runtime.newproc
    bl runtime.gosched
    bl runtime.gosched
    bl runtime.gosched
    mov x0, #7
    bl runtime.printint
    adr x0, chan_a
    ldr x0, [x0]
    bl runtime.closechan
    adr x0, chan_done
    ldr x0, [x0]
    bl runtime.chanrecv
    ldp x29, x30, [sp], #16
    ret
receiver:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    adr x0, chan_a
    ldr x0, [x0]
    bl runtime.chanrecv
    str x1, [x29, #16]
    bl runtime.printint
    ldr x0, [x29, #16]
    bl runtime.printint
    adr x0, chan_done
    ldr x0, [x0]
    mov x1, #0
    bl runtime.chansend
    ldp x29, x30, [sp], #32
    ret
.bss
.balign 8
chan_a: .space 8
chan_done: .space 8
""",
}


@pytest.mark.parametrize("procs,seed", [(1, 0), (4, 3)])
def test_close_wakes_a_blocked_receiver_with_zero_and_not_ok(arch, procs, seed):
    rec = Recorder(kinds=[ev.GSTATUS])
    s, out = run(arch, CLOSE_WAKES_RECEIVER[arch], procs=procs, seed=seed, trace=rec)
    assert (out.status, out.stdout, out.stderr) == (0, lines(7, 0, 0), b""), (out.report, replay(s))
    if procs == 1:
        assert parked(rec, 2) == 1          # the receiver was blocked when close came


# ---- receiving from closed channels --------------------------------------------------------------------------
# An unbuffered closed channel gives (0, false).  A buffered channel holding 5 and 6 when
# it is closed gives (5, true), (6, true), then (0, false) for good.  `show` prints the
# value and ok of one receive: 0 0 / 5 1 / 6 1 / 0 0 / 0 0.
CLOSED_RECV = {
    "amd64": """
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + chan_a], rax
    call runtime.closechan
    mov rax, qword ptr [rip + chan_a]
    call show
    mov eax, 3
    call runtime.makechan
    mov qword ptr [rip + chan_b], rax
    mov ebx, 5
    call runtime.chansend
    mov rax, qword ptr [rip + chan_b]
    mov ebx, 6
    call runtime.chansend
    mov rax, qword ptr [rip + chan_b]
    call runtime.closechan
    mov rax, qword ptr [rip + chan_b]
    call show
    mov rax, qword ptr [rip + chan_b]
    call show
    mov rax, qword ptr [rip + chan_b]
    call show
    mov rax, qword ptr [rip + chan_b]
    call show
    pop rbp
    ret
show:
    push rbp
    mov rbp, rsp
    sub rsp, 16
    call runtime.chanrecv
    mov qword ptr [rbp - 8], rbx
    call runtime.printint
    mov rax, qword ptr [rbp - 8]
    call runtime.printint
    mov rsp, rbp
    pop rbp
    ret
.bss
.balign 8
chan_a: .space 8
chan_b: .space 8
""",
    "arm64": """
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x0, #0
    bl runtime.makechan
    adr x1, chan_a
    str x0, [x1]
    bl runtime.closechan
    adr x0, chan_a
    ldr x0, [x0]
    bl show
    mov x0, #3
    bl runtime.makechan
    adr x1, chan_b
    str x0, [x1]
    mov x1, #5
    bl runtime.chansend
    adr x0, chan_b
    ldr x0, [x0]
    mov x1, #6
    bl runtime.chansend
    adr x0, chan_b
    ldr x0, [x0]
    bl runtime.closechan
    adr x0, chan_b
    ldr x0, [x0]
    bl show
    adr x0, chan_b
    ldr x0, [x0]
    bl show
    adr x0, chan_b
    ldr x0, [x0]
    bl show
    adr x0, chan_b
    ldr x0, [x0]
    bl show
    ldp x29, x30, [sp], #16
    ret
show:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    bl runtime.chanrecv
    str x1, [x29, #16]
    bl runtime.printint
    ldr x0, [x29, #16]
    bl runtime.printint
    ldp x29, x30, [sp], #32
    ret
.bss
.balign 8
chan_a: .space 8
chan_b: .space 8
""",
}


def test_receive_from_closed_channels(arch):
    s, out = run(arch, CLOSED_RECV[arch])
    assert (out.status, out.stdout, out.stderr) == (0, lines(0, 0, 5, 1, 6, 1, 0, 0, 0, 0), b""), \
        (out.report, replay(s))


# ---- panics ----------------------------------------------------------------------------------------------------
# main prints 1, closes a channel of capacity 1, sends on it (Go panics), and would print 2.
SEND_ON_CLOSED = {
    "amd64": """
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    mov eax, 1
    call runtime.makechan
    mov qword ptr [rip + chan_a], rax
    mov eax, 1
    call runtime.printint
    mov rax, qword ptr [rip + chan_a]
    call runtime.closechan
    mov rax, qword ptr [rip + chan_a]
    mov ebx, 9
    call runtime.chansend
    mov eax, 2
    call runtime.printint
    pop rbp
    ret
.bss
.balign 8
chan_a: .space 8
""",
    "arm64": """
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x0, #1
    bl runtime.makechan
    adr x1, chan_a
    str x0, [x1]
    mov x0, #1
    bl runtime.printint
    adr x0, chan_a
    ldr x0, [x0]
    bl runtime.closechan
    adr x0, chan_a
    ldr x0, [x0]
    mov x1, #9
    bl runtime.chansend
    mov x0, #2
    bl runtime.printint
    ldp x29, x30, [sp], #16
    ret
.bss
.balign 8
chan_a: .space 8
""",
}

# The sender blocks on an unbuffered channel; main yields, closes it, then blocks forever
# on another channel.  close wakes the sender, which panics (exit 2 before any deadlock).
CLOSE_WAKES_SENDER = {
    "amd64": """
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + chan_a], rax
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + chan_b], rax
    lea rax, [rip + sender]
    xor ebx, ebx
    call runtime.newproc
    call runtime.gosched
    call runtime.gosched
    call runtime.gosched
    mov rax, qword ptr [rip + chan_a]
    call runtime.closechan
    mov rax, qword ptr [rip + chan_b]
    call runtime.chanrecv
    pop rbp
    ret
sender:
    push rbp
    mov rbp, rsp
    mov rax, qword ptr [rip + chan_a]
    mov ebx, 9
    call runtime.chansend
    mov eax, 2
    call runtime.printint
    pop rbp
    ret
.bss
.balign 8
chan_a: .space 8
chan_b: .space 8
""",
    "arm64": """
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x0, #0
    bl runtime.makechan
    adr x1, chan_a
    str x0, [x1]
    mov x0, #0
    bl runtime.makechan
    adr x1, chan_b
    str x0, [x1]
    adr x0, sender
    mov x1, #0
    bl runtime.newproc
    bl runtime.gosched
    bl runtime.gosched
    bl runtime.gosched
    adr x0, chan_a
    ldr x0, [x0]
    bl runtime.closechan
    adr x0, chan_b
    ldr x0, [x0]
    bl runtime.chanrecv
    ldp x29, x30, [sp], #16
    ret
sender:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    adr x0, chan_a
    ldr x0, [x0]
    mov x1, #9
    bl runtime.chansend
    mov x0, #2
    bl runtime.printint
    ldp x29, x30, [sp], #16
    ret
.bss
.balign 8
chan_a: .space 8
chan_b: .space 8
""",
}

# main closes an unbuffered channel twice.
CLOSE_CLOSED = {
    "amd64": """
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + chan_a], rax
    call runtime.closechan
    mov rax, qword ptr [rip + chan_a]
    call runtime.closechan
    pop rbp
    ret
.bss
.balign 8
chan_a: .space 8
""",
    "arm64": """
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x0, #0
    bl runtime.makechan
    adr x1, chan_a
    str x0, [x1]
    bl runtime.closechan
    adr x0, chan_a
    ldr x0, [x0]
    bl runtime.closechan
    ldp x29, x30, [sp], #16
    ret
.bss
.balign 8
chan_a: .space 8
""",
}


def test_send_on_closed_channel_panics(arch):
    s, out = run(arch, SEND_ON_CLOSED[arch])
    assert (out.status, out.reason, out.stdout) == (2, "exit", b"1\n"), (out.report, replay(s))
    assert out.stderr.startswith(b"panic: send on closed channel\n"), out.stderr


@pytest.mark.parametrize("procs,seed", [(1, 0), (4, 1)])
def test_close_wakes_a_blocked_sender_which_panics(arch, procs, seed):
    rec = Recorder(kinds=[ev.GSTATUS])
    s, out = run(arch, CLOSE_WAKES_SENDER[arch], procs=procs, seed=seed, trace=rec)
    assert (out.status, out.reason, out.stdout) == (2, "exit", b""), (out.report, replay(s))
    assert out.stderr.startswith(b"panic: send on closed channel\n"), out.stderr
    if procs == 1:
        assert parked(rec, 2) == 1          # the sender was blocked when close came


def test_close_of_closed_channel_panics(arch):
    s, out = run(arch, CLOSE_CLOSED[arch])
    assert (out.status, out.reason, out.stdout) == (2, "exit", b""), (out.report, replay(s))
    assert out.stderr.startswith(b"panic: close of closed channel\n"), out.stderr


# ---- deadlock ----------------------------------------------------------------------------------------------------
# main starts a goroutine that sends on a channel nobody receives from, then receives on
# a channel nobody sends to.  Both block; the runtime reports it as Go does.
DEADLOCK_PROG = {
    "amd64": """
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + chan_a], rax
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + chan_b], rax
    lea rax, [rip + stuck]
    xor ebx, ebx
    call runtime.newproc
    mov rax, qword ptr [rip + chan_a]
    call runtime.chanrecv
    pop rbp
    ret
stuck:
    push rbp
    mov rbp, rsp
    mov rax, qword ptr [rip + chan_b]
    mov ebx, 1
    call runtime.chansend
    pop rbp
    ret
.bss
.balign 8
chan_a: .space 8
chan_b: .space 8
""",
    "arm64": """
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x0, #0
    bl runtime.makechan
    adr x1, chan_a
    str x0, [x1]
    mov x0, #0
    bl runtime.makechan
    adr x1, chan_b
    str x0, [x1]
    adr x0, stuck
    mov x1, #0
    bl runtime.newproc
    adr x0, chan_a
    ldr x0, [x0]
    bl runtime.chanrecv
    ldp x29, x30, [sp], #16
    ret
stuck:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    adr x0, chan_b
    ldr x0, [x0]
    mov x1, #1
    bl runtime.chansend
    ldp x29, x30, [sp], #16
    ret
.bss
.balign 8
chan_a: .space 8
chan_b: .space 8
""",
}


@pytest.mark.parametrize("procs,seed", [(1, 0), (4, 1)])
def test_deadlock_is_reported_like_go(arch, procs, seed):
    s, out = run(arch, DEADLOCK_PROG[arch], procs=procs, seed=seed)
    assert (out.status, out.reason, out.stdout) == (2, "exit", b""), (out.report, replay(s))
    err = out.stderr.decode()
    assert err.startswith(DEADLOCK.decode()), err
    assert "goroutine 1 [chan receive]:" in err, err
    assert "goroutine 2 [chan send]:" in err, err


# ---- the example programs -------------------------------------------------------------------------------------------
def example(arch: str, name: str) -> str:
    return (PROGRAMS / arch / name).read_text()


RUNS = [(1, 0), (1, 5), (4, 1), (4, 2)]
GOSCHED_RR_ONE_P = b"".join(b"goroutine %d\n" % i for i in (3, 3, 1, 2, 3, 1, 2, 1, 2))


@pytest.mark.parametrize("procs,seed", RUNS)
def test_example_pingpong(arch, procs, seed):
    s, out = run(arch, example(arch, "pingpong.s"), procs=procs, seed=seed, name="pingpong.s")
    assert (out.status, out.stdout, out.stderr) == (0, lines(*range(1, 11)), b""), (out.report, replay(s))


@pytest.mark.parametrize("procs,seed", RUNS)
def test_example_fanout(arch, procs, seed):
    s, out = run(arch, example(arch, "fanout.s"), procs=procs, seed=seed, name="fanout.s")
    assert (out.status, out.stdout, out.stderr) == (0, b"332833500\n", b""), (out.report, replay(s))
    assert sum(i * i for i in range(1000)) == 332833500


@pytest.mark.parametrize("procs,seed", RUNS)
def test_example_gosched_rr(arch, procs, seed):
    s, out = run(arch, example(arch, "gosched_rr.s"), procs=procs, seed=seed, name="gosched_rr.s")
    assert (out.status, out.stderr) == (0, b""), (out.report, replay(s))
    if procs == 1:
        assert out.stdout == GOSCHED_RR_ONE_P, out.stdout   # the order in the file's header comment
    else:                                                    # whole lines, three per goroutine
        assert Counter(out.stdout.splitlines(keepends=True)) == Counter(GOSCHED_RR_ONE_P.splitlines(keepends=True))


def test_gosched_rr_header_records_the_one_p_output(arch):
    header = [ln[ln.index(" ") + 1:].strip() for ln in example(arch, "gosched_rr.s").splitlines()
              if ln.lstrip("#/ ").startswith("goroutine ") and ln.startswith(("#   ", "//   "))]
    assert "\n".join(header) + "\n" == GOSCHED_RR_ONE_P.decode()


# ---- determinism ------------------------------------------------------------------------------------------------------
def test_fanout_same_seed_same_output_and_event_stream(arch):
    def once(seed):
        rec = Recorder(slices=False)
        s, out = run(arch, example(arch, "fanout.s"), procs=4, seed=seed, trace=rec, name="fanout.s")
        assert (out.status, out.stdout) == (0, b"332833500\n"), (out.report, replay(s))
        return out.stdout, rec.events
    a, b = once(3), once(3)
    assert a[0] == b[0]
    assert len(a[1]) > 10_000 and a[1] == b[1]
    kinds = {e.kind for e in a[1]}
    assert {ev.NEWPROC, ev.SWITCH, ev.GSTATUS, ev.STEAL} <= kinds, kinds


# ---- regression: lost wakeup in lock() (found by this test) -----------------------------------------------
def test_fanout_under_random_interleaving_with_contended_channel_locks(arch):
    """50 workers, 200 jobs, 4 Ps, random interleaving: many Ms contend for the results
    channel's lock (held through mcall while a G parks).  A correct run takes about 45 us
    of virtual time; before lock() re-acquired as MUTEX_SLEEPING most seeds lost a wakeup."""
    src = example(arch, "fanout.s").replace(".equ NWORKERS, 1000", ".equ NWORKERS, 50") \
                                   .replace(".equ NJOBS, 1000", ".equ NJOBS, 200")
    for seed in range(8):
        s, out = run(arch, src, procs=4, seed=seed, policy="random", name="fanout.s")
        assert (out.status, out.stdout) == (0, b"%d\n" % sum(i * i for i in range(200))), (out.report, replay(s))
        assert out.ns < 1_000_000, f"{out.ns} ns of virtual time: a stall; {replay(s)}"
