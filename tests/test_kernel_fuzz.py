"""Bad input never crashes the host: random syscalls with random arguments.

Hypothesis draws a syscall number (known numbers of the arch and some unknown ones)
and six arguments from a mix that hits edge cases (0, -1, small counts, pointers
into writable memory, into text, unmapped addresses, huge values).  Whatever the
call, the kernel must answer as Linux would in kind: a result or -errno, a guest
signal, a deadlock or budget stop -- never a Python exception and never a
"kernel bug" report.
"""
from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings, strategies as st

import pytest

from emu.kernel.syscalls import NUMBERS, number_of

from conftest import make_system
from probes import SYSCALL_PROBE

_SYSTEMS = {}


def _arg(sym):
    return st.one_of(
        st.integers(0, 3),
        st.sampled_from([0, 1, 2, 3, 4096, 2**31 - 1, 2**32 - 1, 2**63 - 1, 2**64 - 1, 0x10, 0x400001,
                         1000, 10, 23]),           # the pid/tid, SIGUSR1, SIGURG: signals reach a thread
        st.integers(0, 2**64 - 1),
        st.integers(0, 4096).map(lambda o: sym["buf"] + o),
        st.integers(0, 64).map(lambda o: sym["_start"] + o),
    )


def _run(arch, nr, args, capsys):
    s = make_system(arch, SYSCALL_PROBE[arch], seed=nr & 0xFFFF)
    s.machine.memory.write(s.image.symbols["args"], struct.pack("<7Q", nr, *args))
    out = s.run(200_000)
    assert out.reason in ("exit", "crash", "deadlock", "budget"), out
    err = capsys.readouterr().err
    assert "kernel bug" not in err, (nr, args, err)


SYMBOLS = {arch: make_system(arch, SYSCALL_PROBE[arch]).image.symbols for arch in ("amd64", "arm64")}
CALLS = [(arch, name) for name, nrs in sorted(NUMBERS.items()) for arch, nr in zip(("amd64", "arm64"), nrs)
         if nr is not None]


@pytest.mark.parametrize("arch,name", CALLS, ids=[f"{a}-{n}" for a, n in CALLS])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_syscall_with_random_arguments(arch, name, data, capsys):
    args = [data.draw(_arg(SYMBOLS[arch]), label=f"arg{i}") for i in range(6)]
    _run(arch, number_of(arch, name), args, capsys)


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_numbers_with_random_arguments(arch, data, capsys):
    nr = data.draw(st.integers(0, 2**64 - 1), label="nr")
    args = [data.draw(_arg(SYMBOLS[arch]), label=f"arg{i}") for i in range(6)]
    _run(arch, nr, args, capsys)
