"""Stack growth: host time per KiB copied, for the 100,000-frame recursion of
programs/<arch>/stackgrow.s, on both arches.

Programs (embedded below, the two halves of stackgrow.s on their own):
  check    main calls sum(100000) with `.stackcheck 64`: 100,001 frames of 64 bytes
           from an 8 KiB stack, ten growths through morestack -> newstack -> copystack;
  nosplit  the same recursion without the check, in main: ten growths through the
           guard page (SIGSEGV -> grow_from_fault -> copystack); needs guard pages.
For each: the growth count, KiB copied (the sum of the "stackgrow" events' used_bytes),
the host time of the whole run, the host time spent in copystack's own Python (timed
around each resume of the generator, so the machine code it calls -- mmap, mprotect --
is not counted), and the baseline: the same run with an 8 MiB initial stack (no
growth at all), so run - baseline is what growing cost end to end.
`check` runs with guard_pages off (the default) and on.  Best of --repeat runs.
Usage: python benchmarks/bench_stack.py [--repeat 5]
"""
from __future__ import annotations

import argparse
import time

import emu.runtime.stack as stack
from emu.system import System
from emu.trace.events import Recorder

N = 100_000
SUM = N * (N + 1) // 2

PROGRAM = {
    "amd64": """
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    mov eax, 100000
    call sum
    call runtime.printint
    pop rbp
    ret
sum:
    CHECK
    push rbp
    mov rbp, rsp
    sub rsp, 48
    mov qword ptr [rbp - 8], rax
    test rax, rax
    jz 1f
    dec rax
    call sum
    add rax, qword ptr [rbp - 8]
1:
    mov rsp, rbp
    pop rbp
    ret
""",
    "arm64": """
.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    movz x0, #0x86a0
    movk x0, #0x1, lsl #16
    bl sum
    bl runtime.printint
    ldp x29, x30, [sp], #16
    ret
sum:
    CHECK
    stp x29, x30, [sp, #-64]!
    mov x29, sp
    str x0, [sp, #16]
    cbz x0, 1f
    sub x0, x0, #1
    bl sum
    ldr x1, [sp, #16]
    add x0, x0, x1
1:
    ldp x29, x30, [sp], #64
    ret
""",
}

_copy_time = [0.0]
_copystack = stack.copystack


def _timed_copystack(*args, **kw):
    """copystack, with the host time of its own Python steps added to _copy_time."""
    gen = _copystack(*args, **kw)
    value = None
    while True:
        t0 = time.perf_counter()
        try:
            req = gen.send(value)
        except StopIteration as stop:
            _copy_time[0] += time.perf_counter() - t0
            return stop.value
        _copy_time[0] += time.perf_counter() - t0
        value = yield req


def run_once(arch: str, check: bool, guard_pages: bool, initial_stack: int = 8192) -> dict:
    src = PROGRAM[arch].replace("CHECK", ".stackcheck 64" if check else "")
    rec = Recorder(kinds=["stackgrow", "guardgrow"])
    s = System([("sum.s", src)], arch, bare=False, trace=rec,
               runtime_options={"guard_pages": guard_pages, "initial_stack": initial_stack, "sysmon": False})
    _copy_time[0] = 0.0
    t0 = time.perf_counter()
    out = s.run(100_000_000)
    dt = time.perf_counter() - t0
    assert (out.status, out.stdout) == (0, f"{SUM}\n".encode()), (out.report, out.stderr)
    grows = rec.of("stackgrow")
    return dict(time=dt, copy=_copy_time[0], grows=len(grows), guardgrows=len(rec.of("guardgrow")),
                kib=sum(e.args[6] for e in grows) / 1024, instructions=out.instructions)


def best(repeat: int, *args, **kw) -> dict:
    runs = [run_once(*args, **kw) for _ in range(repeat)]
    return min(runs, key=lambda r: r["time"]) | {"copy": min(r["copy"] for r in runs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    stack.copystack = _timed_copystack          # newstack and grow_from_fault look it up here
    try:
        print(f"{'arch':6} {'growth':22} {'grows':>5} {'KiB copied':>10} {'run s':>7} {'no-growth s':>11} "
              f"{'copystack s':>11} {'us/KiB (copy)':>13} {'us/KiB (run-base)':>17}")
        for arch in ("amd64", "arm64"):
            base = best(a.repeat, arch, True, False, initial_stack=8 << 20)
            assert base["grows"] == 0
            for label, check, guards in (("check, guard_pages off", True, False),
                                         ("check, guard_pages on", True, True),
                                         ("nosplit, guard page", False, True)):
                r = best(a.repeat, arch, check, guards)
                b = base if check else best(a.repeat, arch, False, True, initial_stack=8 << 20)
                print(f"{arch:6} {label:22} {r['grows']:>5} {r['kib']:>10,.0f} {r['time']:>7.3f} {b['time']:>11.3f} "
                      f"{r['copy']:>11.3f} {1e6 * r['copy'] / r['kib']:>13.1f} "
                      f"{1e6 * (r['time'] - b['time']) / r['kib']:>17.1f}")
    finally:
        stack.copystack = _copystack


if __name__ == "__main__":
    main()
