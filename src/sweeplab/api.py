"""The Python API: run studies, read their results as pandas DataFrames. The CLI calls this.

::

    import sweeplab
    res = sweeplab.run("q1", seeds=3, epochs=2, subset=2000)   # trains what the store lacks
    res.runs("q1")            # one row per finished run, final metrics
    res.summary("q1")         # mean, std, n and 95% CI per config, epoch and metric
    res.plot("q1", "runs")    # the report's own matplotlib figures

Numbers are read from the store through sweeplab.readout (the one reader the report and
the exports use too) and summarised with sweeplab.analysis.stats. Accuracies are
fractions in [0, 1], as stored; column names: README, "Column names".

Which runs a study shows: the finished runs of its configs whose seed is one of the
study's seeds (as the report); a config named by its hash shows all its finished runs.
"""

from __future__ import annotations

import difflib
import inspect
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sweeplab import readout
from sweeplab import spec as S
from sweeplab import study as st
from sweeplab.errors import ArgumentError, python_words
from sweeplab.store import DEFAULT_PATH, Store, StoreError, holds_store

if TYPE_CHECKING:
    from sweeplab.analysis import outcomes, seeds, stats

METRICS = readout.METRICS
CONFIDENCE = readout.CONFIDENCE  # tests/test_api.py checks it is analysis.stats'

StudyLike = str | os.PathLike | st.Study


def _pandas() -> Any:
    import pandas as pd

    return pd


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


RUNNER_EXTRAS = ("stop_on_error", "only")  # run_study's keywords that run() passes through


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
    until_detect: float | None = None,
    max_seeds: int = 20,
    seeds_per_round: int = 2,
    min_seeds: int = 3,
    mlflow: str | None = None,
    tensorboard: str | os.PathLike | None = None,
    listeners: Sequence[Any] = (),
    log: Callable[[str], None] | None = None,
    ray: str | None = None,
    redefine: bool = False,
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
        until_detect: instead, keep adding seeds until every pair of neighbouring configs
            would detect a difference of this many accuracy points with 80% power (same
            max_seeds, seeds_per_round, min_seeds). Neither applies to a search: its race
            gives the seeds.
        mlflow, tensorboard: log every epoch live to this MLflow tracking URI / under this
            TensorBoard directory (sweeplab.export.live).
        listeners: more sweeplab.runner.RunListener objects.
        log: called with a line for each failed run.
        ray: train each group of runs as a Ray task (extra ``sweeplab[ray]``): "local"
            starts a cluster on this machine, "auto" joins the one ``ray start`` started
            here, "HOST:PORT" joins that cluster; this process still writes the store.
        redefine: make this the definition of a study the store (or the built-ins) hold
            under this name otherwise, keeping the earlier one's configs and runs listed
            as ``NAME@N``; without it such a study is refused (more seeds are no change).
        runner_options: ``stop_on_error``, ``only``: passed on to sweeplab.runner.run_study.

    Returns:
        :class:`Results` over the store; ``.last`` is what this call did (a
        ``RunSummary``, or an ``AdaptiveSummary`` with ``until_ci`` or ``until_detect``).

    Raises:
        SpecError, DataError, StoreError, ValueError: before any training.
    """
    for key in runner_options:  # named here: run_study() is not what the user called
        if key not in RUNNER_EXTRAS:
            near = difflib.get_close_matches(key, [*inspect.signature(run).parameters,
                                                   *RUNNER_EXTRAS], n=1)
            raise TypeError(f"sweeplab.run() got an unexpected keyword argument {key!r}"
                            + (f". Did you mean {near[0]}=?" if near else ""))
    from sweeplab.engines import DEFAULT_ENGINE
    from sweeplab.runner import run_study, run_until_ci

    if until_ci is not None and until_detect is not None:
        raise ValueError("until_ci and until_detect stop on different conditions: give one. "
                         f"Received: until_ci={until_ci!r}, until_detect={until_detect!r}")
    study = load_study(study, seeds, epochs, subset)
    if study.search is not None:
        if until_ci is not None or until_detect is not None:
            raise ArgumentError.about(  # its race spends the seeds, within its budget
                "{until_ci:W} / {until_detect:D} add seeds to a grid's configs; study {name!r} "
                "is a search, whose race gives each candidate its seeds (search.first_test, "
                "max_seeds, budget in the study). Run it without them.", name=study.name)
        from sweeplab.search import load_optuna

        load_optuna()  # the search extra, said before any store file or data
    data_dir = None if data_dir is None else str(data_dir)
    directory = models_dir(store, save_models)
    from sweeplab.outputs import check_dir_destination

    if directory is not None:  # checked before the store or any model is written
        check_dir_destination(directory, "the save_models directory")
    if tensorboard is not None and str(tensorboard).strip():  # and the live log directory
        check_dir_destination(tensorboard, "the TensorBoard log directory")
    archive = _redefines(study, store, redefine)  # a read: refused before data is loaded
    # Data and model problems must surface before a store file is created (sweeplab.runner).
    from sweeplab.runner import preflight

    ready = preflight(study, data_dir, engine or DEFAULT_ENGINE, parallel, log)
    with Store(store) as db, _live(db, mlflow, tensorboard) as live:
        if archive:
            kept = db.archive_study(study.name)
            from sweeplab.search import journal_path  # a search's history goes with it

            journal = journal_path(store, study.name)
            if kept and journal.exists():
                journal.replace(journal_path(store, kept))
        every = list(listeners) + list(live)
        if directory is not None:
            from sweeplab.saved_models import ModelSaver

            every.append(ModelSaver(db, directory))
        options = dict(data_dir=data_dir, engine=engine or DEFAULT_ENGINE, parallel=parallel,
                       quiet=not progress, log=log, listeners=every, ray=ray, ready=ready,
                       **runner_options)
        if study.search is not None:
            from sweeplab.search import journal_path, run_search

            last: Any = run_search(study, db, journal=journal_path(store, study.name),
                                   **{k: v for k, v in options.items()
                                      if k not in RUNNER_EXTRAS})
        elif until_ci is not None or until_detect is not None:
            last = run_until_ci(study, db, until_ci or 0.0, max_seeds, seeds_per_round,
                                     min(min_seeds, max_seeds), detect=until_detect, **options)
        else:
            last = run_study(study, db, **options)
    return Results(store, data_dir=data_dir, last=last)


def _redefines(study: st.Study, store: str | os.PathLike, redefine: bool) -> bool:
    """Whether ``study`` replaces, under its name, the definition the store holds (True:
    archive that one first); refused without ``redefine``, as is a study that takes a
    built-in study's name with another definition."""
    row = None
    if holds_store(store):  # read-only: a refused call leaves no store file behind
        with Store(store, readonly=True) as db:
            row = db.study(study.name)
    new, builtin = st.study_to_dict(study), st.BUILTIN.get(study.name)
    if row is not None:
        diff, was = st.redefinition(row.definition, new), f"as {store} holds it"
    elif builtin is not None:  # a built-in run with --seeds/--epochs/--subset is still it
        diff = st.redefinition(st.study_to_dict(builtin), new, ignore=st.RUN_SIZE)
        was = "as built in"
    else:
        return False
    if diff is not None and not redefine:
        keep = f" (the runs of the earlier one stay listed as {study.name}@N)" if row else ""
        raise S.SpecError.about(
            "study {name!r} differs from {name!r} {was}: {diff}. Give it a name of its own "
            "(`name` in a study file), or pass {redefine:True} to make this {name!r}{keep}.",
            name=study.name, was=was, diff=diff, keep=keep)
    return diff is not None and row is not None


