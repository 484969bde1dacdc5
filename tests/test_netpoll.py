"""The netpoller on both arches: a G reading an empty pipe parks in netpollblock
(IO wait) and is woken through epoll -- by another goroutine's write, or by the
far end of the pipe driven from Python at a chosen virtual time while every
goroutine waits (the last M then blocks in epoll_pwait)."""
from __future__ import annotations

from emu.system import System
from emu.trace import events as ev
from emu.trace.events import Recorder

# main makes a pipe and a channel, starts a reader, [writes "abc" itself], and waits for
# the reader's report: the byte count (printed by the reader) and the first byte.
def program(arch, selfwrite, spin=1, nap=0):
    """PROGRAM with main writing itself or not, spinning `spin` iterations and then
    sleeping `nap` ns (0: no sleep) before it prints 1."""
    return (PROGRAM[arch].replace("SELFWRITE", str(selfwrite))
            .replace("SPIN", str(spin)).replace("NAP", str(nap)))


PROGRAM = {
    "amd64": """
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + done], rax
    call runtime.pipe
    mov qword ptr [rip + rfd], rax
    mov qword ptr [rip + wfd], rbx
    lea rax, [rip + reader]
    xor ebx, ebx
    call runtime.newproc
    call runtime.gosched
    call runtime.gosched
    mov rcx, qword ptr [rip + spin]     # spin a while (so an idle M can block in epoll)
0:
    dec rcx
    jnz 0b
    mov rax, qword ptr [rip + nap]
    test rax, rax
    jz 0f
    call runtime.sleep                  # runtime.sleep(nap ns)
0:
    mov eax, 1
    call runtime.printint
    cmp qword ptr [rip + selfwrite], 0
    je 1f
    mov rax, qword ptr [rip + wfd]
    lea rbx, [rip + msg]
    mov ecx, 3
    call runtime.write
1:
    mov rax, qword ptr [rip + done]
    call runtime.chanrecv
    call runtime.printint
    pop rbp
    ret
reader:
    push rbp
    mov rbp, rsp
    mov rax, qword ptr [rip + rfd]
    lea rbx, [rip + buf]
    mov ecx, 16
    call runtime.read
    call runtime.printint
    movzx ebx, byte ptr [rip + buf]
    mov rax, qword ptr [rip + done]
    call runtime.chansend
    pop rbp
    ret
.data
selfwrite: .quad SELFWRITE
spin: .quad SPIN
nap: .quad NAP
rfd: .quad 0
wfd: .quad 0
done: .quad 0
msg: .ascii "abc"
buf: .space 16
""",
    "arm64": """
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x0, #0
    bl runtime.makechan
    adr x2, done
    str x0, [x2]
    bl runtime.pipe
    adr x2, rfd
    str x0, [x2]
    adr x2, wfd
    str x1, [x2]
    adr x0, reader
    mov x1, #0
    bl runtime.newproc
    bl runtime.gosched
    bl runtime.gosched
    adr x0, spin                        // spin a while (so an idle M can block in epoll)
    ldr x0, [x0]
0:
    subs x0, x0, #1
    b.ne 0b
    adr x0, nap
    ldr x0, [x0]
    cbz x0, 0f
    bl runtime.sleep                    // runtime.sleep(nap ns)
0:
    mov x0, #1
    bl runtime.printint
    adr x0, selfwrite
    ldr x0, [x0]
    cbz x0, 1f
    adr x0, wfd
    ldr x0, [x0]
    adr x1, msg
    mov x2, #3
    bl runtime.write
1:
    adr x0, done
    ldr x0, [x0]
    bl runtime.chanrecv
    bl runtime.printint
    ldp x29, x30, [sp], #16
    ret
reader:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    adr x0, rfd
    ldr x0, [x0]
    adr x1, buf
    mov x2, #16
    bl runtime.read
    bl runtime.printint
    adr x1, buf
    ldrb w1, [x1]
    adr x0, done
    ldr x0, [x0]
    bl runtime.chansend
    ldp x29, x30, [sp], #16
    ret
.data
selfwrite: .quad SELFWRITE
spin: .quad SPIN
nap: .quad NAP
rfd: .quad 0
wfd: .quad 0
done: .quad 0
msg: .ascii "abc"
buf: .space 16
""",
}


