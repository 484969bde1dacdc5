"""Timers on both arches: runtime.sleep parks a G on its P's timer heap; the idle M
sleeps in the netpoller until the next timer, the virtual clock jumps, and the Gs
wake in deadline order at the right virtual time."""
from __future__ import annotations

from emu.system import System
from emu.trace.events import Recorder

SLEEPERS = {
    "amd64": """
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + done], rax
    lea rax, [rip + sleeper]
    mov ebx, 30
    call runtime.newproc
    lea rax, [rip + sleeper]
    mov ebx, 10
    call runtime.newproc
    mov rax, qword ptr [rip + done]
    call runtime.chanrecv
    call runtime.printint
    mov rax, qword ptr [rip + done]
    call runtime.chanrecv
    call runtime.printint
    pop rbp
    ret
sleeper:
    push rbp
    mov rbp, rsp
    push rax
    push rax
    imul rax, rax, 1000000
    call runtime.sleep
    pop rbx
    pop rbx
    mov rax, qword ptr [rip + done]
    call runtime.chansend
    pop rbp
    ret
.data
done: .quad 0
""",
    "arm64": """
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x0, #0
    bl runtime.makechan
    adr x1, done
    str x0, [x1]
    adr x0, sleeper
    mov x1, #30
    bl runtime.newproc
    adr x0, sleeper
    mov x1, #10
    bl runtime.newproc
    adr x0, done
    ldr x0, [x0]
    bl runtime.chanrecv
    bl runtime.printint
    adr x0, done
    ldr x0, [x0]
    bl runtime.chanrecv
    bl runtime.printint
    ldp x29, x30, [sp], #16
    ret
sleeper:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    str x0, [sp, #16]
    movz x1, #0x4240
    movk x1, #0xf, lsl #16
    mul x0, x0, x1
    bl runtime.sleep
    ldr x1, [sp, #16]
    adr x0, done
    ldr x0, [x0]
    bl runtime.chansend
    ldp x29, x30, [sp], #32
    ret
.data
done: .quad 0
""",
}


def test_sleepers_wake_in_deadline_order_at_the_right_virtual_time(arch):
    for procs in (1, 2, 4):
        rec = Recorder(kinds=["timer"])
        s = System([("sleep.s", SLEEPERS[arch])], arch, bare=False, procs=procs, trace=rec)
        out = s.run(50_000_000)
        assert (out.status, out.stdout, out.stderr) == (0, b"10\n30\n", b""), (procs, out.report)
        fired = rec.of("timer")
        assert [e.args[0] for e in fired] == [3, 2]              # goroutine 3 slept 10 ms, 2 slept 30 ms
        ns = [e.args[1] for e in fired]
        assert 10_000_000 <= ns[0] < 11_500_000 and 30_000_000 <= ns[1] < 31_500_000, ns
        assert out.instructions < 2_000_000        # nobody spun: the clock jumped while everyone slept


def test_pending_timers_are_not_a_deadlock(arch):
    # only sleepers and a blocked main: checkdead must wait for the timers
    s = System([("sleep.s", SLEEPERS[arch])], arch, bare=False, procs=1)
    out = s.run(50_000_000)
    assert out.status == 0 and b"fatal" not in out.stderr