@contextmanager
def _live(store: Store, mlflow: str | None, tensorboard: str | os.PathLike | None
          ) -> Iterator[list[Any]]:
    if mlflow is None and tensorboard is None:  # the export package is not even imported
        yield []
        return
    from sweeplab.export.live import live_listeners

    with live_listeners(store, mlflow, tensorboard) as out:
        yield out


def check(path: str | os.PathLike, repair: bool = False) -> Any:
    """Check a store (what ``sweeplab check --store`` does): SQLite's integrity_check,
    every record's checksum, every record parsed. ``repair``: set damaged records aside
    and mark damaged runs not done (the next :func:`run` trains exactly those again), and
    add checksums to an older store's records that parse.

    Returns:
        a ``sweeplab.store.StoreCheck`` (``.ok``, ``.damaged``, ``.problems``, ``.lines()``);
        after a repair, the check of the repaired store.

    Raises:
        StoreError: no store there, or one SQLite cannot read at all (restore a copy).
    """
    from sweeplab.store import DamagedStoreError, salvage

    try:
        if repair:
            with Store(path) as store:
                store.repair()
        with Store(path, readonly=True) as store:
            return store.check()
    except DamagedStoreError as err:
        return salvage(path, str(err))


def open(path: str | os.PathLike = DEFAULT_PATH, data_dir: str | os.PathLike | None = None
         ) -> Results:  # noqa: A001 (sweeplab.open reads like the built-in, on purpose)
    """The results in an existing store (read-only: nothing is trained or written).

    Args:
        data_dir: where the datasets are, for the report's sample images.

    Raises:
        StoreError: no store there, or a file that is not a sweeplab store.
    """
    try:
        return Results(path, data_dir=None if data_dir is None else str(data_dir))
    except StoreError as err:  # the store is open()'s `path`
        err.args = (err.worded(lambda f, s: python_words({"store": "path"}.get(f, f), s)),)
        raise


