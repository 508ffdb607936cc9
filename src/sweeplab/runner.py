"""Run a study: expand it, skip what the store has, train the rest, store each run.

The only module that joins studies, data, engines and the store. Everything is
checked (study, data, store) before the first run starts, and each run is written
to the store the moment it finishes.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from sweeplab import data as data_mod
from sweeplab import spec as S
from sweeplab.backend import library_versions
from sweeplab.engines import DEFAULT_ENGINE, Engine, get_engine
from sweeplab.errors import ArgumentError
from sweeplab.executors import Executor, Group, Outcome, make_executor
from sweeplab.progress import Progress
from sweeplab.results import EpochRecord, RunResult
from sweeplab.store import Store
from sweeplab.study import MAX_SEED, PlannedConfig, Study, expand, schedule, study_to_dict


@dataclass
class RunSummary:
    """What one call of :func:`run_study` did."""

    study: str  # study name
    total: int  # runs the study asks for
    skipped: int  # already done before this call (or finished meanwhile by another process)
    trained: int = 0  # finished by this call
    busy: list[tuple[str, int]] = field(default_factory=list)  # (label, seed) another live
    # process on this host was training when this call reached them: left to it
    failed: list[tuple[str, int, str]] = field(default_factory=list)  # (label, seed, error)
    seconds: float = 0.0  # wall time of this call

    @property
    def ok(self) -> bool:
        return not self.failed


class RunListener(Protocol):
    """Told about training as it happens (live logging to MLflow or TensorBoard, saving
    models). ``run_done`` is called after the run is committed to the store; a listener may
    not change what is stored. Listeners run in the store's writer process."""

    def epoch(self, study: Study, planned: PlannedConfig, seed: int, record: EpochRecord,
              epochs: int) -> None: ...

    def run_done(self, study: Study, planned: PlannedConfig, result: RunResult) -> None: ...


def _group_size(eng, planned: list[PlannedConfig], dataset, n_seeds: int) -> int:
    """Seeds per scheduling round: the engine's group size K (1 for the reference).

    Rounds as wide as the engine's group keep a multi-seed engine's groups full while
    still giving every config its first seeds before any config gets more.
    """
    size = getattr(eng, "group_size", None)
    if size is None or not planned:
        return 1
    return max(1, max(size(p.config, dataset, n_seeds) for p in planned))


_SAID: set[str] = set()  # non-standard built-in files already told about in this process


def load_data(study: Study, data_dir: str | None = None,
              log: Callable[[str], None] | None = None) -> tuple[Study, data_mod.Dataset]:
    """The study's data, and the study as it is run and stored.

    A built-in name whose file is not the standard data (its arrays' MD5s differ from the
    official ones) becomes that data: its fingerprint enters every config's hash, so it never
    reuses the standard dataset's runs. This is said in one line (``log``, else stderr).

    Raises:
        DataError: the data cannot be found or read, or is invalid.
    """
    base = study.base
    if base.data is not None:
        arrays = data_mod.arrays_for(S.config_to_dict(base)["data"])
        return study, data_mod.hold_out(arrays.subset(base.subset), base.validation)
    ds = data_mod.hold_out(data_mod.load(base.dataset, data_dir, base.subset), base.validation)
    if not ds.fingerprint:
        return study, ds
    ref = S.DataRef(ds.name, ds.fingerprint, tuple(ds.image_shape), tuple(ds.class_names),
                    ds.scaling, ds.source)
    if ds.source not in _SAID:
        _SAID.add(ds.source)
        line = (f"{ds.source} is not the standard {ds.name} (its arrays differ from the official "
                f"ones): its runs are stored as dataset {ds.name} with fingerprint "
                f"{ds.fingerprint}, apart from the standard {ds.name}'s")
        if log is not None:
            log(line)
        else:
            import sys

            print(f"sweeplab: {line}", file=sys.stderr)
    return dataclasses.replace(study, base=dataclasses.replace(base, data=ref)), ds


