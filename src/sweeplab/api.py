"""The Python API: run studies, read their results as pandas DataFrames. The CLI calls this.

::

    import sweeplab
    res = sweeplab.run("q1", seeds=3, epochs=2, subset=2000)   # trains what the store lacks
    res.runs("q1")            # one row per finished run, final metrics
    res.summary("q1")         # mean, std, n and 95% CI per config, epoch and metric
    res.plot("q1", "runs")    # the report's own matplotlib figures

Numbers are read from the store (sweeplab.store) and summarised with sweeplab.stats, the
same functions the CLI and the report use. Accuracies are fractions in [0, 1], as stored.

Which runs a study shows: the finished runs of its configs whose seed is one of the
study's seeds (as the report); a config named by its hash shows all its finished runs.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sweeplab import data as data_mod
from sweeplab import spec as S
from sweeplab import study as st
from sweeplab.results import RunResult
from sweeplab.store import DEFAULT_PATH, Store, StoreError

if TYPE_CHECKING:
    from sweeplab import stats

METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")
CONFIDENCE = 0.95
_ACC_BOUNDS = (0.0, 1.0)
_LOSS_BOUNDS = (0.0, math.inf)

StudyLike = str | os.PathLike | st.Study


def _pandas() -> Any:
    import pandas as pd

    return pd


def _bounds(metric: str) -> tuple[float, float]:
    return _ACC_BOUNDS if metric.endswith("acc") else _LOSS_BOUNDS


# --------------------------------------------------------------------------- run


def load_study(study: StudyLike, seeds: int | Sequence[int] | None = None,
               epochs: int | None = None, subset: int | None = None) -> st.Study:
    """A validated study from a built-in name, a TOML path or a ``Study``, with overrides.

    Raises:
        SpecError: unknown name, unreadable or invalid file, invalid study or override.
    """
    if isinstance(study, st.Study):
        study = study.validated()
    elif isinstance(study, os.PathLike):
        study = st.load_study_file(study)
    elif isinstance(study, str):
        study = st.resolve(study)
    else:
        raise S.SpecError(f"study must be a built-in name, a .toml path or a Study. "
                          f"Received: {study!r}")
    return st.with_overrides(study, seeds=seeds, epochs=epochs, subset=subset)


def models_dir(store: str | os.PathLike, save_models: bool | str | os.PathLike | None
               ) -> Path | None:
    """Where ``save_models`` puts the models: True means ``<store stem>_models/`` beside it."""
    if save_models is None or save_models is False:
        return None
    if save_models is True:
        p = Path(store)
        return p.with_name(p.stem + "_models")
    if not str(save_models).strip():
        raise ValueError("save_models must be True or a directory. Received: an empty path")
    return Path(save_models)


def run(
    study: StudyLike,
    *,
    store: str | os.PathLike = DEFAULT_PATH,
    seeds: int | Sequence[int] | None = None,
    epochs: int | None = None,
    subset: int | None = None,
    engine: str | None = None,
    parallel: int | None = None,
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
    save_models: bool | str | os.PathLike = False,
    until_ci: float | None = None,
    max_seeds: int = 20,
    seeds_per_round: int = 2,
    min_seeds: int = 3,
    mlflow: str | None = None,
    tensorboard: str | os.PathLike | None = None,
    listeners: Sequence[Any] = (),
    log: Callable[[str], None] | None = None,
    ray: str | None = None,
    **runner_options: Any,
) -> Results:
    """Train every run of ``study`` that the store does not have, and return the store's
    results. Finished runs are never trained twice; an interrupted call loses nothing
    finished.

    Args:
        study: a built-in name (``sweeplab studies``), a path to a TOML study file, or a
            ``Study`` (``Study.build(...)``).
        store: the SQLite store (created when missing).
        seeds: a count (seeds 0..N-1) or a list, instead of the study's own.
        epochs, subset: instead of the study's own (subset: stratified images per split).
        engine: "auto", "fast", "reference" or "jax" (None = the default, auto).
        parallel: seeds of one config trained at once (None = the engine decides).
        data_dir: where to look for the datasets first.
        progress: show the progress bar (terminal, Jupyter, or one final line).
        save_models: True saves every trained run's model as ``.keras`` under
            ``<store stem>_models/`` beside the store, a path saves them there.
        until_ci: keep adding seeds until every config's 95% CI half-width of final test
            accuracy is at most this many accuracy points (with max_seeds,
            seeds_per_round, min_seeds; see sweeplab.runner.run_until_ci).
        mlflow, tensorboard: log every epoch live to this MLflow tracking URI / under this
            TensorBoard directory (sweeplab.export.live).
        listeners: more sweeplab.runner.RunListener objects.
        log: called with a line for each failed run.
        ray: train each group of runs as a Ray task (extra ``sweeplab[ray]``): "local"
            starts a cluster on this machine, "auto" joins the one ``ray start`` started
            here, "HOST:PORT" joins that cluster; this process still writes the store.
        runner_options: passed on to sweeplab.runner.run_study.

    Returns:
        :class:`Results` over the store; ``.last`` is what this call did (a
        ``RunSummary``, or an ``AdaptiveSummary`` with ``until_ci``).

    Raises:
        SpecError, DataError, StoreError, ValueError: before any training.
    """
    from sweeplab.engines import DEFAULT_ENGINE
    from sweeplab.runner import run_study, run_until_ci

    study = load_study(study, seeds, epochs, subset)
    data_dir = None if data_dir is None else str(data_dir)
    directory = models_dir(store, save_models)
    if directory is not None:  # checked before the store or any model is written
        from sweeplab.names import check_dir_destination

        check_dir_destination(directory, "the save_models directory")
    # Data problems must surface before a store file is created (the load is cached).
    data_mod.load(study.base.dataset, data_dir, study.base.subset)
    with Store(store) as db, _live(db, mlflow, tensorboard) as live:
        every = list(listeners) + list(live)
        if directory is not None:
            from sweeplab.saved_models import ModelSaver

            every.append(ModelSaver(db, directory))
        options = dict(data_dir=data_dir, engine=engine or DEFAULT_ENGINE, parallel=parallel,
                       quiet=not progress, log=log, listeners=every, ray=ray,
                       **runner_options)
        if until_ci is not None:
            last: Any = run_until_ci(study, db, until_ci, max_seeds, seeds_per_round,
                                     min(min_seeds, max_seeds), **options)
        else:
            last = run_study(study, db, **options)
    return Results(store, data_dir=data_dir, last=last, study=study.name)


@contextmanager
def _live(store: Store, mlflow: str | None, tensorboard: str | os.PathLike | None
          ) -> Iterator[list[Any]]:
    if mlflow is None and tensorboard is None:  # the export package is not even imported
        yield []
        return
    from sweeplab.export.live import live_listeners

    with live_listeners(store, mlflow, tensorboard) as out:
        yield out


def open(path: str | os.PathLike = DEFAULT_PATH, data_dir: str | os.PathLike | None = None
         ) -> Results:  # noqa: A001 (sweeplab.open reads like the built-in, on purpose)
    """The results in an existing store (read-only: nothing is trained or written).

    Args:
        data_dir: where the datasets are, for the report's sample images.

    Raises:
        StoreError: no store there, or a file that is not a sweeplab store.
    """
    return Results(path, data_dir=None if data_dir is None else str(data_dir))


# ----------------------------------------------------------------------- results


@dataclass(frozen=True)
class ConfigRef:
    """One config as named by the user: by hash, or as a study's grid point."""

    hash: str  # full config hash
    label: str  # "q6 width=32", or the first 10 hex digits for a bare hash
    study: str | None  # the study it was named through (its seeds filter the runs)
    seeds: tuple[int, ...] | None  # that study's seeds; None = every finished run

    @property
    def name(self) -> str:
        """The label with its study, as the CLI prints it ("q6 width=32")."""
        return f"{self.study} {self.label}" if self.study else self.label