# ----------------------------------------------------------------------- results


@dataclass(frozen=True)
class ConfigRef:
    """One config as named by the user: by hash, or as a study's grid point."""

    config_hash: str  # full config hash
    label: str  # "width=32" (a bare hash: as the studies that list it label it, else its
    # first 10 hex digits)
    study: str | None  # the study it was named through (its seeds filter the runs)
    seeds: tuple[int, ...] | None  # that study's seeds; None = every finished run

    @property
    def name(self) -> str:
        """The label with its study, as the CLI prints it ("q6 width=32")."""
        return f"{self.study} {self.label}" if self.study else self.label


@dataclass(frozen=True)
class Compared:
    """``compare(a, b)``: both configs' summaries, the paired difference b - a, and what the
    seeds can tell (power, P(B > A), test-set noise). Prints as ``sweeplab compare`` does."""

    metric: str  # "test_acc", "train_acc", "test_loss", "train_loss" (final epoch), or
    # "val_acc", "val_loss" where the configs have a validation split
    a: ConfigRef
    b: ConfigRef
    values_a: dict[int, float] = field(repr=False)  # seed -> final metric of a
    values_b: dict[int, float] = field(repr=False)  # seed -> final metric of b
    summary_a: stats.Summary  # mean, std, 95% CI of a
    summary_b: stats.Summary
    comparison: stats.Comparison  # difference b - a, paired over shared seeds
    text: str  # the sentence `sweeplab compare` ends with
    power: seeds.Power | None = None  # smallest detectable difference, seeds needed
    improvement: seeds.Improvement | None = None  # P(B > A) with its bootstrap interval
    floor_a: seeds.NoiseFloor | None = None  # test_acc only: a's spread vs test-set noise
    floor_b: seeds.NoiseFloor | None = None
    resolvable: float = math.nan  # test_acc only: least difference the test set resolves
    resolvable_measured: bool = False  # from the per-example outcomes, not the binomial bound
    # test_acc, from the runs' per-example predictions (sweeplab.analysis.outcomes):
    split_a: outcomes.VarianceSplit | None = None  # a's variance: test set vs distribution
    split_b: outcomes.VarianceSplit | None = None
    paired: outcomes.Paired | None = None  # seeds + test set, McNemar, churn between
    outcomes_lack: str = ""  # why those are missing ("" when given, or not test_acc)
    selected: str = ""  # candidates of a search: which shared seeds its race selected on

    @property
    def scale(self) -> float:
        """100 for accuracies (shown in points), 1 for losses."""
        return 100.0 if self.metric.endswith("acc") else 1.0

    def _configs(self) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        k = self.scale
        rows = []
        for ref, s in ((self.a, self.summary_a), (self.b, self.summary_b)):
            ci = f"{k * s.ci_low:.3f} .. {k * s.ci_high:.3f}" if s.n > 1 else "-"
            rows.append((f"{ref.name} {ref.config_hash[:8]}", str(s.n), f"{k * s.mean:.3f}",
                         f"{k * s.std:.3f}" if s.n > 1 else "-", ci))
        return ("config", "n", "mean", "std", "95% CI"), rows

    def _rows(self) -> list[tuple[str, str]]:
        from sweeplab.analysis.seeds import seed_count

        c, k = self.comparison, self.scale
        rows = [("pairing", f"paired over {c.n_pairs} shared seeds" if c.paired else c.note),
                ("mean difference", f"{k * c.diff:+.3f}"),
                ("95% CI (t)", f"{k * c.ci_low:+.3f} .. {k * c.ci_high:+.3f}"),
                ("95% CI (bootstrap)", f"{k * c.boot_low:+.3f} .. {k * c.boot_high:+.3f}"),
                ("p (t-test)", f"{c.p_t:.4g}"),
                ("p (Wilcoxon)" if c.paired else "p (Mann-Whitney)", f"{c.p_rank:.4g}"),
                ("effect size", f"{c.effect_size:+.2f} ({'d_z' if c.paired else 'Hedges g'})")]
        if self.improvement is not None:
            i = self.improvement
            ci = (f" (95% {i.method} CI {i.low:.2f} .. {i.high:.2f})" if math.isfinite(i.low)
                  else "")
            rows.append(("P(B > A)", f"{i.prob:.2f}{ci}"))
        p = self.power
        if p is not None and math.isfinite(p.mdd):
            who = f"{p.n} {'paired seeds' if p.paired else 'seeds per config'}"
            rows.append((f"detectable ({100 * p.power:.0f}%)", f"{k * p.mdd:.3f} with {who}"))
            rows.append(("seeds to detect diff", "never (difference 0)" if p.diff == 0 else
                         f"{seed_count(p.seeds_needed)} "
                         f"{'pairs' if p.paired else 'per config'}"))
        if self.floor_a is not None and self.floor_b is not None:
            rows.append(("test-set noise (se)", f"{k * self.floor_a.floor:.3f} / "
                         f"{k * self.floor_b.floor:.3f} ({self.floor_a.n_test} images)"))
        sa, sb = self.split_a, self.split_b
        if sa is not None and sb is not None:
            rows.append(("test-set part (std)", f"{k * sa.test_set_std:.3f} / "
                         f"{k * sb.test_set_std:.3f} (Jordan 2024)"))
            rows.append(("distribution-wise std", f"{k * sa.distribution_std:.3f} / "
                         f"{k * sb.distribution_std:.3f}"))
        pr = self.paired
        if pr is not None:
            t, m = pr.two_way, pr.mcnemar
            rows.append(("95% CI (seeds + test set)", f"{k * t.low:+.3f} .. {k * t.high:+.3f}"))
            rows.append(("P(mean B > mean A)", f"{t.prob:.3f} (seeds + test set)"))
            rows.append(("majority votes", f"{k * pr.vote_a:.3f} / {k * pr.vote_b:.3f}; "
                         f"only A right {m.only_a}, only B right {m.only_b}, McNemar exact "
                         f"p {m.p:.4g}"))
            rows.append(("churn between A and B", f"{100 * pr.churn:.2f}% of test examples"))
        return rows

    def sentences(self) -> list[str]:
        """The verdict, then what these seeds can detect, then test-set noise, in words."""
        from sweeplab.analysis.seeds import resolution_sentence

        out = [self.text, self.selected]
        if self.power is not None:
            out.append(self.power.sentence(self.scale, "points" if self.scale == 100 else ""))
        for ref, f, sp in ((self.a, self.floor_a, self.split_a),
                           (self.b, self.floor_b, self.split_b)):
            if f is not None and sp is None:  # else the split's own test says it, below
                out.append(f.sentence(ref.name))
        if math.isfinite(self.resolvable) and self.floor_a is not None:
            out.append(resolution_sentence(self.comparison.diff, self.resolvable,
                                           self.floor_a.n_test, self.resolvable_measured))
        for ref, sp in ((self.a, self.split_a), (self.b, self.split_b)):
            if sp is not None:
                out.append(f"{ref.name}: {sp.sentence()}")
        if self.paired is not None:
            out.append(self.paired.sentence())
        elif self.outcomes_lack:
            out.append(f"Per-example numbers (the test set's variance, a bootstrap over test "
                       f"examples, McNemar) are not available: {self.outcomes_lack}.")
        return [s for s in out if s]

    def __str__(self) -> str:
        head, configs = self._configs()
        lines = [f"{head[0]:<28} {head[1]:>3} {head[2]:>9} {head[3]:>8}  {head[4]}"]
        lines += [f"{r[0]:<28} {r[1]:>3} {r[2]:>9} {r[3]:>8}  {r[4]}" for r in configs]
        lines.append(f"\ndifference B - A ({self.metric}"
                     f"{', x100' if self.scale == 100 else ''}):")
        lines += [f"  {k:<22} {v}" for k, v in self._rows()]
        return "\n".join(lines + [""] + self.sentences())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """In IPython's terminal: the same text as print()."""
        printer.text(str(self))

    def _repr_html_(self) -> str:
        import html

        def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
            th = "".join(f"<th>{html.escape(h)}</th>" for h in header)
            body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>"
                           for r in rows)
            return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"

        head, configs = self._configs()
        unit = ", points" if self.scale == 100 else ""
        return (f"<div><b>{html.escape(self.b.name)}</b> vs <b>{html.escape(self.a.name)}</b>"
                f" ({html.escape(self.metric)}{unit})" + table(head, configs)
                + table(("difference B - A", ""), self._rows())
                + "".join(f"<p>{html.escape(s)}</p>" for s in self.sentences()) + "</div>")


