"""Reading assembly source: comments, statements, labels, directives, macros, includes.

Mirrors the front half of GNU as (read.c, macro.c, expr.c): the text of each
source becomes a flat list of items per section, ready for layout. Keystone is
never shown a directive, a macro or a label of the user: the driver owns them
all, and hands keystone only single instructions (see link.py).

A "unit" is one top-level source with everything it #includes, as one run of
GNU as would see it: `.L` labels, numeric labels (`1:`, `1b`, `1f`), `.equ`
constants and macros are private to their unit. Every other label is global
in the link unit (all sources of one assemble() call).

The current approach, per physical line:
 1. Strip comments (amd64 `#`, arm64 `//`, both `/* ... */` across lines),
    outside string and character literals; `#include` at line start is a
    directive, other `#...` lines are comments on both arches.
 2. Split into statements at `;` (outside literals).
 3. Peel off labels (`name:`, `1:`), then a statement is `NAME = EXPR`, a
    directive (`.quad`), a pseudo-op from PSEUDO_OPS, a macro call or an
    instruction, in that order.
 4. Instruction operands are kept as tokens: identifiers become Ref(name),
    numeric references are bound at once to the definition they mean (`1b`
    the previous, `1f` the next one in the unit), constants known so far are
    replaced by their value. Labels are bound later, when all units are read.

Rejected alternatives:
 - Letting keystone see directives and labels with their own names: keystone
   reads decimal as hex once a resolver is installed, aborts on `.section`,
   can segfault on `.macro`, knows no numeric labels on x86 and never says
   which line failed.
 - Running cpp for #include and macros: another tool, and line numbers drift.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Union

from emu.asm.errors import AsmError

ARCHES = ("amd64", "arm64")
MAX_LINE = 1000
MAX_MACRO_DEPTH = 32
MAX_INCLUDE_DEPTH = 32
MAX_SPACE = 256 << 20
PAGE = 4096

# Pseudo-ops: a statement whose head is a key here is replaced by the lines the
# function returns, expanded like a macro body at the pseudo-op's file:line.
# Signature: fn(arch, args: list[str], ctx: PseudoContext) -> list[str].
PSEUDO_OPS: dict[str, Callable[..., list[str]]] = {}

SECTIONS = ("text", "rodata", "data", "bss")

_IDENT = r"[A-Za-z_.$][A-Za-z0-9_.$]*"
IDENT_RE = re.compile(_IDENT + r"\Z")
_LABEL_RE = re.compile(r"\s*(" + _IDENT + r"|\d+)\s*:(?!:)")
_ASSIGN_RE = re.compile(r"\s*(" + _IDENT + r")\s*=(?!=)(.*)\Z", re.S)
_CHARLIT_RE = re.compile(r"'(?:\\.|[^\\'])'")
# Operand scanner: hex numbers, numeric label references, other numbers,
# identifiers, character literals. Anything else is copied through untouched.
_OPERAND_RE = re.compile(
    r"0[xX][0-9A-Fa-f]+|(?P<numref>\d+[bf])(?![A-Za-z0-9_.$])|\d[A-Za-z0-9_]*"
    r"|(?P<id>" + _IDENT + r")|'(?:\\.|[^\\'])'")
_INCLUDE_RE = re.compile(r'\s*#\s*include\s*(?:"([^"]*)"|<([^>]*)>)\s*\Z')
_CPP_RE = re.compile(r"\s*#\s*(define|undef|if|ifdef|ifndef|elif|else|endif|error|pragma|line)\b")


def _regs_amd64() -> frozenset[str]:
    regs = set("rax rbx rcx rdx rsi rdi rbp rsp rip eax ebx ecx edx esi edi ebp esp eip "
               "ax bx cx dx si di bp sp ip al bl cl dl ah bh ch dh sil dil bpl spl "
               "cs ds es fs gs ss st flags eflags rflags".split())
    for n in range(8, 16):
        regs |= {f"r{n}", f"r{n}d", f"r{n}w", f"r{n}b", f"r{n}l"}
    for n in range(32):
        regs |= {f"xmm{n}", f"ymm{n}", f"zmm{n}"}
    for n in range(16):
        regs |= {f"cr{n}", f"dr{n}"}
    for n in range(8):
        regs |= {f"mm{n}", f"k{n}", f"st{n}"}
    keywords = "byte word dword qword tbyte xword oword xmmword ymmword zmmword ptr offset near far short rel flat"
    return frozenset(regs | set(keywords.split()))


def _regs_arm64() -> frozenset[str]:
    regs = set("sp wsp xzr wzr lr fp pc ip0 ip1 nzcv fpcr fpsr".split())
    for n in range(31):
        regs |= {f"x{n}", f"w{n}"}
    for n in range(32):
        regs |= {f"{p}{n}" for p in "vqdshbz"}
    keywords = ("lsl lsr asr ror msl uxtb uxth uxtw uxtx sxtb sxth sxtw sxtx "
                "eq ne cs hs cc lo mi pl vs vc hi ls ge lt gt le al nv")
    return frozenset(regs | set(keywords.split()))


# Names that may not become labels or constants: they would be rewritten inside
# operands where they mean a register or an operand keyword.
RESERVED = {"amd64": _regs_amd64(), "arm64": _regs_arm64()}
INTERNAL_PREFIX = "__asm_"      # keystone-side label names; users may not write them


# ----------------------------------------------------------------------------
# Items: what a unit is made of, per section, in order.

@dataclass(frozen=True)
class Origin:
    """Where an item came from: the user's line, and the macro chain if any."""
    file: str
    line: int
    text: str
    via: str = ""       # "macro FOO: <expanded text>" for expanded statements

    def error(self, reason: str) -> AsmError:
        if self.via:
            reason = f"{reason} (in {self.via})"
        return AsmError(self.file, self.line, self.text, reason)


