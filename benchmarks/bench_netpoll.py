"""Pipe ping-pong through the netpoller (issue: netpoll and timers), both arches.

Program: main makes two pipes and starts a ponger; then N times main writes one byte
to pipe A and reads pipe B, while the ponger reads A and writes B.  Each read finds
the pipe empty first, so every round trip parks both Gs in netpollblock (IO wait) and
wakes them through epoll: runtime.read -> EAGAIN -> gopark -> findRunnable -> netpoll
-> epoll_pwait -> netpollready -> the G runs again and reads its byte.
Reported for GOMAXPROCS 1 and 2: round trips per host second, netpoll wakes per round
trip, and virtual microseconds per round trip (100 MHz clock).
Usage: python benchmarks/bench_netpoll.py [--n 2000]
"""
from __future__ import annotations

import argparse
import time

from emu.system import System
from emu.trace.events import Recorder

PROGRAM = {
    "amd64": """
.equ N, {n}
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    push r12
    push r12
    xor eax, eax
    call runtime.makechan
    mov qword ptr [rip + done], rax
    call runtime.pipe
    mov qword ptr [rip + ar], rax
    mov qword ptr [rip + aw], rbx
    call runtime.pipe
    mov qword ptr [rip + br], rax
    mov qword ptr [rip + bw], rbx
    lea rax, [rip + ponger]
    xor ebx, ebx
    call runtime.newproc
    mov r12d, N
1:
    mov rax, qword ptr [rip + aw]       # ping: write(aw, "p", 1)
    lea rbx, [rip + ping]
    mov ecx, 1
    call runtime.write
    mov rax, qword ptr [rip + br]       # wait for pong: read(br, buf, 1)
    lea rbx, [rip + mbuf]
    mov ecx, 1
    call runtime.read
    dec r12d
    jnz 1b
    mov rax, qword ptr [rip + done]
    call runtime.chanrecv
    pop r12
    pop r12
    pop rbp
    ret
ponger:
    push rbp
    mov rbp, rsp
    push r12
    push r12
    mov r12d, N
1:
    mov rax, qword ptr [rip + ar]       # read(ar, buf, 1)
    lea rbx, [rip + pbuf]
    mov ecx, 1
    call runtime.read
    mov rax, qword ptr [rip + bw]       # write(bw, buf, 1)
    lea rbx, [rip + pbuf]
    mov ecx, 1
    call runtime.write
    dec r12d
    jnz 1b
    mov rax, qword ptr [rip + done]
    mov ebx, 1
    call runtime.chansend
    pop r12
    pop r12
    pop rbp
    ret
.data
done: .quad 0
ar: .quad 0
aw: .quad 0
br: .quad 0
bw: .quad 0
ping: .byte 112
mbuf: .byte 0
pbuf: .byte 0
""",
    "arm64": """
.equ N, {n}
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    str x19, [sp, #16]
    mov x0, #0
    bl runtime.makechan
    adr x1, done
    str x0, [x1]
    bl runtime.pipe
    adr x2, ar
    str x0, [x2]
    adr x2, aw
    str x1, [x2]
    bl runtime.pipe
    adr x2, br
    str x0, [x2]
    adr x2, bw
    str x1, [x2]
    adr x0, ponger
    mov x1, #0
    bl runtime.newproc
    mov x19, #N
1:
    adr x0, aw                          // ping: write(aw, "p", 1)
    ldr x0, [x0]
    adr x1, ping
    mov x2, #1
    bl runtime.write
    adr x0, br                          // wait for pong: read(br, buf, 1)
    ldr x0, [x0]
    adr x1, mbuf
    mov x2, #1
    bl runtime.read
    subs x19, x19, #1
    b.ne 1b
    adr x0, done
    ldr x0, [x0]
    bl runtime.chanrecv
    ldr x19, [sp, #16]
    ldp x29, x30, [sp], #32
    ret
ponger:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    str x19, [sp, #16]
    mov x19, #N
1:
    adr x0, ar                          // read(ar, buf, 1)
    ldr x0, [x0]
    adr x1, pbuf
    mov x2, #1
    bl runtime.read
    adr x0, bw                          // write(bw, buf, 1)
    ldr x0, [x0]
    adr x1, pbuf
    mov x2, #1
    bl runtime.write
    subs x19, x19, #1
    b.ne 1b
    adr x0, done
    ldr x0, [x0]
    mov x1, #1
    bl runtime.chansend
    ldr x19, [sp, #16]
    ldp x29, x30, [sp], #32
    ret
.data
done: .quad 0
ar: .quad 0
aw: .quad 0
br: .quad 0
bw: .quad 0
ping: .byte 112
mbuf: .byte 0
pbuf: .byte 0
""",
}


def round_trips(arch: str, procs: int, n: int) -> dict:
    rec = Recorder(kinds=["netpoll"])
    s = System([("pipepong.s", PROGRAM[arch].format(n=n))], arch, bare=False, procs=procs, trace=rec)
    t0 = time.perf_counter()
    out = s.run()
    dt = time.perf_counter() - t0
    assert out.status == 0, (out.report, out.stderr)
    wakes = sum(len(e.args[2]) for e in rec.events)
    return {"per_s": n / dt, "wakes": wakes / n, "virt_us": s.machine.cycles_to_ns(s.machine.now()) / n / 1000}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2_000)
    a = ap.parse_args()
    for arch in ("amd64", "arm64"):
        for procs in (1, 2):
            r = round_trips(arch, procs, a.n)
            print(f"{arch} GOMAXPROCS={procs}: {a.n:,} round trips, {r['per_s']:,.0f} per host second, "
                  f"{r['wakes']:.2f} netpoll wakes per round trip, {r['virt_us']:.1f} virtual us each")


if __name__ == "__main__":
    main()