class Results:
    """The runs in one store, as DataFrames, figures, models and a report. Read-only.

    Every method opens the store afresh, so it sees runs another process adds meanwhile.
    """

    def __init__(self, path: str | os.PathLike = DEFAULT_PATH,
                 data_dir: str | None = None, last: Any = None):
        self.path = Path(path)
        self.data_dir = data_dir  # for the sample images of the report and plots
        self.last = last  # what the sweeplab.run call that made this did (or None)
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
        rows = [{"study": v.name, "title": v.definition.get("title", ""),
                 "dataset": v.definition.get("dataset"), "configs": len(v.configs),
                 "seeds": len(v.seeds), "epochs": v.definition.get("epochs"),
                 "subset": v.definition.get("subset"), "runs_done": v.runs_done,
                 "runs_total": v.runs_total} for v in self.views()]
        return _pandas().DataFrame(rows, columns=["study", "title", "dataset", "configs",
                                                  "seeds", "epochs", "subset", "runs_done",
                                                  "runs_total"])

    def study(self, name: str) -> st.Study:
        """The study as it was last run into this store.

        Raises:
            ValueError: no such study in the store.
        """
        return st.study_from_dict(self.view(name).definition, name=name)

    def configs(self, study: str) -> Any:
        """One row per config of ``study``: label, hash, axis values, finished seeds."""
        return _pandas().DataFrame([{**readout.ident(c), "runs_done": len(c.runs)}
                                    for c in self.view(study).configs])

    # --- the views every table, figure and report is built from ---------------------

    def view(self, study: str) -> readout.StudyView:
        """``study`` as one :class:`sweeplab.readout.StudyView` (configs, runs, missing,
        failed and interrupted seeds, who trained what).

        Raises:
            ValueError: no such study in the store.
        """
        with self._store() as store:
            _check_study(store, study)
            return readout.read_study(store, study)

    def views(self) -> list[readout.StudyView]:
        """Every study in the store, as :meth:`view`."""
        with self._store() as store:
            return [readout.read_study(store, s.name) for s in store.studies()]

    def config_views(self, ref: str) -> list[readout.ConfigView]:
        """The configs ``ref`` names (as :meth:`config`), with their runs."""
        with self._store() as store:
            return readout.find_configs(store, ref)

    def unlisted_configs(self) -> list[str]:
        """Hashes of the stored configs that no current study lists."""
        with self._store() as store:
            return readout.unlisted_configs(store)

    # --- the tables -------------------------------------------------------------------

    def runs(self, study: str | None = None, config: str | None = None) -> Any:
        """One row per finished run: final metrics, engine, device, timing, model path.

        Args:
            study: one study (None = every study in the store, one after another).
            config: one config: a label of ``study``, ``STUDY:LABEL`` or a hash prefix.

        Returns:
            A DataFrame with columns study, config, config_hash, the study's axes (their
            values), then sweeplab.readout.RUN_COLUMNS: seed, epochs, train_loss,
            train_acc, test_loss, test_acc (final epoch), engine, backend, device, node,
            started_at, finished_at, wall_seconds, model_path (README, "Column names").
        """
        return readout.runs_frame(self._select(study, config))

    def epochs(self, study: str | None = None, config: str | None = None) -> Any:
        """One row per finished run and epoch (epoch 0 = untrained: no training numbers).

        Columns: study, config, config_hash, the study's axes, seed, epoch, train_loss,
        train_acc, test_loss, test_acc, seconds. Arguments as :meth:`runs`.
        """
        return readout.epochs_frame(self._select(study, config))

    def outcomes(self, config: str, split: str = "test") -> np.ndarray:
        """The config's per-example outcomes: the predicted class of each finished seed
        (rows, seeds ascending as in :meth:`runs`) on each test example (columns, in test-set
        order); class i is ``class_names(config)[i]``. :meth:`outcomes_frame` has the same
        with the seeds, the true labels and whether each was right.

        Args:
            split: "test", or "validation" for the study's validation split (its examples
                in the split's order, the same for every seed).

        Raises:
            ValueError: not one config, an unknown split, or its runs kept no predictions
                there (a store from before schema 3, or 6 for the validation split; a run
                without a validation split: says so) or were scored on different sets.
        """
        if split not in ("test", "validation"):
            raise ValueError(f"split must be 'test' or 'validation'. Received: split={split!r}")
        c = self._one(config)
        o, lack = (c.outcomes, c.outcomes_lack) if split == "test" else \
            (c.val_outcomes, c.val_outcomes_lack)
        if o is None:
            where = "" if split == "test" else " on the validation split"
            raise ValueError(f"{c.name} has no per-example outcomes{where}: "
                             f"{lack or 'no finished runs'}")
        return np.array(o.predictions, dtype=np.int64)

    def outcomes_frame(self, study: str | None = None, config: str | None = None) -> Any:
        """One row per finished run, split and example (long format).

        Columns: study, config, config_hash, the study's axes, then
        sweeplab.readout.OUTCOME_COLUMNS: split ("test", or "validation" where runs kept the
        validation split's predictions), seed, example (index in that split), label and
        predicted (class names, as text), correct. Arguments as :meth:`runs`; configs whose
        runs kept no predictions have no rows.
        """
        return readout.outcomes_frame(self._select(study, config))

    def summary(self, study: str | None = None, config: str | None = None,
                metrics: Sequence[str] = METRICS, confidence: float = CONFIDENCE) -> Any:
        """Mean, std, n and CI over seeds, per config, epoch and metric (long format).

        Columns: study, config, config_hash, the study's axes, epoch, metric, n, mean, std,
        ci_low, ci_high (Student-t interval of the mean, clipped to the metric's range;
        std and CI are NaN for n=1). Epochs reached by only some runs use those runs.
        """
        _check_metrics(metrics)
        rows = []
        for c in self._select(study, config):
            curves = [dict(c.curve(m, confidence)) for m in metrics]
            for e in range(max((len(r.epochs) for r in c.runs), default=0)):
                rows += [_summary_row(c, e, m, curve[e])  # epoch 0 has no training numbers
                         for m, curve in zip(metrics, curves, strict=True) if e in curve]
        return _frame(rows, SUMMARY_COLUMNS)

    def search(self, study: str) -> Any:
        """One row per candidate of a search, in proposal order: config, config_hash, the
        searched parameters as columns, n (race seeds run), mean (the race's metric), status
        (racing, dropped, survived, finalist, best), fresh_mean and test_mean (finalists: on fresh
        seeds). ``.attrs["sentence"]``: the answer, once the final round is done.

        Raises:
            ValueError: no such study, or not a search.
        """
        view = self.view(study)
        df = readout.search_frame(view)
        answer = readout.search_answer(view)
        df.attrs["sentence"] = answer.sentence if answer is not None else ""
        return df

    def final(self, study: str | None = None, config: str | None = None,
              metrics: Sequence[str] = METRICS) -> Any:
        """:meth:`summary` at each config's last epoch: one row per config and metric (the
        view's final summary; runs whose final value is not finite are left out)."""
        _check_metrics(metrics)
        rows = []
        for c in self._select(study, config):
            last = max((len(r.epochs) for r in c.runs), default=0) - 1
            rows += [_summary_row(c, last, m, s) for m in metrics
                     if (s := c.summary(m)) is not None]
        return _frame(rows, SUMMARY_COLUMNS)

    # --- comparisons and confusion ----------------------------------------------------

    def compare(self, a: str, b: str, metric: str = "test_acc") -> Compared:
        """Is config ``b`` different from ``a``? The final ``metric``, paired over shared
        seeds (what ``sweeplab compare`` prints). ``a``, ``b`` as :meth:`config`, one each.

        Raises:
            ValueError: a name that is not exactly one config, one without finished runs,
                both names for the same config, an unknown metric, or a validation metric
                (``val_acc``, ``val_loss``: a search's) of a config without that split.
        """
        from sweeplab.analysis import seeds, stats

        if metric not in readout.VAL_METRICS:
            _check_metrics([metric])
        sides, n_test, views = [], [], []
        for name in (a, b):
            c = self._one(name)
            if not c.runs:
                raise ValueError(f"{name!r} ({c.config_hash[:10]}) has no finished runs in "
                                 f"{self.path}.")
            if views and views[0].config_hash == c.config_hash:  # its runs, twice
                raise ValueError(f"{a!r} and {b!r} name the same config ({c.config_hash[:10]}); "
                                 f"compare needs two different configs.")
            if metric in readout.VAL_METRICS and any(getattr(r.final, metric) is None
                                                     for r in c.runs):
                raise ValueError(f"{name!r} ({c.config_hash[:10]}) has no {metric}: its runs held "
                                 f"out no validation split. Allowed: {', '.join(METRICS)}")
            sides.append((_ref(c), c.final(metric)))
            n_test.append(int(c.runs[0].confusion.sum()))  # test images its runs were scored on
            views.append(c)
        (ra, va), (rb, vb) = sides
        sa, sb = (v.summary(metric) for v in views)
        c = stats.compare(va, vb)
        scale, unit = (100.0, "points") if metric.endswith("acc") else (1.0, "")
        split, _, kind = metric.partition("_")
        name = f"{'validation' if split == 'val' else split} {'accuracy' * (kind == 'acc') or kind}"
        text = stats.describe_difference(c, metric_name=name, scale=scale, unit=unit,
                                         a_label=ra.name, b_label=rb.name,
                                         digits=2 if unit else 4)  # a loss: 4 decimals
        per = _per_example(*views) if metric == "test_acc" else {}
        tw = per["paired"].two_way if "paired" in per else None
        return Compared(metric, ra, rb, va, vb, sa, sb, c, text,
                        **seeds.compared_extras(va, vb, tuple(n_test) if metric == "test_acc"
                                                else None, tw), **per,
                        selected=self._selected(views, sorted(set(va) & set(vb))))

    def _selected(self, configs: list[readout.ConfigView], shared: list[int]) -> str:
        """Where both configs are candidates of one search: which of their shared seeds its
        race chose between candidates on (a difference over them carries that selection,
        the winner's curse), and which are fresh; "" otherwise."""
        from sweeplab.analysis.explain import seeds_text

        with self._store() as store:  # a config named by its hash: the studies listing it
            owners = [{c.study} if c.study else set(readout.listed_as(store, c.config_hash))
                      for c in configs]
        both = set.intersection(*owners)
        if len(both) != 1:
            return ""
        study = both.pop()
        view = self.view(study)
        if not view.is_search:
            return ""
        metric, race_seeds = view.search_score, view.search_seeds[0]
        race = [s for s in shared if s in race_seeds]
        fresh = [s for s in shared if s not in race_seeds]
        if not race:
            return ""
        return (f"Both are candidates of search {study!r}: {seeds_text(race)} of the "
                f"{len(shared)} shared are the race's, which chose between candidates on "
                f"{metric}, so a difference over them carries that selection (the "
                "winner's curse); " + (
                    f"{seeds_text(fresh)} are fresh, never selected on (the search's answer "
                    "states its test figures over those alone)." if fresh else
                    "none is a fresh seed, never selected on."))

    def confusion(self, config: str, seed: int | None = None) -> Any:
        """The test confusion matrix of one config (rows: true class, columns: predicted).

        With ``seed``: that run's counts. Without: the row-normalised rates (share of each
        true class predicted as each class) averaged over the seeds (the view's ``confusion``).

        Raises:
            ValueError: not exactly one config, or no finished run (of that seed).
        """
        pd = _pandas()
        c = self._one(config)
        runs = list(c.runs)
        names = list(S.class_names(c.config))  # a user's data has its own
        if seed is not None:
            runs = [r for r in runs if r.seed == seed]
        if not runs:
            raise ValueError(f"{config!r} has no finished run"
                             f"{'' if seed is None else f' with seed {seed}'} in {self.path}.")
        if seed is not None:
            matrix = np.asarray(runs[0].confusion)
        else:
            matrix = c.confusion.mean
        return pd.DataFrame(matrix, index=pd.Index(names, name="true"),
                            columns=pd.Index(names, name="predicted"))

    # --- figures and the report -------------------------------------------------------

    def figures(self, study: str) -> dict[str, Any]:
        """Every figure the report draws for ``study``: {name: matplotlib Figure}.

        A name is ``STUDY-NN-KIND`` (KIND: runs, band, sweep, by-value, heatmap, confusion,
        images, ...). Nothing is trained; the intro's sample images need ``data_dir``.
        """
        from sweeplab.report import study_figures

        _inline_figures()
        with self._store() as store:
            _check_study(store, study)
            return study_figures(store, study, self.data_dir)

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
        from sweeplab import outputs
        from sweeplab.report import write_report

        out = outputs.check_report_out(path, fmt)
        md_file = fmt == "md" and out.suffix == ".md"  # its images go beside it
        roots = (out, out.parent / f"{out.stem}_files") if md_file else (out,)
        before = outputs.files_under(*roots)
        with self._store() as store:
            try:
                return write_report(store, path, studies=studies, fmt=fmt,
                                    data_dir=self.data_dir)
            except OSError as err:
                outputs.new_files_removed(before, *roots)
                raise outputs.full_disk_error(err, err.filename or path, "the report") from err

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

    def check(self, repair: bool = False) -> Any:
        """The store checked (and with ``repair``, repaired): :func:`sweeplab.api.check`."""
        return check(self.path, repair=repair)

    def serve(self, port: int = 8765, host: str = "127.0.0.1") -> Any:
        """The live dashboard of this store (sweeplab.serve, extra ``sweeplab[serve]``): in
        Jupyter shown inline (the server runs in the background), elsewhere until Ctrl-C."""
        from sweeplab.serve import serve

        return serve(self, host=host, port=port)

    # --- saved models -----------------------------------------------------------------

    def model_path(self, config: str, seed: int) -> Path:
        """Where the run's model was saved (``run --save-models``).

        Raises:
            ValueError / ModelError: no such finished run, or it saved no model.
        """
        from sweeplab.saved_models import ModelError, stored_path

        c = self._one(config)
        run = next((r for r in c.runs if r.seed == seed), None)
        if run is None:
            raise ValueError(f"{config!r} has no finished run with seed {seed} in "
                             f"{self.path}.")
        if not run.model_path:
            raise ModelError.about("run {label} seed {seed} saved no model; train it with "
                                   "{save_models:True} to keep it.", label=c.label, seed=seed)
        with self._store() as store:
            return stored_path(store, run.model_path)

    def model(self, config: str, seed: int) -> Any:
        """The run's trained Keras model, loaded with safe mode on (uncompiled).

        Raises:
            ValueError / ModelError: no such run, no saved model, a missing file, or a file
                that is not this config's model.
        """
        from sweeplab import saved_models

        path = self.model_path(config, seed)
        return saved_models.load(path, S.config_from_dict(self._one(config).config))

    def class_names(self, config: str) -> tuple[str, ...]:
        """The class names of the config's dataset (output i is class_names[i])."""
        return S.class_names(self._one(config).config)  # a user's data: its own

    def predict(self, config: str, seed: int, images: np.ndarray) -> np.ndarray:
        """The run's model outputs for ``images``, shape (N, classes); ``.argmax(axis=1)`` is
        the predicted class. Images (N, H, W[, C]; uint8 or [0, 1] floats) or, for a config
        trained on feature vectors, (N, F); a user's float data is taken as given, as in
        training (``saved_models.prepare_images``).

        Raises:
            ModelError: inputs of the wrong shape, or values not finite or out of range
                (checked before TensorFlow is imported), or no usable saved model.
        """
        self.model_path(config, seed)  # no such run or no saved model: said first
        x = self.inputs(config, images)
        model = self.model(config, seed)
        return np.asarray(model.predict(x, batch_size=1024, verbose=0))

    def predict_classes(self, config: str, seed: int, images: np.ndarray) -> np.ndarray:
        """The run's answer for each of ``images`` in the dataset's own classes: an (N,)
        array of class names (a user's string labels as given; "0".."9" for MNIST). The
        same checks and errors as :meth:`predict`."""
        out = self.predict(config, seed, images)
        return np.asarray(self.class_names(config))[out.argmax(axis=1)]

    def inputs(self, config: str, images: np.ndarray) -> np.ndarray:
        """``images`` as the config's models take them (float32, scaled as its training data
        was; ``saved_models.prepare_images``), checked without importing TensorFlow."""
        from sweeplab import saved_models

        cfg = S.config_from_dict(self._one(config).config)
        return saved_models.prepare_images(images, S.input_shape(cfg),
                                           cfg.data.scaling if cfg.data else "uint8/255")

    # --- helpers ----------------------------------------------------------------------

    def _one(self, ref: str) -> readout.ConfigView:
        found = self.config_views(ref)
        if len(found) != 1:
            labels = ", ".join(c.name for c in found)
            raise ValueError(f"{ref!r} names {len(found)} configs ({labels}); name one, "
                             f"e.g. STUDY:LABEL.")
        return found[0]

    def _select(self, study: str | None, config: str | None) -> list[readout.ConfigView]:
        if config is not None:
            if study is not None and ":" not in config:
                labels = {c.label for c in self.view(study).configs}
                config = f"{study}:{config}" if config in labels else config
            return self.config_views(config)
        views = [self.view(study)] if study is not None else self.views()
        return [c for v in views for c in v.configs]


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


