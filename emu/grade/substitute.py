"""Substitution: a student's code replaces the project's, without editing the package.

Design note
  1. Assembly: the runtime's sources are read as text and every *definition* of a
     replaced routine (its label, the labels under it such as runtime.gogo.jump,
     and its .globl) is renamed to `<name>.reference`; the student's file, assembled
     with them, defines the names again.  Calls elsewhere in the runtime resolve to
     the student's routine, and the reference stays in the image (unused) so the
     rest of the runtime assembles unchanged.
  2. Python: a method ("emu.kernel.epoll.EpItem.wake") is set on its class; a function
     object is replaced wherever the running system can reach it: the globals of every emu.* module (Go-style `from .p import
     runqput` copies included), the values of registries held in module globals
     (the syscall HANDLERS, the pycall EXPORTS' Export.fn), then put back.
  3. Both happen in a forked child per test (emu/grade/grader.py), so a student's
     Python that corrupts interpreter state cannot leak into the next test.
Rejected: editing files in the installed package (a student's error would break
the installation); importlib tricks that reload modules (objects created before
the reload would keep the reference's functions).
"""
from __future__ import annotations

import dataclasses
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from ..system import runtime_sources


def rename_definitions(text: str, symbol: str) -> str:
    """`text` with `symbol` and `symbol.<sub>` renamed to `symbol.reference[.<sub>]`
    where they are defined (`name:`) or declared (`.globl name`), and the sub-labels
    also where they are used (they are local to the routine)."""
    sub = re.escape(symbol) + r"\.([A-Za-z0-9_.]+)"
    text = re.sub(r"(?<![\w.])" + sub + r"(?![\w.])", lambda m: f"{symbol}.reference.{m[1]}", text)
    text = re.sub(r"^(\s*)" + re.escape(symbol) + r":", rf"\g<1>{symbol}.reference:", text, flags=re.M)
    text = re.sub(r"^(\s*\.globl\s+)" + re.escape(symbol) + r"\s*$", rf"\g<1>{symbol}.reference", text,
                  flags=re.M)
    return text


def defines(text: str, symbol: str) -> bool:
    return re.search(r"^\s*" + re.escape(symbol) + r":", text, re.M) is not None


def runtime_with(arch: str, student: Path, symbols) -> list:
    """The runtime's sources for `arch` with `symbols` taken from the student's file."""
    text = student.read_text()
    missing = [s for s in symbols if not defines(text, s)]
    if missing:
        raise ValueError(f"{student}: does not define {', '.join(missing)} (keep the skeleton's labels)")
    out = []
    for src in runtime_sources(arch):
        name, body = (src.name, src.read_text()) if isinstance(src, Path) else src
        for s in symbols:
            body = rename_definitions(body, s)
        out.append((str(src) if isinstance(src, Path) else name, body))
    return out + [student]


def resolve(qualname: str):
    """(owner, attribute name, object) for "emu.runtime.p.runqput" (owner: the module) or
    "emu.kernel.epoll.EpItem.wake" (owner: the class): the longest importable module
    prefix, then attributes down from it."""
    import importlib
    parts = qualname.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:-1]:
            if not hasattr(owner, attr):
                raise ValueError(f"substitute: {'.'.join(parts[:cut])} has no {attr} (in {qualname})")
            owner = getattr(owner, attr)
        if not hasattr(owner, parts[-1]):
            raise ValueError(f"substitute: {qualname} does not exist")
        return owner, parts[-1], getattr(owner, parts[-1])
    raise ValueError(f"substitute: no module in {qualname}")


@contextmanager
def python_substitution(replacements: dict[str, Callable]):
    """Within the block, each qualified name's function is the given one everywhere
    the emulator can reach it (see the module note); afterwards the reference again."""
    undo: list[Callable[[], None]] = []
    try:
        for qualname, fn in replacements.items():
            owner, attr, original = resolve(qualname)
            _carry_attributes(original, fn)
            if isinstance(owner, type):               # a method: the class is the one place
                setattr(owner, attr, fn)
                undo.append(lambda owner=owner, attr=attr, original=original: setattr(owner, attr, original))
            else:
                undo.extend(_replace_everywhere(original, fn))
        yield
    finally:
        for u in reversed(undo):
            u()


def _carry_attributes(original, fn) -> None:
    """What registration put on the reference (a syscall handler's `nargs` ...) goes on
    the student's function too, unless it has its own."""
    for key, value in getattr(original, "__dict__", {}).items():
        if not key.startswith("__") and not hasattr(fn, key):
            try:
                setattr(fn, key, value)
            except (AttributeError, TypeError):
                pass


def replace_everywhere(original, fn) -> Callable[[], None]:
    """Put `fn` in the place of function `original` everywhere (see the module note),
    the student's solution modules included (their `from emu.runtime.park import
    gopark` is a copy), for a test's stand-in; returns what puts everything back."""
    undo = _replace_everywhere(original, fn)
    return lambda: [u() for u in reversed(undo)]


def _replace_everywhere(original, fn) -> list[Callable[[], None]]:
    undo = []
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "emu" or name.startswith(("emu.", "gosched_solution_"))):
            continue
        g = vars(module)
        for key, value in list(g.items()):
            if value is original:
                g[key] = fn
                undo.append(lambda g=g, key=key: g.__setitem__(key, original))
            elif isinstance(value, dict):
                undo.extend(_replace_in_registry(value, original, fn))
    return undo


def _replace_in_registry(table: dict, original, fn) -> list[Callable[[], None]]:
    undo = []
    for key, value in list(table.items()):
        if value is original:
            table[key] = fn
            undo.append(lambda key=key: table.__setitem__(key, original))
        elif dataclasses.is_dataclass(value) and getattr(value, "fn", None) is original:
            table[key] = dataclasses.replace(value, fn=fn)
            undo.append(lambda key=key, value=value: table.__setitem__(key, value))
    return undo
