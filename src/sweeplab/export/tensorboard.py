"""Runs as TensorBoard event files, written with TensorBoard's own pure-Python writer (no
TensorFlow needed).

Layout: ``DIR/STUDY/CONFIG_LABEL/seed_N`` per run: ``train/loss``, ``train/accuracy``,
``test/loss``, ``test/accuracy`` at their epoch steps (epoch 0: test only) and the axis
values as HParams; all seeds of a config share one session group ``STUDY/CONFIG_LABEL``.

TensorBoard's (Rust) loader shows only float32 scalars and drops every point from a step
at or below the last one ("preemption"); epoch 0 arrives with the finished run, so a live
run's file is written again whole and in order when the run finishes.

``sweeplab-run.json`` in a run directory (its key ``CONFIGHASH:SEED``, complete or which
process writes it) makes exports idempotent and lets an export replace what a killed live
logger left half-written; ``sweeplab-config.json`` holds the config hash, so a different
config with the same label goes to ``LABEL@HASH8``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sweeplab.export.base import (
    METRICS,
    ExportSummary,
    axis_value,
    owner_alive,
    require,
    run_key,
    safe_name,
    study_exports,
    this_writer,
)
from sweeplab.outputs import child, within
from sweeplab.readout import ConfigView
from sweeplab.results import EpochRecord, RunResult
from sweeplab.store import Store

RUN_MARKER = "sweeplab-run.json"
CONFIG_MARKER = "sweeplab-config.json"
EVENTS_PREFIX = "events.out.tfevents."

__all__ = ["RunWriter", "config_dir", "export_tensorboard", "hparams_of", "run_state",
           "write_complete"]


def tb_modules() -> Any:
    """TensorBoard's writer and protos (the ``tensorboard`` extra)."""
    require("tensorboard", "tensorboard", "TensorBoard export")
    from tensorboard.compat.proto import (
        event_pb2,
        summary_pb2,
        tensor_pb2,
        tensor_shape_pb2,
        types_pb2,
    )
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2, summary_v2
    from tensorboard.plugins.hparams import metadata as hp_metadata
    from tensorboard.plugins.scalar import metadata as scalar_metadata
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    class _NS:
        pass

    ns = _NS()
    for name, value in dict(event_pb2=event_pb2, summary_pb2=summary_pb2,
                            tensor_pb2=tensor_pb2, tensor_shape_pb2=tensor_shape_pb2,
                            types_pb2=types_pb2, api_pb2=api_pb2,
                            plugin_data_pb2=plugin_data_pb2, summary_v2=summary_v2,
                            hp_metadata=hp_metadata, scalar_metadata=scalar_metadata,
                            EventFileWriter=EventFileWriter).items():
        setattr(ns, name, value)
    return ns


def hparams_of(study: str, label: str, axes: Mapping[str, str]) -> dict[str, Any]:
    """The hyper-parameters TensorBoard shows for a config: its study and axis values
    (numbers where the labels are numbers), or its label when the study has no axes."""
    out: dict[str, Any] = {"study": study}
    if axes:
        out.update({name: axis_value(v) for name, v in axes.items() if name != "study"})
    else:
        out["config"] = label
    return out


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, sort_keys=True, indent=1))
        os.replace(tmp, path)  # atomic: a reader sees the old marker or the new one
    finally:
        tmp.unlink(missing_ok=True)  # a full disk leaves no 0-byte temp file behind


def config_dir(logdir: str | os.PathLike, study: str, label: str, config_hash: str) -> Path:
    """The directory of a config's runs, claimed for ``config_hash``.

    ``DIR/STUDY/LABEL``, or ``LABEL@HASH8`` when that name already holds another config.
    """
    base = child(logdir, study)
    for name in (safe_name(label), f"{safe_name(label, 70)}@{config_hash[:8]}"):
        d = within(logdir, base / name)
        marker = _read_json(d / CONFIG_MARKER)
        if marker is None:
            d.mkdir(parents=True, exist_ok=True)
            _write_json(d / CONFIG_MARKER, {"config_hash": config_hash, "label": label,
                                            "study": study})
            return d
        if marker.get("config_hash") == config_hash:
            return d
    return base / f"{safe_name(label, 70)}@{config_hash}"  # a 32-bit prefix clash: full hash


def run_state(run_dir: Path, key: str) -> str:
    """``absent``, ``complete``, ``busy`` (a live logger of a running process writes it) or
    ``partial`` (left half-written: a killed live logger, or files without a marker)."""
    marker = _read_json(run_dir / RUN_MARKER)
    has_events = run_dir.is_dir() and any(p.name.startswith(EVENTS_PREFIX)
                                          for p in run_dir.iterdir())
    if marker is None:
        return "partial" if has_events else "absent"
    if marker.get("key") == key and marker.get("complete"):
        return "complete"
    if marker.get("key") == key and owner_alive(marker.get("writer")):
        return "busy"
    return "partial"


def clear_run(run_dir: Path) -> None:
    """Remove what sweeplab wrote for a run (its event files and marker), nothing else."""
    if not run_dir.is_dir():
        return
    for p in run_dir.iterdir():
        if p.name.startswith(EVENTS_PREFIX) or p.name == RUN_MARKER:
            p.unlink()


