"""The one reader of stored results: a study as a :class:`StudyView` of :class:`ConfigView`
s (axis values, finished runs of the study's seeds, seeds missing, failed or interrupted),
and the runs and epochs frames with one column vocabulary (README, "Column names").
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from sweeplab import data as data_mod
from sweeplab import spec as S
from sweeplab.analysis import outcomes as O
from sweeplab.results import RunResult, race_row
from sweeplab.store import Damaged, RunRow, Store, StoreError, StudyConfigRow
from sweeplab.study import BUILTIN, describe_score, expand, format_value, study_to_dict

__all__ = [
    "EPOCH_COLUMNS", "METRICS", "RUN_COLUMNS", "ConfigView", "DamagedRecord", "StudyView",
    "OUTCOME_COLUMNS", "epochs_frame", "outcomes_frame",
    "find_configs", "read_config", "read_study", "runs_frame"
]

METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")  # per epoch; final in runs
ID_COLUMNS = ("study", "config", "config_hash")  # then one column per axis
VAL_METRICS = ("val_loss", "val_acc")  # the validation split's (NaN: the config has none)
RUN_COLUMNS = ("seed", "epochs", *METRICS, "engine", "backend", "device", "node",
               "started_at", "finished_at", "wall_seconds", "model_path")
EPOCH_COLUMNS = ("seed", "epoch", *METRICS, "seconds")
OUTCOME_COLUMNS = ("split", "seed", "example", "label", "predicted", "correct")  # per example
SPLITS = (("test", "predictions", "test_labels"),  # split, RunResult's predictions, labels
          ("validation", "val_predictions", "val_labels"))
CONFIDENCE = 0.95  # sweeplab.analysis.stats.CONFIDENCE (not imported: it needs SciPy)


def bounds(metric: str) -> tuple[float, float]:
    """The range of a metric: intervals are clipped to it."""
    return (0.0, 1.0) if metric.endswith("acc") else (0.0, math.inf)


@dataclass(frozen=True)
class ConfigView:
    """One config as a study sees it (or, named by hash alone, with every finished run)."""

    study: str | None  # the study it was read through; None for a bare config hash
    config_hash: str  # sweeplab.spec.config_hash
    label: str  # "width=32", "base", or the first 10 hex digits of a bare hash
    axes: dict[str, str]  # axis name -> value label
    values: dict[str, Any]  # axis name -> value (numbers and strings as themselves)
    config: dict[str, Any]  # the config as stored (sweeplab.spec.config_to_dict form)
    spec: S.Config | None  # the config itself; None when the stored one is unreadable
    runs: tuple[RunResult, ...]  # finished runs with a seed of the study, by seed
    seeds: tuple[int, ...] | None  # the study's seeds; None = every finished run counts
    rows: dict[int, RunRow] = field(default_factory=dict)  # seed -> bookkeeping
    counts: dict[str, int] = field(default_factory=dict)  # status -> runs (any seed)
    damaged: tuple[str, ...] = ()  # one line per damaged run record (not in runs)
    memo: dict[tuple[Any, ...], Any] = field(default_factory=dict, init=False, compare=False,
                                             repr=False)  # the numbers, once computed

    @property
    def name(self) -> str:
        """The label with its study ("q6 width=32")."""
        return f"{self.study} {self.label}" if self.study else self.label

    @property
    def missing(self) -> tuple[int, ...]:
        """Seeds of the study without a finished run."""
        done = {r.seed for r in self.runs}
        return tuple(s for s in self.seeds or () if s not in done)

    @property
    def failed(self) -> tuple[tuple[int, str], ...]:
        """(seed, last line of the error) of the study's seeds whose last try failed."""
        return tuple((r.seed, ((r.error or "").strip().splitlines() or [""])[-1])
                     for r in self.rows.values()
                     if r.status == "failed" and (self.seeds is None or r.seed in self.seeds))

    @property
    def engines(self) -> tuple[str, ...]:
        """'ENGINE (BACKEND, DEVICE)' of the finished runs, each once."""
        return tuple(sorted({_who(r) for r in self._done() if r.engine}))

    @property
    def trained_by(self) -> str:
        """Who trained the finished runs: 'ENGINE (BACKEND, DEVICE) on NODE', with counts
        if mixed (on a Ray cluster, the nodes that trained them)."""
        n: dict[str, int] = {}
        for r in self._done():
            node = r.node or r.host
            key = f"{_who(r, r.engine or '?')}{f' on {node}' if node else ''}"
            n[key] = n.get(key, 0) + 1
        if len(n) == 1:
            return next(iter(n))
        return "; ".join(f"{c} {k}" for k, c in sorted(n.items()))

    def _done(self) -> list[RunRow]:
        return [r for r in self.rows.values() if r.status == "done"]

    # --- the numbers of its runs (sweeplab.analysis.stats), computed once per view -------
    # Every mean, spread and interval shown of a config comes from here.

    def _memo(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        if key not in self.memo:
            self.memo[key] = make()
        return self.memo[key]

    def final(self, metric: str = "test_acc") -> dict[int, float]:
        """Seed -> the final epoch's ``metric`` of each finished run, by seed."""
        return dict(self._memo(("final", metric), lambda: {
            r.seed: float(getattr(r.final, metric)) for r in self.runs}))

    def summary(self, metric: str = "test_acc", confidence: float = CONFIDENCE) -> Any:
        """The final ``metric`` over seeds (a stats.Summary: n, mean, std, t-interval
        clipped to the metric's range, no bootstrap) of the runs where it is finite (a
        diverged loss is stored as inf), as :meth:`curve`; None without such runs."""
        def make() -> Any:
            from sweeplab.analysis import stats

            vals = [v for v in self.final(metric).values() if math.isfinite(v)]
            return stats.summarize(vals, confidence, n_boot=0, bounds=bounds(metric)) \
                if vals else None
        return self._memo(("summary", metric, confidence), make)

    def curve(self, metric: str, confidence: float = CONFIDENCE) -> list[tuple[int, Any]]:
        """(epoch, stats.Summary of ``metric`` over the runs that reached it) per epoch
        with a value (epoch 0 has no training numbers)."""
        def make() -> list[tuple[int, Any]]:
            from sweeplab.analysis import stats

            out = []
            for e in range(max((len(r.epochs) for r in self.runs), default=0)):
                vals = [getattr(r.epochs[e], metric) for r in self.runs if len(r.epochs) > e]
                vals = [v for v in vals if v is not None and math.isfinite(v)]
                if vals:
                    out.append((e, stats.summarize(vals, confidence, n_boot=0,
                                                   bounds=bounds(metric))))
            return out
        return self._memo(("curve", metric, confidence), make)

    @cached_property
    def explanation(self) -> Any:
        """Every run diagnosed and grouped (sweeplab.analysis.explain.ConfigExplanation);
        None without finished runs."""
        from sweeplab.analysis import explain

        return explain.explain(self.label, self.runs) if self.runs else None

    @cached_property
    def confusion(self) -> Any:
        """The runs' test confusion, row-normalised and averaged over seeds (a
        stats.AveragedConfusion); None without finished runs."""
        from sweeplab.analysis import stats

        return stats.average_confusion([r.confusion for r in self.runs]) if self.runs else None

    # --- per-example outcomes (sweeplab.analysis.outcomes), computed once per view ----------

    @cached_property
    def outcomes(self) -> O.Outcomes | None:
        """The finished runs' final predictions on the test set; None when a run has none
        (:attr:`outcomes_lack` says why) or there are no runs."""
        return None if self.outcomes_lack else self._outcomes("predictions", "test_labels")

    @cached_property
    def outcomes_lack(self) -> str:
        """Why the per-example numbers cannot be given ("" when they can)."""
        return self._lack("predictions", "test_labels", "test sets",
                          "were stored without per-example predictions (by a sweeplab before "
                          "store schema 3); train them again into a new store for the test "
                          "set's variance, ensembles and churn")

    @cached_property
    def val_outcomes(self) -> O.Outcomes | None:
        """The finished runs' final predictions on the validation split (labels = the
        split's); None when a run has none (:attr:`val_outcomes_lack` says why) or there
        are no runs."""
        return None if self.val_outcomes_lack else self._outcomes("val_predictions",
                                                                  "val_labels")

    def _outcomes(self, predictions: str, labels: str) -> O.Outcomes | None:
        """The runs' stored ``predictions`` stacked seeds x examples, with ``labels``."""
        if not self.runs:
            return None
        r0 = self.runs[0]
        return O.Outcomes(tuple(r.seed for r in self.runs),
                          np.stack([np.asarray(getattr(r, predictions)) for r in self.runs]),
                          np.asarray(getattr(r0, labels)), int(np.asarray(r0.confusion).shape[0]))

    @cached_property
    def val_outcomes_lack(self) -> str:
        """Why the validation split's per-example outcomes cannot be given ("" when they
        can)."""
        return self._lack("val_predictions", "val_labels", "validation splits",
                          "kept no validation predictions (no validation split, or a sweeplab "
                          "before store schema 6)")

    def _lack(self, predictions: str, labels: str, sets: str, missing: str) -> str:
        """"N of K runs ``missing``" when some runs kept no ``predictions``/``labels``, or
        that they were scored on different ``sets`` (labels of any length); else ""."""
        old = [r.seed for r in self.runs
               if getattr(r, predictions) is None or getattr(r, labels) is None]
        if old:
            return f"{len(old)} of {len(self.runs)} runs {missing}"
        first = getattr(self.runs[0], labels) if self.runs else None
        if any(not np.array_equal(getattr(r, labels), first) for r in self.runs[1:]):
            return f"its runs were scored on different {sets}"
        return ""

    @cached_property
    def variance_split(self) -> O.VarianceSplit | None:
        """The seeds' variance split into the test set's sampling and the distribution-wise
        part (Jordan 2024); None with fewer than 2 seeds or no outcomes."""
        o = self.outcomes
        return O.split_variance(o.correct) if o is not None and len(o.seeds) >= 2 else None

    @cached_property
    def val_variance_split(self) -> O.VarianceSplit | None:
        """The same split on the validation split's examples (its sampling in the
        ``test_set`` part); None with fewer than 2 seeds or no validation outcomes."""
        o = self.val_outcomes
        return O.split_variance(o.correct) if o is not None and len(o.seeds) >= 2 else None

    @cached_property
    def val_churn(self) -> float:
        """Mean pairwise disagreement between the seeds on the validation split (NaN: fewer
        than 2, or none kept)."""
        o = self.val_outcomes
        return np.nan if o is None else O.churn(o.predictions, num_classes=o.num_classes)

    @cached_property
    def val_vote(self) -> float:
        """The majority vote of every seed on the validation split (ties as a random pick
        among the tied classes, as the ensemble curve counts them); NaN without outcomes."""
        o = self.val_outcomes
        return np.nan if o is None else O.vote_accuracy(o.predictions, o.labels, o.num_classes)

    @cached_property
    def ensemble(self) -> O.EnsembleCurve | None:
        """Majority-vote accuracy against the number of seeds; None without outcomes."""
        o = self.outcomes
        return None if o is None else O.ensemble_curve(o.predictions, o.labels, o.num_classes)

    @cached_property
    def churn(self) -> float:
        """Mean pairwise disagreement between the seeds (NaN: fewer than 2, or none kept)."""
        o = self.outcomes
        return np.nan if o is None else O.churn(o.predictions, num_classes=o.num_classes)


def _who(r: RunRow, engine: str | None = None) -> str:
    where = ", ".join(x for x in (r.backend, r.device) if x)
    engine = engine or r.engine or ""
    return f"{engine} ({where})" if where else engine


@dataclass(frozen=True)
class StudyView:
    """A study as the store holds it (or a built-in the store has never seen)."""

    name: str
    definition: dict[str, Any]  # the study as last run (sweeplab.study.study_to_dict)
    configs: tuple[ConfigView, ...]  # in grid order
    in_store: bool  # False: a built-in study the store has never seen
    adaptive: dict[str, Any] | None = None  # the last --until-ci stop, if any
    search: dict[str, Any] | None = None  # a search's state (sweeplab.search), if any
    orphans: tuple[str, ...] = ()  # damaged run records whose config is not known
    memo: dict[str, Any] = field(default_factory=dict, init=False, compare=False,
                                 repr=False)  # the search's answer, once computed

    @property
    def damaged(self) -> tuple[str, ...]:
        """One line per damaged run record of the study (left out of every number)."""
        return tuple(line for c in self.configs for line in c.damaged) + self.orphans

    @property
    def axes(self) -> list[dict[str, Any]]:
        return list(self.definition.get("axes", []))

    @property
    def search_seeds(self) -> tuple[range, range]:
        """A search's race seeds and its final round's fresh ones (study.Search.fresh)."""
        s = self.definition["search"]
        return range(s["max_seeds"]), range(s["max_seeds"], s["max_seeds"] + s["fresh_seeds"])

    @property
    def search_test(self) -> str:
        """A search's drop test in words, at its level (the default where none is stored)."""
        from sweeplab.analysis import race

        return race.describe_test(self.definition["search"].get("level", race.ALPHA))

    @property
    def metric_epochs(self) -> int:
        """The epochs a search's race score averages (1 where none is stored)."""
        return int(self.definition["search"].get("metric_epochs", 1))

    @property
    def search_score(self) -> str:
        """What a search's race compares, in words (its metric, over its metric_epochs)."""
        return describe_score(self.definition["search"]["metric"], self.metric_epochs)

    @property
    def kind(self) -> str:
        """The built-in's name when the study has its layout (its axes), else "generic"."""
        builtin = BUILTIN.get(self.name)
        if builtin is None:
            return "generic"
        names = [a.get("name") for a in self.axes]
        return self.name if names == [a.name for a in builtin.axes] else "generic"

    @property
    def dataset(self) -> str:
        return str(self.definition.get("dataset", "mnist"))

    @property
    def class_names(self) -> tuple[str, ...]:
        if self.definition.get("data"):  # a user's data: its own classes (sweeplab.data)
            return tuple(self.definition["data"]["class_names"])
        meta = data_mod.DATASETS.get(self.dataset)
        return meta.class_names if meta else tuple(str(i) for i in range(10))

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.definition.get("seeds", [])]

    @property
    def with_runs(self) -> list[ConfigView]:
        return [c for c in self.configs if c.runs]

    @property
    def is_search(self) -> bool:
        """Whether the study is a search (its definition has one; :attr:`search`, its state,
        is there only once it has run)."""
        return "search" in self.definition

    @property
    def baseline(self) -> ConfigView | None:
        """The config the others are compared with: the definition's ``baseline``, else the
        first; None for a search (its candidates are the sampler's order: its answer, on
        fresh seeds, says which is best)."""
        if self.is_search:
            return None
        label = self.definition.get("baseline")
        for c in self.configs:
            if c.label == label:
                return c
        return self.configs[0] if self.configs else None

    @property
    def runs_done(self) -> int:
        return sum(len(c.runs) for c in self.configs)

    @property
    def runs_total(self) -> int:
        if self.search is not None:  # a search: its budget
            return int(self.definition["search"]["budget"])
        return len(self.configs) * len(self.seeds)

    n_runs = runs_done  # the exporters' name

    @property
    def status(self) -> str:
        if self.runs_done == 0:
            return "not run"
        if self.search is not None:  # a search is done when its final round is
            return "complete" if search_answer(self) is not None else "partial"
        return "partial" if any(c.missing for c in self.configs) else "complete"


