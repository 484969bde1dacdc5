"""Layout and linking: one keystone chunk per link unit, then our own bookkeeping.

Mirrors the back half of GNU as plus a static ld with a fixed script:
.text at `base`, then .rodata, .data and .bss, each on a fresh 4 KiB page.

The current approach (parse.py has already turned every source into items):
 1. Bind names: every label gets a keystone-safe name `__asm_L<n>`; operand
    identifiers become that name, `.equ` constants become hex numbers.
    Unknown identifiers stay as written: registers, or undefined symbols that
    keystone reports (KS_ERR_ASM_SYMBOL_MISSING) and step 5 localises.
 2. arm64 only: every instruction is 4 bytes, so the whole layout is known
    before keystone runs. Branch, literal-load and adr targets are checked for
    range and alignment here, because keystone answers those by killing the process (LLVM ERROR).
 3. Build ONE chunk: the text items (labels, instructions, `.space` for data
    bytes we fill ourselves, `.balign`), then for .rodata/.data/.bss only the
    labels some instruction refers to, placed by `.balign 4096` and `.space`.
    Keystone resolves every reference inside the chunk, RIP-relative included.
 4. Encode it in a forked child (isolate.py); results are cached per
    (arch, base, chunk) so assembling the same runtime again is free.
 5. On failure, encode the instructions one by one (each with the labels it
    names defined at its own address) to find the first bad line; a crash
    there names the line that killed keystone.
 6. Walk the text items again, decoding each instruction with capstone at its
    offset to learn its size (amd64 sizes depend on branch distances), so
    every label gets its address and every instruction a SourceLine; check the
    walk ends where keystone's bytes do.
 7. Fill data bytes (`.quad main.main`, strings) ourselves now that every
    address is known, and cut the segments.

Rejected alternatives:
 - One keystone call per instruction with a sym_resolver callback: keystone
   then reads bare decimals as hex (`mov rax, 56` -> 0x56).
 - Passing .data addresses as `.equ` absolute symbols: `[rip + sym]` then
   encodes sym as a displacement, not as a RIP-relative reference.
 - Two passes (guess sizes, re-encode): keystone's relaxation already is the
   fixed point; capstone tells us where it landed.
"""

from __future__ import annotations

import struct
from collections import OrderedDict

from emu.asm import isolate
from emu.asm.errors import AsmError
from emu.asm.image import Image, Segment, SourceLine, capstone_for
from emu.asm.parse import (Align, Bytes, Data, INTERNAL_PREFIX, Insn, Label, MAX_LINE, PAGE,
                           Program, RESERVED, Ref, Space, evaluate, split_top, tokens_text)

KS_ERR_ASM_SYMBOL_MISSING = 144
MAX_IMAGE = 512 << 20
CACHE_SIZE = 32
CACHE_MAX_BYTES = 16 << 20
_cache: OrderedDict[tuple, bytes] = OrderedDict()

PROT = {"text": "r-x", "rodata": "r--", "data": "rw-", "bss": "rw-"}

# arm64 PC-relative forms: mnemonic -> (reach in bytes, target must be 4-aligned)
_ARM64_BRANCH = {"b": (128 << 20, True), "bl": (128 << 20, True), "cbz": (1 << 20, True),
                 "cbnz": (1 << 20, True), "tbz": (32 << 10, True), "tbnz": (32 << 10, True),
                 "adr": (1 << 20, False)}
_ARM64_LITERAL = {"ldr", "ldrsw", "prfm"}
# amd64 branches with only a rel8 form -> their size
_SHORT_ONLY = {"jrcxz": 2, "jecxz": 3, "loop": 2, "loope": 2, "loopz": 2, "loopne": 2, "loopnz": 2}


def align_up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


class _Insn:
    """An instruction after binding: what keystone sees, and what it refers to."""
    __slots__ = ("item", "text", "refs", "unknown", "shown")

    def __init__(self, item: Insn, text: str, refs: list[Label], unknown: list[str], shown: str):
        self.item, self.text, self.refs, self.unknown, self.shown = item, text, refs, unknown, shown


