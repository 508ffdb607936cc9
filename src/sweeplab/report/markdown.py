"""The report as Markdown text with its PNG files beside it. Every string is escaped."""

from __future__ import annotations

import html
from typing import Any

from sweeplab._version import __version__
from sweeplab.outputs import safe_name
from sweeplab.report.blocks import Bullets, Code, Plot, Report, Table, Text, png


def _md(text: Any) -> str:
    return html.escape(str(text), quote=False)

def render_markdown(report: Report, image_dir: str = "img") -> tuple[str, dict[str, bytes]]:
    """Markdown text and the PNG files it links to (name -> bytes, under ``image_dir``)."""
    files: dict[str, bytes] = {}
    lines = [f"# {_md(report.title)}", "", f"Store: `{_md(report.store_path)}`  ",
             f"Built {_md(report.created)} by sweeplab {__version__}.", "", "## Contents", ""]
    lines += [f"{i}. [{_md(s.title)}](#{_md(s.id)}) ({_md(s.status)})"
              for i, s in enumerate(report.sections, 1)]
    for s in report.sections:
        anchor = html.escape(str(s.id), quote=True)
        lines += ["", f'<a id="{anchor}"></a>', "", f"## {_md(s.title)} ({_md(s.status)})", ""]
        for b in s.blocks:
            if isinstance(b, Text):
                prefix = "> **Missing:** " if b.kind == "warn" else "> " if b.kind == "finding" \
                    else ""
                lines += [prefix + _md(b.text), ""]
            elif isinstance(b, Bullets):
                lines += [f"- {_md(i)}" for i in b.items] + [""]
            elif isinstance(b, Code):
                lines += ["```", b.text.replace("```", "'''"), "```", ""]
            elif isinstance(b, Table):

                def cell(v: str) -> str:
                    return _md(v).replace("|", "\\|")

                lines += [f"**{_md(b.caption)}**", "",
                          "| " + " | ".join(cell(h) for h in b.header) + " |",
                          "|" + "|".join(["---"] + ["---:"] * (len(b.header) - 1)) + "|"]
                lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in b.rows]
                lines.append("")
            elif isinstance(b, Plot):
                fname = f"{safe_name(b.name)}.png"  # a study's name is data, not a path
                files[fname] = png(b)
                alt = _md(b.caption).replace("[", "(").replace("]", ")")
                lines += [f"![{alt}]({image_dir}/{fname})", "", f"*{_md(b.caption)}*", ""]
    return "\n".join(lines) + "\n", files
