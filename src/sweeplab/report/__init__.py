"""The report: every study in a store, with its plots, numbers, uncertainty and verdicts.

:func:`build_report` reads the store through :mod:`sweeplab.readout` (never trains) into
plain blocks (blocks.py); :func:`render_html` / :func:`render_markdown` escape every string
and draw the plots; :func:`write_report` writes one self-contained HTML file (no scripts,
no network) or a Markdown file with its PNGs beside it.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sweeplab.outputs import write_whole
from sweeplab.readout import StudyView, read_study
from sweeplab.report.assignment import INTRO, cifar_intro, figure_blocks, summaries_after
from sweeplab.report.blocks import Block, Bullets, Code, Plot, Report, Section, Table, Text
from sweeplab.report.diagnostics import diagnostic_blocks
from sweeplab.report.html import render_html
from sweeplab.report.markdown import render_markdown
from sweeplab.report.outcomes import outcome_blocks
from sweeplab.report.sections import (
    best_config,
    comparison_blocks,
    config_table,
    confusion_blocks,
    run_command,
    spread_statement,
    what_was_run,
)
from sweeplab.report.seeds import seed_blocks
from sweeplab.store import Store
from sweeplab.study import ASSIGNMENT_ORDER, BUILTIN

__all__ = [
    "Block", "Bullets", "Code", "Plot", "Report", "Section", "Table", "Text", "build_report",
    "render_html", "render_markdown", "resolve_studies", "run_command", "study_figures",
    "write_report"
]

def resolve_studies(store: Store, studies: Sequence[str] | None = None) -> list[str]:
    """The study names a report covers, in assignment order, then others alphabetically.

    ``None`` means every study in the store. A built-in study that is not in the store
    is allowed (its section says how to run it).

    Raises:
        ValueError: names that are neither in the store nor built in.
    """
    in_store = [s.name for s in store.studies()]
    if studies is None:
        wanted = list(in_store)
    else:
        wanted = list(dict.fromkeys(studies))
        unknown = [n for n in wanted if n not in in_store and n not in BUILTIN]
        if unknown:
            raise ValueError(
                f"Unknown stud{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}: not "
                f"in {store.path} (it has: {', '.join(in_store) or 'no studies'}) and not "
                f"built in ({', '.join(ASSIGNMENT_ORDER)}).")
    order = {n: i for i, n in enumerate(ASSIGNMENT_ORDER)}
    return sorted(wanted, key=lambda n: (0, order[n], "") if n in order else (1, 0, n))


def study_section(sd: StudyView, store_path: str, data_dir: str | None) -> Section:
    """One study's section: what was run, its figures, numbers, diagnostics, comparisons."""
    title = str(sd.definition.get("title") or sd.name)
    counter = [0]

    def pid(kind: str) -> str:
        counter[0] += 1
        return f"{sd.name}-{counter[0]:02d}-{kind}"

    blocks: list[Block] = what_was_run(sd, store_path, data_dir)
    if sd.damaged:  # named, never read (sweeplab.store checksums)
        blocks.append(Bullets(sd.damaged, "warn"))
    if sd.search is not None and sd.with_runs:
        from sweeplab.report.search import search_blocks

        blocks += search_blocks(sd, store_path)
    if not sd.with_runs:
        return Section(sd.name, title, sd.status, tuple(blocks))
    base = sd.baseline if sd.baseline and sd.baseline.runs else sd.with_runs[0]
    blocks += figure_blocks(sd, base, pid, data_dir)
    blocks.append(config_table(sd))
    spread = spread_statement(sd)
    if spread:
        blocks.append(spread)
    blocks += diagnostic_blocks(sd, pid)  # why runs differ, whether they learn, flags
    blocks += comparison_blocks(sd)
    blocks += seed_blocks(sd, pid)  # what the seeds can tell (noise floor, power, P(b>a))
    blocks += outcome_blocks(sd, pid, data_dir, base if len(sd.configs) == 1
                             else best_config(sd))  # test set's variance, ensembles, churn
    if sd.kind != INTRO:
        blocks += confusion_blocks(sd, pid)
    return Section(sd.name, title, sd.status, tuple(blocks))


def study_figures(store: Store, study: str, data_dir: str | None = None) -> dict[str, Any]:
    """The figures of one study's section, drawn: {name: matplotlib Figure}."""
    section = study_section(read_study(store, study), str(store.path), data_dir)
    return {b.name: b.draw(b.record) for b in section.blocks if isinstance(b, Plot)}


def build_report(store: Store, studies: Sequence[str] | None = None,
                 data_dir: str | None = None) -> Report:
    """Everything the report shows, as data. Reads the store; never trains.

    Raises:
        ValueError: unknown study names (see :func:`resolve_studies`).
    """
    names = resolve_studies(store, studies)
    store_path = str(store.path)
    loaded = {n: read_study(store, n) for n in names}
    sections: list[Section] = []
    cifar = studies is None or any(sd.dataset == "cifar10" for sd in loaded.values())
    cifar_done = False
    for n in names:
        sd = loaded[n]
        if cifar and not cifar_done and (sd.dataset == "cifar10" or n not in BUILTIN):
            sections.append(cifar_intro(data_dir))
            cifar_done = True
        sections.append(study_section(sd, store_path, data_dir))
        sections += summaries_after(n, names, loaded)
    if cifar and not cifar_done:
        sections.append(cifar_intro(data_dir))
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return Report("sweeplab report", store_path, created, tuple(sections))


FORMATS = ("html", "md")

def write_report(store: Store, out: str | Path, studies: Sequence[str] | None = None,
                 fmt: str = "html", data_dir: str | None = None) -> Path:
    """Build the report of ``studies`` (None = all) and write it; return the file written.

    ``out`` is the HTML file for ``fmt="html"``; for ``fmt="md"`` a ``.md`` file (its PNGs in
    ``<stem>_files/`` beside it) or a folder (``report.md`` and ``img/``).

    Raises:
        ValueError: unknown study names, or a bad ``fmt``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}. Received: fmt={fmt!r}")
    out = Path(out)
    report = build_report(store, studies, data_dir)
    if fmt == "html":
        out.parent.mkdir(parents=True, exist_ok=True)
        write_whole(out, render_html(report))  # whole or not at all (outputs.write_whole)
        return out
    if out.suffix == ".md":
        md_path, image_dir = out, out.parent / f"{out.stem}_files"
    else:
        md_path, image_dir = out / "report.md", out / "img"
    image_dir.mkdir(parents=True, exist_ok=True)
    text, files = render_markdown(report, image_dir.name)
    for name, content in files.items():
        write_whole(image_dir / name, content)
    write_whole(md_path, text)
    return md_path
