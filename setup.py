"""Builds the one native helper (the per-slice instruction counter hook).

Everything else is in pyproject.toml.  The helper uses no Python C API; it is
loaded with ctypes by emu/machine/native.py.
"""
from setuptools import Extension, setup

setup(
    packages=[
        "emu", "emu.machine", "emu.machine.isa", "emu.asm", "emu.kernel", "emu.trace",
        "emu.runtime_asm", "emu.programs",
    ],
    ext_modules=[Extension("emu.machine._ucnative", sources=["emu/machine/_ucnative.c"])],
)