def check_models(planned: Sequence[PlannedConfig], dataset: data_mod.Dataset,
                 engine: str) -> None:
    """Build every user model once (sweeplab.usermodels.check) before anything is stored.

    Raises:
        SpecError: a builder that cannot be imported, raises, or does not fit the data.
        ValueError: an engine that cannot train a user's model (fast: layer specs only).
    """
    custom = [p for p in planned if p.config.model is not None]
    if not custom:
        return
    if engine == "fast":
        raise ValueError("engine 'fast' trains layer specs only; a model builder needs "
                         "'reference', 'jax' or 'auto'")
    from sweeplab import usermodels
    from sweeplab.backend import seed_everything

    seed_everything(0)
    seen = set()
    for p in custom:
        key = S.canonical_json(p.config)
        if key not in seen:
            seen.add(key)
            usermodels.check(p.config, tuple(dataset.image_shape), dataset.num_classes)


class Ready(NamedTuple):
    """What :func:`preflight` resolved, for the runner to take as it is."""

    study: Study  # as it is stored (see load_data)
    dataset: data_mod.Dataset
    engine: Engine
    planned: list[PlannedConfig]  # the grid, expanded; every user model in it checked


def preflight(study: Study, data_dir: str | None = None, engine: str = DEFAULT_ENGINE,
              parallel: int | None = None, log: Callable[[str], None] | None = None
              ) -> Ready:
    """Everything checked before a store is opened: the engine, the data, every user model.
    Pass its result to :func:`run_study` (``ready=``) so that nothing is resolved twice."""
    eng = get_engine(engine, parallel, custom=study.base.model is not None)
    study, dataset = load_data(study, data_dir, log)
    planned = expand(study)
    check_models(planned, dataset, eng.name)
    return Ready(study, dataset, eng, planned)


def prepare(study: Study, store: Store,
            planned: list[PlannedConfig] | None = None) -> list[PlannedConfig]:
    """Expand the study (unless ``planned`` is its expansion) and record it in the store."""
    planned = expand(study) if planned is None else planned
    store.save_study(study.name, study_to_dict(study),
                     [(p.config_hash, S.canonical_json(p.config), p.label, p.axes)
                      for p in planned])
    return planned


def run_study(
    study: Study,
    store: Store,
    data_dir: str | None = None,
    engine: str = DEFAULT_ENGINE,
    parallel: int | None = None,
    quiet: bool = False,
    stop_on_error: bool = False,
    log: Callable[[str], None] | None = None,
    only: set[str] | None = None,
    listeners: Sequence[RunListener] = (),
    ray: str | None = None,
    ready: Ready | None = None,
) -> RunSummary:
    """Train every run of ``study`` that the store does not have yet.

    ``only`` limits training to those config hashes (all are still recorded);
    ``stop_on_error`` re-raises the first failing run's error instead of recording it; ``ray``
    None trains here, else each group is a Ray task ("local", "auto" or HOST:PORT) while this
    process still writes every result; ``ready`` is :func:`preflight`'s result (None: run it).

    Raises:
        SpecError, DataError, StoreError: before any training, when something is wrong.
        ExecutorError: ``ray`` is set and Ray is missing or the cluster unreachable.
    """
    t0 = time.perf_counter()
    # Data and models first: a missing file or a broken builder must stop us before the
    # store changes.
    study, dataset, eng, planned = ready or preflight(study, data_dir, engine, parallel, log)
    prepare(study, store, planned)
    summary, todo = _plan(study, store, eng, dataset,
                          [p for p in planned if only is None or p.config_hash in only])
    train_groups(study, store, eng, dataset, todo, summary, data_dir=data_dir,
                 parallel=parallel, quiet=quiet, stop_on_error=stop_on_error, log=log,
                 listeners=listeners, ray=ray)
    summary.seconds = time.perf_counter() - t0
    return summary


