"""Runs into MLflow: one experiment per study, one parent run per config, a run per seed.

The same layout from ``sweeplab export mlflow`` and ``sweeplab run --mlflow``: the
experiment is the study (a ``sqlite:///DIR/F.db`` URI puts artifacts in
``DIR/mlartifacts/STUDY``, not ``./mlruns``); a parent run per config holds its values as
params and, after each seed, the summary over finished seeds, the seed-averaged confusion
matrix and the curves; a nested run per seed holds per-epoch ``train/*`` and ``test/*``
(step = epoch; epoch 0 test only).

Runs are tagged ``sweeplab.store`` and ``sweeplab.run_key`` (``CONFIGHASH:SEED``, or
``CONFIGHASH`` for a parent), the key an export searches for, so a second export adds
nothing. A seed run is complete once FINISHED and tagged ``sweeplab.complete``; one a
killed live logger left half-written is deleted and written again from the store.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sweeplab.export.base import (
    METRICS,
    ExportError,
    ExportSummary,
    config_params,
    owner_alive,
    require,
    run_key,
    study_exports,
    this_writer,
)
from sweeplab.outputs import child, mlflow_key, mlflow_name, same_file, shorten
from sweeplab.readout import ConfigView
from sweeplab.results import EpochRecord, RunResult
from sweeplab.store import Store

__all__ = ["MlflowTarget", "export_mlflow"]

TAG_STORE = "sweeplab.store"
TAG_KEY = "sweeplab.run_key"
TAG_KIND = "sweeplab.kind"  # "config" (parent) or "seed"
TAG_STUDY = "sweeplab.study"
TAG_COMPLETE = "sweeplab.complete"
TAG_WRITER = "sweeplab.writer"  # HOST:PID of a live logger while it writes the run
TAG_SEEDS = "sweeplab.seeds"  # parent: the seeds its summary and artifacts cover
PARENT = "mlflow.parentRunId"
MAX_BATCH = 100  # MLflow's limit on params (and tags) per log_batch call
MAX_TAG_VALUE = 8000  # MLflow's limit on a tag value
TAG_KEYS = "sweeplab.param_keys"  # JSON {fitted key: full text} of param keys MLflow refused


def _ml() -> Any:
    """mlflow's client and entities (the ``mlflow`` extra)."""
    require("mlflow", "mlflow", "MLflow export")
    # A new SQLite tracking store prints its schema migrations; they are not ours to show.
    for name in ("alembic", "mlflow.store.db.utils"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import mlflow.entities as entities
    from mlflow.tracking import MlflowClient

    return MlflowClient, entities


EXAMPLE_URIS = "sqlite:///mlflow.db (a local file) or http://HOST:5000 (a tracking server)."


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    """Environment variables set for a block, then restored."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _errors() -> tuple[type[BaseException], ...]:
    """What MLflow raises for a tracking store it cannot use or write: its own exception,
    and SQLAlchemy's and the OS's from a file store (a full disk at table creation)."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    return MlflowException, SQLAlchemyError, OSError


def _why(err: Exception) -> str:
    """MLflow's reason on one line, cut at a sentence end (its messages run to paragraphs
    with links)."""
    text = " ".join(str(err).split()) or type(err).__name__
    if "disk is full" in text or "No space left" in text:  # SQLite's and the OS's words
        return "the disk is full."
    if len(text) <= 300:
        return text if text.endswith(".") else text + "."
    cut = text.rfind(". ", 0, 300)
    return text[:cut + 1] if cut > 40 else text[:297] + "..."


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def _start_seconds(iso: str | None, default: float) -> float:
    try:
        return _dt.datetime.fromisoformat(iso).timestamp() if iso else default
    except ValueError:
        return default


def _tag_text(value: str) -> str:
    return value[:MAX_TAG_VALUE]


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:6000]  # MLflow's limit on a param value


def check_uri(uri: str, store: Store) -> Path | None:
    """Refuse, before MLflow touches it, a ``sqlite:///`` URI whose file is a directory or
    is the sweeplab store itself (MLflow would create its tables inside the store).

    Raises:
        ExportError: one line naming the path.

    Returns:
        the database file of a ``sqlite:///`` URI, else None.
    """
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(uri[len("sqlite:///"):].split("?", 1)[0])
    if db.is_dir():
        raise ExportError(f"the MLflow tracking URI {uri!r} names a directory; give a "
                          f"database file, e.g. {EXAMPLE_URIS}")
    if same_file(db, store.path):
        raise ExportError(f"the MLflow tracking URI {uri!r} is the sweeplab store itself; "
                          f"give another file, e.g. {EXAMPLE_URIS}")
    return db


