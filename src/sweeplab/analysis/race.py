"""Racing over seeds: who gets the next seed, who is dropped. Pure, free of Keras.

F-race / irace (Birattari et al. 2002): seeds are blocks given in order, so candidates
share their first seeds. From ``first_test`` seeds on, a candidate is tested against the
incumbent on the shared seeds (one-sided paired t-test, the variance of a seed's difference
pooled over the step's challengers and never below a challenger's own, Holm over them) and
dropped for good when worse. Not Friedman or Wilcoxon: with 3 seeds a rank test's smallest p
is 1/8 and could drop nothing before 5 seeds, while per-seed differences of a final accuracy
(a sum over thousands of images) are close to normal.

:func:`decide` depends on the table only, so bench/search.py simulates thousands of races.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import stdtr

from sweeplab.analysis.outcomes import TwoWay, two_way, two_way_best

TEST = ("one-sided paired t-test against the incumbent on shared seeds, the variance of a "
        "seed's difference pooled over the challengers, never below each one's own")
CORRECTION = "Holm"
ALPHA = 0.05


@dataclass(frozen=True)
class Decision:
    """What to do next, and why."""

    seeds: dict[Hashable, int]  # candidate -> how many more seeds to train now (its next ones)
    dropped: frozenset  # every candidate dropped so far (the ones given plus the new ones)
    newly_dropped: tuple  # dropped by this step, worst first
    incumbent: Hashable | None  # best mean among candidates with >= first_test seeds
    propose: int  # how many new candidates the caller should ask its sampler for now
    p_values: dict[Hashable, float] = field(default_factory=dict)  # Holm-adjusted, per
    # challenger tested in this step
    done: bool = False  # nothing more to train within the budget: the race is over

    @property
    def runs(self) -> int:
        """Runs this decision asks for."""
        return sum(self.seeds.values())


def describe_test(alpha: float = ALPHA) -> str:
    """The test, its level and its correction, as the output names them."""
    return f"{TEST}, {CORRECTION}-corrected over the challengers, level {alpha:g}"


def holm_reject(p: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Holm's step-down test: (reject mask, adjusted p-values), in the input order.
    The adjusted values equal statsmodels' ``multipletests(method="holm")`` (tests check)."""
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj_sorted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    adj = np.empty(m)
    adj[order] = adj_sorted
    return adj <= alpha, adj


def paired_p(incumbent: Sequence[float], challengers: Sequence[Sequence[float]]) -> list[float]:
    """One-sided p-values of "each challenger is worse than the incumbent", each on the seeds
    it shares with the incumbent (the first ones): paired t-tests whose variance of one seed's
    difference is pooled over the challengers (each one's differences about its own mean, with
    their degrees of freedom summed, as Dunnett's comparisons with a control pool their error),
    but never below the challenger's own. With one challenger this is the ordinary paired
    t-test. A challenger's own two or three seeds give a variance with one or two degrees of
    freedom, too few to drop anything; the pool's many give the race its power from
    ``first_test = 2`` on. The floor at its own variance keeps a challenger whose seeds vary
    more than the others' from being judged by their smaller spread (bench/README, "Search")."""
    # Plain Python on these few numbers: a simulated search calls this thousands of times.
    rows, ss, df = [], 0.0, 0
    for ch in challengers:
        n = min(len(incumbent), len(ch))
        d = [float(a) - float(b) for a, b in zip(incumbent[:n], ch[:n], strict=True)]
        m = sum(d) / n if n else 0.0
        own = sum((x - m) ** 2 for x in d)
        rows.append((m, n, own / (n - 1) if n >= 2 else 0.0))
        if n >= 2:
            ss += own
            df += n - 1
    out = []
    for m, n, own in rows:
        var = max(ss / df, own) if df else 0.0
        if n < 2 or not df:
            out.append(1.0)
        elif not var > 1e-30 * max(1.0, m * m):  # the same difference on every seed
            out.append(0.0 if m > 0 else 1.0)
        else:
            out.append(float(stdtr(df, -m / math.sqrt(var / n))))
    return out