def axis_values(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """axis name -> {value label: value}: numbers and strings as themselves, layer lists
    (q7a's depths) by their labels."""
    out: dict[str, dict[str, Any]] = {}
    for a in definition.get("axes", []):
        labels = a.get("labels") or [format_value(v) for v in a.get("values", [])]
        out[a["name"]] = {lab: (v if isinstance(v, (int, float, str, bool)) else lab)
                          for lab, v in zip(labels, a.get("values", []), strict=False)}
    return out


def read_config(store: Store, study: str | None, config_hash: str, label: str,
                axes: dict[str, str], seeds: Sequence[int] | None,
                values: dict[str, dict[str, Any]] | None = None) -> ConfigView:
    """One config with its finished runs of ``seeds`` (all when None); ``values``: axis
    name -> {label: value} (:func:`axis_values`), else the values are the labels."""
    values = values or {}
    _, cfg = store.config(config_hash)
    try:
        spec: S.Config | None = S.config_from_dict(cfg)
    except Exception:  # an unreadable config still gets its runs reported
        spec = None
    keep = None if seeds is None else set(seeds)
    runs = tuple(r for r in store.results(config_hash) if keep is None or r.seed in keep)
    name = f"{study} {label}" if study else None
    damaged = _named([d for d in store.damaged() if d.what == "run"
                      and d.config_hash == config_hash], store, name)
    return ConfigView(study, config_hash, label, dict(axes),
                      {n: values.get(n, {}).get(lab, lab) for n, lab in axes.items()},
                      cfg, spec, runs, None if seeds is None else tuple(seeds),
                      {r.seed: r for r in store.run_rows(config_hash)},
                      store.counts([config_hash])[config_hash], damaged)


class DamagedRecord(UserWarning):
    """A stored record failed its checksum, did not parse or missed a field: named in one
    line and left out of every number. ``what`` is "run" (``config_hash`` and ``seed`` say
    which, as stored) or "meta"."""

    def __init__(self, line: str, what: str = "run", config_hash: str | None = None,
                 seed: Any = None):
        super().__init__(line)
        self.what, self.config_hash, self.seed = what, config_hash, seed


def _named(damaged: Sequence[Damaged], store: Store, label: str | None) -> tuple[str, ...]:
    """The lines naming damaged records, each also warned (DamagedRecord) once per read."""
    lines = []
    for d in damaged:
        line = (f"{store.path}: damaged {d.line(label)}; left out of every number "
                f"(`sweeplab check --store {store.path} --repair` trains it again)")
        warnings.warn(DamagedRecord(line, d.what, d.config_hash, d.seed), stacklevel=3)
        lines.append(line)
    return tuple(lines)


def read_study(store: Store, name: str) -> StudyView:
    """The study ``name`` as ``store`` holds it; a built-in the store has not seen comes
    with every run missing.

    Raises:
        ValueError: neither in the store nor built in.
    """
    row = store.study(name)
    if row is None:
        if name not in BUILTIN:
            have = [s.name for s in store.studies()]
            raise ValueError(f"no study {name!r} in {store.path}. It has: "
                             f"{', '.join(have) or 'no studies'}")
        study = BUILTIN[name]
        seeds = tuple(study.seeds)
        configs = tuple(ConfigView(name, p.config_hash, p.label, dict(p.axes), dict(p.axes),
                                   S.config_to_dict(p.config), p.config, (), seeds)
                        for p in expand(study))
        return StudyView(name, study_to_dict(study), configs, False)
    seeds = tuple(int(s) for s in row.definition.get("seeds", []))
    values = axis_values(row.definition)
    configs = tuple(read_config(store, name, c.config_hash, c.label, c.axes, seeds, values)
                    for c in store.study_configs(name))
    adaptive, search = store.get_meta(f"adaptive:{name}"), store.get_meta(f"search:{name}")
    if "search" in row.definition:  # a candidate's seeds are those the race gave it, its
        # values the sampled numbers (its label rounds them), as Results.search has them
        sampled = search.get("params", {}) if isinstance(search, dict) else {}
        order = [p["name"] for p in row.definition["search"].get("params", [])]

        def values(c: ConfigView) -> dict[str, Any]:  # in the parameters' order
            got = {**c.values, **sampled.get(c.config_hash, {})}
            return {**{n: got[n] for n in order if n in got}, **got}

        configs = tuple(dataclasses.replace(c, seeds=tuple(r.seed for r in c.runs),
                                            values=values(c)) for c in configs)
    known = {h for h, _ in store.configs()} | {d.config_hash for d in store.damaged()
                                                if d.what == "config"}
    orphans = _named([d for d in store.damaged() if d.what == "meta" or (
        d.what == "run" and d.config_hash not in known)], store, None)
    return StudyView(name, row.definition, configs, True,
                     adaptive if isinstance(adaptive, dict) else None,
                     search if isinstance(search, dict) else None, orphans)


def find_configs(store: Store, ref: str) -> list[ConfigView]:
    """The configs ``ref`` names: a study (all its configs), ``STUDY:LABEL`` (e.g.
    ``q6:width=32``) or ``STUDY:HASH_PREFIX`` (its configs whose hash starts so), or a
    config hash or unique prefix (with every finished run; labelled as the studies that
    list it label it, else by its first 10 hex digits).

    Raises:
        ValueError: a study without that label, or a label without its study; StoreError: no
            such config.
    """
    study, _, label = ref.partition(":")
    if store.study(study) is None:  # a hash: labelled as the one study that lists it does
        try:
            h, _ = store.config(ref)
        except StoreError:  # a label without its study (a frame's `config` column)?
            named = list(dict.fromkeys(f"'{study}:{ref}'" for study, c in _listings(store)
                                       if c.label == ref))
            if not named:
                raise
            raise ValueError(f"{ref!r} is a config's label: name it with its study, as "
                             f"{' or '.join(named)}") from None
        listed = set(listed_as(store, h).values())
        return [read_config(store, None, h, listed.pop() if len(listed) == 1 else h[:10], {},
                            None)]
    configs = list(read_study(store, study).configs)
    found = [c for c in configs if not label or _names(label, c)]
    if label and not found and set(label) <= set("0123456789abcdef"):  # a hash prefix (ls)
        found = [c for c in configs if c.config_hash.startswith(label)]
    if label and not found:
        raise ValueError(f"study {study!r} has no config {label!r}. Allowed: "
                         f"{', '.join(c.label for c in configs)}, or a config's hash prefix "
                         "(`sweeplab ls`)")
    return found


def _listings(store: Store) -> Iterator[tuple[str, StudyConfigRow]]:
    """(study name, listing) for every config every current study lists."""
    return ((s.name, c) for s in store.studies() for c in store.study_configs(s.name))


def listed_as(store: Store, config_hash: str) -> dict[str, str]:
    """study name -> the label it lists config ``config_hash`` under (studies that do)."""
    return {study: c.label for study, c in _listings(store) if c.config_hash == config_hash}


def _same_value(text: str, label: str, value: Any) -> bool:
    """Whether ``text`` names an axis value: as its label, or as the same number
    ("0.0" names 0, "1e-3" names 0.001)."""
    if text == label:
        return True
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return float(text) == value
    except ValueError:
        return False


def _names(ref: str, c: ConfigView) -> bool:
    """Whether the label part of ``STUDY:LABEL`` names config ``c``: its label (spaces
    optional), or every axis as ``name=value`` with values matched by value."""
    if ref in (c.label, c.label.replace(" ", "")):
        return True
    pairs = [p.partition("=") for p in ref.split(",")]
    given = {n.strip(): v.strip() for n, eq, v in pairs if eq}
    return len(given) == len(pairs) and given.keys() == c.axes.keys() and all(
        _same_value(v, c.axes[n], c.values[n]) for n, v in given.items())


def unlisted_configs(store: Store) -> list[str]:
    """Hashes of the stored configs that no current study lists."""
    listed = {c.config_hash for _, c in _listings(store)}
    return [h for h, _ in store.configs() if h not in listed]


# --------------------------------------------------------------------------- frames


# Every column a frame of runs, epochs or summaries may have: an axis named like one of
# them gets the column ``axis_NAME``.
_TAKEN = {*ID_COLUMNS, *RUN_COLUMNS, *EPOCH_COLUMNS, "metric", "n", "mean", "std", "ci_low",
          "ci_high"}


def ident(c: ConfigView) -> dict[str, Any]:
    """The identifying columns of a config's rows: study, config, config_hash, its axes."""
    return {"study": c.study, "config": c.label, "config_hash": c.config_hash,
            **{f"axis_{n}" if n in _TAKEN else n: v for n, v in c.values.items()}}


def _frame(configs: Iterable[ConfigView], per_run, columns: Sequence[str]) -> Any:
    import pandas as pd

    rows: list[dict[str, Any]] = []
    axes: list[str] = []
    for c in configs:
        head = ident(c)
        axes += list(head)[len(ID_COLUMNS):]
        rows += [{**head, **row} for r in c.runs for row in per_run(c, r)]
    axes = list(dict.fromkeys(axes))
    return pd.DataFrame(rows, columns=[*ID_COLUMNS, *axes, *columns]), axes


def _typed(df: Any, axes: Sequence[str], ints: Sequence[str],
           metrics: Sequence[str] = METRICS) -> Any:
    """One type per column (Parquet needs it; studies sharing an axis may differ): an axis
    is numbers when every value is one, else text; epoch 0's missing training numbers are
    NaN in a float column."""
    import pandas as pd

    for name in axes:
        values = [v for v in df[name] if v is not None and v == v]
        if values and not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                              for v in values):
            df[name] = df[name].map(lambda v: None if v is None or v != v else str(v))
        else:
            df[name] = pd.to_numeric(df[name])
    for col in ints:
        df[col] = df[col].astype("int64")
    for col in tuple(metrics) + tuple(c for c in VAL_METRICS if c in df):
        df[col] = pd.to_numeric(df[col])
    return df


