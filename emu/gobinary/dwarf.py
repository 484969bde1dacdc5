"""The runtime's struct layouts and constants, read from a Go binary's DWARF
(.debug_info), never written down by hand.

Design note
  1. Go's compiler and linker describe every type that reaches the binary:
     `runtime.g`, `runtime.m`, `runtime.p`, `runtime.gobuf`, `runtime.schedt`,
     `runtime.stack` ... as DW_TAG_structure_type with one DW_TAG_member per
     field (DW_AT_data_member_location is the byte offset), and each package's
     integer constants as DW_TAG_constant (`runtime._Grunning` = 2,
     `runtime.waitReasonChanReceive` = 14).  Everything the state reader
     (state.py) and the views need comes from there: a different Go release
     with different offsets is read just as well.
  2. Only the compile units named `runtime` are walked (pyelftools, ~0.3 s for
     a 2 MB binary); types are resolved lazily by DIE offset, and `GoTypes` for
     one file is kept (`go_types(path)`), so a debugger that rebuilds its system
     on every reverse step reads the DWARF once.
  3. A `Struct` answers like the teaching runtime's layout table
     (emu/runtime/layout.py): `st["sched.sp"]` is a `Field` with the offset
     from the start of the outer struct, its size and its type, and `.name`;
     so `Debugger.watch_field` and the views take either.
  4. Go's type names are kept as DWARF spells them: `runtime.guintptr`,
     `*runtime.m`, `[256]runtime.guintptr`, `[]*runtime.p`, `string`.  A field's
     `kind` is one of "struct", "pointer", "array", "slice", "string", "bool",
     "int", "uint", "float", "func", "other": enough to format a value the way
     Go's print does (schedtrace prints bools as true/false).
Rejected: go/types-style parsing of runtime2.go (the source may not be the
binary's); DWARF of the whole binary (all packages: ten times the time for
nothing the tools read).
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from functools import lru_cache

from elftools.elf.elffile import ELFFile

TYPE_TAGS = ("DW_TAG_structure_type", "DW_TAG_pointer_type", "DW_TAG_array_type",
             "DW_TAG_subroutine_type", "DW_TAG_typedef", "DW_TAG_base_type")
# DW_ATE_* base type encodings
_ENCODING = {0x02: "bool", 0x04: "float", 0x05: "int", 0x06: "int", 0x07: "uint", 0x08: "uint",
             0x03: "complex", 0x10: "uint"}


@dataclass(frozen=True)
class GoType:
    """A type as DWARF describes it (design step 4).

    :ivar elem: a pointer's pointee, an array's element (None for unsafe.Pointer).
    :ivar count: an array's length.
    """

    name: str
    kind: str
    size: int
    offset: int                      # the DIE's offset (identity)
    elem: "GoType | None" = None
    count: int = 0
    struct: "Struct | None" = None


@dataclass(frozen=True)
class Field:
    """A member: `offset` bytes from the start of the struct it was looked up in."""

    name: str
    offset: int
    size: int
    type: GoType
    count: int = 1

    @property
    def kind(self) -> str:
        return self.type.kind

    @property
    def struct(self) -> "Struct | None":
        return self.type.struct


@dataclass
class Struct:
    """A struct type: its fields in order, by offset (design step 3)."""

    name: str
    size: int
    fields: list[Field] = field(default_factory=list)

    def __getitem__(self, name: str) -> Field:
        """A field by (dotted) name: ``G["sched.sp"]``; ``p["runq[3]"]`` indexes an array."""
        head, _, rest = name.partition(".")
        base, _, index = head.partition("[")
        for f in self.fields:
            if f.name == base:
                if index:
                    i = int(index.rstrip("]"))
                    t = f.type
                    if t.kind != "array" or not 0 <= i < t.count:
                        raise KeyError(f"{self.name}.{base} has no element {i}")
                    f = Field(head, f.offset + i * t.elem.size, t.elem.size, t.elem)
                if not rest:
                    return f
                if f.struct is None:
                    raise KeyError(f"{self.name}.{head} ({f.type.name}) is not a struct")
                inner = f.struct[rest]
                return Field(name, f.offset + inner.offset, inner.size, inner.type, inner.count)
        raise KeyError(f"{self.name} has no field {name!r} (DWARF)")

    def __contains__(self, name: str) -> bool:
        try:
            self[name]
            return True
        except KeyError:
            return False

    def offset(self, name: str) -> int:
        return self[name].offset

    def names(self) -> list[str]:
        return [f.name for f in self.fields]


class DwarfError(LookupError):
    """The binary has no DWARF, or lacks a type the tools need (built with -w?)."""


class GoTypes:
    """The structs and constants of package runtime in one Go binary (module note)."""

    def __init__(self, elf: ELFFile, path: str = "<bytes>"):
        self.path = path
        if not elf.has_dwarf_info():
            raise DwarfError(f"{os.path.basename(path)} has no DWARF (.debug_info): it was built with "
                             f"-ldflags=-w or stripped; the runtime's layouts cannot be read")
        self._dwarf = elf.get_dwarf_info()
        self._named: dict[str, object] = {}        # type name -> DIE
        self.constants: dict[str, int] = {}
        self._dies: dict[int, object] = {}
        self._types: dict[int, GoType] = {}
        for cu in self._dwarf.iter_CUs():
            top = cu.get_top_DIE()
            name = top.attributes.get("DW_AT_name")
            if name is None or name.value != b"runtime":
                continue
            for die in cu.iter_DIEs():
                self._dies[die.offset] = die
                a = die.attributes.get("DW_AT_name")
                if a is None:
                    continue
                if die.tag == "DW_TAG_constant":
                    v = die.attributes.get("DW_AT_const_value")
                    if v is not None and isinstance(v.value, int):
                        self.constants[a.value.decode()] = v.value
                elif die.tag in TYPE_TAGS:
                    self._named.setdefault(a.value.decode(), die)

    # ---- types ---------------------------------------------------------------------
    def type(self, name: str) -> GoType:
        die = self._named.get(name)
        if die is None:
            raise DwarfError(f"{os.path.basename(self.path)}: no type {name!r} in the runtime's DWARF")
        return self._type(die)

    def struct(self, name: str) -> Struct:
        """The struct `name` (``runtime.g``), with every field's offset and type."""
        t = self.type(name)
        if t.struct is None:
            raise DwarfError(f"{name} is a {t.kind}, not a struct")
        return t.struct

    def _die_of(self, die, name: str = "DW_AT_type") -> object:
        attr = die.attributes[name]
        off = attr.value if attr.form == "DW_FORM_ref_addr" else attr.value + die.cu.cu_offset
        found = self._dies.get(off)
        return found if found is not None else die.get_DIE_from_attribute(name)

    def _type(self, die) -> GoType:
        cached = self._types.get(die.offset)
        if cached is not None:
            return cached
        a = die.attributes
        name = a["DW_AT_name"].value.decode() if "DW_AT_name" in a else ""
        size = a["DW_AT_byte_size"].value if "DW_AT_byte_size" in a else 0
        tag = die.tag
        if tag == "DW_TAG_base_type":
            kind = _ENCODING.get(a["DW_AT_encoding"].value, "other") if "DW_AT_encoding" in a else "other"
            t = GoType(name, kind, size, die.offset)
        elif tag == "DW_TAG_pointer_type":
            elem = self._type(self._die_of(die)) if "DW_AT_type" in a else None
            t = GoType(name, "pointer", size or 8, die.offset, elem)
        elif tag == "DW_TAG_typedef":
            # a typedef reads as what it names (runtime.guintptr is a uintptr), under its own name
            elem = self._type(self._die_of(die))
            t = GoType(name, elem.kind, elem.size, die.offset, elem.elem, elem.count, elem.struct)
        elif tag == "DW_TAG_array_type":
            elem = self._type(self._die_of(die))
            count = 0
            for child in die.iter_children():
                if child.tag == "DW_TAG_subrange_type":
                    ca = child.attributes
                    count = ca["DW_AT_count"].value if "DW_AT_count" in ca else \
                        ca["DW_AT_upper_bound"].value + 1 if "DW_AT_upper_bound" in ca else 0
            t = GoType(name, "array", size or elem.size * count, die.offset, elem, count)
        elif tag == "DW_TAG_structure_type":
            st = Struct(name, size)
            kind = "string" if name == "string" else "slice" if name.startswith("[]") else "struct"
            t = GoType(name, kind, size, die.offset, None, 0, st)
            self._types[die.offset] = t              # before the members: a struct may point to itself
            for child in die.iter_children():
                if child.tag != "DW_TAG_member":
                    continue
                ca = child.attributes
                ft = self._type(self._die_of(child))
                loc = ca["DW_AT_data_member_location"].value if "DW_AT_data_member_location" in ca else 0
                st.fields.append(Field(ca["DW_AT_name"].value.decode(), loc, ft.size, ft,
                                       ft.count if ft.kind == "array" else 1))
            return t
        elif tag == "DW_TAG_subroutine_type":
            t = GoType(name, "func", 8, die.offset)
        else:
            t = GoType(name, "other", size, die.offset)
        self._types[die.offset] = t
        return t

    # ---- constants -----------------------------------------------------------------
    def constant(self, name: str) -> int:
        """An integer constant of package runtime (``runtime._Grunning``)."""
        full = name if name.startswith("runtime.") else "runtime." + name
        if full not in self.constants:
            raise DwarfError(f"{os.path.basename(self.path)}: no constant {full} in the DWARF")
        return self.constants[full]

    def enum(self, prefix: str) -> dict[int, str]:
        """value -> name of the constants named runtime.<prefix>*: ``enum("_G")`` is
        the G statuses (_Gidle ... _Gpreempted, _Gscan...), first name wins."""
        out: dict[int, str] = {}
        for name, value in sorted(self.constants.items(), key=lambda kv: (kv[1], kv[0])):
            short = name[len("runtime."):]
            if short.startswith(prefix):
                out.setdefault(value, short)
        return out


@lru_cache(maxsize=8)
def _types_for(path: str, mtime: float, size: int) -> GoTypes:
    with open(path, "rb") as f:
        return GoTypes(ELFFile(io.BytesIO(f.read())), path)


def go_types(path) -> GoTypes:
    """GoTypes of the binary at `path`, read once per file version (design step 2)."""
    st = os.stat(path)
    return _types_for(os.fspath(path), st.st_mtime, st.st_size)
