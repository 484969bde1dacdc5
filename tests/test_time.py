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


# 1,000 goroutines sleep (i * 389) % 1000 + 1 ms (every value 1..1000 once) and report.
MANY_SLEEPERS = {
    "amd64": SLEEPERS["amd64"].replace('''    lea rax, [rip + sleeper]
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
    call runtime.printint''', '''    push r12
    push r13
    xor r12d, r12d
1:
    imul rbx, r12, 389
    mov rax, rbx
    xor edx, edx
    mov ecx, 1000
    div rcx
    lea rbx, [rdx + 1]
    lea rax, [rip + sleeper]
    call runtime.newproc
    inc r12
    cmp r12, 1000
    jl 1b
    xor r12d, r12d
    xor r13d, r13d
2:
    mov rax, qword ptr [rip + done]
    call runtime.chanrecv
    add r13, rax
    inc r12
    cmp r12, 1000
    jl 2b
    mov rax, r13
    call runtime.printint
    pop r13
    pop r12'''),
    "arm64": SLEEPERS["arm64"].replace('''    adr x0, sleeper
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
    bl runtime.printint''', '''    stp x19, x20, [sp, #-16]!
    mov x19, #0
1:
    mov x2, #389
    mul x1, x19, x2
    mov x2, #1000
    udiv x3, x1, x2
    msub x1, x3, x2, x1
    add x1, x1, #1
    adr x0, sleeper
    bl runtime.newproc
    add x19, x19, #1
    cmp x19, #1000
    b.lt 1b
    mov x19, #0
    mov x20, #0
2:
    adr x0, done
    ldr x0, [x0]
    bl runtime.chanrecv
    add x20, x20, x0
    add x19, x19, #1
    cmp x19, #1000
    b.lt 2b
    mov x0, x20
    bl runtime.printint
    ldp x19, x20, [sp], #16'''),
}


def test_a_thousand_timers_on_four_ps_fire_in_deadline_order(arch):
    rec = Recorder(kinds=["timer"])
    s = System([("many.s", MANY_SLEEPERS[arch])], arch, bare=False, procs=4, trace=rec)
    out = s.run(200_000_000)
    assert (out.status, out.stdout) == (0, b"500500\n"), out.report
    fired = rec.of("timer")
    assert len(fired) == 1000
    for e in fired:
        now, when = e.args[1], e.args[2]
        assert when <= now < when + 1_500_000, (now, when)       # on time, within epoll's 1 ms
    # in deadline order, up to epoll's 1 ms granularity: timers on different Ps that are
    # due in the same millisecond may fire in either order (each M runs the Ps it checks)
    inversions = [(a.args, b.args) for a, b in zip(fired, fired[1:]) if b.args[2] < a.args[2] - 1_500_000]
    assert inversions == [], inversions[:3]
