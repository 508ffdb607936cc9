"""The report as one self-contained HTML page: embedded CSS and PNGs, no scripts, no
network. Every string is escaped, so names from a store or a study file cannot inject
markup."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import Any

from sweeplab._version import __version__
from sweeplab.report.blocks import Block, Bullets, Code, Plot, Report, Table, Text, png

_CSS = """
:root { --ink:#1d232b; --mute:#5b6672; --line:#d9dee4; --bg:#ffffff; --soft:#f5f7f9;
        --blue:#0072B2; --warn:#a24a00; --warnbg:#fff4e5; --ok:#00694d; }
* { box-sizing:border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
       font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
main { max-width:1180px; margin:0 auto; padding:24px 28px 80px; }
header h1 { margin:0 0 4px; font-size:28px; }
header p { margin:2px 0; color:var(--mute); }
nav { background:var(--soft); border:1px solid var(--line); border-radius:8px;
      padding:12px 18px; margin:18px 0 28px; }
nav h2 { margin:0 0 6px; font-size:16px; }
nav ol { margin:0; padding-left:22px; columns:2; column-gap:36px; }
nav li { margin:2px 0; break-inside:avoid; }
a { color:var(--blue); text-decoration:none; } a:hover { text-decoration:underline; }
section { border-top:2px solid var(--line); padding-top:10px; margin-top:36px; }
section h2 { font-size:22px; margin:6px 0 10px; }
.badge { display:inline-block; font-size:12px; font-weight:600; padding:1px 8px;
         border-radius:10px; margin-left:8px; vertical-align:middle; background:var(--soft);
         color:var(--mute); border:1px solid var(--line); }
.badge.complete { color:var(--ok); border-color:#9fd3c3; background:#eef8f4; }
.badge.partial, .badge.not-run { color:var(--warn); border-color:#f0c48f;
                                 background:var(--warnbg); }
p { margin:8px 0; }
p.note { color:var(--mute); font-size:14px; }
p.warn, ul.warn { color:var(--warn); }
div.warnbox { background:var(--warnbg); border-left:4px solid #e69f00; padding:6px 14px;
              margin:10px 0; border-radius:4px; }
.finding { border-left:4px solid var(--blue); background:#f1f7fc; padding:6px 12px;
           margin:8px 0; border-radius:4px; }
ul.finding { padding-left:30px; }
ul.finding li { margin:3px 0; }
pre { background:var(--soft); border:1px solid var(--line); border-radius:6px;
      padding:8px 12px; overflow-x:auto; font-size:13px; white-space:pre-wrap;
      word-break:break-word; }
code { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; }
figure { margin:14px 0; text-align:center; }
figure img { max-width:100%; height:auto; border:1px solid var(--line); border-radius:4px; }
figure.confusion img { max-width:min(100%, 680px); }
details { margin:8px 0; } summary { cursor:pointer; color:var(--blue); }
figcaption { color:var(--mute); font-size:13px; margin-top:4px; }
.tablewrap { overflow-x:auto; margin:12px 0; }
table { border-collapse:collapse; font-size:13px; min-width:60%; }
caption { text-align:left; font-weight:600; padding:4px 0; color:var(--ink); }
th, td { border:1px solid var(--line); padding:4px 8px; text-align:right;
         font-variant-numeric:tabular-nums; white-space:nowrap; }
th { background:var(--soft); }
td:first-child, th:first-child { text-align:left; }
tr:nth-child(even) td { background:#fafbfc; }
td.v-distinguishable { color:var(--ok); font-weight:600; }
"""

def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)

def _block_html(b: Block) -> str:
    if isinstance(b, Text):
        if b.kind == "warn":
            return f'<div class="warnbox"><p class="warn">{_e(b.text)}</p></div>'
        cls = f' class="{b.kind}"' if b.kind != "p" else ""
        return f"<p{cls}>{_e(b.text)}</p>"
    if isinstance(b, Bullets):
        cls = f' class="{b.kind}"' if b.kind != "p" else ""
        ul = f"<ul{cls}>" + "".join(f"<li>{_e(i)}</li>" for i in b.items) + "</ul>"
        return f"<details><summary>{_e(b.fold)}</summary>{ul}</details>" if b.fold else ul
    if isinstance(b, Code):
        return f"<pre><code>{_e(b.text)}</code></pre>"
    if isinstance(b, Table):
        head = "".join(f"<th>{_e(h)}</th>" for h in b.header)
        body = []
        for row in b.rows:
            cells = []
            for v in row:
                cls = ' class="v-distinguishable"' if v == "distinguishable" else ""
                cells.append(f"<td{cls}>{_e(v)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        return (f'<div class="tablewrap"><table><caption>{_e(b.caption)}</caption>'
                f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")
    if isinstance(b, Plot):
        data = base64.b64encode(png(b)).decode("ascii")
        cls = ' class="confusion"' if "confusion" in b.name else ""
        return (f'<figure id="{_e(b.name)}"{cls}><img src="data:image/png;base64,{data}" '
                f'alt="{_e(b.caption)}"><figcaption>{_e(b.caption)}</figcaption></figure>')
    raise TypeError(f"unknown block {b!r}")

def _wrap_warnings(blocks: Sequence[Block]) -> list[str]:
    """HTML for blocks, with consecutive warnings (text, list, command) in one box."""
    out: list[str] = []
    box: list[str] = []
    for i, b in enumerate(blocks):
        is_warn = getattr(b, "kind", None) == "warn" or (
            isinstance(b, Code) and i > 0 and getattr(blocks[i - 1], "kind", None) == "warn")
        if is_warn:
            if isinstance(b, Text):
                box.append(f'<p class="warn">{_e(b.text)}</p>')
            else:
                box.append(_block_html(b))
            continue
        if box:
            out.append('<div class="warnbox">' + "".join(box) + "</div>")
            box = []
        out.append(_block_html(b))
    if box:
        out.append('<div class="warnbox">' + "".join(box) + "</div>")
    return out

def render_html(report: Report) -> str:
    """One self-contained HTML page: embedded CSS and PNGs, no scripts, no network."""
    toc = "".join(
        f'<li><a href="#{_e(s.id)}">{_e(s.title)}</a>'
        + (f' <span class="badge {_e(s.status.replace(" ", "-"))}">{_e(s.status)}</span>'
           if s.status != "summary" else "") + "</li>"
        for s in report.sections)
    body = []
    for s in report.sections:
        badge = (f' <span class="badge {_e(s.status.replace(" ", "-"))}">{_e(s.status)}</span>'
                 if s.status != "summary" else "")
        body.append(f'<section id="{_e(s.id)}"><h2>{_e(s.title)}{badge}</h2>'
                    + "\n".join(_wrap_warnings(s.blocks)) + "</section>")
    how = ("How to read: accuracies are in percent; mean ± std is over seeds (sample std), "
           "[a, b] is the 95% Student-t interval of the mean. Comparisons use final test "
           "accuracy, paired on the seeds both configurations share, with Holm-corrected "
           "p-values within each table; 'within seed-to-seed spread' means the data cannot "
           "tell the two apart. Error = 1 - accuracy.")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(report.title)}</title><style>{_CSS}</style></head><body><main>"
        f"<header><h1>{_e(report.title)}</h1><p>Store: <code>{_e(report.store_path)}</code>"
        f"</p><p>Built {_e(report.created)} by sweeplab {_e(__version__)}.</p></header>"
        f'<p class="note">{_e(how)}</p>'
        f"<nav><h2>Contents</h2><ol>{toc}</ol></nav>"
        + "\n".join(body) + "</main></body></html>\n")