class MlflowTarget:
    """A tracking URI as seen from one store (its path is the ``sweeplab.store`` tag): finds,
    creates and completes its runs.
    """

    def __init__(self, uri: str, store: Store):
        client_cls, self.E = _ml()
        if not uri or not uri.strip():
            # MLflow would silently fall back to its default (./mlflow.db or
            # $MLFLOW_TRACKING_URI): an export must go where it was told.
            raise ExportError(f"the MLflow tracking URI is empty. Give one, e.g. "
                              f"{EXAMPLE_URIS}")
        self.uri = uri
        db = check_uri(uri, store)
        new_db = db is not None and not db.exists()
        try:
            self.client = client_cls(tracking_uri=uri)
            # One cheap call: a wrong URI or an unreachable server is said now, in one line,
            # not after the first run has trained. No retries for it: MLflow's default
            # (7 retries with backoff) keeps a mistyped server address silent for minutes.
            with _env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="20"):
                self.client.search_experiments(max_results=1)
        except _errors() as err:
            if new_db:  # MLflow's first write failed (a full disk): leave no empty file
                db.unlink(missing_ok=True)
            raise ExportError(f"MLflow tracking URI {uri!r} cannot be used: {_why(err)} "
                              f"Tracking URIs look like {EXAMPLE_URIS}") from err
        self.store = store
        self.store_id = str(Path(store.path).resolve())
        self._experiments: dict[str, str] = {}

    # --- finding ---------------------------------------------------------------------

    def experiment(self, study: str) -> str:
        """The study's experiment id (created when missing), named by the study's name
        fitted to MLflow's limit (outputs.mlflow_name); the full name is its tag."""
        if study in self._experiments:
            return self._experiments[study]
        name = mlflow_name(study)
        exp = self.client.get_experiment_by_name(name)
        if exp is None:
            where = None
            if self.uri.startswith("sqlite:///"):
                db = Path(self.uri[len("sqlite:///"):])
                where = child(db.resolve().parent / "mlartifacts", study).as_uri()
            try:
                exp_id = self.client.create_experiment(
                    name, artifact_location=where, tags={TAG_STUDY: _tag_text(study)})
            except Exception:  # created meanwhile by another process (a live logger)
                exp = self.client.get_experiment_by_name(name)
                if exp is None:
                    raise
                exp_id = exp.experiment_id
        else:
            exp_id = exp.experiment_id
        self._experiments[study] = exp_id
        return exp_id

    def runs(self, exp_id: str, key: str | None = None) -> dict[str, list[Any]]:
        """This store's active runs in an experiment (or those with one key), by key."""
        filters = []
        if "'" not in self.store_id:  # else filtered below: no quoting in MLflow's filters
            filters.append(f"tags.`{TAG_STORE}` = '{self.store_id}'")
        if key is not None:
            filters.append(f"tags.`{TAG_KEY}` = '{key}'")
        out: dict[str, list[Any]] = {}
        token = None
        while True:
            page = self.client.search_runs([exp_id], " and ".join(filters), max_results=1000,
                                           page_token=token)
            for run in page:
                tags = run.data.tags
                if tags.get(TAG_STORE) == self.store_id and TAG_KEY in tags:
                    out.setdefault(tags[TAG_KEY], []).append(run)
            token = page.token
            if not token:
                return out

    @staticmethod
    def complete(run: Any) -> bool:
        return run.info.status == "FINISHED" and run.data.tags.get(TAG_COMPLETE) == "true"

    # --- writing ---------------------------------------------------------------------

    def _tags(self, c: ConfigView, key: str, kind: str) -> dict[str, str]:
        return {TAG_STORE: self.store_id, TAG_KEY: key, TAG_KIND: kind,
                TAG_STUDY: _tag_text(c.study), "sweeplab.config_hash": c.config_hash,
                "sweeplab.label": _tag_text(c.label)}

    def _params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Params under keys MLflow accepts (outputs.mlflow_key); the full text of a key it
        would refuse is kept in the ``sweeplab.param_keys`` tag."""
        keys = {k: mlflow_key(k) for k in params}
        items = [self.E.Param(keys[k], _param_text(v)) for k, v in params.items()]
        for i in range(0, len(items), MAX_BATCH):
            self.client.log_batch(run_id, params=items[i:i + MAX_BATCH])
        renamed = {new: old for old, new in keys.items() if new != old}
        if renamed:
            self.client.set_tag(run_id, TAG_KEYS, _tag_text(json.dumps(renamed)))

    def parent(self, exp_id: str, c: ConfigView, existing: Mapping[str, list[Any]]) -> Any:
        """The config's parent run (created when missing)."""
        found = existing.get(c.config_hash) or list(self.runs(exp_id, c.config_hash)
                                                    .get(c.config_hash, []))
        if found:
            return min(found, key=lambda r: r.info.start_time or 0)  # the first, if raced
        run = self.client.create_run(exp_id, tags=self._tags(c, c.config_hash, "config"),
                                     run_name=mlflow_name(c.label))
        self._params(run.info.run_id, config_params(c.config, c.axes))
        return self.client.get_run(run.info.run_id)

    def start_seed(self, exp_id: str, parent_id: str, c: ConfigView, seed: int,
                   start: float, live: bool) -> str:
        """A new seed run under ``parent_id``; returns its id."""
        tags = self._tags(c, run_key(c.config_hash, seed), "seed")
        tags.update({PARENT: parent_id, "sweeplab.seed": str(seed)})
        if live:
            tags[TAG_WRITER] = this_writer()
        run = self.client.create_run(exp_id, start_time=_ms(start), tags=tags,
                                     run_name=mlflow_name(f"{c.label} seed {seed}"))
        self._params(run.info.run_id, {**config_params(c.config, c.axes), "seed": seed})
        return run.info.run_id

    def log_epochs(self, run_id: str, records: Sequence[tuple[EpochRecord, float]]) -> None:
        """Per-epoch metrics, step = epoch; ``records`` pairs each epoch with its wall time."""
        metrics = [self.E.Metric(name, float(v), _ms(t), e.epoch)
                   for e, t in records for name, field in METRICS
                   if (v := getattr(e, field)) is not None]
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(run_id, metrics=metrics[i:i + 1000])

    def finish_seed(self, run_id: str, result: RunResult, end: float) -> None:
        """Tags known at the end, FINISHED, then the complete mark (last: a run killed
        before it is written again by the next export)."""
        tags = {"sweeplab.engine": result.engine, "sweeplab.backend": result.backend,
                "sweeplab.device": result.device, "sweeplab.node": result.node}
        self.client.log_batch(
            run_id, metrics=[self.E.Metric("wall_seconds", float(result.wall_seconds), _ms(end),
                                           0)],
            tags=[self.E.RunTag(k, v) for k, v in tags.items() if v])
        self.client.set_terminated(run_id, "FINISHED", end_time=_ms(end))
        self.client.set_tag(run_id, TAG_COMPLETE, "true")

    def write_seed(self, exp_id: str, parent_id: str, c: ConfigView,
                   result: RunResult) -> None:
        """A finished run from the store, with its stored start and epoch times."""
        row = c.rows.get(result.seed)
        t = _start_seconds(row.started_at if row else None,
                           _dt.datetime.now(_dt.timezone.utc).timestamp())
        run_id = self.start_seed(exp_id, parent_id, c, result.seed, t, live=False)
        timed = []
        for e in result.epochs:
            t += e.seconds if math.isfinite(e.seconds) else 0.0
            timed.append((e, t))
        self.log_epochs(run_id, timed)
        self.finish_seed(run_id, result, t)

    def update_parent(self, parent: Any, c: ConfigView) -> None:
        """The parent's summary and artifacts over the config's finished seeds, unless they
        already cover exactly these seeds."""
        seeds = ",".join(str(r.seed) for r in c.runs)
        run_id = parent.info.run_id
        current = self.client.get_run(run_id).data.tags.get(TAG_SEEDS)
        if not c.runs or current == seeds:
            return
        from sweeplab import plots
        from sweeplab.data import DATASETS

        n = len(c.runs)
        now = _ms(_dt.datetime.now(_dt.timezone.utc).timestamp())
        metrics = {"n_seeds": float(n)}
        for split in ("train", "test"):
            for field in ("acc", "loss"):
                if any(getattr(r.final, f"{split}_{field}") is None for r in c.runs):
                    continue
                s = c.summary(f"{split}_{field}")
                name = f"final_{split}_{'accuracy' if field == 'acc' else 'loss'}"
                metrics[f"{name}_mean"] = s.mean
                if n > 1:
                    metrics[f"{name}_std"] = s.std
        # step = seeds counted: the history shows how the summary moved as seeds were added.
        # An export killed after this batch but before the seeds tag below logged step n
        # already: logging it again would count it twice.
        if not any(m.step == n for m in self.client.get_metric_history(run_id, "n_seeds")):
            self.client.log_batch(run_id, metrics=[self.E.Metric(k, v, now, n)
                                                   for k, v in metrics.items()])
        meta = DATASETS.get(str(c.config.get("dataset")))
        k = int(np.asarray(c.runs[0].confusion).shape[0])
        names = tuple(meta.class_names) if meta and len(meta.class_names) == k else tuple(
            str(i) for i in range(k))
        title = shorten(f"{c.study} {c.label}", 120)  # a 10k-character name draws no title
        with tempfile.TemporaryDirectory() as tmp:
            avg = c.confusion
            rec = plots.confusion_rates(avg, names, title=f"{title}: test confusion, "
                                        f"rate per true class, mean over {n} seed(s)")
            Path(tmp, "confusion.json").write_text(json.dumps({
                "classes": list(names), "n_seeds": avg.n_seeds,
                "seeds": [r.seed for r in c.runs], "rows": "true class",
                "columns": "predicted class",
                "mean_rate": np.asarray(avg.mean).tolist(),
                "std_rate": None if n < 2 else np.asarray(avg.std).tolist()}, indent=1))
            self.client.log_artifact(run_id, str(Path(tmp, "confusion.json")))
            plot_dir = Path(tmp, "plots")
            plot_dir.mkdir()
            (plot_dir / "confusion.png").write_bytes(plots.to_png(plots.draw_confusion(rec)))
            trained = [r for r in c.runs if len(r.epochs) > 1]
            if trained:
                curves = [plots.run_curves(trained, split, "accuracy",
                                           curve=c.curve(f"{split}_acc"))
                          for split in ("train", "test")]
                fig = plots.draw_run_curves(curves, band=True, suptitle=f"{title}: accuracy "
                                            "per epoch, mean and 95% CI over seeds")
                (plot_dir / "accuracy.png").write_bytes(plots.to_png(fig))
            self.client.log_artifacts(run_id, str(plot_dir), "plots")
        self.client.set_terminated(run_id, "FINISHED")
        self.client.set_tag(run_id, TAG_SEEDS, seeds)

    def delete(self, runs: Sequence[Any]) -> None:
        for run in runs:
            self.client.delete_run(run.info.run_id)


