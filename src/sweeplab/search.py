"""Run a search: Optuna proposes configs (ask/tell), seeds race
(:func:`sweeplab.analysis.race.decide` of the stored table), the runner trains.

Resuming after Ctrl-C or ``kill -9``: Optuna's history is a journal beside the store
(``STORE_search/NAME.journal``) and the dropped set is in the store's meta (``search:NAME``);
an unanswered proposal is taken up again, the sampler is seeded with (seed, trial number)
so the same history gives the same proposals, and the budget counts runs in the store.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeplab import spec as S
from sweeplab.analysis import race
from sweeplab.progress import Progress
from sweeplab.results import race_row
from sweeplab.runner import RunListener, RunSummary, preflight, train_groups
from sweeplab.store import Store
from sweeplab.study import (
    PlannedConfig,
    Search,
    Study,
    format_value,
    redefinition,
    study_to_dict,
    with_value,
)

MAX_DUPLICATES = 30  # proposals in a row that repeat a candidate: the space is exhausted


class SearchError(ValueError):
    """The search cannot go on (a missing extra, a failed run); the message says why."""


def journal_path(store: str | os.PathLike, study: str) -> Path:
    """Where Optuna's history of ``study`` is kept: beside the store."""
    p = Path(store)
    return p.with_name(f"{p.stem}_search") / f"{study}.journal"


def load_optuna() -> Any:
    """Optuna, quietened; a SearchError naming the ``search`` extra where it is missing."""
    try:
        with warnings.catch_warnings():  # its tqdm.auto, in a kernel without ipywidgets
            warnings.filterwarnings("ignore", message="IProgress not found")
            import optuna
    except ImportError as err:
        from sweeplab.extras import missing_extra

        raise SearchError(missing_extra("a [search]", "Optuna", "search")) from err
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _distributions(search: Search) -> dict[str, Any]:
    d = load_optuna().distributions
    out = {}
    for p in search.params:
        if p.kind == "int":
            out[p.name] = d.IntDistribution(int(p.low), int(p.high), log=p.log)
        elif p.kind == "float":
            out[p.name] = d.FloatDistribution(p.low, p.high, log=p.log)
        else:  # by label: a choice may be a layer list, which Optuna cannot hold
            out[p.name] = d.CategoricalDistribution(list(p.choice_labels()))
    return out


def _sampler(search: Search, number: int) -> Any:
    """The sampler for proposal ``number``, seeded by (seed, number): a resumed search asks
    with the same seed as the uninterrupted one would have."""
    samplers = load_optuna().samplers
    seed = (search.seed * 1_000_003 + number) % 2**31
    if search.sampler == "tpe":
        # Optuna 5's defaults, named so no other version's change them: the constant liar
        # (candidates asked but not yet told count as the worst, so the pool's others are not
        # proposed again) and the multivariate TPE. Optuna 4's defaults (neither) named a
        # config within q7b's noise in 0.89 of simulated searches at 40 runs, against 0.993
        # with both named (bench/README, "Search").
        return samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, search.pool)),
                                   multivariate=True, constant_liar=True)
    if search.sampler == "random":
        return samplers.RandomSampler(seed=seed)
    if search.sampler == "gp":
        return samplers.GPSampler(seed=seed)
    return samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def candidate_values(search: Search, params: dict[str, Any]) -> dict[str, Any]:
    """A trial's params as config values (choices by label back to their values)."""
    out = {}
    for p in search.params:
        v = params[p.name]
        if p.kind == "choices":
            v = p.choices[p.choice_labels().index(v)]
        out[p.name] = v
    return out


def planned_candidate(study: Study, params: dict[str, Any]) -> PlannedConfig:
    """One candidate as a config of the study (label "width=40, lr=0.003, opt=adam")."""
    search = study.search
    assert search is not None
    values = candidate_values(search, params)
    cfg = with_value(study.base, {path: values[p.name] for p in search.params
                                  for path in p.paths}, "search")
    labels = {p.name: format_value(params[p.name]) if p.kind != "float"
              else f"{params[p.name]:.3g}" for p in search.params}
    return PlannedConfig(cfg, S.config_hash(cfg), ", ".join(f"{k}={v}" for k, v in
                                                            labels.items()), labels)