def _val(c: ConfigView, e: Any) -> dict[str, Any]:
    """The validation split's numbers of an epoch, for a config that has one."""
    return {m: getattr(e, m) for m in VAL_METRICS} if c.config.get("validation") else {}


def _run_row(c: ConfigView, r: RunResult) -> list[dict[str, Any]]:
    f, row = r.final, c.rows.get(r.seed)
    return [{"seed": r.seed, "epochs": f.epoch, **{m: getattr(f, m) for m in METRICS},
             **_val(c, f),
             "engine": r.engine, "backend": r.backend, "device": r.device, "node": r.node,
             "started_at": row.started_at if row else None,
             "finished_at": row.finished_at if row else None,
             "wall_seconds": r.wall_seconds, "model_path": r.model_path}]


def _epoch_rows(c: ConfigView, r: RunResult) -> list[dict[str, Any]]:
    return [{"seed": r.seed, "epoch": e.epoch, **{m: getattr(e, m) for m in METRICS},
             **_val(c, e), "seconds": e.seconds} for e in r.epochs]


def _with_val(configs: Sequence[ConfigView], columns: Sequence[str], before: str
              ) -> tuple[str, ...]:
    """``columns`` with val_loss, val_acc after the test metrics when a config has a
    validation split (before ``before`` for epochs, at the end for runs)."""
    if not any(c.config.get("validation") for c in configs):
        return tuple(columns)
    if before == "seconds":
        i = list(columns).index(before)
        return (*columns[:i], *VAL_METRICS, *columns[i:])
    return (*columns, *VAL_METRICS)