@dataclass(frozen=True)
class Ref:
    """An identifier in an operand or expression, bound at link time.
    Numeric references are already bound: their name is `N@k` (k-th `N:`)."""
    name: str


Tokens = list[Union[str, Ref]]


@dataclass(eq=False)
class Label:
    key: object          # global: name; unit-local: (unit, name)
    name: str
    unit: int
    origin: Origin


@dataclass(eq=False)
class Insn:
    mnemonic: str
    operands: Tokens
    unit: int
    origin: Origin


@dataclass(eq=False)
class Data:
    width: int
    exprs: list[Tokens]
    unit: int
    origin: Origin

    @property
    def size(self) -> int:
        return self.width * len(self.exprs)


@dataclass(eq=False)
class Bytes:
    data: bytes
    origin: Origin

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(eq=False)
class Space:
    size: int
    fill: int
    origin: Origin


@dataclass(eq=False)
class Align:
    align: int
    fill: int | None
    origin: Origin

    def pad(self, addr: int) -> int:
        return -addr % self.align


Item = Union[Label, Insn, Data, Bytes, Space, Align]


@dataclass
class PseudoContext:
    """What a pseudo-op function may know about where it is expanded."""
    arch: str
    file: str
    line: int
    text: str
    constants: dict[str, int]
    unique: int                 # a number never given to another expansion

    def error(self, reason: str) -> AsmError:
        return AsmError(self.file, self.line, self.text, reason)


@dataclass
class Unit:
    id: int
    name: str
    constants: dict[str, int] = field(default_factory=dict)
    macros: dict[str, "Macro"] = field(default_factory=dict)
    numeric: dict[str, int] = field(default_factory=dict)      # N -> definitions so far
    forward: list[tuple[str, int, Origin]] = field(default_factory=list)
    section: str = "text"


@dataclass
class Macro:
    name: str
    params: list[tuple[str, str | None, str]]    # (name, default, "" | "req" | "vararg")
    body: list[tuple[str, Origin]]
    origin: Origin


@dataclass
class Program:
    """Everything read from all sources of one link unit."""
    arch: str
    sections: dict[str, list[Item]] = field(default_factory=lambda: {s: [] for s in SECTIONS})
    units: list[Unit] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    includes: list[tuple[str, str]] = field(default_factory=list)     # (path, text) of each #include


# ----------------------------------------------------------------------------
# Lexing: comments and statements.