@dataclass
class SearchSummary:
    """What one :func:`run_search` call did, and the search's state after it."""

    study: str
    budget: int  # runs allowed in all
    spent: int = 0  # runs in the store for this search (race and final round)
    trained: int = 0  # runs this call trained
    candidates: int = 0  # distinct configs proposed
    dropped: int = 0
    finished: bool = False  # the race and the final round are done
    answer: race.Answer | None = None  # the honest answer, once finished
    failed: list[tuple[str, int, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def _meta_key(name: str) -> str:
    return f"search:{name}"


class _Driver:
    def __init__(self, study: Study, store: Store, journal: Path, say: Callable[[str], None]):
        optuna = load_optuna()
        self.study, self.store, self.say = study, store, say
        self.search: Search = study.search  # type: ignore[assignment]
        journal.parent.mkdir(parents=True, exist_ok=True)
        backend = optuna.storages.journal.JournalFileBackend(
            str(journal), lock_obj=optuna.storages.journal.JournalFileOpenLock(str(journal)))
        self.storage = optuna.storages.JournalStorage(backend)
        self.ostudy = optuna.create_study(study_name=study.name, storage=self.storage,
                                          direction="maximize", load_if_exists=True)
        # The journal holds the history of one definition: another one's proposals and
        # values must not steer this search (a store deleted and the study changed; a
        # redefined study's journal moves with it, api.run).
        new, held = study_to_dict(study), self.ostudy.user_attrs.get("sweeplab:study")
        diff = redefinition(held, new) if isinstance(held, dict) else None
        if diff is not None:
            raise SearchError(
                f"{journal} holds the search history of another definition of study "
                f"{study.name!r} ({diff}), not this one; move that file away to start this "
                "search afresh, or run that definition again.")
        if held is None:
            self.ostudy.set_user_attr("sweeplab:study", new)
        self.dists = _distributions(self.search)
        state = store.get_meta(_meta_key(study.name)) or {}
        self.dropped: set[str] = set(state.get("dropped", []))
        self.drop_step: dict[str, int] = dict(state.get("drop_step", {}))
        self.finalists: list[str] = list(state.get("finalists", []))
        self.can_propose = bool(state.get("can_propose", True))
        # (runs spent, incumbent, its mean then) each time the incumbent changed
        self.history: list[tuple[int, str, float]] = [tuple(h) for h in  # type: ignore[misc]
                                                      state.get("history", [])]
        self.duplicates = 0
        # the seeds of the step being trained (config hash -> seeds), until it is done
        self.pending: dict[str, list[int]] = dict(state.get("pending", {}))
        # --ray: proposals made while other candidates' seeds were training
        self.proposed_while_training = int(state.get("proposed_while_training", 0))
        # The journal gone (or emptied) while the store holds the candidates: they are read
        # from the store's state, enough for a race that is over (its final round and answer).
        trials = state.get("trials", {})
        self.lost: dict[str, tuple[dict[str, Any], list[int]]] = (
            {} if self.ostudy.get_trials(deepcopy=False) else
            {h: (params, trials.get(h, [])) for h, params in state.get("params", {}).items()})

    # --- what the store and the journal hold ---------------------------------------

    def candidates(self) -> dict[str, tuple[PlannedConfig, dict[str, Any], list[int]]]:
        """config hash -> (planned config, params, trial numbers), in proposal order."""
        out: dict[str, tuple[PlannedConfig, dict[str, Any], list[int]]] = {}
        for h, (params, nums) in self.lost.items():
            out[h] = (planned_candidate(self.study, params), dict(params), list(nums))
        for t in self.ostudy.get_trials(deepcopy=False):
            if set(t.params) != set(self.dists):
                continue
            p = planned_candidate(self.study, t.params)
            if p.config_hash not in out:
                out[p.config_hash] = (p, dict(t.params), [])
            out[p.config_hash][2].append(t.number)
        return out

    def values(self, h: str) -> dict[int, Any]:
        """seed -> finished run of config ``h`` (any seed of the search)."""
        keep = set(self.study.seeds)
        return {r.seed: r for r in self.store.results(h) if r.seed in keep}

    def table(self, cands: dict[str, Any]) -> dict[str, list[float]]:
        s = self.search
        return {h: race_row(self.values(h), s.race_seeds, s.metric, s.metric_epochs)
                for h in cands}

    def spent(self, cands: dict[str, Any]) -> tuple[int, int]:
        """(runs of the race, runs of the final round) in the store."""
        fresh = set(self.search.fresh)
        r = f = 0
        for h in cands:
            seeds = self.values(h)
            f += sum(s in fresh for s in seeds)
            r += sum(s not in fresh for s in seeds)
        return r, f

    def save(self, cands: dict[str, Any], **extra: Any) -> None:
        self.store.save_study(self.study.name, study_to_dict(self.study),
                              [(p.config_hash, S.canonical_json(p.config), p.label, p.axes)
                               for p, _, _ in cands.values()])
        self.store.set_meta(_meta_key(self.study.name), {
            "dropped": sorted(self.dropped), "drop_step": self.drop_step,
            "finalists": self.finalists, "can_propose": self.can_propose,
            "history": [list(h) for h in self.history], "pending": self.pending,
            "proposed_while_training": self.proposed_while_training,
            "params": {h: params for h, (_, params, _) in cands.items()},
            "trials": {h: nums for h, (_, _, nums) in cands.items()}, **extra})

    # --- Optuna ------------------------------------------------------------------------

    def tell_ready(self, cands: dict[str, Any], table: dict[str, list[float]]) -> None:
        """Tell every asked trial whose candidate has its first seeds their mean."""
        optuna = load_optuna()
        running = {t.number: t for t in self.ostudy.get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))}
        for h, (_, _, nums) in cands.items():
            vals = table[h]
            if len(vals) >= self.search.first_test:
                for n in nums:
                    if n in running:
                        self.ostudy.tell(n, sum(vals) / len(vals))

    def decide(self, table: dict[str, list[float]], budget_left: int, pool: int
               ) -> race.Decision:
        """The race's next step on ``table``; the candidates it drops are recorded with the
        seeds they had (they never get another)."""
        s = self.search
        dec = race.decide(table, budget_left, first_test=s.first_test, max_seeds=s.max_seeds,
                          dropped=frozenset(self.dropped), pool=pool, alpha=s.level,
                          can_propose=self.can_propose)
        for h in dec.newly_dropped:
            self.drop_step[h] = len(table[h])
        self.dropped = set(dec.dropped)
        return dec

    def propose(self, cands: dict[str, Any]) -> bool:
        """Ask for one new candidate; False if the sampler offers none new. (A trial asked
        before a kill is already a candidate, with no runs: the race gives it its seeds.)"""
        optuna = load_optuna()
        while self.duplicates < MAX_DUPLICATES:
            number = len(self.ostudy.get_trials(deepcopy=False))
            self.ostudy.sampler = _sampler(self.search, number)
            trial = self.ostudy.ask(self.dists)
            p = planned_candidate(self.study, trial.params)
            if p.config_hash not in cands:
                self.duplicates = 0
                return True
            self.duplicates += 1  # the same config again: tell it what that one has
            vals = self.table({p.config_hash: 0})[p.config_hash]
            if vals:
                self.ostudy.tell(trial.number, sum(vals) / len(vals))
            else:
                self.ostudy.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        self.can_propose = False
        return False


