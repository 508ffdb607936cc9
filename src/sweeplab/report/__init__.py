"""The report: every study in a store, with its plots, numbers, uncertainty and verdicts.

Three steps, each testable on its own:

1. :func:`build_report` (build.py) reads the store through :mod:`sweeplab.readout` (never
   trains) and returns a :class:`Report`: sections made of plain blocks (blocks.py: text,
   tables, code, plot records). Every study gets the generic sections (sections.py); a
   built-in question gets its own figures and summaries (assignment.py) and the
   diagnostics blocks (diagnostics.py). Every number is computed from
   :mod:`sweeplab.analysis.stats`.
2. :func:`render_html` / :func:`render_markdown` (html.py, markdown.py) turn a report into
   text. Every string is escaped on the way out. Plots are drawn here.
3. :func:`write_report` does both and writes one self-contained HTML file (PNG images as
   data URIs, an embedded stylesheet, no scripts, no network) or a Markdown file with its
   PNGs beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sweeplab.report.blocks import Block, Bullets, Code, Plot, Report, Section, Table, Text
from sweeplab.report.build import build_report, resolve_studies, study_figures
from sweeplab.report.html import render_html
from sweeplab.report.markdown import render_markdown
from sweeplab.report.sections import run_command
from sweeplab.store import Store

__all__ = [
    "Block",
    "Bullets",
    "Code",
    "Plot",
    "Report",
    "Section",
    "Table",
    "Text",
    "build_report",
    "render_html",
    "render_markdown",
    "resolve_studies",
    "run_command",
    "study_figures",
    "write_report",
]

FORMATS = ("html", "md")

def write_report(store: Store, out: str | Path, studies: Sequence[str] | None = None,
                 fmt: str = "html", data_dir: str | None = None) -> Path:
    """Build the report of ``studies`` (None = every study in the store) and write it.

    Args:
        out: the HTML file for ``fmt="html"``. For ``fmt="md"``: a ``.md`` file (its PNGs
            go to ``<stem>_files/`` beside it) or a folder (``report.md`` and ``img/``).
        fmt: "html" or "md".
        data_dir: where the datasets are, for the first training images.

    Returns:
        The path of the HTML or Markdown file written.

    Raises:
        ValueError: unknown study names, or a bad ``fmt``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}. Received: fmt={fmt!r}")
    out = Path(out)
    report = build_report(store, studies, data_dir)
    if fmt == "html":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_html(report), encoding="utf-8")
        return out
    if out.suffix == ".md":
        md_path, image_dir = out, out.parent / f"{out.stem}_files"
    else:
        md_path, image_dir = out / "report.md", out / "img"
    image_dir.mkdir(parents=True, exist_ok=True)
    text, files = render_markdown(report, image_dir.name)
    for name, content in files.items():
        (image_dir / name).write_bytes(content)
    md_path.write_text(text, encoding="utf-8")
    return md_path