def export_mlflow(store: Store, uri: str, studies: Sequence[str] | None = None) -> ExportSummary:
    """Write every finished run of ``studies`` (all when None) that ``uri`` lacks.

    Raises:
        ExportError: the mlflow extra is missing, or a study is not in the store.
    """
    target = MlflowTarget(uri, store)
    out = ExportSummary("mlflow", uri)
    try:
        _export(target, out, store, studies)
    except _errors() as err:  # a full disk, a server gone meanwhile
        raise ExportError(f"MLflow export to {uri!r} stopped: {_why(err)} Runs exported before "
                          f"this are complete; the next export adds the rest.") from err
    return out


def _export(target: MlflowTarget, out: ExportSummary, store: Store,
            studies: Sequence[str] | None) -> None:
    for sx in study_exports(store, studies):
        # A study with no finished run gets no experiment, but one it has is still looked
        # at: a killed live logger's runs in it are marked below.
        if not sx.n_runs and target.client.get_experiment_by_name(sx.name) is None:
            continue
        exp_id = target.experiment(sx.name)
        existing = target.runs(exp_id)
        for c in sx.configs:
            if not c.runs:
                continue
            parent = target.parent(exp_id, c, existing)
            for r in c.runs:
                have = existing.get(run_key(c.config_hash, r.seed), [])
                done = [x for x in have if target.complete(x)]
                if done:
                    out.present += 1
                    continue
                if any(owner_alive(x.data.tags.get(TAG_WRITER)) for x in have):
                    out.busy += 1
                    continue
                if have:
                    target.delete(have)
                    out.replaced += 1
                target.write_seed(exp_id, parent.info.run_id, c, r)
                out.added += 1
            target.update_parent(parent, c)
        # A live run whose process died before the store finished it stays RUNNING in
        # MLflow; say what it is. Training it again replaces it.
        done = {run_key(c.config_hash, r.seed) for c in sx.configs for r in c.runs}
        for key, have in existing.items():
            for x in have:
                if (key not in done and x.info.status == "RUNNING"
                        and x.data.tags.get(TAG_KIND) == "seed"
                        and not owner_alive(x.data.tags.get(TAG_WRITER))):
                    target.client.set_terminated(x.info.run_id, "KILLED")