def runs_frame(configs: Iterable[ConfigView]) -> Any:
    """One row per finished run: study, config, config_hash, one column per axis, then
    :data:`RUN_COLUMNS` (the final epoch's metrics under their per-epoch names), and
    val_loss, val_acc where a config has a validation split."""
    configs = list(configs)
    df, axes = _frame(configs, _run_row, _with_val(configs, RUN_COLUMNS, "model_path"))
    return _typed(df, axes, ("seed", "epochs"))


def epochs_frame(configs: Iterable[ConfigView]) -> Any:
    """One row per finished run and epoch (epoch 0 = untrained: no training numbers):
    study, config, config_hash, one column per axis, then :data:`EPOCH_COLUMNS` (and
    val_loss, val_acc before seconds where a config has a validation split)."""
    configs = list(configs)
    df, axes = _frame(configs, _epoch_rows, _with_val(configs, EPOCH_COLUMNS, "seconds"))
    return _typed(df, axes, ("seed", "epoch"))


def outcomes_frame(configs: Iterable[ConfigView]) -> Any:
    """One row per finished run, split and example: study, config, config_hash, one column
    per axis, then :data:`OUTCOME_COLUMNS`: the split ("test", or "validation" where a run
    kept its validation split's predictions: store schema 6, a config with ``validation``),
    the seed, the example's index in that split, its true class and the run's predicted class
    (both by the dataset's class names, as text), and whether it was right. Per config the
    test rows come first (seeds ascending), then the validation rows. A run stored without
    test predictions (by a sweeplab before store schema 3) has no rows
    (``ConfigView.outcomes_lack`` says so)."""
    import pandas as pd

    parts, axes = [], []
    for c in configs:
        head = ident(c)
        names = np.asarray(S.class_names(c.config) if c.config else (), dtype=object)
        for split, pred, lab in SPLITS:
            runs = [r for r in c.runs if getattr(r, pred) is not None
                    and getattr(r, lab) is not None]
            if runs:
                axes += list(head)[len(ID_COLUMNS):]
            for r in runs:
                y = np.asarray(getattr(r, lab), np.int64)
                p = np.asarray(getattr(r, pred), np.int64)
                top = max(int(y.max(initial=0)), int(p.max(initial=0)))
                text = names if len(names) > top else np.asarray(
                    [str(i) for i in range(top + 1)], dtype=object)
                df = pd.DataFrame({"split": split, "seed": np.full(len(y), r.seed, np.int64),
                                   "example": np.arange(len(y), dtype=np.int64),
                                   "label": text[y], "predicted": text[p], "correct": y == p})
                for i, (k, v) in enumerate(head.items()):
                    df.insert(i, k, v)
                parts.append(df)
    axes = list(dict.fromkeys(axes))
    columns = [*ID_COLUMNS, *axes, *OUTCOME_COLUMNS]
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    df = _typed(df[columns], axes, ("seed", "example"), metrics=())
    for col in ("split", "label", "predicted"):
        df[col] = df[col].astype(str)
    df["correct"] = df["correct"].astype(bool)
    return df


