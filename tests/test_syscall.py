"""Blocking syscalls and P handoff on both arches: a G blocked in the kernel gives up
its P, sysmon hands the P to another M, and the G gets a P back when it returns."""
from __future__ import annotations

from emu.system import System
from emu.trace.events import Recorder

# main starts a sleeper, yields twice (the first gosched comes straight back: schedtick
# is 0), prints 1 while the sleeper is blocked in a real 50 ms nanosleep, then waits
# for the sleeper's 2.
BLOCKING = {
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
    xor ebx, ebx
    call runtime.newproc
    call runtime.gosched
    call runtime.gosched
    mov eax, 1
    call runtime.printint
    mov rax, qword ptr [rip + done]
    call runtime.chanrecv
    call runtime.printint
    pop rbp
    ret
sleeper:
    push rbp
    mov rbp, rsp
    mov eax, 50000000
    call runtime.blockingsyscall
    mov rax, qword ptr [rip + done]
    mov ebx, 2
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
    mov x1, #0
    bl runtime.newproc
    bl runtime.gosched
    bl runtime.gosched
    mov x0, #1
    bl runtime.printint
    adr x0, done
    ldr x0, [x0]
    bl runtime.chanrecv
    bl runtime.printint
    ldp x29, x30, [sp], #16
    ret
sleeper:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    movz x0, #0xf080
    movk x0, #0x2fa, lsl #16
    bl runtime.blockingsyscall
    adr x0, done
    ldr x0, [x0]
    mov x1, #2
    bl runtime.chansend
    ldp x29, x30, [sp], #16
    ret
.data
done: .quad 0
""",
}


def test_blocked_g_gives_its_p_to_another_m(arch):
    rec = Recorder(kinds=["entersyscall", "handoff", "exitsyscall", "switch", "gstatus"])
    s = System([("block.s", BLOCKING[arch])], arch, bare=False, procs=1, trace=rec)
    out = s.run(50_000_000)
    assert (out.status, out.stdout, out.stderr) == (0, b"1\n2\n", b""), out.report
    kinds = [e.kind for e in rec.events if e.kind in ("entersyscall", "handoff", "exitsyscall")]
    assert kinds == ["entersyscall", "handoff", "exitsyscall"]
    enter, handoff, exit_ = (rec.of(k)[0] for k in ("entersyscall", "handoff", "exitsyscall"))
    assert enter.args == (2, 0) and handoff.args == (0,)
    # main (g1) ran on another M while g2's M was in the kernel
    during = [e for e in rec.of("switch") if enter.cycles <= e.cycles < exit_.cycles and e.args[2] == 1]
    assert during and during[0].cpu != enter.cpu and during[0].args[1] == 0
    # g2 went _Grunning -> _Gsyscall -> _Grunning, and the sleep lasted 50 ms of virtual time
    g2 = [e.args[1:3] for e in rec.of("gstatus") if e.args[0] == 2]
    assert ("_Grunning", "_Gsyscall") in g2 and ("_Gsyscall", "_Grunning") in g2
    assert exit_.cycles - enter.cycles >= s.machine.ns_to_cycles(50_000_000)
    assert exit_.args[2] == "idle P"          # its P was taken: it got an idle one back


def test_without_handoff_pressure_the_fast_path_keeps_the_p(arch):
    # procs 2: the sleeper's P is not needed by anyone, and its M takes it back itself
    # (sysmon hands off an idle-runq P only after 10 ms, so a 5 ms sleep keeps it).
    src = BLOCKING[arch].replace("mov eax, 50000000", "mov eax, 5000000") \
                        .replace("movz x0, #0xf080\n    movk x0, #0x2fa, lsl #16", "movz x0, #0x4b40\n    movk x0, #0x4c, lsl #16")
    rec = Recorder(kinds=["entersyscall", "handoff", "exitsyscall"])
    s = System([("block.s", src)], arch, bare=False, procs=2, trace=rec)
    out = s.run(50_000_000)
    assert (out.status, out.stdout) == (0, b"1\n2\n"), out.report
    assert [e.kind for e in rec.events] == ["entersyscall", "exitsyscall"]
    assert rec.of("exitsyscall")[0].args[2] == "fast"
