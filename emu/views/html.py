"""Shared rendering for the views: one `Table` type, one set of inline styles, and
the HTML table of a trace slice (`events_html`).

Design note
  1. Every view builds `Table`s -- a title, headers, rows of strings, and the set
     of rows to highlight -- and renders them twice: `Table.text()` aligns the
     columns for a terminal and marks highlighted rows in a left margin (`*` by
     default); `Table.html()` writes an HTML table.  One data structure, so the
     terminal and the notebook never disagree about what changed.
  2. Every string that reaches HTML is escaped here, by `esc` (html.escape), and
     only here: views hand over plain text, never markup.
  3. Styles are inline `style` attributes from the few constants below, so every
     view looks alike; there is no JavaScript, and no <style> block (it would
     restyle the whole notebook page, not just this output).
Rejected: pandas DataFrames (a heavy dependency for a dozen rows, and no per-row
highlight in the text form); a template engine (the markup is five elements).
"""
from __future__ import annotations

import html as _html
from dataclasses import dataclass, field
from typing import Iterable, Sequence

# ---- styles (inline attributes) ---------------------------------------------------------
FONT = "font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px"
BOX = f"{FONT}; margin: 4px 0 10px 0"
TABLE = "border-collapse: collapse; margin: 2px 0"
CAPTION = "caption-side: top; text-align: left; font-weight: bold; padding: 2px 0"
TH = "text-align: left; padding: 1px 8px; border-bottom: 1px solid #888; background: #f0f0f0"
TD = "text-align: left; padding: 1px 8px; border-bottom: 1px solid #e4e4e4; white-space: pre"
HIGHLIGHT = "background: #fff3b0"          # a changed register, the current pc (as Ripes: yellow)
NOTE = "color: #666; padding: 1px 0"
TITLE = "font-weight: bold; font-size: 13px; padding: 2px 0"

MARK = "*"      # the text form's marker for a highlighted row


def esc(value) -> str:
    """`value` as text that is safe inside HTML elements and attribute values."""
    return _html.escape(str(value), quote=True)


def hex64(value: int) -> str:
    """A machine word as 18 characters: ``0x0000000000401000``."""
    return f"{value & 0xFFFF_FFFF_FFFF_FFFF:#018x}"


def addr_or_nil(value: int) -> str:
    return "nil" if value == 0 else f"{value:#x}"


@dataclass
class Table:
    """A titled table of text cells, some rows highlighted.

    :ivar headers: column names.
    :ivar rows: one tuple of strings per row, each as long as `headers`.
    :ivar highlight: indexes of the rows to highlight (text: `mark` in the margin).
    :ivar note: a line printed under the table ("" for none).
    """

    title: str
    headers: Sequence[str]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    highlight: frozenset[int] = frozenset()
    note: str = ""
    mark: str = MARK

    def __post_init__(self) -> None:
        self.rows = [tuple(str(c) for c in r) for r in self.rows]
        for i, r in enumerate(self.rows):
            if len(r) != len(self.headers):
                raise ValueError(f"Table {self.title!r}: row {i} has {len(r)} cells, "
                                 f"expected {len(self.headers)} (one per header)")
        self.highlight = frozenset(self.highlight)
        bad = [i for i in self.highlight if not 0 <= i < len(self.rows)]
        if bad:
            raise ValueError(f"Table {self.title!r}: highlighted rows {bad} do not exist")

    def text(self) -> str:
        widths = [max([len(h)] + [len(r[i]) for r in self.rows]) for i, h in enumerate(self.headers)]
        margin = len(self.mark) + 1

        def line(cells, marked=False):
            body = "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
            return ((self.mark + " ") if marked else " " * margin) + body

        out = [self.title] if self.title else []
        out.append(line(self.headers))
        out += [line(r, i in self.highlight) for i, r in enumerate(self.rows)]
        if self.note:
            out.append(" " * margin + self.note)
        return "\n".join(out)

    def html(self) -> str:
        head = "".join(f'<th style="{TH}">{esc(h)}</th>' for h in self.headers)
        body = []
        for i, r in enumerate(self.rows):
            style = f' style="{HIGHLIGHT}"' if i in self.highlight else ""
            cells = "".join(f'<td style="{TD}">{esc(c)}</td>' for c in r)
            body.append(f"<tr{style}>{cells}</tr>")
        caption = f'<caption style="{CAPTION}">{esc(self.title)}</caption>' if self.title else ""
        note = f'<div style="{NOTE}">{esc(self.note)}</div>' if self.note else ""
        return (f'<table style="{TABLE}">{caption}<thead><tr>{head}</tr></thead>'
                f'<tbody>{"".join(body)}</tbody></table>{note}')

    def _repr_html_(self) -> str:
        return f'<div style="{BOX}">{self.html()}</div>'

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:          # short: a notebook's plain-text output stays small
        return f"<Table {self.title!r}: {len(self.rows)} rows x {len(self.headers)} columns>"


def page(title: str, parts: Iterable, lines: Iterable[str] = ()) -> str:
    """Several tables (or other HTML parts) under one title, as one output cell.
    `lines` are plain text lines shown between the title and the parts."""
    body = "".join(p.html() if isinstance(p, Table) else str(p) for p in parts)
    text = "".join(f'<div style="{NOTE}">{esc(s)}</div>' for s in lines)
    return f'<div style="{BOX}"><div style="{TITLE}">{esc(title)}</div>{text}{body}</div>'


def page_text(title: str, parts: Iterable, lines: Iterable[str] = ()) -> str:
    """The text form of `page`: the title, the lines, then each table after a blank line."""
    out = [title, *lines]
    for p in parts:
        out += ["", p.text() if isinstance(p, Table) else str(p)]
    return "\n".join(out)


def key_values(title: str, pairs: Iterable[tuple[str, object]]) -> Table:
    """A two-column table (field, value): one small object, as GInfo shows itself."""
    return Table(title, ("field", "value"), [(k, str(v)) for k, v in pairs])


# ---- trace slices --------------------------------------------------------------------------
def event_text(event) -> str:
    """What an event says, without its time and CPU (Event.body)."""
    return event.body()


def events_table(events: Sequence, *, limit: int = 500, title: str = "") -> Table:
    """A slice of a trace (emu.trace.events.Event records) as a Table: cycles, cpu,
    kind, what happened.  More than `limit` events are cut, and the note says so."""
    if limit < 1:
        raise ValueError("events_table: limit must be at least 1")
    events = list(events)
    shown = events[:limit]
    rows = [(str(e.cycles), f"cpu{e.cpu}", e.kind, event_text(e)) for e in shown]
    note = f"... {len(events) - limit} more events not shown" if len(events) > limit else ""
    return Table(title or f"{len(events)} trace events", ("cycles", "cpu", "kind", "what"), rows, note=note)


def events_html(events: Sequence, *, limit: int = 500, title: str = "") -> str:
    """The HTML table of a trace slice (for a `_repr_html_` of a list of events)."""
    return events_table(events, limit=limit, title=title)._repr_html_()