def train_groups(study: Study, store: Store, eng: Engine, dataset: data_mod.Dataset,
                 todo: Sequence[tuple[PlannedConfig, tuple[int, ...]]]
                 | Iterator[tuple[PlannedConfig, tuple[int, ...]]], summary: RunSummary,
                 *, data_dir: str | None = None, parallel: int | None = None,
                 quiet: bool = False, stop_on_error: bool = False,
                 log: Callable[[str], None] | None = None,
                 listeners: Sequence[RunListener] = (), ray: str | None = None,
                 total: int | None = None, progress: Progress | None = None) -> None:
    """Train ``todo``'s (config, seeds) groups (the seeds of one group together where the
    engine can) and store each run as it finishes; ``summary`` counts them. The configs
    must be recorded in the store already (:func:`prepare`).

    ``todo`` may be an iterator asked for the next group each time the executor has a free
    slot (a search deciding while others train: it may stop and later give more); then
    ``total`` (runs, for the progress bar) is given with it. ``progress``: a bar the caller
    started and closes (a search's, over its whole budget) instead of one for this call."""
    if isinstance(todo, Sequence):
        if not todo:
            return
        total = sum(len(s) for _, s in todo)
    versions = library_versions()
    own = progress is None
    if own:
        progress = Progress(study.name, (total or 0) * study.base.epochs, enabled=not quiet)
        progress.start(total or 0)
    loop = _Loop(study, store, eng.name, summary, progress, listeners, iter(todo), versions)
    try:
        with make_executor(ray, eng, parallel, dataset, data_dir, loop.on_epoch) as ex:
            loop.run(ex, stop_on_error, log)
    finally:
        if own:
            progress.close()


def _plan(study: Study, store: Store, eng: Engine, dataset: data_mod.Dataset,
          trainable: list[PlannedConfig]
          ) -> tuple[RunSummary, list[tuple[PlannedConfig, tuple[int, ...]]]]:
    """What this call trains: the seeds of ``trainable`` the store lacks, in rounds as wide
    as the engine's groups (see study.schedule), and the summary so far."""
    done = {p.config_hash: store.done_seeds(p.config_hash) for p in trainable}
    summary = RunSummary(study.name, len(trainable) * len(study.seeds),
                         sum(len(done[p.config_hash] & set(study.seeds)) for p in trainable))
    size = _group_size(eng, trainable, dataset, len(study.seeds))
    return summary, schedule(trainable, study.seeds, done, group=size)


