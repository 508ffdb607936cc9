"""What every exporter shares: the runs it writes (the readout's views), a run's key in
every target, safe names, axis values and config params, the summary of what it did,
and the one-line error for a missing extra."""

from __future__ import annotations

import importlib
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sweeplab import spec as S
from sweeplab.errors import FieldError
from sweeplab.extras import missing_extra
from sweeplab.outputs import safe_name  # re-exported: one place makes names
from sweeplab.readout import StudyView, read_config, read_study
from sweeplab.store import Store

__all__ = [
    "METRICS", "owner_alive", "study_names", "this_writer", "ExportError",
    "ExportSummary", "axis_value", "config_params", "require", "run_key",
    "safe_name", "study_exports"
]

# The metrics every target gets, per epoch: (name, EpochRecord field). Epoch 0 (the untrained
# model) has only the test numbers.
METRICS: tuple[tuple[str, str], ...] = (
    ("train/loss", "train_loss"), ("train/accuracy", "train_acc"),
    ("test/loss", "test_loss"), ("test/accuracy", "test_acc"))


class ExportError(FieldError):
    """An export cannot be done (a missing extra, an unknown study). One line for the user."""


def require(module: str, extra: str, what: str) -> Any:
    """Import an optional dependency, or say in one line which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        package = (err.name or module).split(".")[0]  # a dependency of it, maybe
        raise ExportError(missing_extra(what, f"the {package} package", extra)) from err


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


config_export = read_config  # one config's finished runs of ``seeds`` (all when None)


def study_exports(store: Store, studies: Sequence[str] | None = None) -> list[StudyView]:
    """What to export: each study's configs with the finished runs of the study's seeds
    (the seeds ``ls`` and the report count).

    Raises:
        ExportError: a study the store does not have.
    """
    return [read_study(store, name) for name in study_names(store, studies)]


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