def decide(table: Mapping[Hashable, Sequence[float]], budget_left: int, *, first_test: int,
           max_seeds: int, dropped: frozenset | set = frozenset(), pool: int = 4,
           alpha: float = ALPHA, can_propose: bool = True) -> Decision:
    """The next step of the race over ``table`` (candidate -> its maximised metric on seeds
    0, 1, ... in order; candidates in proposal order, ties to the earlier). ``first_test``
    (>= 2) seeds come before a candidate can be dropped; ``pool`` candidates race at once;
    ``can_propose`` False (a small space exhausted) gives the budget to those still racing.
    The returned :class:`Decision`'s ``seeds`` never exceed ``budget_left`` in total.
    """
    dropped = frozenset(dropped)
    alive = [c for c in table if c not in dropped]
    n = {c: len(table[c]) for c in table}
    mean = {c: sum(table[c]) / n[c] if n[c] else -math.inf for c in table}
    tested = [c for c in alive if n[c] >= first_test]
    incumbent = max(tested, key=lambda c: (mean[c], n[c]), default=None)
    new_drops: list = []
    p_values: dict[Hashable, float] = {}
    if incumbent is not None:
        challengers = [c for c in tested if c != incumbent]
        if challengers:
            raw = np.array(paired_p(table[incumbent], [table[c] for c in challengers]))
            reject, adj = holm_reject(raw, alpha)
            p_values = {c: float(a) for c, a in zip(challengers, adj, strict=True)}
            new_drops = sorted((c for c, r in zip(challengers, reject, strict=True) if r),
                               key=lambda c: mean[c])
    gone = dropped | frozenset(new_drops)
    alive = [c for c in alive if c not in gone]
    left = budget_left
    seeds: dict[Hashable, int] = {}
    # First the newcomers' first seeds (a whole block, trained together), in proposal order.
    for c in alive:
        if n[c] < first_test and left > 0:
            k = min(first_test - n[c], left)
            seeds[c] = k
            left -= k
    racing = [c for c in alive if n[c] < max_seeds]
    propose = 0
    if can_propose and len(racing) < pool and left >= first_test:
        propose = 1  # room for a newcomer: the caller asks its sampler, then calls again
    elif not seeds:
        # One more seed each, the best mean first; the incumbent's lead is then tested on
        # one more shared seed.
        for c in sorted((c for c in racing if n[c] >= first_test), key=lambda c: -mean[c]):
            if left <= 0:
                break
            seeds[c] = 1
            left -= 1
    done = not seeds and not propose
    return Decision(seeds, gone, tuple(new_drops), incumbent, propose, p_values, done)


# --- the honest answer ------------------------------------------------------------------

@dataclass(frozen=True)
class Finalist:
    """One finalist after the final round on fresh seeds."""

    key: Hashable
    label: str
    race_mean: float  # the race's metric mean (over the seeds it was selected on)
    fresh_mean: float  # the same metric on fresh seeds
    test_mean: float  # test accuracy on fresh seeds
    test_low: float  # its 95% t-interval over the fresh seeds: about THIS test set
    test_high: float
    p_best: float  # P(it is best): two-way (p_best_seeds where the runs kept no predictions)
    p_worse: float  # Holm-adjusted p of "worse than the best" on fresh seeds (nan: the best)
    p_best_seeds: float = math.nan  # share of bootstrap resamples of the seeds it was
    # picked on where it is best (seeds only)
    two_way: TwoWay | None = None  # its test accuracy on a new test set from the same
    # distribution (outcomes.two_way); None: the runs kept no predictions

    @property
    def new_low(self) -> float:
        """The 95% interval on a new test set, clipped to [0, 1] (nan: no predictions)."""
        return math.nan if self.two_way is None else max(0.0, self.two_way.low)

    @property
    def new_high(self) -> float:
        return math.nan if self.two_way is None else min(1.0, self.two_way.high)


@dataclass(frozen=True)
class Answer:
    """What the search found, estimated on fresh seeds only."""

    metric: str  # what selected the best (the race's metric)
    finalists: tuple[Finalist, ...]  # best first
    n_fresh: int  # fresh seeds per finalist
    test: str  # the test deciding "within noise"
    p_over: str = ""  # what P(best) resamples besides the seeds ("validation examples",
    # "test examples"); "" = the seeds only
    n_shared: int = 0  # the race's seeds every finalist has, which the pick also used

    @property
    def best(self) -> Finalist:
        return self.finalists[0]

    @property
    def within_noise(self) -> tuple[Finalist, ...]:
        """The other finalists the fresh seeds do not find worse than the best."""
        return tuple(f for f in self.finalists[1:] if not f.p_worse <= ALPHA)

    @property
    def curse(self) -> float:
        """Winner's curse: the race's estimate minus the fresh seeds' (metric units)."""
        return self.best.race_mean - self.best.fresh_mean

    @property
    def sentence(self) -> str:
        b, k = self.best, len(self.within_noise)
        others = "no other finalist" if k == 0 else f"{k} other{'s' if k > 1 else ''}"
        tail = (f"{others} within noise; its race estimate of {self.metric} was "
                f"{100 * self.curse:+.2f} points off the fresh seeds' (winner's curse)")
        if b.two_way is None and not self.p_over and not self.n_shared:  # the first form
            return (f"{b.label} is best with P={b.p_best:.2f} (test {100 * b.test_mean:.1f}%, "
                    f"95% CI {100 * b.test_low:.1f}-{100 * b.test_high:.1f}, {self.n_fresh} "
                    f"fresh seeds); {tail}")
        seeds = (f"{self.n_shared} race and {self.n_fresh} fresh seeds" if self.n_shared
                 else "fresh seeds")
        p = f"P={b.p_best:.2f} over {seeds}" + (f" and {self.p_over}" if self.p_over else "")
        new = ("" if b.two_way is None else
               f", {100 * b.new_low:.1f}-{100 * b.new_high:.1f} on a new test set")
        return (f"{b.label} is best with {p} (test {100 * b.test_mean:.1f}%, 95% CI "
                f"{100 * b.test_low:.1f}-{100 * b.test_high:.1f} on this test set over "
                f"{self.n_fresh} fresh seeds{new}); {tail}")


