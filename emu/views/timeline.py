"""A matplotlib picture of a run: which G ran on which M and P, over virtual time
(Go: the goroutine/processor timelines of cmd/trace and gotraceui, drawn still).

Design note
  1. The runs come from `perfetto.scheduler_spans`, the same pass over the events
     that feeds the Perfetto export, so the two pictures cannot disagree.
  2. One row per M, then one per P; a run is a horizontal bar on its M's row and
     on its P's row, coloured by goid (tab20, cycling) and labelled "G<id>" when
     it is wide enough to read.  A row's bars are one `broken_barh` collection
     with gid "runs:M<m>" or "runs:P<p>" (one path per bar), so a test or a
     notebook can find them; thousands of bars draw in a fraction of a second.
  3. Markers: preemptions (sysmon's request on the P's row, the asyncPreempt /
     stack-check stop on the M's row), steals (on the thief P's row) and
     syscalls (on the M's row of the thread that made them).
  4. matplotlib is imported when a plot is made (it is an optional dependency);
     without `ax` the figure is a bare `matplotlib.figure.Figure`, which needs no
     GUI and no pyplot state, so it renders headless.
Rejected: one Rectangle patch per bar (matplotlib spends ~0.7 ms adding each,
seconds for fanout.s); drawing from memory snapshots (the trace has every switch,
memory only the present); one bar per G state (the Perfetto G tracks show those).
"""
from __future__ import annotations

from .perfetto import scheduler_spans

LABEL_MIN = 0.012          # label a bar when it spans at least this fraction of the axis


def _rows(spans) -> list[tuple[str, int]]:
    ms = sorted({r.m for r in spans.runs} | set(spans.cpu_m.values()))
    ps = sorted({r.p for r in spans.runs if r.p >= 0})
    return [("M", m) for m in ms] + [("P", p) for p in ps]


def _markers(spans, y: dict) -> dict[str, list[tuple[float, float]]]:
    """(x in us, row y) of each marker kind."""
    out: dict[str, list] = {"preemption": [], "steal": [], "syscall": []}
    for i in spans.instants:
        kind = "steal" if i.cat == "steal" else "preemption" if i.cat == "preempt" else None
        if kind is not None and i.track in y:
            out[kind].append((i.ts / 1000, y[i.track]))
    for sl in spans.syscalls:
        m = spans.cpu_m.get(sl.track[1])
        if m is not None and ("M", m) in y:
            out["syscall"].append((sl.start / 1000, y[("M", m)]))
    return out


def _bars(ax, spans, y: dict, cmap, span_us: float) -> None:
    """One broken_barh collection per row, gid "runs:M0" / "runs:P0"; a label on wide bars."""
    for row in y:
        kind, ident = row
        runs = [r for r in spans.runs if (r.m if kind == "M" else r.p) == ident]
        if not runs:
            continue
        coll = ax.broken_barh([(r.start / 1000, (r.end - r.start) / 1000) for r in runs], (y[row] - 0.35, 0.7),
                              facecolors=[cmap(r.goid % 20) for r in runs], edgecolor="black", linewidth=0.3)
        coll.set_gid(f"runs:{kind}{ident}")
        for r in runs:
            width = (r.end - r.start) / 1000
            if span_us and width >= LABEL_MIN * span_us:
                ax.text(r.start / 1000 + width / 2, y[row], f"G{r.goid}", ha="center", va="center", fontsize=7)


MARKER_STYLE = {"preemption": ("v", "red"), "steal": (">", "purple"), "syscall": ("|", "dimgray")}


def plot_timeline(events, system, ax=None):
    """Gs on Ms and Ps over virtual time; returns the matplotlib Figure."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    spans = scheduler_spans(events, system)
    rows = _rows(spans)
    if ax is None:
        fig = Figure(figsize=(12, 1.2 + 0.45 * max(len(rows), 1)), layout="constrained")
        ax = fig.add_subplot()
    y = {row: len(rows) - 1 - i for i, row in enumerate(rows)}
    _bars(ax, spans, y, colormaps["tab20"], spans.end / 1000)
    for kind, pts in _markers(spans, y).items():
        if pts:
            marker, color = MARKER_STYLE[kind]
            ax.scatter([x for x, _ in pts], [v + 0.42 for _, v in pts], marker=marker, color=color,
                       s=18, label=kind, zorder=3)
    ax.set_yticks([y[r] for r in rows], [f"{k}{i}" for k, i in rows])
    ax.set_ylim(-0.6, len(rows) - 0.2)
    ax.set_xlabel("virtual time (µs)")
    ax.set_title(f"{system.arch}: Gs on Ms and Ps")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)   # outside: bars stay visible
    return ax.figure
