"""The runs and epochs tables as CSV or Parquet files, in long format.

- ``runs``: one row per finished run: study, config hash and label, one column per axis
  (numbers where the values are numbers), seed, engine/backend/device/node, times, and the
  final epoch's metrics;
- ``epochs``: one row per run and epoch (epoch 0 = the untrained model, no training
  numbers), with the same identifying columns.

Both are written whole each time (to a temporary file, then renamed), so running an
export twice leaves the same files, and a study that gained runs gains just their rows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sweeplab.export import ExportSummary, axis_value, require, study_exports
from sweeplab.store import Store

__all__ = ["FORMATS", "epochs_frame", "export_tables", "runs_frame"]

FORMATS = ("csv", "parquet")
ID_COLUMNS = ("study", "config_hash", "label")
EPOCH_FIELDS = ("train_loss", "train_acc", "test_loss", "test_acc", "seconds")
RUN_COLUMNS = ("seed", "engine", "backend", "device", "node", "started_at", "finished_at",
               "wall_seconds", "epochs", "final_train_loss", "final_train_acc",
               "final_test_loss", "final_test_acc")


def _axis_columns(frame: pd.DataFrame, axes: list[str]) -> pd.DataFrame:
    """One type per axis column: numbers when every value is a number, else text
    (Parquet needs one type per column; studies with the same axis may differ)."""
    for name in axes:
        values = [v for v in frame[name] if v is not None and v == v]
        if values and not all(isinstance(v, (int, float)) for v in values):
            frame[name] = frame[name].map(lambda v: None if v is None or v != v else str(v))
        else:
            frame[name] = pd.to_numeric(frame[name])
    return frame


def _axis_name(name: str, taken: set[str]) -> str:
    return f"axis_{name}" if name in taken else name


def _frames(store: Store, studies: Sequence[str] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs: list[dict[str, Any]] = []
    epochs: list[dict[str, Any]] = []
    axes: list[str] = []
    taken = set(ID_COLUMNS) | set(RUN_COLUMNS) | set(EPOCH_FIELDS) | {"epoch"}
    for sx in study_exports(store, studies):
        for c in sx.configs:
            ident: dict[str, Any] = {"study": sx.name, "config_hash": c.config_hash,
                                     "label": c.label}
            for name, label in c.axes.items():
                col = _axis_name(name, taken)
                if col not in axes:
                    axes.append(col)
                ident[col] = axis_value(label)
            for r in c.runs:
                row = c.rows.get(r.seed)
                final = r.final
                runs.append({**ident, "seed": r.seed, "engine": r.engine,
                             "backend": r.backend or None, "device": r.device or None,
                             "node": r.node or None,
                             "started_at": row.started_at if row else None,
                             "finished_at": row.finished_at if row else None,
                             "wall_seconds": r.wall_seconds, "epochs": final.epoch,
                             "final_train_loss": final.train_loss,
                             "final_train_acc": final.train_acc,
                             "final_test_loss": final.test_loss,
                             "final_test_acc": final.test_acc})
                for e in r.epochs:
                    epochs.append({**ident, "seed": r.seed, "epoch": e.epoch,
                                   **{f: getattr(e, f) for f in EPOCH_FIELDS}})
    head = [*ID_COLUMNS, *axes]
    run_df = pd.DataFrame(runs, columns=[*head, *RUN_COLUMNS])
    epoch_df = pd.DataFrame(epochs, columns=[*head, "seed", "epoch", *EPOCH_FIELDS])
    for df in (run_df, epoch_df):
        _axis_columns(df, axes)
        df["seed"] = df["seed"].astype("int64")
    epoch_df["epoch"] = epoch_df["epoch"].astype("int64")
    run_df["epochs"] = run_df["epochs"].astype("int64")
    for col in ("train_loss", "train_acc"):  # epoch 0 has none: float with NaN, not object
        epoch_df[col] = pd.to_numeric(epoch_df[col])
    return run_df, epoch_df


def runs_frame(store: Store, studies: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per finished run of ``studies`` (all when None)."""
    return _frames(store, studies)[0]


def epochs_frame(store: Store, studies: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per finished run and epoch of ``studies`` (all when None)."""
    return _frames(store, studies)[1]


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
    """Write ``runs.FMT`` and ``epochs.FMT`` for ``studies`` (all when None) into ``outdir``.

    Raises:
        ExportError: pyarrow is missing for Parquet, or a study is not in the store.
        ValueError: an unknown format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}. Received: {fmt!r}")
    if fmt == "parquet":
        require("pyarrow", "parquet", "Parquet export")
    out_dir = Path(outdir)
    run_df, epoch_df = _frames(store, studies)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(fmt, str(out_dir))
    before = _existing_runs(out_dir / f"runs.{fmt}", fmt)
    for name, df in (("runs", run_df), ("epochs", epoch_df)):
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
