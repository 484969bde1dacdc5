"""The Go-level half of the runtime, in Python, one module per concept of Go's runtime.

Importing this package registers every exported function (the Python text)."""
from . import chan, g, m, netpoll, p, park, preempt, print as print_, sched, signal, stack, sudog, syscall, sysmon, time  # noqa: F401
from .state import Runtime

__all__ = ["Runtime"]