@dataclass
class _Loop:
    """The submit/collect loop of one :func:`run_study` call: claims and submits groups
    while the executor has slots, stores each run as it comes back, records failures."""

    study: Study
    store: Store
    engine: str  # the engine's name, recorded with each claim
    summary: RunSummary  # updated as runs are claimed, stored and failed
    progress: Progress
    listeners: Sequence[RunListener]
    groups: Iterator[tuple[PlannedConfig, tuple[int, ...]]]  # what is left to submit
    versions: dict[str, str]  # library versions, stored with every run
    ids: Iterator[int] = field(default_factory=itertools.count)
    pending: dict[int, set[int]] = field(default_factory=dict)  # group id -> seeds not back
    written: set[tuple[str, int]] = field(default_factory=set)  # (config hash, seed) stored

    def on_epoch(self, group: Group, seed: int, record: EpochRecord, epochs: int) -> None:
        self.progress.epoch(group.key.label, seed, record.epoch, epochs)
        for listener in self.listeners:
            listener.epoch(self.study, group.key, seed, record, epochs)

    def run(self, executor: Executor, stop_on_error: bool,
            log: Callable[[str], None] | None) -> None:
        """Submit, and collect every outcome until nothing is in flight."""
        self.submit_more(executor)
        for out in executor.as_completed():
            left = self.pending.get(out.group.id, set())
            if out.result is not None:
                self.store_run(out, left)
            else:
                if stop_on_error and out.exception is not None:
                    raise out.exception
                self.fail(out, left, log)
            if not left:
                self.pending.pop(out.group.id, None)
                self.submit_more(executor)

    def submit_more(self, executor: Executor) -> None:
        """Claim and submit groups until the executor's slots are full (claiming only what
        is about to be trained keeps two drivers on one store sharing the work)."""
        while len(self.pending) < executor.slots:
            nxt = next(self.groups, None)
            if nxt is None:
                return
            p, seeds = nxt
            claims = {seed: self.store.claim_run(p.config_hash, seed, self.engine)
                      for seed in seeds}
            self.summary.skipped += sum(c == "done" for c in claims.values())
            self.summary.busy += [(p.label, s) for s, c in claims.items() if c == "busy"]
            seeds = [s for s in seeds if claims[s] == "claimed"]
            self.progress.skip(len(claims) - len(seeds), self.study.base.epochs)
            if seeds:
                group = Group(next(self.ids), p, p.config, tuple(seeds))
                self.pending[group.id] = set(seeds)
                executor.submit(group)

    def store_run(self, out: Outcome, left: set[int]) -> None:
        """Store a finished run and tell the listeners (``left``: its group's seeds not back)."""
        r = out.result
        # A retried task can deliver a run twice: the first copy is the one kept.
        if r.seed in left and (r.config_hash, r.seed) not in self.written:
            if not out.live:  # trained elsewhere: its epochs are told now
                for record in r.epochs[1:]:  # 0 = untrained, never told
                    self.on_epoch(out.group, r.seed, record, len(r.epochs) - 1)
            self.store.finish_run(r, self.versions)
            self.written.add((r.config_hash, r.seed))
            self.summary.trained += 1
            self.progress.run_done()
            for listener in self.listeners:
                listener.run_done(self.study, out.group.key, r)
        left.discard(r.seed)

    def fail(self, out: Outcome, left: set[int], log: Callable[[str], None] | None) -> None:
        """Record the seeds of a group that failed for good."""
        p, failed, text = out.group.key, sorted(left & set(out.failed)), _last_line(out.error)
        for seed in failed:
            self.store.fail_run(p.config_hash, seed, out.error)
            self.summary.failed.append((p.label, seed, text))
            left.discard(seed)
        if log and failed:
            log(f"{self.study.name} {p.label}: seeds {failed} failed: {text}")


def _last_line(error: str) -> str:
    """The exception line of a traceback text."""
    lines = [ln for ln in error.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "unknown error"


def next_seeds(seeds: Sequence[int], k: int) -> tuple[int, ...]:
    """``k`` seeds not in ``seeds``: counting up from the largest, then from 0 past
    ``MAX_SEED`` (seeds stay in the documented [0, MAX_SEED])."""
    out: list[int] = []
    used, s = set(seeds), max(seeds, default=-1) + 1
    while len(out) < k:
        s = 0 if s > MAX_SEED else s
        if s not in used:
            out.append(s)
            used.add(s)
        s += 1
    return tuple(out)


@dataclass
class AdaptiveSummary:
    """What :func:`run_until_ci` did and why it stopped."""

    study: str  # study name
    target: float  # wanted 95% CI half-width of final test accuracy, in accuracy points
    max_seeds: int  # most seeds any config may get
    reason: str  # why it stopped, in words
    seeds: dict[str, int] = field(default_factory=dict)  # config label -> finished seeds
    half_widths: dict[str, float] = field(default_factory=dict)  # label -> half-width, points
    detect: float | None = None  # run_until_detect: the difference to detect, points
    detectable: dict[str, float] = field(default_factory=dict)  # "b vs a" -> detectable, points
    rounds: list[RunSummary] = field(default_factory=list)  # one per round of training

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rounds)