# --------------------------------------------------------------------------- search


def _search_table(view: StudyView) -> tuple[dict[str, Any], dict[str, ConfigView],
                                            dict[str, list[float]]]:
    """The search's definition, its candidates by hash, and the race's table (each race
    seed's score, in seed order, up to the first missing seed)."""
    search = view.definition["search"]
    race_seeds = view.search_seeds[0]
    by_hash = {c.config_hash: c for c in view.configs}
    table = {h: race_row({r.seed: r for r in c.runs}, race_seeds, search["metric"],
                         view.metric_epochs) for h, c in by_hash.items()}
    return search, by_hash, table


def search_answer(view: StudyView) -> Any:
    """The search's answer (sweeplab.analysis.race.Answer) once its final round is complete,
    else None; computed once per view (its P(best) bootstrap takes a second at full size)."""
    if view.search is None or not view.search.get("finalists"):
        return None
    if "answer" not in view.memo:
        view.memo["answer"] = _answer(view)
    return view.memo["answer"]


def _answer(view: StudyView) -> Any:
    from sweeplab.analysis import race

    search, by_hash, table = _search_table(view)
    fresh = view.search_seeds[1]
    finalists = [h for h in view.search["finalists"] if h in by_hash]
    runs = {h: {r.seed: r for r in by_hash[h].runs} for h in finalists}
    if not finalists or not all(s in runs[h] for h in finalists for s in fresh):
        return None
    split = "validation" if search["metric"].startswith("val_") else "test"
    shared = range(min(len(table[h]) for h in finalists))  # the race's seeds all of them have
    configs = [by_hash[h] for h in finalists]
    epochs = view.metric_epochs  # over several epochs: no one epoch's examples
    return race.answer(
        labels={h: by_hash[h].label for h in finalists},
        race_means={h: sum(table[h]) / len(table[h]) for h in finalists},
        fresh_metric={h: [runs[h][s].last(search["metric"], epochs) for s in fresh]
                      for h in finalists},
        fresh_test={h: [float(runs[h][s].final.test_acc) for s in fresh] for h in finalists},
        metric=view.search_score, seed=search["seed"],
        shared_metric={h: table[h][:len(shared)] for h in finalists},
        metric_correct=_correct(configs, [*shared, *fresh], split) if epochs == 1 else None,
        test_correct=_correct(configs, fresh, "test"), metric_split=split)


