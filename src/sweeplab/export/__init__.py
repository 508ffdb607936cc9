"""Exports of a store to the tools people already read: TensorBoard, MLflow, CSV/Parquet.

The store stays the record; an export is a copy that can be made again. Every exporter
reads the same thing, :func:`study_exports` (a study's configs with their finished runs),
and is idempotent: a run already in the target is left alone, a run left half-written
by a killed live logger is replaced, and only the runs the target lacks are added.

Layout, shared by the exports and the live listeners (:mod:`sweeplab.export.live`):

- TensorBoard: ``DIR/STUDY/CONFIG_LABEL/seed_N`` (one event-file directory per run);
- MLflow: one experiment per study, one parent run per config, one nested run per seed;
- tables: ``DIR/runs.{csv,parquet}`` and ``DIR/epochs.{csv,parquet}``.
"""

from __future__ import annotations

import importlib
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sweeplab import spec as S
from sweeplab.names import safe_name  # noqa: F401  (re-exported: one place makes names)
from sweeplab.results import RunResult
from sweeplab.store import RunRow, Store

__all__ = [
    "ConfigExport",
    "ExportError",
    "ExportSummary",
    "StudyExport",
    "axis_value",
    "config_params",
    "require",
    "run_export",
    "run_key",
    "safe_name",
    "study_exports",
]

# The metrics every target gets, per epoch: (name, EpochRecord field). Epoch 0 (the untrained
# model) has only the test numbers.
METRICS: tuple[tuple[str, str], ...] = (
    ("train/loss", "train_loss"), ("train/accuracy", "train_acc"),
    ("test/loss", "test_loss"), ("test/accuracy", "test_acc"))


class ExportError(Exception):
    """An export cannot be done (a missing extra, an unknown study). One line for the user."""


def require(module: str, extra: str, what: str) -> Any:
    """Import an optional dependency, or say in one line which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ExportError(f"{what} needs the {module.split('.')[0]} package, which is not "
                          f"installed ({err}). Install it with: pip install "
                          f"'sweeplab[{extra}]'") from err


def run_key(config_hash: str, seed: int) -> str:
    """The identity of a run in every target (MLflow tag, TensorBoard marker)."""
    return f"{config_hash}:{seed}"


def axis_value(label: str) -> int | float | str:
    """An axis value label as a number where it is one ("32" -> 32, "0.001" -> 0.001), so
    TensorBoard and tables can order and plot it; other labels stay text."""
    for kind in (int, float):
        try:
            return kind(label)
        except ValueError:
            pass
    return label


def owner_alive(writer: str | None) -> bool:
    """Whether a live logger ("HOST:PID") is still running on this host. A writer on another
    host cannot be checked and counts as gone: the store, not the logger, is the record."""
    if not writer or ":" not in writer:
        return False
    host, _, pid = writer.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def this_writer() -> str:
    """This process as a live logger, "HOST:PID"."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class ConfigExport:
    """One config of a study with its finished runs: what every exporter writes."""

    study: str  # study name
    config_hash: str  # sweeplab.spec.config_hash
    label: str  # e.g. "width=32"
    axes: dict[str, str]  # axis name -> value label
    config: dict[str, Any]  # the config as stored (sweeplab.spec.config_to_dict form)
    runs: tuple[RunResult, ...]  # finished runs with a seed of the study, by seed
    rows: dict[int, RunRow] = field(default_factory=dict)  # seed -> bookkeeping (times, host)


@dataclass(frozen=True)
class StudyExport:
    """A study and its configs, in grid order."""

    name: str
    definition: dict[str, Any]  # the study as last run (sweeplab.study.study_to_dict)
    configs: tuple[ConfigExport, ...]

    @property
    def n_runs(self) -> int:
        return sum(len(c.runs) for c in self.configs)


def study_names(store: Store, studies: Sequence[str] | None = None) -> list[str]:
    """The named studies (all in the store when None), checked against the store.

    Raises:
        ExportError: a study the store does not have.
    """
    have = [s.name for s in store.studies()]
    if not studies:
        return have
    for name in studies:
        if name not in have:
            raise ExportError(f"study {name!r} is not in {store.path}. Studies there: "
                              f"{', '.join(have) or 'none'}.")
    return list(dict.fromkeys(studies))


def config_export(store: Store, study: str, config_hash: str, label: str,
                  axes: dict[str, str], seeds: Sequence[int] | None = None) -> ConfigExport:
    """One config's finished runs (those with a seed in ``seeds``; all when None)."""
    _, cfg = store.config(config_hash)
    keep = None if seeds is None else set(seeds)
    runs = tuple(r for r in store.results(config_hash) if keep is None or r.seed in keep)
    rows = {r.seed: r for r in store.run_rows(config_hash)}
    return ConfigExport(study, config_hash, label, dict(axes), cfg, runs, rows)


def study_exports(store: Store, studies: Sequence[str] | None = None) -> list[StudyExport]:
    """What to export: each study's configs with the finished runs of the study's seeds
    (the seeds ``ls`` and the report count).

    Raises:
        ExportError: a study the store does not have.
    """
    out = []
    for name in study_names(store, studies):
        row = store.study(name)
        assert row is not None  # study_names checked it
        seeds = [int(s) for s in row.definition.get("seeds", [])]
        configs = tuple(config_export(store, name, c.config_hash, c.label, c.axes, seeds)
                        for c in store.study_configs(name))
        out.append(StudyExport(name, row.definition, configs))
    return out


def config_params(config: dict[str, Any], axes: dict[str, str]) -> dict[str, Any]:
    """The values that tell configs apart, flat: the axis values under their axis names,
    then the config's main fields. An axis named like a field wins; the field is then kept
    as ``config.FIELD`` when its value differs."""
    out: dict[str, Any] = {name: axis_value(v) for name, v in axes.items()}
    try:
        model = S.describe(S.config_from_dict(config))
    except Exception:  # an old or odd config still exports its plain fields
        model = ""
    opt = config.get("optimizer") or {}
    fields = {
        "dataset": config.get("dataset"),
        "subset": config.get("subset") if config.get("subset") is not None else "all",
        "epochs": config.get("epochs"),
        "batch_size": config.get("batch_size"),
        "loss": config.get("loss"),
        "optimizer": opt.get("name", "adam"),
        "learning_rate": opt.get("learning_rate", 0.001),
        "model": model,
    }
    for key, value in fields.items():
        if value is None or value == "":
            continue
        if key not in out:
            out[key] = value
        elif str(out[key]) != str(value):
            out[f"config.{key}"] = value
    return out


@dataclass
class ExportSummary:
    """What one export did."""

    target: str  # "tensorboard", "mlflow", "csv", "parquet"
    where: str  # the directory or tracking URI written to
    added: int = 0  # runs written by this call
    present: int = 0  # runs the target already had complete
    replaced: int = 0  # half-written runs (a killed live logger) written again
    busy: int = 0  # runs a live logger of a running process is still writing: left to it
    files: list[str] = field(default_factory=list)  # files written (tables)

    def line(self) -> str:
        parts = [f"{self.added} run(s) added"]
        if self.replaced:
            parts.append(f"{self.replaced} of them replacing a half-written one")
        parts.append(f"{self.present} already there")
        if self.busy:
            parts.append(f"{self.busy} still being logged live by another process")
        files = f"; wrote {', '.join(self.files)}" if self.files else ""
        return f"{self.target}: {', '.join(parts)} ({self.where}){files}"


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
