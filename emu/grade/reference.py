"""The reference solution of an exercise as a student's solution folder, generated from
the project's own code, and mutants as small edits of it.

Design note
  1. Assembly: each replaced routine is cut out of runtime_asm/<arch>/asm.s, from the
     comment block above its `.globl` to the comment block of the next routine, and the
     routines are put in the skeleton file's shape (`#include`, `.text`).
  2. Python: the skeleton file with each TODO function replaced by the source of the
     function it stands for (inspect.getsource), decorators dropped and the name
     changed to the student's where they differ.  The skeleton's imports serve it, as
     they serve a student.
  3. A mutant (tests/mutants/<exercise>/<name>/mutant.json) is a list of edits
     {file, old, new} of that generated reference, and `expect`: the text the grader
     must print.  So a mutant states only its bug, and follows the reference when the
     reference changes (an edit that no longer applies fails loudly).
Rejected: storing full copies of the reference per mutant (every runtime change would
have to be made N times, and the copies drift).
"""
from __future__ import annotations

import ast
import inspect
import json
import re
import textwrap
from pathlib import Path

from ..system import runtime_sources
from .exercise import Exercise
from .substitute import resolve


def asm_routine(text: str, symbol: str, comment: str) -> str:
    """The routine `symbol` of an asm source: its comment block, `.globl`, and body up to
    the next routine's comment block (or a section directive)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if re.match(rf"\s*\.globl\s+{re.escape(symbol)}\s*$", ln)), None)
    if start is None:
        raise ValueError(f"asm_routine: no `.globl {symbol}`")
    end = start + 1
    while start > 0 and lines[start - 1].lstrip().startswith(comment):
        start -= 1

    def foreign_label(line: str) -> bool:         # another routine's label (bad_* stubs are not .globl)
        m = re.match(r"\s*([A-Za-z_][\w.]*):", line)
        return bool(m) and m[1] != symbol and not m[1].startswith(symbol + ".")
    while end < len(lines) and not (re.match(r"\s*\.globl\s|\s*\.(data|bss|section)\b", lines[end])
                                    or foreign_label(lines[end])):
        end += 1
    while end > start and lines[end - 1].lstrip().startswith(comment):
        end -= 1                                  # the next routine's comment block
    return "".join(lines[start:end]).rstrip() + "\n"


def reference_asm(exercise: Exercise, arch: str) -> str:
    comment = "#" if arch == "amd64" else "//"
    sources = {Path(str(s)).name: s for s in runtime_sources(arch) if isinstance(s, Path)}
    text = sources["asm.s"].read_text()
    routines = "\n".join(asm_routine(text, sym, comment) for sym in exercise.replaces)
    return (f"{comment} The reference solution of exercise {exercise.name}, cut from "
            f"runtime_asm/{arch}/asm.s.\n\n#include \"../go_asm.inc\"\n\n.text\n\n{routines}")


def reference_python(exercise: Exercise) -> str:
    """The skeleton with every replaced function's body taken from the project."""
    skeleton = exercise.skeleton("*").read_text()
    tree = ast.parse(skeleton)
    lines = skeleton.splitlines(keepends=True)
    spans = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in exercise.replaces}
    missing = set(exercise.replaces) - set(spans)
    if missing:
        raise ValueError(f"reference_python: the skeleton of {exercise.name} has no {', '.join(sorted(missing))}")
    for name, node in sorted(spans.items(), key=lambda kv: -kv[1].lineno):
        first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
        lines[first:node.end_lineno] = [_function_source(exercise.replaces[name], name)]
    return "".join(lines)


def _function_source(qualname: str, name: str) -> str:
    _, _, fn = resolve(qualname)
    src = textwrap.dedent(inspect.getsource(fn))
    body = src.splitlines(keepends=True)
    while body and body[0].lstrip().startswith("@"):
        body.pop(0)                               # @export(...) registered the reference already
    text = "".join(body)
    # relative imports inside the function (`from .preempt import ...`) become absolute:
    # the student's file is not in the package
    package = fn.__module__.rpartition(".")[0]
    text = re.sub(r"^(\s*from )\.(?=\w)", rf"\g<1>{package}.", text, flags=re.M)
    return re.sub(rf"^def {re.escape(fn.__name__)}\(", f"def {name}(", text, count=1)


def reference_files(exercise: Exercise) -> dict[str, str]:
    """{file name: text}: the reference as a solution folder's files."""
    if exercise.kind == "asm":
        return {exercise.student_file(a): reference_asm(exercise, a) for a in exercise.arches}
    return {exercise.student_file("*"): reference_python(exercise)}


def write_reference(exercise: Exercise, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in reference_files(exercise).items():
        (folder / name).write_text(text)
    return folder


def load_mutant(path: Path) -> dict:
    """{"edits": [{"file", "old", "new"}...], "expect": str, "why": str} of a mutant."""
    data = json.loads((path / "mutant.json").read_text())
    if not isinstance(data.get("edits"), list) or not isinstance(data.get("expect"), str):
        raise ValueError(f"{path}/mutant.json: needs \"edits\" (a list) and \"expect\" (a string)")
    return data


def write_mutant(exercise: Exercise, path: Path, folder: Path) -> dict:
    """The reference with the mutant's edits, written to `folder`; returns the mutant."""
    mutant = load_mutant(path)
    files = reference_files(exercise)
    for edit in mutant["edits"]:
        name, old, new = edit["file"], edit["old"], edit["new"]
        if name not in files:
            raise ValueError(f"{path.name}: edits {name}, which is not a file of {exercise.name}")
        if files[name].count(old) != 1:
            raise ValueError(f"{path.name}: the text to replace occurs {files[name].count(old)} times in the "
                             f"reference {name} (it must occur once): {old[:60]!r}")
        files[name] = files[name].replace(old, new)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return mutant
