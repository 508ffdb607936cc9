"""Per-example outcomes: what N seeds' predictions on one test set tell beyond their
accuracies. Pure functions; accuracies are fractions, a difference is ``b - a``, intervals
are 95% and deterministic given ``rng_seed``.

* **The test set's variance, separated** (Jordan, ICLR 2024, Theorem 2): with ``c[k, i]``
  seed k's correctness on example i, ``s^2`` the sample variance of the seeds' accuracies
  and ``p_i`` the share of seeds right on example i,
  ``var_D = (s^2 - mean_i[K/(K-1) p_i (1 - p_i)] / n) / (1 - 1/n)`` is unbiased for the
  distribution-wise variance (it can be negative: shown as a std of 0); ``s^2 - var_D`` is
  the test set's sampling. Binomial floor: ``A (1 - A) / n``. Standard error:
  ``sqrt(2 / (K - 1)) s^2 / (1 - 1/n)``. Whether it is above 0, and how large it can be:
  were it 0, the seeds' variance would be the test set's sampling alone,
  ``v0 = mean_i[K/(K-1) p_i (1 - p_i)] / n``, and ``(K - 1) s^2 / v0`` chi-square with
  K - 1 degrees of freedom (normal seeds; the noise floor's test in
  :mod:`sweeplab.analysis.seeds`, with ``v0`` in place of the binomial floor). The 95% upper
  bound: ``((K - 1) s^2 / chi2_0.05(K - 1) - v0) / (1 - 1/n)``, at most ``A (1 - A)`` (the
  most an accuracy in [0, 1] can vary at mean A). A Wald test on the standard error, which
  is proportional to ``s^2`` itself, could never find the part above 0 with fewer than 9
  seeds. tests/test_outcomes.py checks the estimate, its standard error, the test's level
  and the bound's coverage by simulation.
* **Majority vote** of N seeds: a tie goes to the tied class the first of those seeds
  predicts. The **ensemble curve** credits a tie as a uniformly random pick would
  (1 / t), so that N = 2 does not favour one seed of each pair; N = 1 is the mean accuracy.
* **Churn**: the share of test examples on which two seeds' predictions differ, averaged
  over pairs of seeds.
* **McNemar's exact test** of two configs' majority votes.
* **Seeds and the test set** (``two_way``): the difference in mean accuracy with an interval
  for new data from the same distribution (Bouthillier et al., MLSys 2021: resampling the
  data is the largest source of variance). A config's mean over K seeds on M test examples
  misses the distribution's mean by the seeds' part, ``s^2 / K`` (s^2: the seeds'
  accuracies' variance on this test set), plus the test set's, ``Var_i(p_i) / M``: the
  spread of the examples' expected correctness, estimated by the sample variance of the
  ``p_i`` less its within-seed part ``mean_i var_k(c[k, i]) / K``. For a difference, the same
  with ``d_i = p_Bi - p_Ai`` (per seed ``c_B - c_A`` where both have the same seeds: paired).
  A t-interval with Satterthwaite's degrees of freedom, never narrower than the seeds-only
  one (a source of variance added cannot make the answer surer; the approximation alone can,
  by a fraction of a percent). Not a bootstrap: a resample of K seeds sees (K - 1) / K of
  their variance and no t quantile, so with 3 seeds it is far narrower than the t-interval
  (tests/test_outcomes.py checks the coverage by simulation). ``two_way_best``: P(best)
  among configs sharing their seeds, seeds (as blocks) and examples resampled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from itertools import combinations
from typing import Any

import numpy as np

__all__ = [
    "EnsembleCurve", "McNemar", "Outcomes", "Paired", "TwoWay", "VarianceSplit", "churn",
    "difference", "ensemble_curve", "hard_examples", "majority_vote", "mcnemar", "paired",
    "split_variance", "two_way", "two_way_best", "vote_accuracy"
]


@dataclass(frozen=True, eq=False)
class Outcomes:
    """The final predictions of a config's seeds on one test set."""

    seeds: tuple[int, ...]  # one per row of predictions
    predictions: np.ndarray  # (K, M) predicted class of seed k on test example i
    labels: np.ndarray  # (M,) true class of test example i
    num_classes: int  # classes the model predicts among

    @cached_property
    def correct(self) -> np.ndarray:
        """(K, M) bool: seed k got example i right."""
        return self.predictions == self.labels[None, :]

    @cached_property
    def difficulty(self) -> np.ndarray:
        """(M,) share of seeds that get each example right (1 = every seed)."""
        return self.correct.mean(axis=0)

    @cached_property
    def never_right(self) -> np.ndarray:
        """(M,) bool: no seed gets the example right."""
        return self.difficulty == 0

    @cached_property
    def split(self) -> np.ndarray:
        """(M,) bool: some seeds get the example right and some do not."""
        return (self.difficulty > 0) & (self.difficulty < 1)

    @cached_property
    def votes(self) -> np.ndarray:
        """(M, classes) how many seeds predict each class for each example."""
        return class_counts(self.predictions, self.num_classes)

    def frame(self, class_names: tuple[str, ...] | None = None) -> Any:
        """Long form: one row per seed and test example (seed, example, label, predicted,
        correct); labels and predictions are class names when ``class_names`` is given."""
        import pandas as pd

        k, m = self.predictions.shape
        label = np.tile(self.labels, k)
        pred = self.predictions.reshape(-1)
        df = pd.DataFrame({"seed": np.repeat(np.asarray(self.seeds, np.int64), m),
                           "example": np.tile(np.arange(m, dtype=np.int64), k),
                           "label": label, "predicted": pred,
                           "correct": self.correct.reshape(-1)})
        if class_names is not None:
            names = np.asarray(class_names, dtype=object)
            df["label"], df["predicted"] = names[label], names[pred]
        return df


