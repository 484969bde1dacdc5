"""Shared fixtures: both arches, and running small programs on a fresh system."""
from __future__ import annotations

import pytest

from emu.system import System

ARCHES = ("amd64", "arm64")


@pytest.fixture(params=ARCHES)
def arch(request) -> str:
    return request.param


def make_system(arch: str, source: str, name: str = "prog.s", **kw) -> System:
    """A System for one in-memory source file (a --bare program)."""
    return System([(name, source)], arch, **kw)


def run_source(arch: str, source: str, *, max_instructions: int = 5_000_000, **kw):
    s = make_system(arch, source, **kw)
    return s, s.run(max_instructions)


def replay(s: System) -> str:
    """The line a failing test prints so that the run can be reproduced."""
    return f"seed={s.seed} policy={s.policy} arch={s.arch}; replay: {s.replay_command()}"