class _Feed:
    """The race decided as slots free up (``--ray``): each free slot decides the race again on
    the stored runs and hands out the next group of a candidate with nothing in flight, asking
    the sampler for newcomers while others train. Nothing to start ends this iteration (the
    runner asks again when a run comes back); the race being over ends it for good.
    Candidates whose first seeds are in flight are left out of the table (they cannot be
    tested yet) but keep their pool places; one dropped while a seed trains keeps that run
    (counted in the budget) and gets no other.
    """

    def __init__(self, drv: _Driver, race_budget: int, failed: Callable[[], bool],
                 on_step: Callable[[race.Decision, dict[str, Any], dict[str, list[float]],
                                    int], None]):
        self.drv, self.race_budget, self.failed, self.on_step = drv, race_budget, failed, \
            on_step
        self.inflight: dict[str, set[int]] = {}

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> tuple[PlannedConfig, tuple[int, ...]]:
        drv, search = self.drv, self.drv.search
        while not self.failed():
            cands = drv.candidates()
            table = drv.table(cands)
            drv.tell_ready(cands, table)
            for h in list(self.inflight):  # what came back is in the store now
                self.inflight[h] -= set(drv.values(h))
                if not self.inflight[h]:
                    del self.inflight[h]
            busy = set(self.inflight)
            first = {h for h in busy if len(table[h]) < search.first_test}
            spent_race, spent_fresh = drv.spent(cands)
            flying = sum(len(v) for v in self.inflight.values())
            dec = drv.decide({h: v for h, v in table.items() if h not in first},
                             self.race_budget - spent_race - flying,
                             max(0, search.pool - len(first)))
            if dec.propose:
                if drv.propose(cands):
                    drv.proposed_while_training += bool(busy)
                    drv.save(drv.candidates())
                continue
            self.on_step(dec, cands, table, spent_race + spent_fresh + flying)
            free = [h for h in dec.seeds if h not in busy]
            if not free:
                break
            h = free[0]
            n = len(table[h])
            seeds = tuple(range(n, n + dec.seeds[h]))
            self.inflight[h] = set(seeds)
            drv.pending = {k: sorted(v) for k, v in self.inflight.items()}
            drv.save(cands)  # before its training: a resumed search finishes it first
            return cands[h][0], seeds
        raise StopIteration


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def run_search(study: Study, store: Store, *, journal: Path, data_dir: str | None = None,
               engine: str = "auto", parallel: int | None = None, quiet: bool = False,
               log: Callable[[str], None] | None = None,
               listeners: Sequence[RunListener] = (), ray: str | None = None,
               stop_after: int | None = None, ready: Any = None) -> SearchSummary:
    """Run (or continue) the search of ``study`` until its budget is spent, then the final
    round on fresh seeds, and return what it found.

    Args:
        journal: Optuna's history file (:func:`journal_path`).
        stop_after: stop once this call has trained this many runs (tests, a partial run).
        ready: sweeplab.runner.preflight's result for this study (None: run it here).
    """
    t0 = time.perf_counter()
    search = study.search
    if search is None:
        raise ValueError(f"study {study.name!r} has no [search] table")
    study, dataset, eng, _ = ready or preflight(study, data_dir, engine, parallel, log)

    def say(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    def note(text: str, line: str | None = None) -> None:
        """Under the live bar; in a log (plain mode) also a line of its own: line, else text."""
        if bar.mode == "plain":
            say(f"{study.name}: {line or text}")
        bar.set_note(text)

    drv = _Driver(study, store, journal, say)
    if drv.lost and not drv.finalists:
        raise SearchError(
            f"{journal}, the search's Optuna history, is missing or empty, but {store.path} "
            f"holds {len(drv.lost)} of its candidates: the race needs that history to propose "
            "more. Restore the file to go on, or give the study another name to search afresh "
            "(configs it shares with this one reuse their runs).")
    out = SearchSummary(study.name, search.budget)
    runsum = RunSummary(study.name, search.budget, 0)
    step = 0

    def train(groups: Any, total: int | None = None) -> None:
        before = runsum.trained
        train_groups(study, store, eng, dataset, groups, runsum, data_dir=data_dir,
                     parallel=parallel, log=log, listeners=listeners, ray=ray, total=total,
                     progress=bar)
        out.trained += runsum.trained - before
        if runsum.failed:
            out.failed = list(runsum.failed)

    def on_step(dec: race.Decision, cands: dict[str, Any], table: dict[str, list[float]],
                spent: int) -> None:
        """Note the incumbent (each change) and say where the search stands."""
        if dec.incumbent is not None and (not drv.history
                                          or drv.history[-1][1] != dec.incumbent):
            drv.history.append((spent, dec.incumbent,
                                sum(table[dec.incumbent]) / len(table[dec.incumbent])))
        drv.save(cands)
        inc = "none yet (no candidate has its first seeds)"
        if dec.incumbent:
            vals = table[dec.incumbent]
            inc = (f"{cands[dec.incumbent][0].label} {search.score} "
                   f"{100 * sum(vals) / len(vals):.2f}% (n={len(vals)})")
        left = search.budget - spent
        per_run = (time.perf_counter() - t0) / out.trained if out.trained else math.nan
        eta = f", ~{_duration(per_run * left)} left" if math.isfinite(per_run) else ""
        where = (f"{len(cands)} candidates ({len(drv.dropped)} dropped), {spent}/"
                 f"{search.budget} runs")
        note(f"{where} of the budget; incumbent {inc if dec.incumbent else 'none yet'}",
             f"{where}{eta}; incumbent {inc}")

    def finish_pending(cands: dict[str, Any]) -> None:
        """A step cut short (a kill mid-training): finish it before deciding anything, so
        the race sees the same tables as a search that was never stopped."""
        todo = [(cands[h][0], tuple(s for s in seeds if s not in drv.values(h)))
                for h, seeds in drv.pending.items() if h in cands]
        train([(p, s) for p, s in todo if s])
        if not out.failed:
            drv.pending = {}
            drv.save(cands)

    left = max(search.budget - sum(drv.spent(drv.candidates())), 0)
    bar = Progress(study.name, left * study.base.epochs, enabled=not quiet)  # the budget's
    bar.start(left)
    try:
        race_budget = search.budget - search.reserve
        if ray is not None and not drv.finalists and stop_after is None:
            # On Ray the race is decided as slots free up: the sampler proposes while others
            # train, one executor for the whole race. The final round goes through the step
            # loop below.
            if drv.pending:
                finish_pending(drv.candidates())
            train(_Feed(drv, race_budget, lambda: bool(runsum.failed), on_step), race_budget)
        while True:
            cands = drv.candidates()
            if drv.pending and not out.failed:
                finish_pending(cands)
                continue
            table = drv.table(cands)
            drv.tell_ready(cands, table)
            spent_race, spent_fresh = drv.spent(cands)
            if drv.finalists or (stop_after is not None and out.trained >= stop_after) \
                    or out.failed:
                break
            dec = drv.decide(table, race_budget - spent_race, search.pool)
            step += 1
            if dec.propose:
                if drv.propose(cands):
                    drv.save(drv.candidates())
                else:
                    drv.save(cands)
                continue
            if dec.done:
                alive = sorted((h for h in table if h not in drv.dropped and table[h]),
                               key=lambda h: (-sum(table[h]) / len(table[h]), -len(table[h])))
                drv.finalists = alive[:search.finalists]
                drv.save(cands)
                break
            on_step(dec, cands, table, spent_race + spent_fresh)
            drv.pending = {h: list(range(len(table[h]), len(table[h]) + k))
                           for h, k in dec.seeds.items()}
            drv.save(cands)  # the step, before its training: a resumed search finishes it first
            train([(cands[h][0], tuple(seeds)) for h, seeds in drv.pending.items()])
            if not out.failed:
                drv.pending = {}
        if drv.finalists and not out.failed and (stop_after is None or out.trained < stop_after):
            todo = [(cands[h][0], tuple(s for s in search.fresh if s not in drv.values(h)))
                    for h in drv.finalists]
            todo = [(p, s) for p, s in todo if s]
            if todo:
                n, k = len(drv.finalists), search.fresh_seeds
                final = (f"the final round: {n} finalist{'s' * (n != 1)} x {k} fresh "
                         f"seed{'s' * (k != 1)}")
                note(final)
                train(todo)
            cands = drv.candidates()
            if not out.failed and all(set(search.fresh) <= set(drv.values(h))
                                      for h in drv.finalists):
                from sweeplab.readout import read_study, search_answer

                out.answer = search_answer(read_study(store, study.name))
                out.finished = True
        spent_race, spent_fresh = drv.spent(cands)
        out.spent = spent_race + spent_fresh
        out.candidates = len(cands)
        out.dropped = len(drv.dropped)
    finally:
        bar.close()
    out.seconds = time.perf_counter() - t0
    return out


__all__ = ["SearchError", "SearchSummary", "journal_path", "run_search"]
