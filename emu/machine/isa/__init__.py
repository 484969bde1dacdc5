"""ISA adapters: one module per architecture, each a single `ISA` record."""
from .amd64 import AMD64
from .arm64 import ARM64
from .base import ISA, ArchError, Register

ISAS = {"amd64": AMD64, "arm64": ARM64}


def get_isa(name: str) -> ISA:
    """The ISA called `name` (``amd64`` or ``arm64``)."""
    try:
        return ISAS[name]
    except KeyError:
        raise ArchError(f"unknown arch {name!r}: expected one of {', '.join(ISAS)}") from None


__all__ = ["AMD64", "ARM64", "ISA", "ISAS", "ArchError", "Register", "get_isa"]