SUMMARY_COLUMNS = ("study", "config", "config_hash", "epoch", "metric", "n", "mean", "std",
                   "ci_low", "ci_high")  # and the study's axes, after config_hash


def _check_metrics(metrics: Sequence[str]) -> None:
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r}. Allowed: {', '.join(METRICS)}")


def _summary_row(c: readout.ConfigView, epoch: int, metric: str, s: Any) -> dict[str, Any]:
    return {**readout.ident(c), "epoch": epoch, "metric": metric, "n": s.n, "mean": s.mean,
            "std": s.std, "ci_low": s.ci_low, "ci_high": s.ci_high}


def _frame(rows: list[dict[str, Any]], columns: Sequence[str]) -> Any:
    pd = _pandas()
    if not rows:
        return pd.DataFrame(columns=list(columns))
    return pd.DataFrame(rows)


def _check_study(store: Store, study: str) -> None:
    if store.study(study) is None:
        names = [s.name for s in store.studies()]
        raise ValueError(f"no study {study!r} in {store.path}. It has: "
                         f"{', '.join(names) or 'no studies'}")


def _per_example(a: readout.ConfigView, b: readout.ConfigView) -> dict[str, Any]:
    """Compared's per-example fields, read from the two views (or why they are missing)."""
    from sweeplab.analysis import outcomes

    lack = [f"{c.name}: {c.outcomes_lack}" for c in (a, b) if c.outcomes_lack]
    if lack:
        return {"outcomes_lack": "; ".join(lack)}
    oa, ob = a.outcomes, b.outcomes
    assert oa is not None and ob is not None  # both have runs and nothing lacks
    if not np.array_equal(oa.labels, ob.labels):
        return {"outcomes_lack": "the two were scored on different test sets"}
    return {"split_a": a.variance_split, "split_b": b.variance_split,
            "paired": outcomes.paired(oa, ob)}


def _ref(c: readout.ConfigView) -> ConfigRef:
    return ConfigRef(c.config_hash, c.label, c.study, c.seeds)


__all__ = ["Compared", "ConfigRef", "Results", "StoreError", "check", "load_study", "open",
           "run"]
