"""Pipe ping-pong through the netpoller (issue: netpoll and timers), both arches.

Program (programs/<arch>/pipe_pingpong.s): main makes two pipes and starts a ponger;
then N times main writes one byte to pipe A and reads pipe B, while the ponger reads A
and writes B.  Each read finds
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
from pathlib import Path

from emu.system import System
from emu.trace.events import Recorder

ROOT = Path(__file__).resolve().parents[1]


def round_trips(arch: str, procs: int, n: int) -> dict:
    rec = Recorder(kinds=["netpoll"])
    s = System([ROOT / "programs" / arch / "pipe_pingpong.s"], arch, bare=False, procs=procs, trace=rec)
    s.machine.memory.write_u64(s.image.symbols["rounds"], n)
    t0 = time.perf_counter()
    out = s.run()
    dt = time.perf_counter() - t0
    assert out.status == 0 and out.stdout == f"{n}\n".encode(), (out.report, out.stderr)
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