def test_reader_parks_in_io_wait_and_a_write_wakes_it(arch):
    for procs in (1, 2):
        rec = Recorder(kinds=[ev.GSTATUS, "netpoll"])
        s = System([("np.s", program(arch, 1))], arch, bare=False, procs=procs, trace=rec)
        out = s.run(20_000_000)
        assert (out.status, out.stdout, out.stderr) == (0, b"1\n3\n97\n", b""), out.report
        g2 = [e.args[1:3] for e in rec.of(ev.GSTATUS) if e.args[0] == 2]
        assert ("_Grunning", "_Gwaiting") in g2 and ("_Gwaiting", "_Grunnable") in g2
        woke = [e for e in rec.of("netpoll") if e.args[2] == [2]]
        assert len(woke) == 1


def test_the_far_end_writes_at_a_virtual_time_and_the_blocked_netpoll_wakes(arch):
    rec = Recorder(kinds=["netpoll"])
    s = System([("np.s", program(arch, 0))], arch, bare=False, procs=1, trace=rec)
    k = s.kernel
    # fds: 3 epoll, 4/5 the netpoller's break pipe, 6/7 the program's pipe
    k.at(7_000_000, lambda: k.peer(6).write(b"xyz"))
    out = s.run(20_000_000)
    assert (out.status, out.stdout, out.stderr) == (0, b"1\n3\n120\n", b""), out.report
    blocking = [e for e in rec.of("netpoll") if e.args[0] == -1]
    assert blocking and blocking[-1].args[2] == [2]
    assert s.machine.cycles_to_ns(blocking[-1].cycles) >= 7_000_000


def test_a_write_made_after_runtime_sleep_wakes_the_parked_reader(arch):
    for procs in (1, 2):
        rec = Recorder(kinds=["netpoll", "timer"])
        s = System([("np.s", program(arch, 1, nap=3_000_000))], arch, bare=False, procs=procs, trace=rec)
        out = s.run(40_000_000)
        assert (out.status, out.stdout, out.stderr) == (0, b"1\n3\n97\n", b""), out.report
        (fired,) = rec.of("timer")
        goid, now, when = fired.args
        assert goid == 1 and when <= now < when + 1_000_000 + 100_000
        (woke,) = [e for e in rec.of("netpoll") if e.args[2] == [2]]
        assert woke.cycles > fired.cycles         # the reader wakes after main's sleep ends


def test_netpoll_break_wakes_an_m_blocked_in_epoll_when_an_earlier_timer_is_added(arch):
    """With 2 Ps the reader parks, the idle M blocks in epoll_pwait(-1) (no timers yet);
    main then sleeps 5 ms: the new timer is earlier than the poller's wakeup (never), so
    netpollBreak writes the break pipe, the poller wakes empty-handed, takes an idle P,
    recomputes its delay and sleeps 5 ms in epoll.  Without the break the timer would
    wait for the far end's write at 20 ms."""
    rec = Recorder(kinds=["netpoll", "netpollbreak", "timer"])
    s = System([("np.s", program(arch, 0, spin=200_000, nap=5_000_000))], arch, bare=False, procs=2, trace=rec)
    k = s.kernel
    k.at(20_000_000, lambda: k.peer(6).write(b"xyz"))
    out = s.run(40_000_000)
    assert (out.status, out.stdout, out.stderr) == (0, b"1\n3\n120\n", b""), out.report
    kinds = [(e.kind, e.args[0]) for e in rec.events]
    i = kinds.index(("netpollbreak", 0))                # the poller slept with no deadline
    assert kinds[i + 1] == ("netpoll", -1)              # ... and its epoll_pwait(-1) returns
    assert rec.events[i + 1].args[1:] == (1, [])        # one event (the break pipe), no G
    assert ("netpoll", 5) in kinds[i + 2:]              # it sleeps again, now for 5 ms
    (fired,) = rec.of("timer")
    goid, now, when = fired.args
    assert goid == 1 and when <= now < when + 1_000_000 + 100_000    # epoll rounds up to ms
    assert now < 10_000_000                             # long before the far end's write