@dataclass(frozen=True)
class Compared:
    """``compare(a, b)``: both configs' summaries and the paired difference b - a."""

    metric: str  # "test_acc", "train_acc", "test_loss" or "train_loss" (final epoch)
    a: ConfigRef
    b: ConfigRef
    values_a: dict[int, float] = field(repr=False)  # seed -> final metric of a
    values_b: dict[int, float] = field(repr=False)  # seed -> final metric of b
    summary_a: stats.Summary  # mean, std, 95% CI of a
    summary_b: stats.Summary
    comparison: stats.Comparison  # difference b - a, paired over shared seeds
    text: str  # the sentence `sweeplab compare` ends with

    @property
    def scale(self) -> float:
        """100 for accuracies (shown in points), 1 for losses."""
        return 100.0 if self.metric.endswith("acc") else 1.0


class Results:
    """The runs in one store, as DataFrames, figures, models and a report. Read-only.

    Every method opens the store afresh, so it sees runs another process adds meanwhile.
    """

    def __init__(self, path: str | os.PathLike = DEFAULT_PATH,
                 data_dir: str | None = None, last: Any = None, study: str | None = None):
        self.path = Path(path)
        self.data_dir = data_dir  # for the sample images of the report and plots
        self.last = last  # what the sweeplab.run call that made this did (or None)
        self.last_study = study  # the study that call ran
        with self._store():  # a missing or foreign file is refused now, not later
            pass

    def __repr__(self) -> str:
        return f"Results({str(self.path)!r})"

    def _repr_html_(self) -> str:
        """In Jupyter: the store's path and its studies table."""
        import html

        return (f"<p>sweeplab results in <code>{html.escape(str(self.path))}</code></p>"
                + self.studies().to_html(index=False))

    @contextmanager
    def _store(self) -> Iterator[Store]:
        with Store(self.path, readonly=True) as store:
            yield store

    # --- what is there ----------------------------------------------------------------

    def studies(self) -> Any:
        """One row per study: its size and how much of it is done (a DataFrame)."""
        rows = []
        with self._store() as store:
            for row in store.studies():
                d = row.definition
                seeds = [int(s) for s in d.get("seeds", [])]
                configs = store.study_configs(row.name)
                done = sum(len(store.done_seeds(c.config_hash) & set(seeds)) for c in configs)
                rows.append({"study": row.name, "title": d.get("title", ""),
                             "dataset": d.get("dataset"), "configs": len(configs),
                             "seeds": len(seeds), "epochs": d.get("epochs"),
                             "subset": d.get("subset"), "runs_done": done,
                             "runs_total": len(configs) * len(seeds)})
        return _pandas().DataFrame(rows, columns=["study", "title", "dataset", "configs",
                                                  "seeds", "epochs", "subset", "runs_done",
                                                  "runs_total"])

    def study(self, name: str) -> st.Study:
        """The study as it was last run into this store.

        Raises:
            ValueError: no such study in the store.
        """
        with self._store() as store:
            row = store.study(name)
            names = [s.name for s in store.studies()]
        if row is None:
            raise ValueError(f"no study {name!r} in {self.path}. It has: "
                             f"{', '.join(names) or 'no studies'}")
        return st.study_from_dict(row.definition, name=name)

    def configs(self, study: str) -> Any:
        """One row per config of ``study``: label, hash, axis values, finished seeds."""
        with self._store() as store:
            self._check_study(store, study)
            seeds = self._seeds(store, study)
            values = self._axis_values(store, study)
            rows = []
            for c in store.study_configs(study):
                done = sorted(store.done_seeds(c.config_hash) & set(seeds))
                rows.append({"study": study, "config": c.label, "config_hash": c.config_hash,
                             **self._axes_of(c.axes, values), "runs_done": len(done)})
        return _pandas().DataFrame(rows)

    # --- the tables -------------------------------------------------------------------

    def runs(self, study: str | None = None, config: str | None = None) -> Any:
        """One row per finished run: final metrics, engine, device, timing, model path.

        Args:
            study: one study (None = every study in the store, one after another).
            config: one config: a label of ``study``, ``STUDY:LABEL`` or a hash prefix.

        Returns:
            A DataFrame with columns study, config, config_hash, the study's axes (their
            values), seed, epochs, train_loss, train_acc, test_loss, test_acc (final
            epoch), engine, backend, device, node, wall_seconds, model_path.
        """
        rows = []
        for ref, axes, runs in self._select(study, config):
            for r in runs:
                f = r.final
                rows.append({"study": ref.study, "config": ref.label, "config_hash": ref.hash,
                             **axes, "seed": r.seed, "epochs": len(r.epochs) - 1,
                             "train_loss": _num(f.train_loss), "train_acc": _num(f.train_acc),
                             "test_loss": f.test_loss, "test_acc": f.test_acc,
                             "engine": r.engine, "backend": r.backend, "device": r.device,
                             "node": r.node, "wall_seconds": r.wall_seconds,
                             "model_path": r.model_path})
        return _frame(rows, ["study", "config", "config_hash", "seed", "epochs", *METRICS,
                             "engine", "backend", "device", "node", "wall_seconds",
                             "model_path"])

    def epochs(self, study: str | None = None, config: str | None = None) -> Any:
        """One row per finished run and epoch (epoch 0 = untrained: no training numbers).

        Columns: study, config, config_hash, the study's axes, seed, epoch, train_loss,
        train_acc, test_loss, test_acc, seconds. Arguments as :meth:`runs`.
        """
        rows = []
        for ref, axes, runs in self._select(study, config):
            for r in runs:
                for e in r.epochs:
                    rows.append({"study": ref.study, "config": ref.label,
                                 "config_hash": ref.hash, **axes, "seed": r.seed,
                                 "epoch": e.epoch, "train_loss": _num(e.train_loss),
                                 "train_acc": _num(e.train_acc), "test_loss": e.test_loss,
                                 "test_acc": e.test_acc, "seconds": e.seconds})
        return _frame(rows, ["study", "config", "config_hash", "seed", "epoch", *METRICS,
                             "seconds"])

    def summary(self, study: str | None = None, config: str | None = None,
                metrics: Sequence[str] = METRICS, confidence: float = CONFIDENCE) -> Any:
        """Mean, std, n and CI over seeds, per config, epoch and metric (long format).

        Columns: study, config, config_hash, the study's axes, epoch, metric, n, mean, std,
        ci_low, ci_high (Student-t interval of the mean, clipped to the metric's range;
        std and CI are NaN for n=1). Epochs reached by only some runs use those runs.
        """
        from sweeplab import stats

        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric {unknown[0]!r}. Allowed: {', '.join(METRICS)}")
        rows = []
        for ref, axes, runs in self._select(study, config):
            n_ep = max((len(r.epochs) for r in runs), default=0)
            for e in range(n_ep):
                for m in metrics:
                    vals = [getattr(r.epochs[e], m) for r in runs if len(r.epochs) > e]
                    vals = [v for v in vals if v is not None and math.isfinite(v)]
                    if not vals:
                        continue  # epoch 0 has no training numbers
                    s = stats.summarize(vals, confidence, n_boot=0, bounds=_bounds(m))
                    rows.append({"study": ref.study, "config": ref.label,
                                 "config_hash": ref.hash, **axes, "epoch": e, "metric": m,
                                 "n": s.n, "mean": s.mean, "std": s.std,
                                 "ci_low": s.ci_low, "ci_high": s.ci_high})
        return _frame(rows, ["study", "config", "config_hash", "epoch", "metric", "n", "mean",
                             "std", "ci_low", "ci_high"])

    def final(self, study: str | None = None, config: str | None = None,
              metrics: Sequence[str] = METRICS) -> Any:
        """:meth:`summary` at each config's last epoch: one row per config and metric."""
        df = self.summary(study, config, metrics)
        if df.empty:
            return df
        last = df.groupby(["study", "config_hash"], dropna=False)["epoch"].transform("max")
        return df[df["epoch"] == last].reset_index(drop=True)

    # --- comparisons and confusion ----------------------------------------------------

    def config(self, ref: str) -> list[ConfigRef]:
        """The configs ``ref`` names: a hash (or unique prefix), a study (all its configs),
        or ``STUDY:LABEL`` (e.g. ``q6:width=32``).

        Raises:
            ValueError: a study without that label; StoreError: no such config.
        """
        with self._store() as store:
            return _config_refs(store, ref)

    def compare(self, a: str, b: str, metric: str = "test_acc") -> Compared:
        """Is config ``b`` different from ``a``? The final ``metric``, paired over shared
        seeds (what ``sweeplab compare`` prints). ``a``, ``b`` as :meth:`config`, one each.

        Raises:
            ValueError: a name that is not exactly one config, one without finished runs,
                or an unknown metric.
        """
        from sweeplab import stats

        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}. Allowed: {', '.join(METRICS)}")
        sides = []
        with self._store() as store:
            for name in (a, b):
                ref = _one(store, name)
                runs = _runs_of(store, ref)
                if not runs:
                    raise ValueError(f"{name!r} ({ref.hash[:10]}) has no finished runs in "
                                     f"{store.path}.")
                sides.append((ref, {r.seed: float(getattr(r.final, metric)) for r in runs}))
        (ra, va), (rb, vb) = sides
        sa, sb = (stats.summarize(list(v.values()), n_boot=0, bounds=_bounds(metric))
                  for v in (va, vb))
        c = stats.compare(va, vb)
        scale, unit = (100.0, "points") if metric.endswith("acc") else (1.0, "")
        name = metric.replace("_acc", " accuracy").replace("_loss", " loss")
        text = stats.describe_difference(c, metric_name=name, scale=scale, unit=unit,
                                         a_label=ra.name, b_label=rb.name)
        return Compared(metric, ra, rb, va, vb, sa, sb, c, text)

    def confusion(self, config: str, seed: int | None = None) -> Any:
        """The test confusion matrix of one config (rows: true class, columns: predicted).

        With ``seed``: that run's counts. Without: the row-normalised rates (share of each
        true class predicted as each class) averaged over the seeds (stats.average_confusion).

        Raises:
            ValueError: not exactly one config, or no finished run (of that seed).
        """
        from sweeplab import stats

        pd = _pandas()
        with self._store() as store:
            ref = _one(store, config)
            runs = _runs_of(store, ref)
            _, cfg = store.config(ref.hash)
        names = list(data_mod.info(cfg["dataset"]).class_names)
        if seed is not None:
            runs = [r for r in runs if r.seed == seed]
        if not runs:
            raise ValueError(f"{config!r} has no finished run"
                             f"{'' if seed is None else f' with seed {seed}'} in {self.path}.")
        if seed is not None:
            matrix = np.asarray(runs[0].confusion)
        else:
            matrix = stats.average_confusion([r.confusion for r in runs]).mean
        return pd.DataFrame(matrix, index=pd.Index(names, name="true"),
                            columns=pd.Index(names, name="predicted"))

    # --- figures and the report -------------------------------------------------------

    def figures(self, study: str) -> dict[str, Any]:
        """Every figure the report draws for ``study``: {name: matplotlib Figure}.

        A name is ``STUDY-NN-KIND`` (KIND: runs, band, sweep, by-value, heatmap, confusion,
        images, ...). Nothing is trained; the intro's sample images need ``data_dir``.
        """
        from sweeplab.report import Plot, build_report

        _inline_figures()
        with self._store() as store:
            self._check_study(store, study)
            report = build_report(store, [study], self.data_dir)
        return {b.name: b.draw(b.record) for sec in report.sections if sec.id == study
                for b in sec.blocks if isinstance(b, Plot)}

    def plot(self, study: str, kind: str) -> Any:
        """The report's first figure of ``kind`` for ``study`` (see :meth:`figures`).

        Raises:
            ValueError: the study's report has no figure of that kind (the message lists
                those it has).
        """
        figs = self.figures(study)  # plain Figures, outside pyplot: nothing to close
        kinds = {name: name.split("-", 2)[-1] for name in figs}
        match = [n for n, k in kinds.items() if k == kind]
        if not match:
            raise ValueError(f"study {study!r} has no {kind!r} figure. It has: "
                             f"{', '.join(dict.fromkeys(kinds.values())) or 'none'}")
        return figs[match[0]]

    def report(self, path: str | os.PathLike = "report.html",
               studies: Sequence[str] | None = None, fmt: str = "html") -> Path:
        """Write the report (sweeplab.report.write_report); returns the file written.

        Raises:
            OutputError: ``path`` cannot take the report (checked before it is built), or
                the disk filled up while writing (what was half-written is removed).
        """
        from sweeplab import names
        from sweeplab.report import write_report

        out = names.check_report_out(path, fmt)
        md_file = fmt == "md" and out.suffix == ".md"  # its images go beside it
        roots = (out, out.parent / f"{out.stem}_files") if md_file else (out,)
        before = names.files_under(*roots)
        with self._store() as store:
            try:
                return write_report(store, path, studies=studies, fmt=fmt,
                                    data_dir=self.data_dir)
            except OSError as err:
                names.new_files_removed(before, *roots)
                raise names.full_disk_error(err, err.filename or path, "the report") from err

    def export(self, target: str, dest: str | os.PathLike,
               studies: str | Sequence[str] | None = None) -> Any:
        """Copy finished runs to another tool (what ``sweeplab export`` does): ``target`` is
        "tensorboard" (a log directory), "mlflow" (a tracking URI), "csv" or "parquet" (a
        directory). Idempotent: runs the target already has are left alone.

        Returns:
            an ``ExportSummary`` (runs added, already present, replaced; files written).

        Raises:
            ExportError: a missing extra (it names it), an unknown study, an unusable
                tracking URI or directory. ValueError: an unknown target.
        """
        from sweeplab.export import run_export

        names = [studies] if isinstance(studies, str) else studies
        with self._store() as store:
            return run_export(store, target, dest, list(names) if names else None)

    # --- saved models -----------------------------------------------------------------

    def model_path(self, config: str, seed: int) -> Path:
        """Where the run's model was saved (``run --save-models``).

        Raises:
            ValueError / ModelError: no such finished run, or it saved no model.
        """
        from sweeplab.saved_models import ModelError, stored_path

        with self._store() as store:
            ref = _one(store, config)
            run = next((r for r in store.results(ref.hash) if r.seed == seed), None)
            if run is None:
                raise ValueError(f"{config!r} has no finished run with seed {seed} in "
                                 f"{self.path}.")
            if not run.model_path:
                raise ModelError(f"run {ref.label} seed {seed} saved no model; train it with "
                                 "--save-models (sweeplab.run(save_models=True)) to keep it.")
            return stored_path(store, run.model_path)

    def model(self, config: str, seed: int) -> Any:
        """The run's trained Keras model, loaded with safe mode on (uncompiled).

        Raises:
            ValueError / ModelError: no such run, no saved model, a missing file, or a file
                that is not this config's model.
        """
        from sweeplab import saved_models

        path = self.model_path(config, seed)
        with self._store() as store:
            _, cfg = store.config(_one(store, config).hash)
        return saved_models.load(path, S.config_from_dict(cfg))

    def class_names(self, config: str) -> tuple[str, ...]:
        """The class names of the config's dataset (output i is class_names[i])."""
        with self._store() as store:
            _, cfg = store.config(_one(store, config).hash)
        return data_mod.info(cfg["dataset"]).class_names

    def predict(self, config: str, seed: int, images: np.ndarray) -> np.ndarray:
        """The run's model outputs for ``images`` (N, H, W[, C]; uint8 or [0, 1] floats),
        shape (N, classes); ``.argmax(axis=1)`` is the predicted class.

        Raises:
            ModelError: images of the wrong shape, or pixels not finite or out of range
                (checked before TensorFlow is imported), or no usable saved model.
        """
        from sweeplab import saved_models

        self.model_path(config, seed)  # no such run or no saved model: said first
        x = saved_models.prepare_images(images, self.image_shape(config))
        model = self.model(config, seed)
        return np.asarray(model.predict(x, batch_size=1024, verbose=0))

    def image_shape(self, config: str) -> tuple[int, int, int]:
        """(H, W, C) of the images the config's models take (its dataset's)."""
        with self._store() as store:
            _, cfg = store.config(_one(store, config).hash)
        return tuple(data_mod.info(cfg["dataset"]).shape)

    # --- helpers ----------------------------------------------------------------------

    @staticmethod
    def _check_study(store: Store, study: str) -> None:
        if store.study(study) is None:
            names = [s.name for s in store.studies()]
            raise ValueError(f"no study {study!r} in {store.path}. It has: "
                             f"{', '.join(names) or 'no studies'}")

    @staticmethod
    def _seeds(store: Store, study: str) -> list[int]:
        row = store.study(study)
        return [int(s) for s in (row.definition.get("seeds", []) if row else [])]

    @staticmethod
    def _axis_values(store: Store, study: str) -> dict[str, dict[str, Any]]:
        """axis name -> {value label: value}: numbers and strings as themselves, layer lists
        (q7a's depths) by their labels."""
        row = store.study(study)
        out: dict[str, dict[str, Any]] = {}
        for a in (row.definition.get("axes", []) if row else []):
            labels = a.get("labels") or [st.format_value(v) for v in a.get("values", [])]
            out[a["name"]] = {lab: (v if isinstance(v, (int, float, str, bool)) else lab)
                              for lab, v in zip(labels, a.get("values", []), strict=False)}
        return out

    @staticmethod
    def _axes_of(axes: Mapping[str, Any], values: Mapping[str, Mapping[str, Any]]
                 ) -> dict[str, Any]:
        return {name: values.get(name, {}).get(lab, lab) for name, lab in axes.items()}

    def _select(self, study: str | None, config: str | None
                ) -> list[tuple[ConfigRef, dict[str, Any], list[RunResult]]]:
        out = []
        with self._store() as store:
            if config is not None:
                if study is not None and ":" not in config and store.study(study) is not None \
                        and any(c.label == config for c in store.study_configs(study)):
                    config = f"{study}:{config}"
                for ref in _config_refs(store, config):
                    axes = {}
                    if ref.study is not None:
                        values = self._axis_values(store, ref.study)
                        row = next(c for c in store.study_configs(ref.study)
                                   if c.config_hash == ref.hash)
                        axes = self._axes_of(row.axes, values)
                    out.append((ref, axes, _runs_of(store, ref)))
                return out
            if study is not None:
                self._check_study(store, study)
            names = [study] if study is not None else [s.name for s in store.studies()]
            for name in names:
                seeds = tuple(self._seeds(store, name))
                values = self._axis_values(store, name)
                for c in store.study_configs(name):
                    ref = ConfigRef(c.config_hash, c.label, name, seeds)
                    out.append((ref, self._axes_of(c.axes, values), _runs_of(store, ref)))
        return out


