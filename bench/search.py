"""Racing over seeds vs the usual ways to search, on a space whose answer is known.

The space is q7b's grid: 16 configs (w1, w2 in {8, 32, 64, 128}). Its truth is either the
real grid's per-seed final test accuracies (``--store``, default /work/stores/q7b.db: 16
configs x 10 seeds x 10 epochs on full MNIST, used when it holds 10 seeds of every config)
or, without it, a parametric model of it (below). Any other stored grid with 10 seeds per
config is a space too (``--store S --study NAME``, a ``S.done`` file beside it; numeric axes
go to the samplers as ordered indices): bench/q7big.toml, q7b's widths x learning rate x
dropout, 96 configs. Each repetition draws a fresh table of
seed results (the real grid: each candidate's seeds resampled from its 10 real ones; the
model: normal around the true means) and runs, with a different search seed:

- race: Optuna TPE proposes (ask/tell), sweeplab.analysis.race.decide spends the seeds,
  the finalists get fresh seeds, race.answer names the best (on the race's shared seeds and
  the fresh ones) with its 95% CI (fresh seeds only);
- grid: every config x 10 seeds, the best mean (the reference: 160 runs);
- tpe3: Optuna TPE, each trial the mean of 3 seeds (Keras Tuner's executions_per_trial,
  Ray Tune's Repeater), the best trial;
- random1: random search, 1 seed per trial, the best trial;
- told the N: bounds, not methods: the configs within 0.5 points of the best given in
  advance (nothing spent finding them), the budget split evenly over them, or halved (3
  seeds each, the best 3 the rest), or raced by race.decide with its final round;
- all 16, halving: a bound told nothing but that the space is small: successive halving
  over every config (1 seed each, then the better half twice the seeds, ..., 40 runs on
  q7b's 16).

Success: the named config's true mean is within the grid's noise of the true best (the
95% t half-width of a 10-seed mean of the best config; on the real grid the script also
prints the configs whose difference from the best the grid's own seeds and test set cannot
resolve, by ``compare``'s ``outcomes.paired``: on q7b they are 4, the 3 within the grid's
noise and (128, 8), 0.23 points below the best). Coverage:
how often the race's stated 95% CI (fresh seeds only) covers the named config's true mean;
for tpe3, the t-interval of its own 3 seeds (selected on them). Budgets in runs; the race's
includes its final round. ``--metric-epochs K``: the race scores each run by its test accuracy
averaged over its last K epochs (a search's ``metric_epochs``); the grid, the truth and the
race's stated interval keep the final epoch.

    PYTHONPATH=src .venv/bin/python bench/search.py --reps 40
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sweeplab.analysis import race  # noqa: E402
from sweeplab.search import load_optuna  # noqa: E402

WIDTHS = (8, 32, 64, 128)
AXES: list[tuple[str, tuple]] = [("w1", WIDTHS), ("w2", WIDTHS)]  # the stored study's, by real()
GRID: list[tuple] = [(a, b) for a in WIDTHS for b in WIDTHS]  # each config's axis values
SEEDS = 10


def parametric() -> tuple[np.ndarray, np.ndarray, str]:
    """True means and seed sds of a q7b-like grid: test error 2 + 25/w1 + 12/w2 points
    ((8, 8): 93.4%, (128, 128): 97.7%), seed sd 0.15 points (MNIST MLPs' usual spread)."""
    mu = np.array([1 - (2.0 + 25 / a + 12 / b) / 100 for a, b in GRID])
    return mu, np.full(len(GRID), 0.0015), "parametric model of q7b"


def real(path: Path, study: str = "q7b", metric_epochs: int = 1
         ) -> tuple[np.ndarray, np.ndarray, list, str] | None:
    """(configs, 10) final test accuracies of ``study`` by seed, the same runs' race scores
    (each run's test accuracy averaged over its last ``metric_epochs`` epochs: the search's
    ``metric_epochs``), each config's per-example outcomes on the test set (None where not
    kept), or None without a full store. Sets AXES and GRID to the study's axes and configs
    (any grid: ``--study``)."""
    if not path.exists() or not Path(str(path).replace(".db", ".done")).exists():
        return None
    from sweeplab import readout
    from sweeplab.store import Store

    with Store(path, readonly=True) as db:  # the one reader of stored runs
        view = readout.read_study(db, study)
        configs = view.configs  # in the grid's order
        outcomes = [c.outcomes for c in configs]
    AXES[:] = [(a["name"], tuple(a["values"])) for a in view.definition["axes"]]
    GRID[:] = [tuple(c.values[name] for name, _ in AXES) for c in configs]
    table, scores = np.full((len(GRID), SEEDS), np.nan), np.full((len(GRID), SEEDS), np.nan)
    for pos, c in enumerate(configs):
        for r in c.runs:
            if r.seed < SEEDS:
                table[pos, r.seed] = r.final.test_acc
                scores[pos, r.seed] = r.last("test_acc", metric_epochs)
    if np.isnan(table).any():
        return None
    return (table, scores, outcomes,
            f"the real {study} grid ({path}: {len(GRID)} configs x {SEEDS} seeds x "
            f"{view.definition.get('epochs')} epochs, axes {', '.join(n for n, _ in AXES)})")


class World:
    """One repetition's table: draw(config, seed) -> final accuracy, score(config, seed) ->
    the race's score of the same run (``scores``: the real grid's, else the accuracy),
    fixed per (config, seed)."""

    def __init__(self, mu, sd, real_table, rng, scores=None):
        self.mu, self.sd, self.real, self.rng, self.scores = mu, sd, real_table, rng, scores
        self.cache: dict[tuple[int, int], tuple[float, float]] = {}

    def _run(self, c: int, seed: int) -> tuple[float, float]:
        key = (c, seed)
        if key not in self.cache:
            if self.real is not None:
                i = self.rng.integers(SEEDS)
                self.cache[key] = (float(self.real[c, i]), float(self.scores[c, i]))
            else:
                v = float(self.rng.normal(self.mu[c], self.sd[c]))
                self.cache[key] = (v, v)
        return self.cache[key]

    def draw(self, c: int, seed: int) -> float:
        return self._run(c, seed)[0]

    def score(self, c: int, seed: int) -> float:
        return self._run(c, seed)[1]


def _numeric(values: tuple) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _space():
    """A numeric axis as the index of its value: ordered integers, as a study's int range is
    (q7s: `int = [8, 256]`, log), not unordered categories, so TPE can learn that wider is
    better; any other axis as its categories."""
    d = load_optuna().distributions
    return {name: d.IntDistribution(0, len(values) - 1) if _numeric(values)
            else d.CategoricalDistribution(values) for name, values in AXES}


def _config(params) -> int:
    return GRID.index(tuple(values[params[name]] if _numeric(values) else params[name]
                            for name, values in AXES))


def run_race(world: World, budget: int, seed: int, first_test: int = 2, max_seeds: int = 10,
             pool: int = 5, finalists: int = 2, fresh_seeds: int = 5, level: float = race.ALPHA):
    from sweeplab.search import _sampler as sampler  # the search's own TPE, as q7s asks it
    from sweeplab.study import Search

    study = load_optuna().create_study(direction="maximize")
    dists = _space()
    reserve = finalists * fresh_seeds
    table: dict[int, list[float]] = {}
    trials: dict[int, list[int]] = {}
    told: set[int] = set()
    dropped: frozenset = frozenset()
    spent, can_propose, dup = 0, True, 0
    while True:
        for c, nums in trials.items():  # tell the sampler each candidate's first mean
            if len(table[c]) >= first_test:
                for n in nums:
                    if n not in told:
                        study.tell(n, float(np.mean(table[c])))
                        told.add(n)
        dec = race.decide(table, budget - reserve - spent, first_test=first_test,
                          max_seeds=max_seeds, dropped=dropped, pool=pool, alpha=level,
                          can_propose=can_propose)
        dropped = dec.dropped
        if dec.propose:
            while True:
                study.sampler = sampler(Search((), seed=seed, pool=pool), len(study.trials))
                t = study.ask(dists)
                c = _config(t.params)
                if c not in table:
                    table[c], trials[c] = [], [t.number]
                    dup = 0
                    break
                dup += 1
                trials[c].append(t.number)
                if dup >= 30:
                    can_propose = False
                    break
            continue
        if dec.done:
            break
        for c, k in dec.seeds.items():
            n = len(table[c])
            table[c] += [world.score(c, s) for s in range(n, n + k)]
            spent += k
    ans = final_round(world, table, dropped, seed, finalists, fresh_seeds, max_seeds)
    spent += len(ans.finalists) * fresh_seeds
    seen = {"proposed": frozenset(table), "dropped": dropped,
            "finalists": frozenset(f.key for f in ans.finalists)}
    return ans.best.key, spent, (ans.best.test_low, ans.best.test_high), ans.curse, seen


def final_round(world: World, table: dict[int, list[float]], dropped: frozenset, seed: int,
                finalists: int, fresh_seeds: int, max_seeds: int) -> race.Answer:
    """The race's end, as the search has it: the best means still racing train on fresh
    seeds, and race.answer names the best on the race's seeds they all have and the fresh."""
    alive = sorted((c for c in table if c not in dropped and table[c]),
                   key=lambda c: -np.mean(table[c]))[:finalists]
    fresh = range(max_seeds, max_seeds + fresh_seeds)
    scores = {c: [world.score(c, s) for s in fresh] for c in alive}
    tests = {c: [world.draw(c, s) for s in fresh] for c in alive}
    n0 = min(len(table[c]) for c in alive)  # the race's seeds every finalist has
    return race.answer({c: str(GRID[c]) for c in alive},
                       {c: float(np.mean(table[c])) for c in alive}, scores, tests, "acc",
                       seed=seed, shared_metric={c: table[c][:n0] for c in alive})


def race_only(world: World, budget: int, order: list[int], first_test: int, max_seeds: int,
              pool: int, level: float = race.ALPHA, **_
              ) -> tuple[dict[int, list[float]], frozenset, int]:
    """sweeplab's race with no Optuna, proposals taken from ``order``: (table, dropped, runs
    spent). Random orders time race.decide alone; the 'told' rows race the contenders."""
    table: dict[int, list[float]] = {}
    dropped: frozenset = frozenset()
    spent = 0
    while True:
        dec = race.decide(table, budget - spent, first_test=first_test, max_seeds=max_seeds,
                          dropped=dropped, pool=pool, alpha=level,
                          can_propose=len(table) < len(order))
        dropped = dec.dropped
        if dec.propose:
            table[order[len(table)]] = []
        elif dec.done:
            return table, dropped, spent
        for c, k in dec.seeds.items():
            table[c] += [world.score(c, s) for s in range(len(table[c]), len(table[c]) + k)]
            spent += k


def run_told(world: World, budget: int, contenders: list[int], rng, how: str,
             finalists: int, fresh_seeds: int, max_seeds: int, **rules) -> int:
    """What a search could do told the contenders (in a random order), with nothing spent
    finding them. ``how``: "even" splits the budget evenly over them (the remainder to the
    best so far); "halving" gives each 3 seeds, then the best 3 by mean the rest (each
    config's mean over all its seeds names the best: no fresh round, no honest interval);
    "raced" is sweeplab's race over them with its final round on fresh seeds."""
    cs = [int(c) for c in rng.permutation(contenders)]
    if how != "raced":
        first = budget // len(cs) if how == "even" else 3
        n = dict.fromkeys(cs, first)
        top = sorted(cs, key=lambda c: -np.mean([world.draw(c, s) for s in range(first)]))
        top = top if how == "even" else top[:3]
        left = budget - first * len(cs)
        for i, c in enumerate(top):
            n[c] += left // len(top) + (i < left % len(top))
        return max(top, key=lambda c: np.mean([world.draw(c, s) for s in range(n[c])]))
    table, dropped, _ = race_only(world, budget - finalists * fresh_seeds, cs,
                                  max_seeds=max_seeds, **rules)
    return final_round(world, table, dropped, 0, finalists, fresh_seeds, max_seeds).best.key


def run_halving(world: World) -> tuple[int, int]:
    """Successive halving (Karnin et al. 2013) over every config of the space, enumerated: 1
    seed each, the better half by mean doubles its seeds, until 2 are left (16 + 8 + 8 + 8 =
    40 runs on q7b's 16); the better mean of the last 2 is named. Their last 4 seeds are new
    to both, as a fresh final round's would be, so this is also halving with a final round
    of 2 x 4 fresh seeds, picked on all 8. (named config, runs)."""
    alive, n, spent = list(range(len(GRID))), 1, len(GRID)
    while len(alive) > 2:
        alive = sorted(alive, key=lambda c: -np.mean([world.draw(c, s) for s in range(n)]))
        alive = alive[:len(alive) // 2]
        spent += len(alive) * n  # each survivor's next n seeds
        n *= 2
    return max(alive, key=lambda c: np.mean([world.draw(c, s) for s in range(n)])), spent


def miss_reasons(misses, ok) -> dict[str, int]:
    """Why the race named a config outside the grid's noise: no such config was ever
    proposed (the sampler's exploration within the budget), all proposed ones were dropped
    (the test), one was alive but not among the finalists (too few seeds at the end), or one
    was a finalist and the fresh seeds preferred another."""
    why = {"never proposed": 0, "dropped": 0, "not a finalist": 0, "finalist not picked": 0}
    for _, seen in misses:
        good = ok & seen["proposed"]
        why["never proposed" if not good else "finalist not picked" if good & seen["finalists"]
            else "dropped" if good <= seen["dropped"] else "not a finalist"] += 1
    return {k: v for k, v in why.items() if v}


def run_grid(world: World):
    means = [np.mean([world.draw(c, s) for s in range(SEEDS)]) for c in range(len(GRID))]
    return int(np.argmax(means)), len(GRID) * SEEDS


def run_tpe(world: World, budget: int, seed: int, per_trial: int = 3, sampler: str = "tpe"):
    optuna = load_optuna()
    s = (optuna.samplers.TPESampler(seed=seed) if sampler == "tpe"
         else optuna.samplers.RandomSampler(seed=seed))
    study = optuna.create_study(direction="maximize", sampler=s)
    dists = _space()
    best, best_vals, spent = None, None, 0
    for _ in range(budget // per_trial):
        t = study.ask(dists)
        c = _config(t.params)
        # each trial trains its own seeds (the next ones of that config)
        n0 = sum(1 for (cc, _) in world.cache if cc == c and _ >= 1000)
        vals = [world.draw(c, 1000 + n0 + i) for i in range(per_trial)]
        spent += per_trial
        study.tell(t, float(np.mean(vals)))
        if best is None or np.mean(vals) > np.mean(best_vals):
            best, best_vals = c, vals
    ci = (math.nan, math.nan)
    if per_trial > 1:
        m, se = np.mean(best_vals), np.std(best_vals, ddof=1) / math.sqrt(per_trial)
        h = sps.t.ppf(0.975, per_trial - 1) * se
        ci = (m - h, m + h)
    return best, spent, ci


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--store", default="/work/stores/q7b.db")
    ap.add_argument("--study", default="q7b", help="the stored grid to search (any axes)")
    ap.add_argument("--budgets", default="24,32,40,56")
    ap.add_argument("--first-test", type=int, default=2)
    ap.add_argument("--max-seeds", type=int, default=10)
    ap.add_argument("--pool", type=int, default=5)
    ap.add_argument("--finalists", type=int, default=2)
    ap.add_argument("--fresh-seeds", type=int, default=5)
    ap.add_argument("--level", type=float, default=race.ALPHA, help="the drop test's level")
    ap.add_argument("--metric-epochs", type=int, default=1,
                    help="the race scores a run by its metric averaged over its last N epochs "
                         "(the search's metric_epochs; the grid and the answer's test "
                         "accuracy keep the final epoch)")
    ap.add_argument("--first-rep", type=int, default=0,
                    help="the first repetition's search seed (settings chosen on 0..99 are "
                         "checked on repetitions they were not chosen on: --first-rep 100)")
    ap.add_argument("--only-race", action="store_true", help="skip the other methods")
    args = ap.parse_args()
    rules = dict(first_test=args.first_test, max_seeds=args.max_seeds, pool=args.pool,
                 finalists=args.finalists, fresh_seeds=args.fresh_seeds, level=args.level)
    print(f"race: {rules}, metric_epochs {args.metric_epochs}; "
          f"{race.describe_test(args.level)}")
    got = real(Path(args.store), args.study, args.metric_epochs)
    outcomes = scores = None
    if got is not None:
        real_table, scores, outcomes, what = got
        mu, sd = real_table.mean(axis=1), real_table.std(axis=1, ddof=1)
    else:
        real_table = None
        mu, sd, what = parametric()

    def world(seed: int) -> World:
        return World(mu, sd, real_table, np.random.default_rng(seed), scores)

    best = int(np.argmax(mu))
    noise = sps.t.ppf(0.975, SEEDS - 1) * sd[best] / math.sqrt(SEEDS)
    ok = set(np.flatnonzero(mu >= mu[best] - noise))
    near = np.flatnonzero(mu >= mu[best] - 0.005)  # the contenders
    print(f"truth: {what}")
    print(f"true best {GRID[best]} {100 * mu[best]:.3f}%; the grid's noise (95% half-width "
          f"of a 10-seed mean) {100 * noise:.3f} points; configs within it: "
          f"{sorted(GRID[c] for c in ok)}; the contenders (within 0.5 points, 'told the "
          f"N' rows): {sorted(GRID[c] for c in near)}")
    if outcomes is not None and all(o is not None and len(o.seeds) == SEEDS for o in outcomes):
        from sweeplab.analysis.outcomes import paired  # compare's own interval, new data
        tw = {c: paired(outcomes[best], outcomes[c]).two_way for c in range(len(GRID))}
        print("the grid's own 95% interval against the best, its 10 shared seeds and the test "
              "set's sampling (compare's, outcomes.paired, issue 32), includes 0 for "
              f"{sorted(GRID[c] for c in tw if tw[c].high >= 0)}; the test set's estimated "
              "part of the standard error of the contenders' differences from it: at most "
              f"{100 * max(tw[c].test_set_se for c in near):.3f} points")
    t0 = time.perf_counter()
    n_sim = 2000
    for r in range(n_sim):
        race_only(world(r), 30,
                  [int(c) for c in np.random.default_rng(r).permutation(len(GRID))], **rules)
    print(f"race.decide alone: {n_sim} simulated races of 30 runs (random proposals) in "
          f"{time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    budgets = [int(b) for b in args.budgets.split(",")]
    rows = []
    reps = range(args.first_rep, args.first_rep + args.reps)
    misses: dict[int, dict[str, int]] = {}
    g = [run_grid(world(10_000 + r)) for r in reps]
    rows.append(("grid x10 seeds", g[0][1], np.mean([c in ok for c, _ in g]), math.nan,
                 math.nan))
    for b in budgets:
        res = [run_race(world(r), b, seed=r,
                        **rules) for r in reps]
        cover = np.mean([lo <= mu[c] <= hi for c, _, (lo, hi), _, _ in res])
        rows.append((f"race, budget {b}", np.mean([s for _, s, *_ in res]),
                     np.mean([c in ok for c, *_ in res]), cover,
                     np.mean([k for *_, k, _ in res])))
        misses[b] = miss_reasons([(c, seen) for c, *_, seen in res if c not in ok], ok)
    contenders = list(near)
    for how in ("even", "halving", "raced"):
        for b in budgets:
            named = [run_told(world(r), b,
                              contenders, np.random.default_rng(r + 1), how, **rules)
                     for r in reps]
            rows.append((f"told the {len(contenders)}, {how}, budget {b}", b,
                         np.mean([c in ok for c in named]), math.nan, math.nan))
    halved = [run_halving(world(r)) for r in reps]
    rows.append((f"all {len(GRID)}, halving", halved[0][1], np.mean([c in ok for c, _ in halved]),
                 math.nan, math.nan))
    for b in budgets if not args.only_race else ():
        res = [run_tpe(world(r), b, r)
               for r in reps]
        cover = np.mean([lo <= mu[c] <= hi for c, _, (lo, hi) in res])
        rows.append((f"tpe, mean of 3 seeds, budget {b}", np.mean([s for _, s, _ in res]),
                     np.mean([c in ok for c, _, _ in res]), cover, math.nan))
    for b in budgets if not args.only_race else ():
        res = [run_tpe(world(r), b, r, 1, "random")
               for r in reps]
        rows.append((f"random, 1 seed, budget {b}", np.mean([s for _, s, _ in res]),
                     np.mean([c in ok for c, _, _ in res]), math.nan, math.nan))
    grid_runs, grid_ok = rows[0][1], rows[0][2]
    print(f"\n{args.reps} repetitions each (search seeds {reps[0]}..{reps[-1]}); "
          f"{time.perf_counter() - t0:.1f} s\n")
    print(f"{'method':<34} {'runs':>6} {'/grid':>6} {'success':>8} {'/grid':>6} "
          f"{'CI cover':>8} {'curse':>7}")
    for name, runs, succ, cover, curse in rows:
        print(f"{name:<34} {runs:>6.1f} {runs / grid_runs:>6.2f} {succ:>8.4f} "
              f"{succ / grid_ok if grid_ok else math.nan:>6.2f} "
              f"{'-' if math.isnan(cover) else f'{cover:.2f}':>8} "
              f"{'-' if math.isnan(curse) else f'{100 * curse:+.3f}':>7}")
    for b, why in misses.items():
        if why:
            print(f"race, budget {b}, its misses: " + ", ".join(f"{k} {v}" for k, v in why.items()))
    target = [r for r in rows if r[0].startswith("race") and r[1] <= 0.25 * grid_runs]
    met = [r for r in target if r[2] >= grid_ok and r[3] >= 0.9]
    from statsmodels.stats.proportion import confint_proportions_2indep
    n = args.reps
    bound = [r for r in rows if r[0].startswith("all ")]
    raced = [r for r in rows if r[0].startswith("race")]
    for name, _, succ, *_ in raced + bound:  # the repetitions' own noise on the comparison
        lo, hi = confint_proportions_2indep(round(succ * n), n, round(grid_ok * n), n,
                                            method="newcomb")
        print(f"{name} - grid: {succ - grid_ok:+.4f} success, 95% CI {lo:+.4f} to {hi:+.4f} "
              f"(Newcombe, {n} repetitions each)")
    print(f"\ntarget (race <= 25% of the grid's runs, success >= the grid's {grid_ok:.4f}, "
          f"coverage >= 0.90): {'met by ' + ', '.join(r[0] for r in met) if met else 'NOT met'} "
          f"on {n} repetitions (how sure: the intervals above)")


if __name__ == "__main__":
    main()