class Linker:
    def __init__(self, program: Program, base: int):
        self.program = program
        self.arch = program.arch
        self.base = base
        self.sections = program.sections
        self.labels: dict[object, Label] = {}
        self.ks_name: dict[int, str] = {}          # id(Label) -> __asm_L<n>
        self.addr: dict[int, int] = {}             # id(Label) -> address
        self.insn_size: dict[int, int] = {}        # id(Insn) -> bytes, from the walk
        self.line_of: dict[int, int] = {}          # id(Insn) -> its line in the chunk

    # -- 1. names ------------------------------------------------------------

    def collect_labels(self) -> None:
        for sec in self.sections.values():
            for item in sec:
                if isinstance(item, Label):
                    first = self.labels.get(item.key)
                    if first is not None:
                        o = first.origin
                        raise item.origin.error(f"symbol {item.name} already defined at {o.file}:{o.line}")
                    self.ks_name[id(item)] = f"{INTERNAL_PREFIX}L{len(self.labels)}"
                    self.labels[item.key] = item

    def lookup(self, unit: int, name: str):
        """A name as seen from `unit`: ("const", value), ("label", Label) or None."""
        consts = self.program.units[unit].constants
        if name in consts:
            return "const", consts[name]
        local = "@" in name or name.startswith(".L")
        label = self.labels.get((unit, name) if local else name)
        return ("label", label) if label is not None else None

    def bind(self, item: Insn) -> _Insn:
        refs: list[Label] = []
        unknown: list[str] = []
        reserved = RESERVED[self.arch]

        def value_of(r: Ref) -> str:
            found = self.lookup(item.unit, r.name)
            if found is None:
                if r.name.lower() not in reserved:
                    unknown.append(r.name)
                return r.name
            if found[0] == "const":
                v = found[1]
                return f"0x{v:x}" if v >= 0 else f"(-0x{-v:x})"
            refs.append(found[1])
            return self.ks_name[id(found[1])]

        ops = tokens_text(item.operands, value_of).strip()
        text = f"{item.mnemonic} {ops}" if ops else item.mnemonic
        o = item.origin
        bad = [c for c in text if not (" " <= c <= "~" or c == "\t") or c in ';"\\`']
        if bad:
            raise o.error(f"character {bad[0]!r} not allowed in an instruction")
        if len(text) > 4 * MAX_LINE:
            raise o.error("instruction too long")
        if self.arch == "arm64":
            m = item.mnemonic.lower()
            if m == "adrp":
                raise o.error("adrp is not supported (keystone 0.9.2 encodes the absolute page "
                              "number, not PC-relative); use adr (reach +-1 MiB)")
            if "=" in ops:
                raise o.error("ldr =literal pools are not supported; use movz/movk for numbers, adr for addresses")
        n_refs, n_unknown = len(refs), len(unknown)
        shown = tokens_text(item.operands, lambda r: r.name if value_of(r).startswith(INTERNAL_PREFIX) else value_of(r))
        del refs[n_refs:], unknown[n_unknown:]
        shown = f"{item.mnemonic} {shown.strip()}".strip()
        return _Insn(item, text, refs, unknown, shown)

    # -- layout ----------------------------------------------------------------

    def layout(self, items, start: int, insn_size) -> int:
        """Assign label addresses from `start`; insn_size(insn, addr) -> bytes."""
        addr = start
        for item in items:
            if isinstance(item, Label):
                self.addr[id(item)] = addr
            elif isinstance(item, Insn):
                addr += insn_size(item, addr)
            elif isinstance(item, (Data, Bytes, Space)):
                addr += item.size
            else:
                addr += item.pad(addr)
        return addr

    def check_arm64_targets(self, insns: list[_Insn], insn_addr: dict[int, int]) -> None:
        for ins in insns:
            m = ins.item.mnemonic.lower()
            if m.startswith("b."):
                reach, aligned = 1 << 20, True
            elif m in _ARM64_BRANCH:
                reach, aligned = _ARM64_BRANCH[m]
            elif m in _ARM64_LITERAL and "[" not in tokens_text(ins.item.operands, lambda r: r.name):
                reach, aligned = 1 << 20, True
            else:
                continue
            if not ins.refs:
                continue
            target_tokens = split_top(tokens_text(ins.item.operands, lambda r: f"\0{r.name}\0"), ",")[-1]
            pc = insn_addr[id(ins.item)]
            target = self.eval_target(ins.item, target_tokens)
            if target is None:
                continue
            o = ins.item.origin
            if aligned and target % 4:
                raise o.error(f"target {target:#x} is not 4-byte aligned (arm64 {m} needs an "
                              "instruction-aligned target; add .balign 4)")
            if not -reach <= target - pc < reach:
                raise o.error(f"target {target:#x} out of range for {m} at {pc:#x} "
                              f"(reach +-{reach:#x} bytes)")

    def eval_target(self, item: Insn, text: str) -> int | None:
        parts = text.strip().lstrip("#").split("\0")
        out = []
        for i, p in enumerate(parts):
            if i % 2 == 0:
                out.append(p)
                continue
            found = self.lookup(item.unit, p)
            if found is None:
                return None
            out.append(f"({found[1] if found[0] == 'const' else self.addr[id(found[1])]})")
        try:
            return evaluate("".join(out))
        except ValueError:
            return None

    # -- the whole thing ---------------------------------------------------------

    def link(self) -> Image:
        arch, base = self.arch, self.base
        self.collect_labels()
        for unit in self.program.units:
            for name in unit.constants:
                lab = self.labels.get(name)
                if lab is not None and lab.unit == unit.id:
                    raise lab.origin.error(f"label {name} is already a constant")
        text = self.sections["text"]
        insns = [self.bind(item) for item in text if isinstance(item, Insn)]
        by_item = {id(i.item): i for i in insns}
        others = [s for s in ("rodata", "data", "bss") if self.sections[s]]

        # Section sizes of rodata/data/bss do not depend on the text: offsets from 0.
        sizes = {s: self.layout(self.sections[s], 0, None) for s in others}
        rel = {s: {id(it): self.addr[id(it)] for it in self.sections[s] if isinstance(it, Label)}
               for s in others}

        def place_others(text_end: int) -> dict[str, int]:
            starts, cur = {}, text_end
            for s in others:
                cur = align_up(cur, PAGE)
                starts[s] = cur
                for lid, off in rel[s].items():
                    self.addr[lid] = cur + off
                cur += max(sizes[s], 1)
            if align_up(cur, PAGE) - base > MAX_IMAGE:
                raise AsmError(self.program.files[0], 0, "", f"image larger than {MAX_IMAGE >> 20} MiB")
            return starts

        insn_addr: dict[int, int] = {}
        if arch == "arm64":
            def size4(item, addr):
                if addr % 4:
                    raise item.origin.error(f"instruction at {addr:#x} is not 4-byte aligned "
                                            "(data in .text before it? add .balign 4)")
                insn_addr[id(item)] = addr
                return 4
            text_end = self.layout(text, base, size4)
            place_others(text_end)
            self.check_arm64_targets(insns, insn_addr)

        # 3. The chunk.
        referenced = {id(l) for i in insns for l in i.refs}
        lines: list[str] = []
        for item in text:
            if isinstance(item, Label):
                lines.append(self.ks_name[id(item)] + ":")
            elif isinstance(item, Insn):
                self.line_of[id(item)] = len(lines)
                lines.append(by_item[id(item)].text)
            elif isinstance(item, (Data, Bytes, Space)):
                lines.append(f".space {item.size}")
            else:
                lines.append(f".balign {item.align}")
        needed = [s for s in others if any(lid in referenced for lid in rel[s])]
        last_needed = needed[-1] if needed else None
        for s in others if last_needed else ():
            lines.append(f".balign {PAGE}")
            cur = 0
            for item in self.sections[s]:
                if isinstance(item, Label) and id(item) in referenced:
                    off = rel[s][id(item)]
                    if off > cur:
                        lines.append(f".space {off - cur}")
                        cur = off
                    lines.append(self.ks_name[id(item)] + ":")
            if s == last_needed:
                break
            if max(sizes[s], 1) > cur:
                lines.append(f".space {max(sizes[s], 1) - cur}")
        chunk = "\n".join(lines)

        # 4-5. Encode.
        statements = len(lines) + sum(_prefixes(self.arch, ins.text) for ins in insns)
        code = self.encode(chunk, statements, insns, insn_addr) if lines else b""

        # 6. Walk.
        cs = capstone_for(arch)
        source_lines: list[SourceLine] = []

        def walk_size(item, addr):
            off = addr - base
            if arch == "arm64":
                size = 4
            else:
                d = next(cs.disasm(code[off:off + 15], addr, 1), None)
                if d is None:
                    raise item.origin.error("internal: cannot decode keystone's bytes for this line")
                size = d.size
            if off + size > len(code):
                raise item.origin.error("internal: keystone's output ends inside this instruction")
            o = item.origin
            source_lines.append(SourceLine(o.file, o.line, o.text, addr, size))
            self.insn_size[id(item)] = size
            return size

        text_end = self.layout(text, base, walk_size)
        starts = place_others(text_end)
        expect = text_end - base
        if last_needed:
            last = max(rel[last_needed][i] for i in rel[last_needed] if i in referenced)
            expect = starts[last_needed] + last - base
        if len(code) != expect:
            raise AsmError(self.program.files[0], 0, "",
                           f"internal: keystone produced {len(code)} bytes where the layout expects {expect}")

        # 7. Fill and cut segments.
        segments = []
        if text:
            buf = bytearray(code[:text_end - base])
            self.fill(text, base, buf)
            segments.append(Segment(".text", base, bytes(buf), align_up(max(len(buf), 1), PAGE), PROT["text"]))
        for s in others:
            if s == "bss":
                buf = bytearray()
            else:
                buf = bytearray(sizes[s])
                self.fill(self.sections[s], starts[s], buf)
            segments.append(Segment("." + s, starts[s], bytes(buf), align_up(max(sizes[s], 1), PAGE), PROT[s]))

        symbols = {}
        for key, lab in self.labels.items():
            if isinstance(key, str):
                symbols[key] = self.addr[id(lab)]
        constants = {}
        for unit in self.program.units:
            constants.update(unit.constants)
        return Image(arch, segments, symbols, constants, source_lines, base)

    def encode(self, chunk: str, nlines: int, insns: list[_Insn], insn_addr: dict[int, int]) -> bytes:
        key = (self.arch, self.base, chunk)
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
        problem = None
        try:
            code, count = isolate.encode(self.arch, chunk, self.base)
            if count != nlines:
                problem = f"keystone read {count} statements where {nlines} were given"
        except isolate.KeystoneError as e:
            problem = e.message
        except isolate.KeystoneCrash as e:
            problem = e.detail
        if problem is not None:
            self.localise(insns, insn_addr, problem, chunk)
        if len(code) <= CACHE_MAX_BYTES:
            _cache[key] = code
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
        return code

    def localise(self, insns: list[_Insn], insn_addr: dict[int, int], problem: str, chunk: str):
        snippets = []
        for ins in insns:
            names = sorted({self.ks_name[id(l)] for l in ins.refs})
            code = "".join(f"{n}:\n" for n in names) + ins.text
            snippets.append((code, insn_addr.get(id(ins.item), self.base),
                             len(names) + 1 + _prefixes(self.arch, ins.text)))
        bad = isolate.first_failure(self.arch, snippets)
        if bad is None and self.arch == "amd64":
            bad = self.localise_short_branches(insns, chunk)
        if bad is None:
            where = insns[0].item.origin if insns else None
            reason = (f"keystone rejected the program as a whole ({problem}) although every "
                      "instruction encodes alone; a branch may be out of range")
            if where is None:
                raise AsmError(self.program.files[0], 0, "", reason)
            raise AsmError(where.file, 0, "", reason)
        i, message, errno = bad
        ins = insns[i]
        if errno == KS_ERR_ASM_SYMBOL_MISSING and ins.unknown:
            reason = "undefined symbol " + ", ".join(dict.fromkeys(ins.unknown))
        elif errno == -1:
            reason = message
        else:
            shown = " ".join(ins.shown.split())
            reason = f"keystone: {message}"
            if shown not in " ".join(ins.item.origin.text.split()) and not ins.item.origin.via:
                reason += f" in `{shown}`"
            if self.arch == "arm64" and ins.item.mnemonic.lower() == "mov" and "#" in ins.text:
                reason += " (an immediate mov needs a value movz/movn/orr can encode; build others with movz+movk)"
        raise ins.item.origin.error(reason)

    def localise_short_branches(self, insns: list[_Insn], chunk: str):
        """Every line encodes alone but the chunk fails: on amd64 that is a
        branch with only an 8-bit reach (jrcxz, loop). Try the chunk with one
        such branch kept and the others replaced by same-size filler."""
        suspects = [i for i, ins in enumerate(insns) if ins.refs and ins.item.mnemonic.lower() in _SHORT_ONLY]
        lines = chunk.split("\n")
        variants = []
        for i in suspects[:256]:
            v = list(lines)
            for j in suspects:
                if j != i:
                    v[self.line_of[id(insns[j].item)]] = f".space {_SHORT_ONLY[insns[j].item.mnemonic.lower()]}"
            variants.append(("\n".join(v), self.base, len(v)))
        bad = isolate.first_failure(self.arch, variants) if variants else None
        if bad is None:
            return None
        k, message, errno = bad
        return suspects[k], message + " (branch target out of 8-bit range)", errno

    def fill(self, items, start: int, buf: bytearray) -> None:
        addr = start
        for item in items:
            off = addr - start
            if isinstance(item, Label):
                continue
            if isinstance(item, Insn):
                addr += self.insn_size[id(item)]
            elif isinstance(item, Data):
                for n, expr in enumerate(item.exprs):
                    v = self.data_value(item, expr)
                    w = item.width
                    if not -(1 << (8 * w - 1)) <= v < (1 << (8 * w)):
                        raise item.origin.error(f"value {v:#x} does not fit in {w} byte(s)")
                    buf[off + n * w:off + (n + 1) * w] = (v & ((1 << (8 * w)) - 1)).to_bytes(w, "little")
                addr += item.size
            elif isinstance(item, Bytes):
                buf[off:off + item.size] = item.data
                addr += item.size
            elif isinstance(item, Space):
                buf[off:off + item.size] = bytes([item.fill]) * item.size
                addr += item.size
            elif isinstance(item, Align):
                pad = item.pad(addr)
                if item.fill is not None:
                    buf[off:off + pad] = bytes([item.fill]) * pad
                addr += pad
        return None

    def data_value(self, item: Data, expr) -> int:
        def value_of(r: Ref) -> str:
            found = self.lookup(item.unit, r.name)
            if found is None:
                raise item.origin.error(f"undefined symbol {r.name}")
            return f"({found[1] if found[0] == 'const' else self.addr[id(found[1])]})"
        try:
            return evaluate(tokens_text(expr, value_of))
        except ValueError as e:
            raise item.origin.error(str(e)) from None


def link(program: Program, base: int) -> Image:
    return Linker(program, base).link()


# Keystone counts an x86 prefix (`lock inc ...`, `rep movsb`) as a statement of its own.
_X86_PREFIXES = frozenset({"lock", "rep", "repe", "repz", "repne", "repnz", "xacquire", "xrelease"})


def _prefixes(arch: str, text: str) -> int:
    """How many extra statements keystone reads in one instruction (its prefixes)."""
    if arch != "amd64":
        return 0
    n = 0
    for word in text.split():
        if word.lower() not in _X86_PREFIXES:
            break
        n += 1
    return n
