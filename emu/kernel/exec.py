"""Loading a program into the process: what execve does (fs/exec.c, fs/binfmt_elf.c).

Design note
  1. Each segment of the image is mapped at its address with its protection
     (text r-x, data rw-), named after its section.
  2. The main thread's stack (8 MiB, Linux's default rlimit) is mapped at the top
     of the arena with a PROT_NONE guard page below it; mmap places new mappings
     below that.
  3. The initial stack is Linux's: argc, argv pointers, NULL, envp pointers,
     NULL, the auxiliary vector (by default AT_PAGESZ, AT_RANDOM, AT_NULL; an
     ELF executable gets Linux's full set, see elf.py), then the strings and
     AT_RANDOM's 16 bytes (from the seeded RNG) above; SP is 16-byte aligned
     and points at argc.
Accepts any object with `segments` (name, addr, data, size, prot); the kernel
does not depend on the assembler.
"""
from __future__ import annotations

import struct

from ..machine.memory import PAGE, PROT_NONE, PROT_READ, PROT_WRITE, parse_prot
from .task import Task

STACK_SIZE = 8 << 20
# auxiliary vector tags (include/uapi/linux/auxvec.h)
AT_NULL, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ, AT_BASE, AT_FLAGS, AT_ENTRY = 0, 3, 4, 5, 6, 7, 8, 9
AT_UID, AT_EUID, AT_GID, AT_EGID, AT_PLATFORM, AT_HWCAP, AT_CLKTCK = 11, 12, 13, 14, 15, 16, 17
AT_SECURE, AT_RANDOM, AT_HWCAP2, AT_EXECFN = 23, 25, 26, 31
RANDOM = object()      # an auxv value: "the address of the 16 AT_RANDOM bytes"


def exec_image(k, image, entry: int, argv=("prog",), envp=(), stack_size: int = STACK_SIZE,
               auxv=None) -> Task:
    """Map `image` and start its main thread at `entry`; returns the main task.
    `auxv`: the auxiliary vector as (tag, value) pairs without AT_NULL; a value is a
    number, a string (copied onto the stack; the entry points at it) or RANDOM.
    Default: AT_PAGESZ, AT_RANDOM (the teaching runtime reads nothing else)."""
    mem = k.mem
    for seg in image.segments:
        mem.map(seg.addr, seg.size, parse_prot(seg.prot), seg.name)
        mem.write(seg.addr, seg.data)
    stack_lo = mem.limit - stack_size
    mem.map(stack_lo, stack_size, PROT_READ | PROT_WRITE, "stack")
    mem.map(stack_lo - PAGE, PAGE, PROT_NONE, "stack guard")
    k.mmap_top = stack_lo - 2 * PAGE
    k.mmap_min = max(seg.addr + seg.size for seg in image.segments) + 16 * PAGE if image.segments else mem.base
    sp = _initial_stack(k, mem.limit, argv, envp,
                        auxv if auxv is not None else [(AT_PAGESZ, PAGE), (AT_RANDOM, RANDOM)])
    cpu = k.machine.new_cpu()
    task = k.new_task(cpu)
    cpu.pc, cpu.sp = entry, sp
    if k.isa.name == "amd64":          # the FPU state Linux starts a process with
        cpu.write("mxcsr", 0x1F80)
        cpu.write("fpcw", 0x37F)
    return task


def _initial_stack(k, top: int, argv, envp, auxv) -> int:
    """Build Linux's initial process stack below `top`; return the SP (at argc)."""
    mem = k.mem
    at = top
    random_bytes = bytes(k.machine.rng.getrandbits(8) for _ in range(16))
    at -= 16
    mem.write(at, random_bytes)
    at_random = at

    def push_str(s: str) -> int:
        nonlocal at
        b = s.encode() + b"\0"
        at -= len(b)
        mem.write(at, b)
        return at

    argv_p = [push_str(a) for a in argv]
    envp_p = [push_str(e) for e in envp]
    aux = []
    for tag, value in auxv:
        if value is RANDOM:
            value = at_random
        elif isinstance(value, str):
            value = push_str(value)
        aux += [tag, value]
    words = [len(argv), *argv_p, 0, *envp_p, 0, *aux, AT_NULL, 0]
    sp = (at - 8 * len(words)) & ~15
    mem.write(sp, struct.pack(f"<{len(words)}Q", *words))
    return sp
