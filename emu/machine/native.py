"""ctypes access to libunicorn's fast paths and to our slice-counter hook.

Design note
  1. The Python wrapper costs ~6 us per register access and ~150 us for a batch of
     24; libunicorn's own `uc_reg_read_batch` called through ctypes with prepared
     arrays costs ~2 us.  `RegisterFile` prepares those arrays once per CPU.
  2. Deterministic slicing needs an instruction count.  Unicorn's `count=` keeps
     its counter private, so a slice cut short by a trap would not say how many
     instructions ran.  `_ucnative.c` is the same per-instruction hook with a
     counter we can read (measured: the same speed as `count=`).
Rejected: a Python UC_HOOK_CODE counter (~1.3 us per instruction, 25x slower);
reading Unicorn's private `emu_counter` at a struct offset (breaks silently on
any Unicorn release).
"""
from __future__ import annotations

import ctypes
import importlib.util

import unicorn
from unicorn.unicorn_py3 import unicorn as _ucpy

uclib = _ucpy.uclib

_uc_reg_read = uclib.uc_reg_read
_uc_reg_write = uclib.uc_reg_write
_uc_read_batch = uclib.uc_reg_read_batch
_uc_write_batch = uclib.uc_reg_write_batch
_uc_hook_add = uclib.uc_hook_add


def _load_counter_library() -> ctypes.CDLL:
    spec = importlib.util.find_spec("emu.machine._ucnative")
    if spec is None or not spec.origin:
        raise ImportError("emu.machine._ucnative is not built: reinstall gosched-emu "
                          "(`pip install -e .` compiles emu/machine/_ucnative.c; it needs a C compiler)")
    return ctypes.CDLL(spec.origin)


_native = _load_counter_library()
_COUNT_HOOK = ctypes.cast(_native.gosched_count_hook, ctypes.c_void_p)
_UC_EMU_STOP = ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value


class SliceCounter(ctypes.Structure):
    """Mirror of `struct slice_counter` in _ucnative.c (one per CPU)."""

    _fields_ = [("executed", ctypes.c_uint64), ("limit", ctypes.c_uint64),
                ("stop", ctypes.c_void_p), ("stopped", ctypes.c_uint64)]


def install_counter(uc: unicorn.Uc) -> SliceCounter:
    """Attach a native instruction-counting hook to every address of `uc`."""
    counter = SliceCounter(0, 0, _UC_EMU_STOP, 0)
    handle = ctypes.c_size_t()
    err = _uc_hook_add(uc._uch, ctypes.byref(handle), unicorn.UC_HOOK_CODE, _COUNT_HOOK,
                       ctypes.byref(counter), ctypes.c_uint64(1), ctypes.c_uint64(0))
    if err != unicorn.UC_ERR_OK:
        raise unicorn.UcError(err)
    return counter


class RegisterFile:
    """Fast batch access to a fixed list of 64-bit registers of one Unicorn CPU."""

    def __init__(self, uc: unicorn.Uc, uc_ids: list[int]):
        n = len(uc_ids)
        self._uch = uc._uch
        self._n = n
        self._ids = (ctypes.c_int * n)(*uc_ids)
        self._vals = (ctypes.c_uint64 * n)()
        base = ctypes.addressof(self._vals)
        self._ptrs = (ctypes.c_void_p * n)(*[base + 8 * i for i in range(n)])
        self._one = ctypes.c_uint64()
        self._one_ref = ctypes.byref(self._one)

    def read_all(self) -> list[int]:
        """Every register of the list, in list order (one libunicorn call)."""
        _uc_read_batch(self._uch, self._ids, self._ptrs, self._n)
        return self._vals[:]

    def write_all(self, values) -> None:
        """Write every register of the list (one libunicorn call)."""
        self._vals[:] = values
        _uc_write_batch(self._uch, self._ids, self._ptrs, self._n)

    def read(self, uc_id: int) -> int:
        """One 64-bit register.  (A narrower register leaves the upper bytes alone:
        use CPU.read for those.)"""
        _uc_reg_read(self._uch, uc_id, self._one_ref)
        return self._one.value

    def write(self, uc_id: int, value: int) -> None:
        self._one.value = value & 0xFFFF_FFFF_FFFF_FFFF
        _uc_reg_write(self._uch, uc_id, self._one_ref)


class VectorFile:
    """Batch access to a CPU's 128-bit vector registers as one block of bytes:
    16 little-endian bytes per register, in list order (one libunicorn call,
    ~1 us, instead of ~6 us per register through the wrapper)."""

    def __init__(self, uc: unicorn.Uc, uc_ids: list[int]):
        n = len(uc_ids)
        self._uch = uc._uch
        self._n = n
        self._ids = (ctypes.c_int * n)(*uc_ids)
        self._buf = (ctypes.c_uint8 * (16 * n))()
        base = ctypes.addressof(self._buf)
        self._ptrs = (ctypes.c_void_p * n)(*[base + 16 * i for i in range(n)])

    def read_all(self) -> bytes:
        _uc_read_batch(self._uch, self._ids, self._ptrs, self._n)
        return bytes(self._buf)

    def write_all(self, raw: bytes) -> None:
        if len(raw) != 16 * self._n:
            raise ValueError(f"VectorFile.write_all: {len(raw)} bytes for {self._n} 16-byte registers")
        ctypes.memmove(self._buf, raw, len(raw))
        _uc_write_batch(self._uch, self._ids, self._ptrs, self._n)
