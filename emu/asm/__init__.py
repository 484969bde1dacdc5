"""Assembling and linking .s sources for the emulated CPUs (amd64 Intel syntax, arm64 GNU syntax).

Mirrors `go tool asm` + `go tool link` for our purposes: sources in, one
executable image out (segments, symbols, a line table), ready to map into
emulated memory. Keystone encodes instructions; everything else (directives,
labels, macros, includes, layout, data) is ours:

 - parse.py    reading sources: comments, statements, directives, macros, includes
 - link.py     layout, the one keystone chunk, capstone walk, data fill
 - isolate.py  keystone in a forked child, so no input can kill the host
 - image.py    Image, Segment, SourceLine: lookups and disassembly
 - errors.py   AsmError, the only exception assemble() raises

Supported directives: .text .data .bss .section (.text/.rodata/.data/.bss[.*]),
.globl/.global, .byte .short .hword .word .long .int .quad (.xword .dword on
arm64; .word is 2 bytes on amd64 and 4 on arm64, as in GNU as), .ascii .asciz
.string, .space/.skip/.zero N[, fill], .balign N[, fill], .align N (bytes on
amd64, power of two on arm64), .p2align N, .equ/.set NAME, EXPR, NAME = EXPR,
#include "file" / .include "file", .macro/.endm, and PSEUDO_OPS. Accepted and
ignored: .type .size .file .loc .ident .hidden .end .arch .cpu .intel_syntax
.cfi_*. Anything else starting with "." is an "unsupported directive".
"""

from __future__ import annotations

import os
from collections import OrderedDict

from emu.asm.errors import AsmError
from emu.asm.image import Image, Segment, SourceLine
from emu.asm.link import link
from emu.asm.parse import PSEUDO_OPS, PseudoContext, load_sources, read_sources

__all__ = ["assemble", "AsmError", "Image", "Segment", "SourceLine", "PSEUDO_OPS", "PseudoContext", "with_equ"]


def with_equ(text: str, **values) -> str:
    """`text` with each `.equ NAME, ...` line set to NAME's value (a program's knobs: a
    smaller fanout, a reader that writes itself).  Each NAME must have exactly one line."""
    import re
    for name, value in values.items():
        text, n = re.subn(rf"^(\s*\.equ\s+{re.escape(name)}\s*,\s*).*$", rf"\g<1>{value}", text, flags=re.M)
        if n != 1:
            raise ValueError(f"with_equ: {n} `.equ {name}, ...` lines (expected exactly one)")
    return text


def assemble(sources, arch: str, base: int = 0x400000, include_dirs=()) -> Image:
    """Assemble and link `sources` (paths or (filename, text) pairs) into one Image.

    Every problem with the input raises AsmError naming file:line and the text.
    """
    if isinstance(base, bool) or not isinstance(base, int) or base < 0 or base % 4096 or base >= 1 << 47:
        raise AsmError("<assemble>", 0, repr(base), "base must be a page-aligned address below 2**47")
    try:
        dirs = [os.fspath(d) for d in include_dirs]
    except TypeError:
        raise AsmError("<assemble>", 0, repr(include_dirs)[:80], "include_dirs must be a list of paths") from None
    entries = load_sources(sources)
    key = (arch, base, tuple(dirs), tuple((n, t) for n, t, _ in entries),
           tuple((k, id(v)) for k, v in PSEUDO_OPS.items()))
    hit = _images.get(key)
    if hit is not None and all(_same_text(path, text) for path, text in hit[1]):
        _images.move_to_end(key)
        return hit[0]
    program = read_sources(entries, arch, dirs)
    try:
        image = link(program, base)
    except RecursionError:
        raise AsmError(program.files[0] if program.files else "<assemble>", 0, "",
                       "expression nested too deeply") from None
    _images[key] = (image, program.includes)
    while len(_images) > _IMAGES_KEPT:
        _images.popitem(last=False)
    return image


# Images of recent calls, keyed by everything they depend on; included files
# are re-read and compared on a hit. Callers must treat an Image as read-only.
_IMAGES_KEPT = 16
_images: OrderedDict = OrderedDict()


def _same_text(path: str, text: str) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read() == text
    except (OSError, UnicodeDecodeError):
        return False
