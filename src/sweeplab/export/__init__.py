"""Exports of a store to TensorBoard, MLflow and CSV/Parquet.

The store stays the record; an export is a copy that can be made again. Every exporter reads
:func:`study_exports` and is idempotent: runs already in the target are left alone, runs a
killed live logger left half-written are replaced, only missing runs are added.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from sweeplab.export.base import *  # noqa: F403 (the names every exporter shares)
from sweeplab.export.base import ExportError, ExportSummary
from sweeplab.export.base import __all__ as _shared
from sweeplab.store import Store

__all__ = [*_shared, "TARGETS", "run_export"]

TARGETS = ("tensorboard", "mlflow", "csv", "parquet")


def run_export(store: Store, target: str, dest: str | os.PathLike,
               studies: Sequence[str] | None = None) -> ExportSummary:
    """Export ``studies`` (all when None) of ``store`` to one target (:data:`TARGETS`):
    a TensorBoard log directory, an MLflow tracking URI, or a directory for the tables.

    Raises:
        ExportError: a missing extra, a study the store does not have, an unusable tracking
            URI or output directory.
        ValueError: an unknown target.
    """
    if target == "mlflow":
        from sweeplab.export.mlflow import export_mlflow

        return export_mlflow(store, str(dest), studies)
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}. Received: {target!r}")
    if not str(dest).strip():
        raise ExportError(f"the {target} output directory is empty. Give one, e.g. "
                          f"exports/{target}")
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise ExportError(f"the {target} output directory {str(dest)!r} is a file. Give a "
                          f"directory (it is created when missing).")
    try:
        if target == "tensorboard":
            from sweeplab.export.tensorboard import export_tensorboard

            return export_tensorboard(store, dest, studies)
        from sweeplab.export.tables import export_tables

        return export_tables(store, dest, target, studies)
    except OSError as err:  # a read-only disk, a full one, a file where a folder goes
        raise ExportError(f"cannot write the {target} export under {str(dest)!r}: "
                          f"{err.strerror or err} ({err.filename or dest}). Runs exported "
                          f"before this stay complete; the next export adds the rest.") from err
