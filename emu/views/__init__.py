"""Inspection views: read-only pictures of the machine and the runtime, built on
demand from emulated memory and CPU registers, each with `.text()` for a terminal
and `_repr_html_()` for a notebook (inline CSS only, no JavaScript).

One module per thing looked at: registers, disasm, gmp (G/M/P), gstack (a G's
frame-pointer chain), sigframe (a Linux rt_sigframe), and the trace exports and
analyses beside them (perfetto, schedtrace, timeline, saverestore); html holds
the shared table and style helpers.  Import the module you need (``from
emu.views.gmp import SchedView``): this package imports none of them, so each
stays independent.
"""