def p_best(values: np.ndarray, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """P(each row has the highest mean): bootstrap over the columns (shared seeds, so a
    resample keeps each seed's values together). ``values``: (candidates, seeds)."""
    rng = np.random.default_rng(seed)
    k, n = values.shape
    idx = rng.integers(0, n, size=(n_boot, n))
    means = values[:, idx].mean(axis=2)  # (k, n_boot)
    wins = np.bincount(means.argmax(axis=0), minlength=k)
    return wins / n_boot


def answer(labels: Mapping[Hashable, str], race_means: Mapping[Hashable, float],
           fresh_metric: Mapping[Hashable, Sequence[float]],
           fresh_test: Mapping[Hashable, Sequence[float]], metric: str, seed: int = 0,
           alpha: float = ALPHA, *,
           shared_metric: Mapping[Hashable, Sequence[float]] | None = None,
           metric_correct: Mapping[Hashable, np.ndarray] | None = None,
           test_correct: Mapping[Hashable, np.ndarray] | None = None,
           metric_split: str = "validation") -> Answer:
    """The final round's verdict: the finalist with the best mean of ``metric`` over the
    seeds all finalists share (``shared_metric``: the race's first seeds, as many for each;
    then the fresh ones), P(best) among the finalists over those seeds, its test accuracy
    with a t-interval from fresh seeds only, the finalists within noise of it (one-sided
    paired t-test on the fresh seeds, Holm), and the winner's curse (race estimate vs fresh
    estimate of ``metric``). The race's shared seeds make the pick surer (bench/README,
    "Search"); only the estimates must come from seeds never selected on.

    Where the runs kept per-example predictions (each (seeds, examples) bool: right or not,
    rows in the order shared seeds, then fresh): ``metric_correct`` on ``metric``'s split
    ("validation" or "test") makes P(best) a bootstrap over those seeds (as blocks) and that
    split's examples (sweeplab.analysis.outcomes.two_way_best); ``test_correct`` (fresh seeds'
    rows only) adds each finalist's test-accuracy interval with the test set's sampling
    included (the estimate ``compare`` uses, sweeplab.analysis.outcomes.two_way).
    """
    from sweeplab.analysis.stats import summarize

    keys = list(labels)
    vals = np.array([fresh_metric[k] for k in keys], float)
    shared = np.array([(shared_metric or {}).get(k, ()) for k in keys], float).reshape(
        len(keys), -1)
    picked_on = np.hstack([shared, vals])
    seeds_only = p_best(picked_on, seed=seed)
    probs = seeds_only
    if metric_correct is not None:
        probs = two_way_best([metric_correct[k] for k in keys], rng_seed=seed)
    means = vals.mean(axis=1)
    pick = picked_on.mean(axis=1)
    order = sorted(range(len(keys)), key=lambda i: (-pick[i], -probs[i]))
    best = order[0]
    others = order[1:]
    adj = {}
    if others:
        raw = np.array(paired_p(list(vals[best]), [list(vals[i]) for i in others]))
        adj = dict(zip(others, holm_reject(raw, alpha)[1], strict=True))
    out = []
    for i in order:
        s = summarize(list(fresh_test[keys[i]]), n_boot=0, bounds=(0.0, 1.0))
        tw = None if test_correct is None else two_way(None, test_correct[keys[i]])
        out.append(Finalist(keys[i], labels[keys[i]], float(race_means[keys[i]]),
                            float(means[i]), s.mean, s.ci_low, s.ci_high, float(probs[i]),
                            float(adj.get(i, np.nan)), float(seeds_only[i]), tw))
    return Answer(metric, tuple(out), vals.shape[1], describe_test(alpha).replace(
        "against the incumbent on shared seeds", "against the best on the fresh seeds").replace(
        "challengers", "finalists"),
        f"{metric_split} examples" if metric_correct is not None else "", shared.shape[1])
