"""Goroutine switches per host second (issue: scheduler core), with a profile.

Program: main starts one goroutine; each of the two calls runtime.gosched() N times
(then main waits for the other on a channel).  Every gosched is a full switch:
mcall (asm) -> gosched_m -> schedule -> findRunnable -> execute -> gogo (asm).
Reported for GOMAXPROCS 1 and 4, both arches; target >= 20,000 switches/s.
`--profile` prints where the host time goes (cProfile, top functions).
Usage: python benchmarks/bench_sched.py [--n 20000] [--profile]
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from emu.system import System
from emu.trace import events as ev
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
    mov eax, 0
    call runtime.makechan
    mov qword ptr [rip + done], rax
    lea rax, [rip + yielder]
    xor ebx, ebx
    call runtime.newproc
    call yielder_body
    mov rax, qword ptr [rip + done]
    call runtime.chanrecv
    pop r12
    pop r12
    pop rbp
    ret
yielder:
    push rbp
    mov rbp, rsp
    call yielder_body
    mov rax, qword ptr [rip + done]
    mov ebx, 1
    call runtime.chansend
    pop rbp
    ret
yielder_body:
    push rbp
    mov rbp, rsp
    push r12
    push r12
    mov r12d, N
1:
    call runtime.gosched
    dec r12d
    jnz 1b
    pop r12
    pop r12
    pop rbp
    ret
.data
done: .quad 0
""",
    "arm64": """
.equ N, {n}
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    mov x0, #0
    bl runtime.makechan
    adr x1, done
    str x0, [x1]
    adr x0, yielder
    mov x1, #0
    bl runtime.newproc
    bl yielder_body
    adr x0, done
    ldr x0, [x0]
    bl runtime.chanrecv
    ldp x29, x30, [sp], #16
    ret
yielder:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    bl yielder_body
    adr x0, done
    ldr x0, [x0]
    mov x1, #1
    bl runtime.chansend
    ldp x29, x30, [sp], #16
    ret
yielder_body:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    str x19, [sp, #16]
    mov x19, #N
1:
    bl runtime.gosched
    subs x19, x19, #1
    b.ne 1b
    ldr x19, [sp, #16]
    ldp x29, x30, [sp], #32
    ret
.data
done: .quad 0
""",
}


def switches_per_second(arch: str, procs: int, n: int, profile: bool = False) -> tuple[float, int]:
    rec = Recorder(kinds=[ev.SWITCH])
    s = System([("pingpong.s", PROGRAM[arch].format(n=n))], arch, bare=False, procs=procs, trace=rec)
    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    out = s.run()
    if prof:
        prof.disable()
    dt = time.perf_counter() - t0
    assert out.status == 0, (out.report, out.stderr)
    switches = len(rec.events)
    if prof:
        print(f"--- profile: {arch}, GOMAXPROCS={procs} (top 12 by own time) ---")
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)
    return switches / dt, switches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    for arch in ("amd64", "arm64"):
        for procs in (1, 4):
            rate, n = switches_per_second(arch, procs, a.n, a.profile)
            print(f"{arch} GOMAXPROCS={procs}: {n:,} switches, {rate:,.0f} switches per host second")


if __name__ == "__main__":
    main()