def strip_comments(lines: list[str], arch: str, file: str):
    """Yield (lineno, raw, code, is_include_target) with comments removed.

    is_include_target is the file name of a `#include` line, else None.
    """
    in_block = None         # Origin of the open /* comment
    for n, raw in enumerate(lines, 1):
        if len(raw) > MAX_LINE:
            raise AsmError(file, n, raw[:80].strip() + "...", f"line longer than {MAX_LINE} characters")
        if in_block is None and raw.lstrip().startswith("#"):
            m = _INCLUDE_RE.match(raw)
            if m:
                yield n, raw, "", m.group(1) if m.group(1) is not None else m.group(2)
                continue
            if _CPP_RE.match(raw):
                raise AsmError(file, n, raw.strip(), "unsupported preprocessor directive (only #include)")
            yield n, raw, "", None
            continue
        out = []
        i, end = 0, len(raw)
        while i < end:
            if in_block is not None:
                j = raw.find("*/", i)
                if j < 0:
                    i = end
                    break
                in_block, i = None, j + 2
                out.append(" ")
                continue
            c = raw[i]
            if c == '"':
                j = i + 1
                while j < end and raw[j] != '"':
                    j += 2 if raw[j] == "\\" else 1
                if j >= end:
                    raise AsmError(file, n, raw.strip(), "unterminated string")
                out.append(raw[i:j + 1])
                i = j + 1
            elif c == "'":
                m = _CHARLIT_RE.match(raw, i)
                if m:
                    out.append(m.group())
                    i = m.end()
                else:
                    out.append(c)
                    i += 1
            elif raw.startswith("/*", i):
                in_block = (n, raw.strip())
                i += 2
            elif (arch == "amd64" and c == "#") or (arch == "arm64" and raw.startswith("//", i)):
                break
            else:
                if not (c == "\t" or " " <= c <= "~"):
                    what = "control character" if c < " " or c == "\x7f" else "non-ASCII character"
                    raise AsmError(file, n, raw.strip(), f"{what} {c!r} outside a string or comment")
                out.append(c)
                i += 1
        yield n, raw, "".join(out), None
    if in_block is not None:
        raise AsmError(file, in_block[0], in_block[1], "unterminated /* comment")


def split_top(text: str, sep: str) -> list[str]:
    """Split at `sep` outside quotes, (), [] and {}."""
    parts, depth, cur, i = [], 0, [], 0
    while i < len(text):
        c = text[i]
        if c == '"':
            j = i + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            cur.append(text[i:j + 1])
            i = j + 1
            continue
        if c == "'":
            m = _CHARLIT_RE.match(text, i)
            if m:
                cur.append(m.group())
                i = m.end()
                continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == sep and depth <= 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def scan_operands(text: str) -> Tokens:
    """Cut operand text into plain strings and Ref(identifier) tokens."""
    out: Tokens = []
    pos = 0
    for m in _OPERAND_RE.finditer(text):
        if m.group("id") is None and m.group("numref") is None:
            continue
        if m.start() > pos:
            out.append(text[pos:m.start()])
        out.append(Ref(m.group()))
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return out


# ----------------------------------------------------------------------------
# Expressions: numbers, + - * / % << >> & | ^ ~ ! and parentheses.

_EXPR_TOKEN = re.compile(
    r"\s*(?:(0[xX][0-9A-Fa-f]+|0[bB][01]+|\d+)(?![A-Za-z0-9_.$])|('(?:\\.|[^\\'])')"
    r"|(<<|>>|[-+*/%&|^~!()])|(" + _IDENT + r"|\S))")
_ESCAPES = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, "'": 39, '"': 34, "a": 7, "b": 8,
            "f": 12, "v": 11, "e": 27}
_BINARY = [("|",), ("^",), ("&",), ("<<", ">>"), ("+", "-"), ("*", "/", "%")]