def _correct(configs: Sequence[ConfigView], seeds: Iterable[int], split: str
             ) -> dict[str, np.ndarray] | None:
    """config hash -> (seeds, examples) right or not on ``split``, rows in ``seeds``'
    order; None unless every config kept those runs' predictions on the same examples."""
    seeds = list(seeds)
    out, labels = {}, None
    for c in configs:
        o = c.outcomes if split == "test" else c.val_outcomes
        if o is None or not set(seeds) <= set(o.seeds):
            return None
        if labels is not None and not np.array_equal(labels, o.labels):
            return None
        labels = o.labels
        out[c.config_hash] = o.correct[[o.seeds.index(s) for s in seeds]]
    return out


def race_status(view: StudyView, config_hash: str) -> str:
    """A search candidate's place in the race: racing (still given seeds), dropped (a test
    found it worse), survived (in the race at its end, not a finalist), finalist, or best
    (the answer's, once the final round is complete)."""
    search = view.search or {}
    finalists = search.get("finalists", [])
    if config_hash in finalists:
        answer = search_answer(view)
        return "best" if answer is not None and answer.best.key == config_hash else "finalist"
    return ("dropped" if config_hash in search.get("dropped", []) else
            "survived" if finalists else "racing")


def search_frame(view: StudyView) -> Any:
    """One row per candidate, in proposal order: config, config_hash, its parameters as
    columns, n (race seeds run), mean (the race's metric over them), status (racing,
    dropped, survived, finalist, best: :func:`race_status`), and for finalists fresh_mean
    and test_mean."""
    import pandas as pd

    if view.search is None:
        raise ValueError(f"study {view.name!r} is not a search (it has no [search] table)")
    search, by_hash, table = _search_table(view)
    answer = search_answer(view)
    fresh = {f.key: f for f in answer.finalists} if answer is not None else {}
    names = [p["name"] for p in search["params"]]
    rows = []
    for h, c in by_hash.items():
        params = view.search.get("params", {}).get(h, {})
        status = race_status(view, h)
        vals = table[h]
        f = fresh.get(h)
        rows.append({"config": c.label, "config_hash": h,
                     **{n: params.get(n) for n in names}, "n": len(vals),
                     "mean": sum(vals) / len(vals) if vals else float("nan"), "status": status,
                     "fresh_mean": f.fresh_mean if f else float("nan"),
                     "test_mean": f.test_mean if f else float("nan")})
    return pd.DataFrame(rows, columns=["config", "config_hash", *names, "n", "mean", "status",
                                       "fresh_mean", "test_mean"])
