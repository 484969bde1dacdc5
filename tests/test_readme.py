"""The README's first goroutine program runs, on both arches, as the README says."""
from __future__ import annotations

import re
from pathlib import Path

from conftest import make_system

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_program(arch: str) -> str:
    blocks = re.findall(rf"`hello_{arch}.s`:\n```asm\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_readme_first_goroutine_program_prints_42(arch):
    for procs in (1, 2):
        s = make_system(arch, readme_program(arch), name=f"hello_{arch}.s", bare=False, procs=procs)
        out = s.run(10_000_000)
        assert (out.status, out.stdout) == (0, b"42\n"), out.stderr