def evaluate(text: str) -> int:
    """Evaluate an integer expression; raise ValueError with a reason."""
    toks: list[tuple[str, object]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _EXPR_TOKEN.match(text, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
        num, char, op, other = m.groups()
        if num is not None:
            if num[:2] in ("0x", "0X"):
                toks.append(("n", int(num, 16)))
            elif num[:2] in ("0b", "0B"):
                toks.append(("n", int(num[2:], 2)))
            elif len(num) > 1 and num[0] == "0":
                if not set(num) <= set("01234567"):
                    raise ValueError(f"bad octal number {num}")
                toks.append(("n", int(num, 8)))
            else:
                toks.append(("n", int(num)))
        elif char is not None:
            body = char[1:-1]
            toks.append(("n", _ESCAPES.get(body[1], ord(body[1])) if body[0] == "\\" else ord(body)))
        elif op is not None:
            toks.append(("o", op))
        elif other is not None:
            if other.strip():
                raise ValueError(f"undefined symbol '{other}'" if IDENT_RE.match(other)
                                 else f"unexpected '{other}' in expression")
    if not toks:
        raise ValueError("missing expression")
    i = 0

    def unary() -> int:
        nonlocal i
        if i >= len(toks):
            raise ValueError("expression ends too early")
        kind, val = toks[i]
        i += 1
        if kind == "n":
            return val  # type: ignore[return-value]
        if val == "(":
            v = binary(0)
            if i >= len(toks) or toks[i] != ("o", ")"):
                raise ValueError("missing ')'")
            i += 1
            return v
        if val == "-":
            return -unary()
        if val == "+":
            return unary()
        if val == "~":
            return ~unary()
        if val == "!":
            return int(not unary())
        raise ValueError(f"unexpected '{val}' in expression")

    def binary(level: int) -> int:
        nonlocal i
        if level == len(_BINARY):
            return unary()
        v = binary(level + 1)
        while i < len(toks) and toks[i][0] == "o" and toks[i][1] in _BINARY[level]:
            op = toks[i][1]
            i += 1
            r = binary(level + 1)
            if op in ("/", "%") and r == 0:
                raise ValueError("division by zero")
            if op in ("<<", ">>") and not 0 <= r < 128:
                raise ValueError(f"shift count {r} out of range")
            if op == "/":
                v = abs(v) // abs(r) * (1 if (v < 0) == (r < 0) else -1)
            elif op == "%":
                v = v - r * (abs(v) // abs(r) * (1 if (v < 0) == (r < 0) else -1))
            else:
                v = {"|": v | r, "^": v ^ r, "&": v & r, "<<": v << r, ">>": v >> r,
                     "+": v + r, "-": v - r, "*": v * r}[op]
            if abs(v) >> 128:
                raise ValueError("value too large")
        return v

    v = binary(0)
    if i != len(toks) or pos != len(text):
        raise ValueError("junk at end of expression")
    return v


def tokens_text(tokens: Tokens, value_of: Callable[[Ref], str]) -> str:
    return "".join(t if isinstance(t, str) else value_of(t) for t in tokens)


def parse_string(text: str) -> bytes:
    """One C string literal (with quotes) to bytes; ValueError with a reason."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ValueError("expected a string in double quotes")
    out = bytearray()
    body, i = text[1:-1], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        if i + 1 >= len(body):
            raise ValueError("backslash at end of string")
        e = body[i + 1]
        if e == "x":
            m = re.match(r"[0-9A-Fa-f]{1,2}", body[i + 2:])
            if not m:
                raise ValueError("\\x needs hex digits")
            out.append(int(m.group(), 16))
            i += 2 + m.end()
        elif e in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            out.append(int(m.group(), 8) & 0xFF)
            i += 1 + m.end()
        elif e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 2
        else:
            raise ValueError(f"unknown escape \\{e}")
    return bytes(out)


# ----------------------------------------------------------------------------
# The reader.

_DATA_WIDTHS = {
    "amd64": {".byte": 1, ".short": 2, ".hword": 2, ".word": 2, ".value": 2, ".long": 4, ".int": 4,
              ".quad": 8, ".2byte": 2, ".4byte": 4, ".8byte": 8},
    "arm64": {".byte": 1, ".short": 2, ".hword": 2, ".word": 4, ".long": 4, ".int": 4,
              ".quad": 8, ".xword": 8, ".dword": 8, ".2byte": 2, ".4byte": 4, ".8byte": 8},
}
# Accepted and ignored: they only feed debuggers and linkers we do not have.
IGNORED = frozenset({".type", ".size", ".file", ".loc", ".ident", ".hidden",
                     ".end", ".arch", ".cpu", ".intel_syntax"})
_SECTION_NAMES = {".text": "text", ".rodata": "rodata", ".data": "data", ".bss": "bss"}


class Reader:
    """Reads every source of a link unit into a Program."""

    def __init__(self, arch: str, include_dirs=()):
        self.arch = arch
        self.include_dirs = [Path(d) for d in include_dirs]
        self.program = Program(arch)
        self.reserved = RESERVED[arch]
        self.widths = _DATA_WIDTHS[arch]
        self.counter = 0        # \@ and PseudoContext.unique

    # -- files ---------------------------------------------------------------

    def read_unit(self, name: str, text: str, path: str | None) -> None:
        unit = Unit(len(self.program.units), name)
        self.program.units.append(unit)
        self.unit = unit
        self.macro_def: Macro | None = None
        self._read_text(name, text, path, [])
        if self.macro_def is not None:
            raise self.macro_def.origin.error(f"missing .endm for macro {self.macro_def.name}")
        for num, k, origin in unit.forward:
            if unit.numeric.get(num, 0) <= k:
                raise origin.error(f"no label {num}: after this line for {num}f")

    def _read_text(self, name: str, text: str, path: str | None, stack: list[str]) -> None:
        self.program.files.append(name)
        key = os.path.realpath(path if path is not None else name)
        if key in stack:
            chain = " -> ".join(os.path.basename(s) for s in stack + [key])
            raise AsmError(name, 0, "", f"include cycle: {chain}")
        stack = stack + [key]
        for n, raw, code, include in strip_comments(text.splitlines(), self.arch, name):
            origin = Origin(name, n, raw.strip())
            if include is not None:
                self._include(include, origin, name, stack)
                continue
            for stmt in split_top(code, ";"):
                self.statement(stmt, origin, 0, stack)

    def _include(self, target: str, origin: Origin, including: str, stack: list[str]) -> None:
        if len(stack) > MAX_INCLUDE_DEPTH:
            raise origin.error("#include nested too deeply")
        if not target:
            raise origin.error("empty #include file name")
        candidates = [Path(os.path.dirname(including)) / target] + [d / target for d in self.include_dirs]
        for cand in candidates:
            if cand.is_file():
                break
        else:
            raise origin.error(f"cannot find include file {target!r} (searched "
                               + ", ".join(str(c.parent) or "." for c in candidates) + ")")
        name = os.path.normpath(str(cand))
        if os.path.realpath(name) in stack:
            chain = " -> ".join(os.path.basename(s) for s in stack + [os.path.realpath(name)])
            raise origin.error(f"include cycle: {chain}")
        try:
            text = cand.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise origin.error(f"cannot read include file {target!r}: {e}") from None
        self.program.includes.append((str(cand), text))
        self._read_text(name, text, name, stack)

    # -- statements ----------------------------------------------------------

    def statement(self, stmt: str, origin: Origin, depth: int, stack: list[str]) -> None:
        s = stmt.strip()
        if not s:
            return
        if self.macro_def is not None:
            head = s.split(None, 1)[0].lower()
            if head == ".endm":
                self.macro_def = None
            elif head == ".macro":
                raise origin.error("nested .macro definitions are not supported")
            else:
                self.macro_def.body.append((s, origin))
            return
        while True:
            m = _LABEL_RE.match(s)
            if not m:
                break
            self.define_label(m.group(1), origin)
            s = s[m.end():].strip()
            if not s:
                return
        m = _ASSIGN_RE.match(s)
        if m:
            self.define_constant(m.group(1), m.group(2), origin)
            return
        parts = s.split(None, 1)
        head, rest = parts[0], (parts[1] if len(parts) > 1 else "")
        low = head.lower()
        if head in self.unit.macros:
            self.expand_macro(self.unit.macros[head], rest, origin, depth, stack)
        elif low in PSEUDO_OPS:
            self.expand_pseudo(low, rest, origin, depth, stack)
        elif head.startswith("."):
            self.directive(low, rest, origin, stack)
        else:
            self.instruction(head, rest, origin)

    def add(self, item: Item) -> None:
        self.program.sections[self.unit.section].append(item)

    def define_label(self, name: str, origin: Origin) -> None:
        u = self.unit
        if name.isdigit():
            k = u.numeric.get(name, 0)
            u.numeric[name] = k + 1
            self.add(Label((u.id, f"{name}@{k}"), f"{name}@{k}", u.id, origin))
            return
        self.check_name(name, origin, "label")
        if name in u.constants:
            raise origin.error(f"label {name} is already a constant")
        key = (u.id, name) if name.startswith(".L") else name
        self.add(Label(key, name, u.id, origin))

    def check_name(self, name: str, origin: Origin, what: str) -> None:
        if not IDENT_RE.match(name):
            raise origin.error(f"bad {what} name {name!r}")
        if name.lower() in self.reserved:
            raise origin.error(f"{what} {name} is named like a register or operand keyword")
        if name.startswith(INTERNAL_PREFIX):
            raise origin.error(f"names starting with {INTERNAL_PREFIX} are reserved")

    def define_constant(self, name: str, expr: str, origin: Origin) -> None:
        self.check_name(name, origin, "constant")
        self.unit.constants[name] = self.const_expr(expr, origin)

    def bind(self, tokens: Tokens, origin: Origin) -> Tokens:
        """Bind numeric label references and constants known so far."""
        out: Tokens = []
        u = self.unit
        for t in tokens:
            if isinstance(t, Ref):
                name = t.name
                if name[0].isdigit():
                    num, way = name[:-1], name[-1]
                    k = u.numeric.get(num, 0)
                    if way == "b":
                        if k == 0:
                            raise origin.error(f"no label {num}: before this line for {name}")
                        t = Ref(f"{num}@{k - 1}")
                    else:
                        u.forward.append((num, k, origin))
                        t = Ref(f"{num}@{k}")
                elif name in u.constants:
                    t = _hex(u.constants[name])
                elif name.startswith(INTERNAL_PREFIX):
                    raise origin.error(f"names starting with {INTERNAL_PREFIX} are reserved")
            out.append(t)
        return out

    def const_expr(self, text: str, origin: Origin) -> int:
        def value(r: Ref) -> str:
            if r.name in self.unit.constants:
                return f"({self.unit.constants[r.name]})"
            raise origin.error(f"'{r.name}' is not a constant defined before this line")
        try:
            return evaluate(tokens_text(scan_operands(text), value))
        except ValueError as e:
            raise origin.error(str(e)) from None

    def instruction(self, head: str, rest: str, origin: Origin) -> None:
        if self.unit.section != "text":
            raise origin.error(f"instruction in .{self.unit.section} (instructions belong in .text)")
        if not re.match(r"[A-Za-z][A-Za-z0-9_.]*\Z", head):
            raise origin.error(f"bad mnemonic {head!r}")
        self.add(Insn(head, self.bind(scan_operands(rest), origin), self.unit.id, origin))

    # -- macros and pseudo-ops -----------------------------------------------

    def expand_macro(self, mac: Macro, rest: str, origin: Origin, depth: int, stack: list[str]) -> None:
        if depth >= MAX_MACRO_DEPTH:
            raise origin.error(f"macro expansion deeper than {MAX_MACRO_DEPTH} (recursive macro {mac.name}?)")
        args = [a.strip() for a in split_top(rest, ",")] if rest.strip() else []
        if len(args) == 1 and len(mac.params) > 1:
            args = rest.split()
        values: dict[str, str] = {}
        positional = 0
        for idx, a in enumerate(args):
            m = re.match(r"(" + _IDENT + r")\s*=(.*)\Z", a, re.S)
            if m and any(p[0] == m.group(1) for p in mac.params):
                values[m.group(1)] = m.group(2).strip()
                continue
            if positional >= len(mac.params):
                raise origin.error(f"too many arguments for macro {mac.name}")
            pname, _, kind = mac.params[positional]
            if kind == "vararg":
                values[pname] = ", ".join(args[idx:])
                break
            values[pname] = a
            positional += 1
        for pname, default, kind in mac.params:
            if pname not in values:
                if kind == "req":
                    raise origin.error(f"missing value for required argument {pname} of macro {mac.name}")
                values[pname] = default or ""
        self.counter += 1
        serial = str(self.counter)

        def sub(m: re.Match) -> str:
            key = m.group(1)
            if key == "()":
                return ""
            if key == "@":
                return serial
            return values.get(key, m.group(0))

        for line, _ in mac.body:
            text = re.sub(r"\\(\(\)|@|[A-Za-z_][A-Za-z0-9_]*)", sub, line)
            if len(text) > MAX_LINE:
                raise origin.error(f"macro {mac.name} expands to a line longer than {MAX_LINE} characters")
            via = f"macro {mac.name}: {text.strip()}" if not origin.via else f"{origin.via} > {mac.name}: {text.strip()}"
            sub_origin = Origin(origin.file, origin.line, origin.text, via)
            for stmt in split_top(text, ";"):
                self.statement(stmt, sub_origin, depth + 1, stack)

    def expand_pseudo(self, name: str, rest: str, origin: Origin, depth: int, stack: list[str]) -> None:
        if depth >= MAX_MACRO_DEPTH:
            raise origin.error(f"pseudo-op expansion deeper than {MAX_MACRO_DEPTH}")
        args = [a.strip() for a in split_top(rest, ",")] if rest.strip() else []
        self.counter += 1
        ctx = PseudoContext(self.arch, origin.file, origin.line, origin.text,
                            dict(self.unit.constants), self.counter)
        try:
            lines = PSEUDO_OPS[name](self.arch, args, ctx)
            lines = [str(x) for x in lines]
        except AsmError:
            raise
        except Exception as e:      # a pseudo-op's bug or bad args: still the user's line
            raise origin.error(f"pseudo-op {name} failed: {type(e).__name__}: {e}") from None
        for line in lines:
            via = f"{name}: {line.strip()}"
            sub_origin = Origin(origin.file, origin.line, origin.text, via)
            for _, _, code, include in strip_comments(line.splitlines() or [""], self.arch, origin.file):
                if include is not None:
                    raise sub_origin.error("#include inside a pseudo-op expansion")
                for stmt in split_top(code, ";"):
                    self.statement(stmt, sub_origin, depth + 1, stack)

    # -- directives ----------------------------------------------------------

    def directive(self, name: str, rest: str, origin: Origin, stack: list[str]) -> None:
        if name in self.widths:
            return self.data(self.widths[name], rest, origin)
        if name in _SECTION_NAMES:
            if rest.strip():
                raise origin.error(f"{name} takes no arguments")
            self.unit.section = _SECTION_NAMES[name]
            return
        if name in IGNORED or name.startswith(".cfi_"):
            return
        fn = getattr(self, "dir_" + name[1:], None)
        if fn is None:
            raise origin.error(f"unsupported directive {name}")
        fn(rest, origin, stack)

    def args(self, rest: str, origin: Origin, lo: int, hi: int) -> list[str]:
        args = [a.strip() for a in split_top(rest, ",")] if rest.strip() else []
        if not lo <= len(args) <= hi or any(not a for a in args):
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise origin.error(f"expected {want} comma-separated argument(s)")
        return args

    def dir_section(self, rest, origin, stack):
        name = self.args(rest, origin, 1, 4)[0]
        for prefix, sec in _SECTION_NAMES.items():
            if name == prefix or name.startswith(prefix + "."):
                self.unit.section = sec
                return
        raise origin.error(f"unsupported section {name} (use .text, .rodata, .data or .bss)")

    def dir_globl(self, rest, origin, stack):
        for name in self.args(rest, origin, 1, 64):
            self.check_name(name, origin, "symbol")

    dir_global = dir_globl

    def dir_equ(self, rest, origin, stack):
        name, expr = self.args(rest, origin, 2, 2)
        self.define_constant(name, expr, origin)

    dir_set = dir_equ

    def dir_include(self, rest, origin, stack):
        (arg,) = self.args(rest, origin, 1, 1)
        try:
            target = parse_string(arg).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as e:
            raise origin.error(str(e)) from None
        self._include(target, origin, origin.file, stack)

    def dir_macro(self, rest, origin, stack):
        parts = rest.strip().split(None, 1)
        if not parts:
            raise origin.error(".macro needs a name")
        name = parts[0].rstrip(",")
        if not re.match(r"[A-Za-z_][A-Za-z0-9_.$]*\Z", name):
            raise origin.error(f"bad macro name {name!r}")
        if name in self.unit.macros:
            raise origin.error(f"macro {name} is already defined")
        params: list[tuple[str, str | None, str]] = []
        spec = parts[1] if len(parts) > 1 else ""
        raw = split_top(spec, ",") if "," in spec else spec.split()
        for p in (x.strip() for x in raw):
            m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(?::(req|vararg))?\s*(?:=(.*))?\Z", p, re.S)
            if not m:
                raise origin.error(f"bad macro parameter {p!r}")
            if any(q[0] == m.group(1) for q in params):
                raise origin.error(f"duplicate macro parameter {m.group(1)}")
            params.append((m.group(1), m.group(3).strip() if m.group(3) is not None else None, m.group(2) or ""))
        self.macro_def = self.unit.macros[name] = Macro(name, params, [], origin)

    def dir_endm(self, rest, origin, stack):
        raise origin.error(".endm without .macro")

    def data(self, width: int, rest: str, origin: Origin) -> None:
        exprs = [self.bind(scan_operands(a), origin) for a in self.args(rest, origin, 1, 4096)]
        self.add_filled(Data(width, exprs, self.unit.id, origin), origin)

    def add_filled(self, item: Item, origin: Origin) -> None:
        if self.unit.section == "bss":
            raise origin.error("initialized data in .bss (only .space/.zero/.skip and alignment)")
        self.add(item)

    def _strings(self, rest, origin, zero: bool):
        out = b""
        for a in self.args(rest, origin, 1, 4096):
            try:
                out += parse_string(a) + (b"\0" if zero else b"")
            except ValueError as e:
                raise origin.error(str(e)) from None
        self.add_filled(Bytes(out, origin), origin)

    def dir_ascii(self, rest, origin, stack):
        self._strings(rest, origin, False)

    def dir_asciz(self, rest, origin, stack):
        self._strings(rest, origin, True)

    dir_string = dir_asciz

    def dir_space(self, rest, origin, stack):
        args = self.args(rest, origin, 1, 2)
        size = self.const_expr(args[0], origin)
        fill = self.const_expr(args[1], origin) if len(args) > 1 else 0
        if not 0 <= size <= MAX_SPACE:
            raise origin.error(f"size {size} out of range (0 to {MAX_SPACE})")
        if not -128 <= fill <= 255:
            raise origin.error(f"fill value {fill} does not fit in a byte")
        if fill and self.unit.section == "bss":
            raise origin.error("non-zero fill in .bss")
        self.add(Space(size, fill & 0xFF, origin))

    dir_skip = dir_zero = dir_space

    def _align(self, rest, origin, power: bool):
        args = self.args(rest, origin, 1, 2)
        n = self.const_expr(args[0], origin)
        if power:
            if not 0 <= n <= 12:
                raise origin.error(f"alignment 2**{n} out of range (0 to 12)")
            n = 1 << n
        if n < 1 or n & (n - 1) or n > PAGE:
            raise origin.error(f"alignment {n} is not a power of two between 1 and {PAGE}")
        fill = None
        if len(args) > 1:
            fill = self.const_expr(args[1], origin)
            if not -128 <= fill <= 255:
                raise origin.error(f"fill value {fill} does not fit in a byte")
            fill &= 0xFF
            if fill and self.unit.section == "bss":
                raise origin.error("non-zero fill in .bss")
        self.add(Align(n, fill, origin))

    def dir_balign(self, rest, origin, stack):
        self._align(rest, origin, False)

    def dir_p2align(self, rest, origin, stack):
        self._align(rest, origin, True)

    def dir_align(self, rest, origin, stack):
        # GNU as: bytes on x86, a power of two on arm.
        self._align(rest, origin, self.arch == "arm64")


def _hex(v: int) -> str:
    return f"0x{v:x}" if v >= 0 else f"(-0x{-v:x})"


def load_sources(sources) -> list[tuple[str, str, str | None]]:
    """The top-level sources as (name, text, path or None); AsmError if unreadable."""
    if isinstance(sources, (str, bytes, tuple)) or not hasattr(sources, "__iter__"):
        raise AsmError("<assemble>", 0, repr(sources)[:80], "sources must be a list of paths or (name, text) pairs")
    out = []
    for src in sources:
        if isinstance(src, tuple) and len(src) == 2 and isinstance(src[0], str) and isinstance(src[1], str):
            out.append((src[0], src[1], None))
        elif isinstance(src, (str, os.PathLike)):
            name = str(src)
            try:
                text = Path(src).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise AsmError(name, 0, "", f"cannot read source: {e}") from None
            out.append((name, text, name))
        else:
            raise AsmError("<assemble>", 0, repr(src)[:80], "a source must be a path or a (name, text) pair")
    return out


def read_sources(entries: list[tuple[str, str, str | None]], arch: str, include_dirs=()) -> Program:
    """Read all sources (from load_sources) into one Program."""
    if arch not in ARCHES:
        raise AsmError("<assemble>", 0, repr(arch), f"unknown arch (expected one of {', '.join(ARCHES)})")
    reader = Reader(arch, include_dirs)
    for name, text, path in entries:
        reader.read_unit(name, text, path)
    return reader.program