def run_until_ci(
    study: Study,
    store: Store,
    target_points: float,
    max_seeds: int,
    seeds_per_round: int = 2,
    min_seeds: int = 3,
    detect: float | None = None,
    **kwargs,
) -> AdaptiveSummary:
    """Add seeds in rounds until every config's 95% CI of final test accuracy has a half-width
    of at most ``target_points`` accuracy points (or, with ``detect``, until neighbouring
    configs would detect a difference of ``detect`` points with 80% power).

    Each round gives the configs still too wide the next ``seeds_per_round`` seeds, until all
    are narrow enough or one would exceed ``max_seeds``. None is called narrow with fewer than
    ``min_seeds``: the half-width of two or three runs is too noisy to stop on.

    Raises:
        ValueError: bad target, max_seeds or seeds_per_round.
    """
    from sweeplab.analysis.seeds import power
    from sweeplab.analysis.stats import ci_half_width, needs_more_seeds

    target_points = target_points if detect is None else detect
    if not target_points > 0:
        raise ArgumentError.about("{%s} must be > 0 accuracy points. Received: {value!r}"
                                  % ("until_ci" if detect is None else "until_detect"),
                                  value=target_points)
    if max_seeds < 2 or seeds_per_round < 1 or not 2 <= min_seeds <= max_seeds:
        raise ValueError(f"max_seeds must be >= 2, seeds_per_round >= 1 and min_seeds in "
                         f"[2, max_seeds]. Received: max_seeds={max_seeds}, "
                         f"seeds_per_round={seeds_per_round}, min_seeds={min_seeds}")
    ready = kwargs.pop("ready", None) or preflight(
        study, kwargs.get("data_dir"), kwargs.get("engine", DEFAULT_ENGINE),
        kwargs.get("parallel"), kwargs.get("log"))
    study, planned = ready.study, ready.planned  # hashes as stored
    seeds = tuple(study.seeds[:max_seeds])
    active = {p.config_hash for p in planned}
    out = AdaptiveSummary(study.name, target_points, max_seeds, "", detect=detect)
    while True:
        current = dataclasses.replace(study, seeds=seeds)
        out.rounds.append(run_study(current, store, only=active,
                                    ready=ready._replace(study=current), **kwargs))
        vals = {p.label: [r.final.test_acc for r in store.results(p.config_hash) if r.seed in seeds]
                for p in planned}
        for p in planned:
            out.seeds[p.label] = len(vals[p.label])
            out.half_widths[p.label] = (100 * ci_half_width(vals[p.label]) if vals[p.label]
                                        else math.inf)
        active = {p.config_hash for p in planned if out.seeds[p.label] < min_seeds}
        if detect is None:
            wide = set(needs_more_seeds(vals, target_points / 100))
            active |= {p.config_hash for p in planned if p.label in wide}
        for a, b in zip(planned, planned[1:], strict=False) if detect is not None else ():
            va, vb = ({r.seed: r.final.test_acc for r in store.results(p.config_hash)
                       if r.seed in seeds} for p in (a, b))
            mdd = 100 * power(va, vb).mdd if va and vb else math.inf
            out.detectable[f"{b.label} vs {a.label}"] = mdd
            if not mdd <= detect:  # nan (too few runs) counts as not yet
                active |= {a.config_hash, b.config_hash}
        if not active:
            out.reason = (f"every configuration's 95% CI half-width is at most "
                          f"{target_points:g} points" if detect is None else
                          f"every neighbouring pair would detect {detect:g} points with 80% "
                          "power")
            break
        if not out.rounds[-1].ok:
            out.reason = "a run failed; fix it and run again"
            break
        if len(seeds) >= max_seeds:
            what = (f"still wider than {target_points:g} points" if detect is None else
                    f"in pairs that would not yet detect {detect:g} points")
            out.reason = (f"reached --max-seeds {max_seeds} with {len(active)} configuration(s) "
                          f"{what} or short of {min_seeds} seeds")
            break
        seeds = seeds + next_seeds(seeds, min(seeds_per_round, max_seeds - len(seeds)))
    # Record the seeds reached so `ls` and the report count against them.
    prepare(dataclasses.replace(study, seeds=seeds), store)
    store.set_meta(f"adaptive:{study.name}", {
        "target_points": target_points, "max_seeds": max_seeds, "reason": out.reason,
        "seeds": out.seeds, "half_widths": out.half_widths, "detect": detect,
        "detectable": out.detectable})
    return out
