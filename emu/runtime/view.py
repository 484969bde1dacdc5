"""Python views over runtime structures in emulated memory, generated from layout.py.

Design note
  1. A view is (memory, address); every field of the layout table becomes a
     property that reads or writes the guest's bytes at that offset, so Python and
     assembly always agree.  Nested structs (g.sched) are views; arrays (p.runq,
     gobuf.callee) are indexable.
  2. Views hold no state of their own: two views of one address see the same
     bytes, and a view is cheap to make and to throw away.
Rejected: Python objects mirroring the structs (two copies of the truth, and the
assembly would not see Python's writes).
"""
from __future__ import annotations

import struct as _struct

from .layout import GOBUF, G, HCHAN, M, MUTEX, NOTE, P, SCHEDT, STACK, SUDOG, WAITQ, Struct

_FMT = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}
_PACKERS = {n: _struct.Struct(f) for n, f in _FMT.items()}


class View:
    """Base of the generated views.  `addr` 0 is nil."""

    __slots__ = ("mem", "addr", "_buf", "_o")
    layout: Struct

    def __init__(self, mem, addr: int):
        self.mem, self.addr = mem, addr
        self._buf, self._o = mem._buf, addr - mem.base      # the host bytes behind the view

    def __eq__(self, other) -> bool:
        return isinstance(other, View) and other.addr == self.addr

    def __hash__(self) -> int:
        return hash(self.addr)

    def __bool__(self) -> bool:
        return self.addr != 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.addr:#x})"

    def fields(self) -> list[tuple[str, int, int, int]]:
        """(name, offset, size, value) of every scalar field, nested ones dotted (g.sched.sp),
        array elements indexed (p.runq[3]) and only when non-zero."""
        out = []

        def walk(layout, base, prefix):
            for f in layout.fields:
                if f.struct is not None:
                    walk(f.struct, base + f.offset, f"{prefix}{f.name}.")
                else:   # array elements that are 0 are left out (p.runq has 256)
                    for i in range(f.count):
                        at = self.addr + base + f.offset + i * f.size
                        v = int.from_bytes(self.mem.read(at, f.size), "little")
                        if f.count == 1 or v:
                            name = f"{prefix}{f.name}" + (f"[{i}]" if f.count > 1 else "")
                            out.append((name, base + f.offset + i * f.size, f.size, v))
        walk(self.layout, 0, "")
        return out

    def _repr_html_(self) -> str:
        """Every field with its offset (from the one layout table) and value."""
        from ..views.html import Table
        rows = [(n, f"+{off:#x}", str(size), f"{v:#x}") for n, off, size, v in self.fields()]
        return Table(f"{self.layout.name} at {self.addr:#x}", ("field", "offset", "size", "value"),
                     rows)._repr_html_()

    def zero(self) -> None:
        self.mem.write(self.addr, bytes(self.layout.size))


class ArrayView:
    """An array field: view[i] reads element i."""

    __slots__ = ("mem", "addr", "n", "pk")

    def __init__(self, mem, addr: int, size: int, n: int):
        self.mem, self.addr, self.n, self.pk = mem, addr, n, _PACKERS[size]

    def __len__(self) -> int:
        return self.n

    def _at(self, i: int) -> int:
        if not 0 <= i < self.n:
            raise IndexError(f"index {i} out of range [0, {self.n})")
        return self.addr - self.mem.base + i * self.pk.size

    def __getitem__(self, i: int) -> int:
        return self.pk.unpack_from(self.mem._buf, self._at(i))[0]

    def __setitem__(self, i: int, v: int) -> None:
        if self.mem.watches:
            self.mem.note_write(self.addr + i * self.pk.size, self.pk.size, v)
        self.pk.pack_into(self.mem._buf, self._at(i), v & ((1 << (8 * self.pk.size)) - 1))


WALK_LIMIT = 1_000_000       # no runtime list is longer; beyond it, the links are corrupt


def walk(head: int, next_of, who: str | None = None) -> list[int]:
    """Addresses of a linked list of runtime structs from `head`, following
    `next_of(addr)`, up to 0.  A cycle or a list longer than WALK_LIMIT is corrupt:
    with `who` that raises (naming it); without, the walk stops there (a sampler that
    must not stop the run)."""
    out, seen, a = [], set(), head
    while a:
        if a in seen or len(out) >= WALK_LIMIT:
            if who is None:
                break
            raise ValueError(f"{who}: the list loops back to {a:#x} after {len(out)} entries (corrupt links)")
        seen.add(a)
        out.append(a)
        a = next_of(a)
    return out


def _scalar(off: int, size: int):
    pk = _PACKERS[size]
    mask = (1 << (8 * size)) - 1

    unpack, pack = pk.unpack_from, pk.pack_into

    def get(self):
        return unpack(self._buf, self._o + off)[0]

    def set_(self, v):
        if self.mem.watches:            # a debugger watches some memory (emu/debug.py)
            self.mem.note_write(self.addr + off, size, v & mask)
        pack(self._buf, self._o + off, v & mask)

    return property(get, set_)


def _nested(off: int, cls):
    return property(lambda self: cls(self.mem, self.addr + off))


def _array(off: int, size: int, n: int):
    return property(lambda self: ArrayView(self.mem, self.addr + off, size, n))


def make_view(layout: Struct, name: str, nested: dict) -> type:
    ns = {"__slots__": (), "layout": layout, "__doc__": f"View of `{layout.name}`: {layout.doc}"}
    for f in layout.fields:
        if f.struct is not None:
            ns[f.name] = _nested(f.offset, nested[f.struct.name])
        elif f.count > 1:
            ns[f.name] = _array(f.offset, f.size, f.count)
        else:
            ns[f.name] = _scalar(f.offset, f.size)
    return type(name, (View,), ns)


_views: dict = {}
for _layout, _name in [(GOBUF, "Gobuf"), (STACK, "Stack"), (NOTE, "Note"), (MUTEX, "Mutex"), (WAITQ, "Waitq"),
                       (G, "GView"), (M, "MView"), (P, "PView"), (SCHEDT, "SchedtView"), (SUDOG, "SudogView"),
                       (HCHAN, "HchanView")]:
    _views[_layout.name] = make_view(_layout, _name, _views)

Gobuf, Stack, Note, Mutex, Waitq = (_views[n] for n in ("gobuf", "stack", "note", "mutex", "waitq"))
GView, MView, PView, SchedtView, SudogView, HchanView = (
    _views[n] for n in ("g", "m", "p", "schedt", "sudog", "hchan"))