# 100 readers, each parked on its own empty pipe; main then writes one byte to each.
def test_a_hundred_readers_on_their_own_pipes_are_all_woken(arch):
    src = {
        "amd64": """
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    push r12
    push r13
    mov eax, 100
    call runtime.makechan
    mov qword ptr [rip + done], rax
    xor r12d, r12d
1:
    call runtime.pipe
    lea rcx, [rip + fds]
    mov qword ptr [rcx + r12*8], rbx
    lea rbx, [rax]
    lea rax, [rip + reader]
    call runtime.newproc
    inc r12
    cmp r12, 100
    jl 1b
    call runtime.gosched
    call runtime.gosched
    xor r12d, r12d
2:
    lea rcx, [rip + fds]
    mov rax, qword ptr [rcx + r12*8]
    lea rbx, [rip + one]
    mov ecx, 1
    call runtime.write
    inc r12
    cmp r12, 100
    jl 2b
    xor r12d, r12d
    xor r13d, r13d
3:
    mov rax, qword ptr [rip + done]
    call runtime.chanrecv
    add r13, rax
    inc r12
    cmp r12, 100
    jl 3b
    mov rax, r13
    call runtime.printint
    pop r13
    pop r12
    pop rbp
    ret
reader:
    push rbp
    mov rbp, rsp
    sub rsp, 16
    lea rbx, [rsp]
    mov ecx, 8
    call runtime.read
    mov rbx, rax
    mov rax, qword ptr [rip + done]
    call runtime.chansend
    mov rsp, rbp
    pop rbp
    ret
.data
done: .quad 0
one: .byte 7
.balign 8
fds: .space 800
""",
        "arm64": """
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    stp x19, x20, [sp, #16]
    mov x0, #100
    bl runtime.makechan
    adr x1, done
    str x0, [x1]
    mov x19, #0
1:
    bl runtime.pipe
    adr x2, fds
    str x1, [x2, x19, lsl #3]
    mov x1, x0
    adr x0, reader
    bl runtime.newproc
    add x19, x19, #1
    cmp x19, #100
    b.lt 1b
    bl runtime.gosched
    bl runtime.gosched
    mov x19, #0
2:
    adr x2, fds
    ldr x0, [x2, x19, lsl #3]
    adr x1, one
    mov x2, #1
    bl runtime.write
    add x19, x19, #1
    cmp x19, #100
    b.lt 2b
    mov x19, #0
    mov x20, #0
3:
    adr x0, done
    ldr x0, [x0]
    bl runtime.chanrecv
    add x20, x20, x0
    add x19, x19, #1
    cmp x19, #100
    b.lt 3b
    mov x0, x20
    bl runtime.printint
    ldp x19, x20, [sp, #16]
    ldp x29, x30, [sp], #32
    ret
reader:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    add x1, sp, #16
    mov x2, #8
    bl runtime.read
    mov x1, x0
    adr x0, done
    ldr x0, [x0]
    bl runtime.chansend
    ldp x29, x30, [sp], #32
    ret
.data
done: .quad 0
one: .byte 7
.balign 8
fds: .space 800
""",
    }[arch]
    # (4 Ps under the random interleaving: two Ms polling at once once shared one event
    # buffer, and one's events overwrote the other's: readers were never woken)
    for procs, policy, seed in ((1, "round-robin", 0), (4, "round-robin", 0), (4, "random", 1), (4, "random", 2),
                                (4, "random", 3)):
        rec = Recorder(kinds=["netpoll"])
        s = System([("hundred.s", src)], arch, bare=False, procs=procs, trace=rec, policy=policy, seed=seed)
        out = s.run(100_000_000)
        assert (out.status, out.stdout, out.stderr) == (0, b"100\n", b""), (procs, policy, seed, out.report,
                                                                           out.stderr[:300])
        woken = [g for e in rec.of("netpoll") for g in e.args[2]]
        # readers that parked were woken once each (a reader that ran after its byte
        # arrived read it without parking); all 100 reported
        assert len(woken) == len(set(woken)) and set(woken) <= set(range(2, 102)) and woken
