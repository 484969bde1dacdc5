"""The host's Linux through libc, as the oracle of differential tests: the emulated
kernel's pipes, eventfd, socketpair and epoll must answer as the real ones do
(tests/test_epoll_diff.py, the epoll exercise)."""
from __future__ import annotations

import ctypes
import functools

_C = ctypes
SIGNATURES = [
    ("pipe2", _C.c_int, [_C.c_void_p, _C.c_int]),
    ("eventfd", _C.c_int, [_C.c_uint, _C.c_int]),
    ("socketpair", _C.c_int, [_C.c_int, _C.c_int, _C.c_int, _C.c_void_p]),
    ("epoll_create1", _C.c_int, [_C.c_int]),
    ("epoll_ctl", _C.c_int, [_C.c_int, _C.c_int, _C.c_int, _C.c_void_p]),
    ("epoll_wait", _C.c_int, [_C.c_int, _C.c_void_p, _C.c_int, _C.c_int]),
    ("read", _C.c_ssize_t, [_C.c_int, _C.c_void_p, _C.c_size_t]),
    ("write", _C.c_ssize_t, [_C.c_int, _C.c_void_p, _C.c_size_t]),
    ("close", _C.c_int, [_C.c_int]),
    ("dup", _C.c_int, [_C.c_int]),
    ("dup3", _C.c_int, [_C.c_int, _C.c_int, _C.c_int]),
    ("fcntl", _C.c_int, [_C.c_int, _C.c_int, _C.c_long]),
]


@functools.cache
def host_libc() -> ctypes.CDLL:
    """The host's libc with errno kept and the signatures above declared."""
    libc = ctypes.CDLL(None, use_errno=True)
    for name, res, args in SIGNATURES:
        getattr(libc, name).restype, getattr(libc, name).argtypes = res, args
    return libc
