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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sweeplab import data as data_mod
from sweeplab import spec as S
from sweeplab.backend import library_versions
from sweeplab.engines import DEFAULT_ENGINE, get_engine
from sweeplab.executors import Executor, Group, make_executor
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
    """Seeds per scheduling round: what the engine trains at once (1 for the reference).

    Rounds as wide as the engine's group keep a multi-seed engine's groups full while
    still giving every config its first seeds before any config gets more.
    """
    size = getattr(eng, "group_size", None)
    if size is None or not planned:
        return 1
    return max(1, max(size(p.config, dataset, n_seeds) for p in planned))


def prepare(study: Study, store: Store,
            planned: list[PlannedConfig] | None = None) -> list[PlannedConfig]:
    """Expand the study (unless ``planned`` is its expansion) and record it in the store."""
    planned = expand(study) if planned is None else planned
    store.save_study(study.name, study_to_dict(study),
                     [(p.hash, S.canonical_json(p.config), p.label, p.axes) for p in planned])
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
) -> RunSummary:
    """Train every run of ``study`` that the store does not have yet.

    Args:
        data_dir: where to look for the dataset first (see sweeplab.data.load).
        engine: engine name (sweeplab.engines.ENGINES).
        parallel: seeds an engine may train at once (None = its own choice).
        quiet: no progress bar.
        stop_on_error: re-raise the first failing run's error instead of recording it
            and going on with the others.
        only: train only these config hashes (the others are still recorded).
        listeners: told about every finished epoch and every stored run (RunListener).
        ray: None trains in this process; otherwise each group of runs is a Ray task
            (sweeplab.executors.ray): "local" starts a cluster here, "auto" or
            HOST:PORT joins one. This process still writes every result to the store.

    Raises:
        SpecError, DataError, StoreError: before any training, when something is wrong.
        ExecutorError: ``ray`` is set and Ray is missing or the cluster unreachable.
    """
    t0 = time.perf_counter()
    eng = get_engine(engine, parallel)
    planned = expand(study)
    trainable = [p for p in planned if only is None or p.hash in only]
    # Load the data first: a missing or corrupt file must stop us before the store changes.
    dataset = data_mod.load(study.base.dataset, data_dir, study.base.subset)
    prepare(study, store, planned)
    done = {p.hash: store.done_seeds(p.hash) for p in planned}
    total = len(trainable) * len(study.seeds)
    skipped = sum(len(done[p.hash] & set(study.seeds)) for p in trainable)
    summary = RunSummary(study.name, total, skipped)
    todo = schedule(trainable, study.seeds, done, group=_group_size(eng, trainable, dataset,
                                                                    len(study.seeds)))
    if not todo:
        summary.seconds = time.perf_counter() - t0
        return summary
    versions = library_versions()
    progress = Progress(study.name, sum(len(s) for _, s in todo) * study.base.epochs,
                        enabled=not quiet)
    progress.start(sum(len(s) for _, s in todo))

    def on_epoch(group: Group, seed: int, record: EpochRecord, epochs: int) -> None:
        progress.epoch(group.key.label, seed, record.epoch, epochs)
        for listener in listeners:
            listener.epoch(study, group.key, seed, record, epochs)

    groups = iter(todo)
    ids = itertools.count()
    pending: dict[int, set[int]] = {}  # group id -> seeds not yet back
    written: set[tuple[str, int]] = set()  # (config hash, seed) stored by this call

    def submit_more(executor: Executor) -> None:
        """Claim and submit groups until the executor's slots are full (claiming only what
        is about to be trained keeps two drivers on one store sharing the work)."""
        while len(pending) < executor.slots:
            nxt = next(groups, None)
            if nxt is None:
                return
            p, seeds = nxt
            claims = {seed: store.claim_run(p.hash, seed, eng.name) for seed in seeds}
            summary.skipped += sum(c == "done" for c in claims.values())
            summary.busy += [(p.label, s) for s, c in claims.items() if c == "busy"]
            seeds = [s for s in seeds if claims[s] == "claimed"]
            progress.skip(len(claims) - len(seeds), study.base.epochs)
            if seeds:
                group = Group(next(ids), p, p.config, tuple(seeds))
                pending[group.id] = set(seeds)
                executor.submit(group)

    try:
        with make_executor(ray, eng, parallel, dataset, data_dir, on_epoch) as executor:
            submit_more(executor)
            for out in executor.as_completed():
                p, left = out.group.key, pending.get(out.group.id, set())
                if out.result is not None:
                    r = out.result
                    # A retried task can deliver a run twice: the first copy is the one kept.
                    if r.seed in left and (r.config_hash, r.seed) not in written:
                        if not out.live:  # trained elsewhere: its epochs are told now
                            for record in r.epochs[1:]:  # 0 = untrained, never told
                                on_epoch(out.group, r.seed, record, len(r.epochs) - 1)
                        store.finish_run(r, versions)
                        written.add((r.config_hash, r.seed))
                        summary.trained += 1
                        progress.run_done()
                        for listener in listeners:
                            listener.run_done(study, p, r)
                    left.discard(r.seed)
                else:
                    if stop_on_error and out.exception is not None:
                        raise out.exception
                    failed = sorted(left & set(out.failed))
                    text = _last_line(out.error)
                    for seed in failed:
                        store.fail_run(p.hash, seed, out.error)
                        summary.failed.append((p.label, seed, text))
                        left.discard(seed)
                    if log and failed:
                        log(f"{study.name} {p.label}: seeds {failed} failed: {text}")
                if not left:
                    pending.pop(out.group.id, None)
                    submit_more(executor)
    finally:
        progress.close()
    summary.seconds = time.perf_counter() - t0
    return summary


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
    **kwargs,
) -> AdaptiveSummary:
    """Add seeds in rounds until every config's 95% CI of final test accuracy is narrow enough.

    Starts with the study's own seeds, then gives each config whose CI half-width is
    still above ``target_points`` (accuracy points: 0.5 means +-0.5 %) the next
    ``seeds_per_round`` seeds, until all are narrow enough or a config needing more
    would exceed ``max_seeds``. Only the configs that still need seeds are trained.
    A config is never called narrow enough with fewer than ``min_seeds`` seeds: the
    half-width of two or three runs is itself too noisy to stop on.

    Raises:
        ValueError: bad target, max_seeds or seeds_per_round.
    """
    from sweeplab.stats import ci_half_width

    if not target_points > 0:
        raise ValueError(f"--until-ci must be > 0 accuracy points. Received: {target_points!r}")
    if max_seeds < 2 or seeds_per_round < 1 or not 2 <= min_seeds <= max_seeds:
        raise ValueError(f"max_seeds must be >= 2, seeds_per_round >= 1 and min_seeds in "
                         f"[2, max_seeds]. Received: max_seeds={max_seeds}, "
                         f"seeds_per_round={seeds_per_round}, min_seeds={min_seeds}")
    seeds = tuple(study.seeds[:max_seeds])
    planned = expand(study)
    active = {p.hash for p in planned}
    out = AdaptiveSummary(study.name, target_points, max_seeds, "")
    while True:
        current = dataclasses.replace(study, seeds=seeds)
        out.rounds.append(run_study(current, store, only=active, **kwargs))
        for p in planned:
            vals = [r.final.test_acc for r in store.results(p.hash) if r.seed in seeds]
            out.seeds[p.label] = len(vals)
            out.half_widths[p.label] = 100 * ci_half_width(vals) if vals else math.inf
        active = {p.hash for p in planned if out.half_widths[p.label] > target_points
                  or out.seeds[p.label] < min_seeds}
        if not active:
            out.reason = (f"every configuration's 95% CI half-width is at most "
                          f"{target_points:g} points")
            break
        if not out.rounds[-1].ok:
            out.reason = "a run failed; fix it and run again"
            break
        if len(seeds) >= max_seeds:
            out.reason = (f"reached --max-seeds {max_seeds} with {len(active)} configuration(s) "
                          f"still wider than {target_points:g} points or short of "
                          f"{min_seeds} seeds")
            break
        seeds = seeds + next_seeds(seeds, min(seeds_per_round, max_seeds - len(seeds)))
    # Record the seeds reached so `ls` and the report count against them.
    prepare(dataclasses.replace(study, seeds=seeds), store)
    store.set_meta(f"adaptive:{study.name}", {
        "target_points": target_points, "max_seeds": max_seeds, "reason": out.reason,
        "seeds": out.seeds, "half_widths": out.half_widths})
    return out