def _wall(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return _dt.datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


class RunWriter:
    """Writes one run's event file: hyper-parameters, then epochs, then the end marker.

    Args:
        run_dir: the run's directory (created).
        key: the run's key (:func:`sweeplab.export.run_key`).
        hparams: hyper-parameter name -> value (:func:`hparams_of`).
        group: the HParams session group (all seeds of a config share it).
        start: the run's start, seconds since the epoch (default: now).
    """

    def __init__(self, run_dir: Path, key: str, hparams: Mapping[str, Any], group: str,
                 start: float | None = None):
        self.tb = tb_modules()
        self.run_dir = Path(run_dir)
        self.key = key
        self.start = time.time() if start is None else start
        self.steps: set[int] = set()
        self.times: dict[int, float] = {}  # epoch -> wall time it was written with
        self.run_dir.mkdir(parents=True, exist_ok=True)
        _write_json(self.run_dir / RUN_MARKER, {"key": key, "complete": False,
                                                "writer": this_writer()})
        self._writer = self.tb.EventFileWriter(str(self.run_dir), max_queue_size=64,
                                               flush_secs=5)
        pb = self.tb.summary_v2.hparams_pb(dict(hparams), trial_id=group,
                                           start_time_secs=self.start)
        self._writer.add_event(self.tb.event_pb2.Event(wall_time=self.start, step=0, summary=pb))

    def _value(self, tag: str, value: float) -> Any:
        tb = self.tb
        # float32, as tf.summary.scalar writes: TensorBoard's Rust loader shows no float64
        # scalar at all. A reader gets the store's number rounded to the nearest float32.
        tensor = tb.tensor_pb2.TensorProto(dtype=tb.types_pb2.DT_FLOAT, float_val=[value],
                                           tensor_shape=tb.tensor_shape_pb2.TensorShapeProto())
        meta = tb.scalar_metadata.create_summary_metadata(display_name=tag, description="")
        return tb.summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=meta)

    def epoch(self, record: EpochRecord, wall_time: float | None = None) -> None:
        """Write one epoch's metrics at step ``record.epoch`` (once per epoch)."""
        if record.epoch in self.steps:
            return
        values = [self._value(tag, float(v)) for tag, name in METRICS
                  if (v := getattr(record, name)) is not None]
        wall_time = time.time() if wall_time is None else wall_time
        event = self.tb.event_pb2.Event(wall_time=wall_time, step=record.epoch,
                                        summary=self.tb.summary_pb2.Summary(value=values))
        self._writer.add_event(event)
        self._writer.flush()  # a run killed after this epoch still shows it
        self.steps.add(record.epoch)
        self.times[record.epoch] = wall_time

    def finish(self, result: RunResult | None = None, end: float | None = None) -> None:
        """Write any epochs of ``result`` not written yet, the HParams end, and mark the run
        complete."""
        tb = self.tb
        if result is not None:
            for e in result.epochs:
                self.epoch(e, wall_time=end)
        end = time.time() if end is None else end
        info = tb.plugin_data_pb2.HParamsPluginData(session_end_info=tb.plugin_data_pb2
                                                    .SessionEndInfo(status=tb.api_pb2
                                                                    .STATUS_SUCCESS,
                                                                    end_time_secs=end))
        pb = tb.summary_pb2.Summary()
        pb.value.add(tag=tb.hp_metadata.SESSION_END_INFO_TAG,
                     metadata=tb.hp_metadata.create_summary_metadata(info),
                     tensor=tb.hp_metadata.NULL_TENSOR)
        self._writer.add_event(tb.event_pb2.Event(wall_time=end, step=max(self.steps,
                                                                           default=0),
                                                  summary=pb))
        self._writer.close()
        _write_json(self.run_dir / RUN_MARKER, {"key": self.key, "complete": True,
                                                "epochs": sorted(self.steps)})

    def close(self) -> None:
        """Close without marking complete (the run did not finish)."""
        self._writer.close()


def write_complete(run_dir: Path, key: str, hparams: Mapping[str, Any], group: str,
                   result: RunResult, start: float | None = None,
                   times: Mapping[int, float] | None = None) -> None:
    """A finished run's whole event file, epochs in increasing order (replacing what the
    directory held for the run). Wall times: ``times[epoch]`` where given (a live run's),
    else the run's start plus the stored epoch durations."""
    clear_run(run_dir)
    w = RunWriter(run_dir, key, hparams, group, start)
    t = w.start
    for e in sorted(result.epochs, key=lambda e: e.epoch):
        t += e.seconds if math.isfinite(e.seconds) else 0.0
        t = (times or {}).get(e.epoch, t)
        w.epoch(e, wall_time=t)
    w.finish(end=t)


def write_run(cdir: Path, c: ConfigView, result: RunResult) -> None:
    """One finished run from the store into ``cdir/seed_N``, wall times from the store."""
    row = c.rows.get(result.seed)
    write_complete(cdir / f"seed_{result.seed}", run_key(c.config_hash, result.seed),
                   hparams_of(c.study, c.label, c.axes), f"{c.study}/{c.label}", result,
                   _wall(row.started_at if row else None))


def export_tensorboard(store: Store, logdir: str | os.PathLike,
                       studies: Sequence[str] | None = None) -> ExportSummary:
    """Write every finished run of ``studies`` (all when None) that ``logdir`` lacks.

    Raises:
        ExportError: the tensorboard extra is missing, or a study is not in the store.
    """
    tb_modules()  # a missing extra is said before anything is written
    out = ExportSummary("tensorboard", str(logdir))
    for sx in study_exports(store, studies):
        for c in sx.configs:
            if not c.runs:
                continue
            cdir = config_dir(logdir, sx.name, c.label, c.config_hash)
            for r in c.runs:
                run_dir = cdir / f"seed_{r.seed}"
                state = run_state(run_dir, run_key(c.config_hash, r.seed))
                if state == "complete":
                    out.present += 1
                    continue
                if state == "busy":
                    out.busy += 1
                    continue
                if state == "partial":
                    clear_run(run_dir)
                    out.replaced += 1
                write_run(cdir, c, r)
                out.added += 1
    return out
