"""Live logging: run listeners that write each epoch to MLflow or TensorBoard as it ends.

Same layout as the exports, so an export after a live-logged study adds nothing. Epoch 0
arrives with the finished run. A run left half-logged by a killed process is replaced when
trained again or exported. A failing server or disk never costs a trained run: one line on
stderr, logging stops, the store keeps everything.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sweeplab.export.base import ExportError, config_export, run_key
from sweeplab.outputs import check_dir_destination, full_disk_error
from sweeplab.results import EpochRecord, RunResult
from sweeplab.store import Store
from sweeplab.study import PlannedConfig, Study

__all__ = ["MlflowLogger", "TensorBoardLogger", "live_listeners"]


class _Guarded:
    """Stops a listener at its first error instead of failing the run being trained."""

    name = "live logging"
    failed = False
    where = ""  # the log directory or tracking URI, named when the disk is full

    def _guard(self, fn: Callable[[], None]) -> None:
        if self.failed:
            return
        try:
            fn()
        except Exception as err:  # logging must never cost a trained run
            self.failed = True
            why = (full_disk_error(err, err.filename or self.where, "the live log")
                   if isinstance(err, OSError) else f"{type(err).__name__}: {err}")
            print(f"sweeplab: {self.name} stopped ({why}); the store "
                  f"keeps every run, `sweeplab export` adds them later.", file=sys.stderr)


class TensorBoardLogger(_Guarded):
    """Writes ``LOGDIR/STUDY/CONFIG_LABEL/seed_N`` event files epoch by epoch.

    Raises:
        ExportError: the tensorboard extra is missing (raised here, before training).
    """

    name = "TensorBoard live logging"

    def __init__(self, logdir: str | os.PathLike):
        from sweeplab.export import tensorboard as tbx

        tbx.tb_modules()  # a missing extra is said before the first run starts
        check_dir_destination(logdir, "the TensorBoard log directory")  # before training
        self.tbx = tbx
        self.logdir = logdir
        self.where = str(logdir)
        self._open: dict[tuple[str, int], Any] = {}

    def _writer(self, study: Study, planned: PlannedConfig, seed: int) -> Any:
        key = (planned.config_hash, seed)
        w = self._open.get(key)
        if w is None:
            tbx = self.tbx
            cdir = tbx.config_dir(self.logdir, study.name, planned.label, planned.config_hash)
            run_dir = cdir / f"seed_{seed}"
            # The store gave this process the run to train, so whatever is there is stale:
            # a killed attempt, or an export of a run the store no longer has done.
            tbx.clear_run(run_dir)
            w = tbx.RunWriter(run_dir, run_key(planned.config_hash, seed),
                              tbx.hparams_of(study.name, planned.label, planned.axes),
                              f"{study.name}/{planned.label}")
            self._open[key] = w
        return w

    def epoch(self, study: Study, planned: PlannedConfig, seed: int, record: EpochRecord,
              epochs: int) -> None:
        self._guard(lambda: self._writer(study, planned, seed).epoch(record))

    def run_done(self, study: Study, planned: PlannedConfig, result: RunResult) -> None:
        def done() -> None:
            # Written again whole: epoch 0 arrives only now, and TensorBoard drops every
            # point at or after a step that comes out of order (see export.tensorboard).
            w = self._open.pop((planned.config_hash, result.seed), None)
            if w is not None:
                w.close()
            tbx = self.tbx
            cdir = tbx.config_dir(self.logdir, study.name, planned.label, planned.config_hash)
            start, times = _with_epoch_zero(result, w.times if w else {})
            tbx.write_complete(cdir / f"seed_{result.seed}",
                               run_key(planned.config_hash, result.seed),
                               tbx.hparams_of(study.name, planned.label, planned.axes),
                               f"{study.name}/{planned.label}", result, start, times)

        self._guard(done)

    def close(self) -> None:
        """Close writers of runs that did not finish (their markers stay incomplete)."""
        for w in self._open.values():
            w.close()
        self._open.clear()


def _with_epoch_zero(result: RunResult, times: dict[int, float]
                     ) -> tuple[float | None, dict[int, float]]:
    """The run's start and every epoch's wall time: those logged live as they were, epoch 0
    (known only now) and the start placed before the first of them by the stored epoch
    durations, so that no step's time comes before an earlier step's."""
    if not times:
        return None, {}
    first = min(times)
    seconds = {e.epoch: e.seconds if math.isfinite(e.seconds) else 0.0 for e in result.epochs}
    zero = times[first] - sum(seconds.get(k, 0.0) for k in range(1, first + 1))
    return zero - seconds.get(0, 0.0), {0: zero, **times}


class MlflowLogger(_Guarded):
    """Logs each epoch to MLflow (any tracking ``uri``) as it ends, in the layout of ``sweeplab
    export mlflow``; ``store``'s path tags the runs and the parent's summary is read from it.

    Raises:
        ExportError: the mlflow extra is missing (raised here, before training).
    """

    name = "MLflow live logging"

    def __init__(self, uri: str, store: Store):
        from sweeplab.export.mlflow import MlflowTarget

        self.target = MlflowTarget(uri, store)
        self.store = store
        self._open: dict[tuple[str, int], tuple[str, set[int]]] = {}  # -> (run id, epochs)
        self._parents: dict[tuple[str, str], Any] = {}  # (study, config hash) -> parent run

    def _config(self, study: Study, planned: PlannedConfig):
        return config_export(self.store, study.name, planned.config_hash, planned.label,
                             planned.axes, study.seeds)

    def _parent(self, study: Study, planned: PlannedConfig) -> Any:
        # Keyed by study too: one config in two studies (`assignment`) has a parent run in
        # each study's experiment.
        p = self._parents.get((study.name, planned.config_hash))
        if p is None:
            exp_id = self.target.experiment(study.name)
            p = self.target.parent(exp_id, self._config(study, planned), {})
            self._parents[(study.name, planned.config_hash)] = p
        return p

    def _run(self, study: Study, planned: PlannedConfig, seed: int) -> tuple[str, set[int]]:
        key = (planned.config_hash, seed)
        if key not in self._open:
            t = self.target
            exp_id = t.experiment(study.name)
            parent = self._parent(study, planned)
            rk = run_key(planned.config_hash, seed)
            # This process holds the run in the store, so any run under its key is stale
            # (a killed attempt): replaced, never duplicated.
            t.delete(t.runs(exp_id, rk).get(rk, []))
            run_id = t.start_seed(exp_id, parent.info.run_id, self._config(study, planned),
                                  seed, time.time(), live=True)
            self._open[key] = (run_id, set())
        return self._open[key]

    def epoch(self, study: Study, planned: PlannedConfig, seed: int, record: EpochRecord,
              epochs: int) -> None:
        def log() -> None:
            run_id, steps = self._run(study, planned, seed)
            self.target.log_epochs(run_id, [(record, time.time())])
            steps.add(record.epoch)

        self._guard(log)

    def run_done(self, study: Study, planned: PlannedConfig, result: RunResult) -> None:
        def done() -> None:
            run_id, steps = self._run(study, planned, result.seed)
            now = time.time()
            self.target.log_epochs(run_id, [(e, now) for e in result.epochs
                                            if e.epoch not in steps])
            self.target.finish_seed(run_id, result, now)
            self._open.pop((planned.config_hash, result.seed), None)
            self.target.update_parent(self._parent(study, planned),
                                      self._config(study, planned))

        self._guard(done)

    def close(self) -> None:
        """Runs that did not finish (a failed or interrupted training) end as KILLED, not
        RUNNING; without the complete mark, an export replaces them once the store has them."""
        open_runs = [run_id for run_id, _ in self._open.values()]
        self._open.clear()
        for run_id in open_runs:
            self._guard(lambda r=run_id: self.target.client.set_terminated(r, "KILLED"))


@contextmanager
def live_listeners(store: Store, mlflow: str | None = None,
                   tensorboard: str | os.PathLike | None = None) -> Iterator[list[Any]]:
    """The listeners for ``run --mlflow URI --tensorboard DIR`` (none when both are None),
    closed afterwards. A missing extra is raised before anything is trained.

    Raises:
        ExportError: the mlflow or tensorboard extra is missing.
    """
    out: list[Any] = []
    # `is not None`: an empty value is refused with a reason, not taken as "no logging".
    if mlflow is not None:
        out.append(MlflowLogger(mlflow, store))
    if tensorboard is not None:
        if not str(tensorboard).strip():
            raise ExportError.about("the TensorBoard log directory is empty. Give one, e.g. "
                                    "{tensorboard:runs/tb}")
        out.append(TensorBoardLogger(tensorboard))
    try:
        yield out
    finally:
        for listener in out:
            listener.close()
