"""A report as data: the studies it covers, each study's section, the summaries."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any

from sweeplab.readout import StudyView, read_study
from sweeplab.report.assignment import INTRO, cifar_intro, figure_blocks, summaries_after
from sweeplab.report.blocks import Block, Plot, Report, Section
from sweeplab.report.diagnostics import diagnostic_blocks
from sweeplab.report.sections import (
    comparison_blocks,
    config_table,
    confusion_blocks,
    spread_statement,
    what_was_run,
)
from sweeplab.store import Store
from sweeplab.study import ASSIGNMENT_ORDER, BUILTIN


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
