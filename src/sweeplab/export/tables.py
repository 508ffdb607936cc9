"""The runs, epochs, outcomes (and search) tables as CSV or Parquet, in long format: the
frames of :mod:`sweeplab.readout`, the columns of ``Results.runs()``, ``epochs()``,
``outcomes_frame()`` and ``search()``, with the study as first column.

Each file is written whole (a temporary file, then renamed), so an export run twice
leaves the same files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from sweeplab.export.base import ExportSummary, require, study_exports
from sweeplab.readout import epochs_frame, outcomes_frame, runs_frame, search_frame
from sweeplab.store import Store

__all__ = ["FORMATS", "export_tables"]

FORMATS = ("csv", "parquet")


def _write(df: pd.DataFrame, path: Path, fmt: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if fmt == "csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False, engine="pyarrow")
        os.replace(tmp, path)  # a reader never sees half a file
    finally:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written temp file


def export_tables(store: Store, outdir: str | os.PathLike, fmt: str = "csv",
                  studies: Sequence[str] | None = None) -> ExportSummary:
    """Write ``runs.FMT``, ``epochs.FMT``, ``outcomes.FMT`` (and ``search.FMT``) for
    ``studies`` (all when None) into ``outdir``.

    Raises:
        ExportError: pyarrow is missing for Parquet, or a study is not in the store.
        ValueError: an unknown format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}. Received: {fmt!r}")
    if fmt == "parquet":
        require("pyarrow", "parquet", "Parquet export")
    out_dir = Path(outdir)
    views = study_exports(store, studies)
    configs = [c for v in views for c in v.configs]
    run_df, epoch_df = runs_frame(configs), epochs_frame(configs)
    searches = [search_frame(v).assign(study=v.name) for v in views if v.search is not None]
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(fmt, str(out_dir))
    before = _existing_runs(out_dir / f"runs.{fmt}", fmt)
    tables = [("runs", run_df), ("epochs", epoch_df), ("outcomes", outcomes_frame(configs))]
    if searches:  # the candidates of every search exported, study first
        df = pd.concat(searches, ignore_index=True)
        tables.append(("search", df[["study", *[c for c in df.columns if c != "study"]]]))
    for name, df in tables:
        path = out_dir / f"{name}.{fmt}"
        _write(df, path, fmt)
        summary.files.append(str(path))
    keys = set(zip(run_df["config_hash"], run_df["seed"], strict=True))
    summary.present = len(keys & before)
    summary.added = len(keys - before)
    return summary


def _existing_runs(path: Path, fmt: str) -> set[tuple[str, int]]:
    """The (config hash, seed) pairs an earlier export wrote, to say what is new."""
    if not path.is_file():
        return set()
    try:
        df = (pd.read_csv(path, usecols=["config_hash", "seed"], dtype={"config_hash": str})
              if fmt == "csv" else pd.read_parquet(path, columns=["config_hash", "seed"]))
    except Exception:  # not ours or damaged: it is replaced, and every run counts as added
        return set()
    return set(zip(df["config_hash"], df["seed"].astype(int), strict=True))
