"""The report's blocks: plain data (text, lists, commands, tables, plot records) that a
section is made of, and the number formats every block uses. Rendering is html.py's and
markdown.py's job; every string is escaped there."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sweeplab import plots
from sweeplab.analysis import stats
from sweeplab.analysis.explain import pct

__all__ = ["Block", "Bullets", "Code", "Plot", "Report", "Section", "Table", "Text"]


@dataclass(frozen=True)
class Text:
    """A paragraph of plain text (escaped when rendered)."""

    text: str  # plain text, no markup
    kind: str = "p"  # "p", "note" (how to read), "warn" (missing runs), "finding" (a verdict)

@dataclass(frozen=True)
class Bullets:
    """A list of plain-text items."""

    items: tuple[str, ...]
    kind: str = "p"  # as Text.kind
    fold: str = ""  # when set, HTML shows the list folded under this summary line

@dataclass(frozen=True)
class Code:
    """A command the reader can copy."""

    text: str

@dataclass(frozen=True)
class Table:
    """A table of plain strings; the first column names the row."""

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

@dataclass(frozen=True, eq=False)
class Plot:
    """A plot record with the function that draws it."""

    name: str  # file stem, unique in the report
    caption: str  # one sentence under the figure (also its alt text)
    record: Any  # a sweeplab.plots record
    draw: Callable[[Any], Any]  # record -> matplotlib Figure

Block = Text | Bullets | Code | Table | Plot

@dataclass(frozen=True)
class Section:
    """One study (or a summary across studies)."""

    id: str  # HTML anchor, e.g. "q6"
    title: str  # heading
    status: str  # "complete", "partial", "not run", "summary"
    blocks: tuple[Block, ...]

@dataclass(frozen=True)
class Report:
    """Everything the report shows, before rendering."""

    title: str
    store_path: str  # the store it was built from
    created: str  # ISO time
    sections: tuple[Section, ...]


def png(plot: Plot) -> bytes:
    """The plot drawn as PNG bytes."""
    fig = plot.draw(plot.record)
    try:
        return plots.to_png(fig)
    finally:
        fig.clear()


# ------------------------------------------------------------------- number format


def pts(x: float, digits: int = 2) -> str:
    return "n/a" if not math.isfinite(x) else f"{100 * x:+.{digits}f}"

def summary_cell(s: stats.Summary | None) -> str:
    if s is None:
        return "no runs"
    if s.n < 2:
        return f"{pct(s.mean)} (n=1, no spread)"
    return (f"{pct(s.mean)} ± {100 * s.std:.2f} "
            f"[{100 * s.ci_low:.2f}, {100 * s.ci_high:.2f}]")

def p_value(p: float) -> str:
    if not math.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3g}"