def _inline_figures() -> None:
    """In IPython/Jupyter, show a Figure returned as a cell's value as a PNG image.

    IPython registers its Figure formatter only when pyplot loads the inline backend; the
    report's figures are drawn without pyplot (on Agg), so a fresh kernel would print their
    repr. Registering the PNG formatter (when none is) changes no matplotlib setting.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    png = shell.display_formatter.formatters.get("image/png") if shell is not None else None
    if png is None:
        return
    from matplotlib.figure import Figure

    try:
        png.lookup_by_type(Figure)
    except KeyError:
        from IPython.core.pylabtools import select_figure_formats

        select_figure_formats(shell, {"png"})


def _num(v: float | None) -> float:
    return math.nan if v is None else float(v)


def _frame(rows: list[dict[str, Any]], columns: Sequence[str]) -> Any:
    pd = _pandas()
    if not rows:
        return pd.DataFrame(columns=list(columns))
    return pd.DataFrame(rows)


def _config_refs(store: Store, ref: str) -> list[ConfigRef]:
    study_name, _, label = ref.partition(":")
    row = store.study(study_name)
    if row is not None:
        seeds = tuple(int(s) for s in row.definition.get("seeds", []))
        rows = store.study_configs(study_name)
        if label:
            rows = [r for r in rows if r.label == label or r.label.replace(" ", "") == label]
            if not rows:
                labels = [r.label for r in store.study_configs(study_name)]
                raise ValueError(f"study {study_name!r} has no config {label!r}. "
                                 f"Allowed: {', '.join(labels)}")
        return [ConfigRef(r.config_hash, r.label, study_name, seeds) for r in rows]
    h, _ = store.config(ref)
    return [ConfigRef(h, h[:10], None, None)]


def _one(store: Store, ref: str) -> ConfigRef:
    found = _config_refs(store, ref)
    if len(found) != 1:
        labels = ", ".join(f"{r.study} {r.label}" for r in found)
        raise ValueError(f"{ref!r} names {len(found)} configs ({labels}); name one, "
                         f"e.g. STUDY:LABEL.")
    return found[0]


def _runs_of(store: Store, ref: ConfigRef) -> list[RunResult]:
    runs = store.results(ref.hash)
    if ref.seeds is not None:
        runs = [r for r in runs if r.seed in ref.seeds]
    return runs


__all__ = ["Compared", "ConfigRef", "Results", "StoreError", "load_study", "open", "run"]