def class_counts(predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """(M, classes): how many rows of ``predictions`` (K, M) name each class per example."""
    p = np.asarray(predictions, np.int64)
    m = p.shape[1]
    flat = (np.arange(m)[None, :] * num_classes + p).reshape(-1)
    return np.bincount(flat, minlength=m * num_classes).reshape(m, num_classes)


def _tied(predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """(M, classes) bool: the classes with the most votes for each example."""
    counts = class_counts(predictions, num_classes)
    return counts == counts.max(axis=1, keepdims=True)


def majority_vote(predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """(M,) the class most rows of ``predictions`` (K, M) predict; a tie goes to the tied
    class the earliest row predicts."""
    p = np.asarray(predictions, np.int64)
    m = np.arange(p.shape[1])
    first = _tied(p, num_classes)[m[None, :], p].argmax(axis=0)  # earliest row with a tied class
    return p[first, m]


def vote_accuracy(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    """The majority vote's expected accuracy when ties are broken uniformly at random."""
    tied = _tied(predictions, num_classes)
    y = np.asarray(labels, np.int64)
    return float(np.mean(tied[np.arange(len(y)), y] / tied.sum(axis=1)))


# ------------------------------------------------------------------ variance, separated


@dataclass(frozen=True)
class VarianceSplit:
    """A config's seed-to-seed variance of test accuracy, split into the test set's sampling
    and the distribution-wise part (variances of accuracy fractions; ``*_std`` their roots)."""

    n_seeds: int  # K
    n_test: int  # n, test examples
    mean: float  # mean test accuracy over the seeds
    seeds: float  # s^2: sample variance of the seeds' test accuracies (ddof 1)
    binomial: float  # A (1 - A) / n: every example an independent coin flip
    test_set: float  # s^2 - distribution: the test set's sampling (which examples a run gets)
    distribution: float  # Jordan's unbiased estimate of var over seeds of the accuracy on
    # the distribution; may be negative (sampling noise), shown as std 0
    se: float  # its standard error, sqrt(2 / (K - 1)) s^2 / (1 - 1/n)

    @property
    def seeds_std(self) -> float:
        return math.sqrt(self.seeds)

    @property
    def binomial_std(self) -> float:
        return math.sqrt(self.binomial)

    @property
    def test_set_std(self) -> float:
        return math.sqrt(max(self.test_set, 0.0))

    @property
    def distribution_std(self) -> float:
        return math.sqrt(max(self.distribution, 0.0))

    @property
    def _null(self) -> float:
        """v0: the seeds' variance were the distribution-wise part 0 (the test set's alone)."""
        return self.seeds - self.distribution * (1 - 1 / self.n_test)

    @property
    def p_value(self) -> float:
        """One-sided chi-square p-value of "the distribution-wise variance is above 0"."""
        from scipy import stats as _st  # here, not at import: `import sweeplab` stays free of scipy

        if self._null <= 0:  # every seed right on the same examples: any spread exceeds it
            return 1.0 if self.seeds == 0 else 0.0
        return float(_st.chi2.sf((self.n_seeds - 1) * self.seeds / self._null, self.n_seeds - 1))

    @property
    def distribution_high(self) -> float:
        """The one-sided 95% upper bound on the distribution-wise std (module docstring)."""
        from scipy import stats as _st

        k = self.n_seeds - 1
        var = ((k * self.seeds / float(_st.chi2.ppf(0.05, k)) - self._null)
               / (1 - 1 / self.n_test))
        return math.sqrt(min(max(var, 0.0), self.mean * (1 - self.mean)))

    def sentence(self, scale: float = 100.0, unit: str = "points", split: str = "test"
                 ) -> str:
        """Which part dominates the seed-to-seed spread, in one sentence; ``split`` names
        the examples the split was made on ("test", or "validation")."""
        where = "test set" if split == "test" else f"{split} split"
        u = f" {unit}" if unit else ""
        share = self.test_set / self.seeds if self.seeds > 0 else math.nan
        head = (f"Seed-to-seed std {scale * self.seeds_std:.3f}{u} over {self.n_seeds} seeds: "
                f"{where.replace(' ', '-')} sampling std {scale * self.test_set_std:.3f}, "
                f"distribution-wise std {scale * self.distribution_std:.3f} (95% upper bound "
                f"{scale * self.distribution_high:.3f}; Jordan 2024), binomial floor "
                f"{scale * self.binomial_std:.3f}")
        if not math.isfinite(share):
            return head + "; every seed scores the same."
        p = self.p_value
        test = f"chi-square test, {'p<0.001' if p < 0.001 else f'p={p:.2g}'}"
        if p < 0.05:
            tail = (f"the distribution-wise part is {100 * (1 - share):.0f}% of the variance and "
                    f"above 0 ({test}): the seeds differ on the distribution, not only on this "
                    f"{where}")
        elif share >= 0.5:  # above 1 where the seeds spread less than the test set alone makes
            part = ("all of the variance: the seeds spread less than it alone would"
                    if share >= 1 else f"{100 * share:.0f}% of the variance")
            tail = (f"the {where}'s sampling dominates ({part}) and "
                    f"the distribution-wise part is not distinguishable from 0 with "
                    f"{self.n_seeds} seeds ({test}): on new data they would differ by less "
                    "than here")
        else:
            tail = (f"the distribution-wise part is {100 * (1 - share):.0f}% of the variance but "
                    f"not distinguishable from 0 with {self.n_seeds} seeds ({test})")
        return f"{head}; {tail}."


def split_variance(correct: np.ndarray) -> VarianceSplit:
    """Jordan's split of the seeds' variance (module docstring) from ``correct`` (K, n).

    Raises:
        ValueError: fewer than 2 seeds or no test examples.
    """
    c = np.asarray(correct, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] < 2 or c.shape[1] < 2:
        raise ValueError(f"correct must be (seeds >= 2, examples >= 2). Received: shape "
                         f"{c.shape}")
    k, n = c.shape
    acc = c.mean(axis=1)
    s2 = float(acc.var(ddof=1))
    p = c.mean(axis=0)
    within = float(np.mean(p * (1 - p))) * k / (k - 1)  # unbiased mean_i p_i (1 - p_i)
    dist = (s2 - within / n) / (1 - 1 / n)
    mean = float(acc.mean())
    return VarianceSplit(k, n, mean, s2, mean * (1 - mean) / n, s2 - dist, dist,
                           math.sqrt(2 / (k - 1)) * s2 / (1 - 1 / n))


# ------------------------------------------------------------------ ensembles and churn


@dataclass(frozen=True)
class EnsembleCurve:
    """Majority-vote accuracy of N seeds, N = 1..K (N = 1: the mean single-seed accuracy)."""

    sizes: tuple[int, ...]  # N
    accuracy: tuple[float, ...]  # mean majority-vote accuracy over the subsets of N seeds
    low: tuple[float, ...]  # the least and most over those subsets
    high: tuple[float, ...]
    subsets: tuple[int, ...]  # subsets averaged per N

    @property
    def gain(self) -> float:
        """What voting all K seeds buys over one seed, on average (accuracy fraction)."""
        return self.accuracy[-1] - self.accuracy[0]

    def sentence(self, scale: float = 100.0, unit: str = "points") -> str:
        u = f" {unit}" if unit else ""
        k = self.sizes[-1]
        return (f"Ensembling: the majority vote of all {k} seeds scores "
                f"{scale * self.accuracy[-1]:.2f}% against {scale * self.accuracy[0]:.2f}% "
                f"for one seed on average ({scale * self.gain:+.2f}{u}).")


def ensemble_curve(predictions: np.ndarray, labels: np.ndarray, num_classes: int,
                   subsets: int = 20, rng_seed: int = 0) -> EnsembleCurve:
    """The majority vote's accuracy against the number of seeds voting (module docstring)."""
    p = np.asarray(predictions, np.int64)
    k, m = p.shape
    y = np.asarray(labels, np.int64)
    # One-hot votes laid out (seed, class, example): a subset's counts are a sum over seeds
    # and the tie rules reduce over classes, both elementwise along the examples -- the same
    # numbers as vote_accuracy, ~10x faster than reducing (example, class) rows (q6's 8
    # configs x 10 seeds: 4.7 s -> well under 1 s on 2 shared cores).
    onehot = np.zeros((k, num_classes, m), np.uint8)
    onehot[np.arange(k)[:, None], p, np.arange(m)[None, :]] = 1
    dtype = np.uint8 if k < 256 else np.uint16

    def accuracy(idx: list[int]) -> float:
        counts = onehot[idx].sum(axis=0, dtype=dtype)  # (classes, M)
        tied = counts == counts.max(axis=0)
        return float(np.mean(tied[y, np.arange(m)] / tied.sum(axis=0)))

    rng = np.random.default_rng(rng_seed)
    sizes, mean, low, high, used = [], [], [], [], []
    for size in range(1, k + 1):
        if math.comb(k, size) <= subsets:
            picks = [list(c) for c in combinations(range(k), size)]
        else:
            seen: set[tuple[int, ...]] = set()
            while len(seen) < subsets:
                seen.add(tuple(sorted(rng.choice(k, size, replace=False).tolist())))
            picks = [list(c) for c in sorted(seen)]
        accs = [accuracy(idx) for idx in picks]
        sizes.append(size)
        mean.append(float(np.mean(accs)))
        low.append(min(accs))
        high.append(max(accs))
        used.append(len(picks))
    return EnsembleCurve(tuple(sizes), tuple(mean), tuple(low), tuple(high), tuple(used))


def churn(a: np.ndarray, b: np.ndarray | None = None, num_classes: int | None = None) -> float:
    """Mean share of examples on which two seeds disagree: over the pairs of rows of ``a``
    (K, M), or with ``b`` over every (row of a, row of b). NaN with fewer than 2 rows."""
    a = np.asarray(a, np.int64)
    nc = int(num_classes or 1 + max(int(a.max()), int(np.max(b)) if b is not None else 0))
    ca = class_counts(a, nc).astype(np.float64)
    m = a.shape[1]
    if b is None:
        k = a.shape[0]
        if k < 2:
            return math.nan
        agree = float(np.sum(ca * (ca - 1))) / (k * (k - 1) * m)
    else:
        b = np.asarray(b, np.int64)
        cb = class_counts(b, nc).astype(np.float64)
        agree = float(np.sum(ca * cb)) / (a.shape[0] * b.shape[0] * m)
    return 1.0 - agree


# ------------------------------------------------------------------ comparing two configs


@dataclass(frozen=True)
class McNemar:
    """McNemar's exact test of two majority votes on the same test examples."""

    only_a: int  # examples A's vote gets right and B's wrong
    only_b: int  # examples B's vote gets right and A's wrong
    p: float  # two-sided exact p-value


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemar:
    """Exact McNemar test of paired correctness vectors (M,) (module docstring).

    Raises:
        ValueError: vectors of different lengths.
    """
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if a.shape != b.shape:
        raise ValueError(f"both configs must be scored on the same test examples. Received: "
                         f"{a.shape} and {b.shape}")
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(b & ~a))
    n = only_a + only_b
    from scipy import stats as _st  # here, not at import: `import sweeplab` stays free of scipy

    p = 1.0 if n == 0 else min(1.0, 2 * float(_st.binom.cdf(min(only_a, only_b), n, 0.5)))
    return McNemar(only_a, only_b, p)


@dataclass(frozen=True)
class TwoWay:
    """Difference b - a in mean accuracy on new data: the seeds' and the test set's sampling
    (module docstring)."""

    diff: float  # observed difference of the mean accuracies
    low: float  # 95% interval
    high: float
    prob: float  # P(mean B > mean A) under the same t distribution
    se: float  # standard error: the seeds' and the test set's parts together
    test_set_se: float  # the test set's part alone
    df: float  # degrees of freedom of the t quantile


def two_way(correct_a: np.ndarray | None, correct_b: np.ndarray,
            paired: bool = False) -> TwoWay:
    """The interval of module docstring from ``correct_a`` (Ka, M) and ``correct_b`` (Kb, M),
    right or not, on the same M test examples; ``paired``: row k of both is the same seed.
    ``correct_a`` None: b's mean accuracy alone (prob = P(> 0)). Fewer than 2 seeds or
    examples: nan.

    Raises:
        ValueError: different test sets, or ``paired`` with different seed counts.
    """
    from scipy import stats as _st  # here, not at import: `import sweeplab` stays free of scipy

    b = np.asarray(correct_b, np.float64)
    a = None if correct_a is None else np.asarray(correct_a, np.float64)
    if a is not None and a.shape[1] != b.shape[1]:
        raise ValueError(f"both configs must be scored on the same test examples. Received: "
                         f"{a.shape[1]} and {b.shape[1]} examples")
    if paired and (a is None or a.shape != b.shape):
        raise ValueError("paired seeds need as many seeds on both sides")
    m = b.shape[1]
    diff = float(b.mean() - (0.0 if a is None else a.mean()))
    parts = [b] if a is None else [b - a] if paired else [a, b]
    if min(c.shape[0] for c in parts) < 2 or m < 2:
        return TwoWay(diff, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)
    seeds = [c.mean(axis=1).var(ddof=1) / c.shape[0] for c in parts]  # per part: s^2 / K
    d = b.mean(axis=0) - (0.0 if a is None else a.mean(axis=0))  # (M,) p_Bi - p_Ai
    within = sum(c.var(axis=0, ddof=1) / c.shape[0] for c in parts)  # (M,)
    test = max(0.0, float(d.var(ddof=1) - within.mean())) / m
    se, seeds_se = math.sqrt(sum(seeds) + test), math.sqrt(sum(seeds))
    if se == 0:
        return TwoWay(diff, diff, diff, 0.5 if diff == 0 else float(diff > 0), 0.0, 0.0,
                      math.inf)
    # Satterthwaite: each variance part with its own degrees of freedom
    seeds_terms = sum(v * v / (c.shape[0] - 1) for v, c in zip(seeds, parts, strict=True))
    df = se ** 4 / (seeds_terms + test * test / (m - 1))
    seeds_df = sum(seeds) ** 2 / seeds_terms if seeds_se > 0 else math.inf
    half = max(float(_st.t.ppf(0.975, df)) * se, float(_st.t.ppf(0.975, seeds_df)) * seeds_se)
    scale = half / float(_st.t.ppf(0.975, df))  # the se the stated interval implies
    return TwoWay(diff, diff - half, diff + half, float(_st.t.cdf(diff / scale, df)), se,
                  math.sqrt(test), df)


def two_way_best(corrects: list[np.ndarray], n_boot: int = 2000, rng_seed: int = 0,
                 chunk: int = 200) -> np.ndarray:
    """P(each config has the best mean accuracy) among configs scored by the same seeds on
    the same M examples (``corrects``: (K, M) each, row k = seed k for all): the seeds
    resampled as shared blocks (as ``race.p_best`` does) and the examples once for all, per
    replicate; ties go to the earlier config.

    Raises:
        ValueError: different seed counts or test sets.
    """
    cs = [np.asarray(c, np.float64) for c in corrects]
    if len({c.shape for c in cs}) != 1:
        raise ValueError(f"every config must be scored by as many seeds on the same examples. "
                         f"Received shapes: {', '.join(str(c.shape) for c in cs)}")
    k, m = cs[0].shape
    rng = np.random.default_rng(rng_seed)
    wins = np.zeros(len(cs), np.int64)
    for start in range(0, n_boot, chunk):
        r = min(chunk, n_boot - start)
        w = rng.multinomial(k, np.full(k, 1 / k), size=r) / k  # (r, K) seed weights
        # (r, M) example counts, multinomial(M, 1/M each) as the counts of M uniform draws:
        # one bincount, ten times quicker than NumPy's multinomial over many categories
        draws = rng.integers(0, m, size=(r, m)) + m * np.arange(r)[:, None]
        we = np.bincount(draws.ravel(), minlength=r * m).reshape(r, m)
        means = np.stack([np.einsum("rm,rm->r", w @ c, we) / m for c in cs])  # (F, r)
        wins += np.bincount(means.argmax(axis=0), minlength=len(cs))
    return wins / n_boot


def hard_examples(o: Outcomes, limit: int = 12) -> tuple[list[int], list[int]]:
    """Indices of the examples no seed gets right, and of those the seeds split on (most
    evenly split first), at most ``limit`` each, in test-set order within a tie."""
    never = np.flatnonzero(o.never_right)[:limit]
    split = np.flatnonzero(o.split)
    split = split[np.argsort(np.abs(o.difficulty[split] - 0.5), kind="stable")][:limit]
    return never.tolist(), split.tolist()


@dataclass(frozen=True)
class Paired:
    """What two configs' per-example outcomes on the same test set say about b - a."""

    two_way: TwoWay  # difference of mean accuracies on new data: seeds and test set
    mcnemar: McNemar  # the two majority votes, example by example
    churn: float  # share of examples a seed of A and a seed of B predict differently (mean)
    vote_a: float  # accuracy of A's majority vote (ties: the first seed's tied class)
    vote_b: float

    def sentence(self, scale: float = 100.0, unit: str = "points") -> str:
        """Whether the difference is expected to hold on new data, in one sentence."""
        t, m = self.two_way, self.mcnemar
        u = f" {unit}" if unit else ""
        boot = (f"{scale * t.diff:+.3f}{u} (95% CI {scale * t.low:+.3f} .. {scale * t.high:+.3f}"
                f", P(mean B > mean A) = {t.prob:.3f}, the seeds' and the test set's "
                "sampling)")
        votes = (f"the majority votes differ on {m.only_a + m.only_b} examples, {m.only_b} for "
                 f"B and {m.only_a} for A (exact McNemar p = {m.p:.3g})")
        if t.low > 0 or t.high < 0:
            better = "B" if t.diff > 0 else "A"
            held = ("and so do their majority votes" if m.p < 0.05
                    and (m.only_b > m.only_a) == (better == "B") else
                    "though their majority votes do not differ significantly")
            return (f"On new data from the same distribution {better} is expected to stay ahead:"
                    f" {boot}, {held}: {votes}.")
        return (f"Whether the difference would hold on new data from the same distribution is "
                f"not settled: {boot}; {votes}.")


def paired(a: Outcomes, b: Outcomes) -> Paired:
    """The difference on new data (paired where both have the same seeds), McNemar of the
    majority votes and churn between ``a`` and ``b``.

    Raises:
        ValueError: scored on different test sets.
    """
    tw = difference(a, b)
    if tw is None:
        raise ValueError("both configs must be scored on the same test set (their stored test "
                         "labels differ)")
    va = majority_vote(a.predictions, a.num_classes) == a.labels
    vb = majority_vote(b.predictions, b.num_classes) == b.labels
    nc = max(a.num_classes, b.num_classes)
    return Paired(tw, mcnemar(va, vb), churn(a.predictions, b.predictions, nc),
                  float(va.mean()), float(vb.mean()))


def difference(a: Outcomes | None, b: Outcomes | None) -> TwoWay | None:
    """:func:`two_way` of ``b`` - ``a`` on new data, paired where both have the same seeds;
    None unless both are given, scored on the same test set."""
    if a is None or b is None or a.labels.shape != b.labels.shape \
            or not np.array_equal(a.labels, b.labels):
        return None
    return two_way(a.correct, b.correct, paired=a.seeds == b.seeds)
