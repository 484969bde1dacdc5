"""What the emulated CPUs say about themselves: x86 CPUID, the timestamp counters
(x86 RDTSC/RDTSCP, arm64 CNTVCT_EL0/CNTFRQ_EL0) and the matching Linux HWCAP.

Design note
  1. Identification is a fixed table of ours, not the engine's model and never
     the host's, so a run does not depend on the Unicorn release or the host CPU.
     Everything advertised is a subset of what the engine executes (Unicorn's
     x86 TCG model is a Haswell without AVX): a program that trusts CPUID never
     meets an instruction the engine refuses.
       amd64  "GenuineIntel", family 6 model 0x1A stepping 5 (a Nehalem-class
              core): SSE, SSE2, SSE3, SSSE3, SSE4.1, SSE4.2, POPCNT, CX16, CMOV,
              FXSR, TSC, LAHF/SAHF, SYSCALL, NX, LM.  Not advertised: AVX, AVX2
              (the engine has no VEX), OSXSAVE/XSAVE (so nobody runs XGETBV), AES,
              PCLMULQDQ, RDRAND, BMI1/2, ERMS, RDTSCP, the hypervisor bit.  Max
              basic leaf 7 (leaf 7 is all zero), max extended leaf 0x80000008
              (48-bit virtual, 40-bit physical addresses); a brand string names
              the emulator.  Unknown leaves read as zero.
       arm64  Linux reports features through AT_HWCAP: FP | ASIMD only.  No
              ATOMICS (Go takes its LDAXR/STLXR paths), no CPUID (nobody reads
              MIDR_EL1).
  2. Timestamps come from the virtual clock: the CPU's cycle count at the
     instruction (its count at the start of the slice plus the instructions
     retired so far in it, the timestamp instruction included).
       arm64  MRS CNTVCT_EL0 / CNTPCT_EL0 give that count and CNTFRQ_EL0 the
              machine's clock rate (so CNTVCT/CNTFRQ is CLOCK_MONOTONIC), through
              a UC_HOOK_INSN on MRS; other system registers read as the engine has them.
       amd64  RDTSC / RDTSCP give the count in EDX:EAX (RDTSCP: ECX = TSC_AUX =
              the CPU id).  Unicorn cannot hook them (UC_ERR_ARG), so the loader
              asks the machine to trap at every place in executable memory whose
              bytes spell one of them (`timestamp_sites`); a code hook there ends
              the slice before the instruction, and the CPU emulates it and goes
              on within the same slice.  A byte pattern that is not the start of an
              instruction is never executed, so the hook never fires for it.
Rejected: passing the engine's own CPUID through (Unicorn's Haswell advertises
OSXSAVE, RDRAND and AES, and changes between releases); the host's TSC (a run
would not replay).
"""
from __future__ import annotations

import struct

# ---- amd64 CPUID --------------------------------------------------------------------
_VENDOR = b"GenuineIntel"
_BRAND = b"gosched-emu virtual x86-64 CPU".ljust(48, b"\0")

# CPUID.1:EDX: FPU TSC CX8 CMOV CLFSH MMX FXSR SSE SSE2
CPUID1_EDX = sum(1 << b for b in (0, 4, 8, 15, 19, 23, 24, 25, 26))
# CPUID.1:ECX: SSE3 SSSE3 CX16 SSE4.1 SSE4.2 POPCNT
CPUID1_ECX = sum(1 << b for b in (0, 9, 13, 19, 20, 23))
CPUID1_EAX = 0x000106A5          # family 6, model 0x1A, stepping 5
# CPUID.80000001h: ECX LAHF_LM; EDX SYSCALL NX LM
CPUID_EXT1_ECX, CPUID_EXT1_EDX = 1, (1 << 11) | (1 << 20) | (1 << 29)
MAX_BASIC, MAX_EXTENDED = 7, 0x80000008


def cpuid(leaf: int, subleaf: int, cpu_id: int = 0) -> tuple[int, int, int, int]:
    """(eax, ebx, ecx, edx) of CPUID leaf `leaf` on CPU `cpu_id` (see the module note)."""
    leaf &= 0xFFFFFFFF
    if leaf == 0:
        ebx, edx, ecx = struct.unpack("<III", _VENDOR)
        return MAX_BASIC, ebx, ecx, edx
    if leaf == 1:
        # EBX: initial APIC id (the CPU's id), CLFLUSH line size 8 x 8 bytes.
        return CPUID1_EAX, ((cpu_id & 0xFF) << 24) | (8 << 8), CPUID1_ECX, CPUID1_EDX
    if leaf == 0x80000000:
        return MAX_EXTENDED, 0, 0, 0
    if leaf == 0x80000001:
        return 0, 0, CPUID_EXT1_ECX, CPUID_EXT1_EDX
    if 0x80000002 <= leaf <= 0x80000004:
        return struct.unpack_from("<IIII", _BRAND, 16 * (leaf - 0x80000002))
    if leaf == 0x80000008:
        return 0x3028, 0, 0, 0
    return 0, 0, 0, 0


# Linux's AT_HWCAP: x86_64 reports CPUID.1:EDX; arm64 HWCAP_FP | HWCAP_ASIMD.
HWCAP = {"amd64": CPUID1_EDX, "arm64": 0x3}
PLATFORM = {"amd64": "x86_64", "arm64": "aarch64"}

# ---- timestamp instructions -----------------------------------------------------------
RDTSC, RDTSCP = b"\x0f\x31", b"\x0f\x01\xf9"


def timestamp_sites(code: bytes, base: int) -> list[tuple[int, bytes]]:
    """Every address in `code` (loaded at `base`) whose bytes spell RDTSC or RDTSCP."""
    out = []
    for pattern in (RDTSC, RDTSCP):
        at = code.find(pattern)
        while at >= 0:
            out.append((base + at, pattern))
            at = code.find(pattern, at + 1)
    return sorted(out)


# arm64 system registers by (op0, op1, CRn, CRm, op2)
CNTFRQ_EL0, CNTPCT_EL0, CNTVCT_EL0 = (3, 3, 14, 0, 0), (3, 3, 14, 0, 1), (3, 3, 14, 0, 2)
