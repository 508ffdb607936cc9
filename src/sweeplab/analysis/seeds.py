"""What a number of seeds can and cannot tell: test-set noise, power, P(B > A), distributions.

Pure functions of measured numbers; conventions as :mod:`sweeplab.analysis.stats`.

* **Noise floor**: a seed-to-seed spread against the binomial standard error
  ``sqrt(p (1 - p) / n_test)``; the one-sided chi-square test of ``(k - 1) s^2 / sigma0^2``
  asks whether seeds spread runs *more* than test-set noise would (conservative on one
  fixed test set; with per-example outcomes, :class:`outcomes.VarianceSplit` tests against
  the test set's own part instead).
* **Resolution of the test set**: seeds do not shrink test-set noise, so a difference
  within ``1.96 sqrt(pa (1 - pa) / n + pb (1 - pb) / n)`` may come from the test set alone
  (an upper bound: it treats the two scores as independent); with both configs' per-example
  outcomes, 1.96 times the test set's part of the difference's se (``pair_edge``).
* **Power**: statsmodels' ``TTestPower`` (paired) or ``TTestIndPower`` (unpaired).
* **Probability of improvement** P(B > A) (Agarwal et al. 2021), ties count one half, with
  a percentile-bootstrap interval, or the exact binomial one when B wins (or loses) on
  every shared seed (a bootstrap of identical outcomes has zero width).
* **Score distribution**: rliable's performance profile with a pointwise bootstrap band.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from sweeplab.analysis.outcomes import Outcomes, TwoWay, difference
from sweeplab.analysis.stats import as_seed_map, as_values
from sweeplab.results import RunResult

__all__ = [
    "Improvement", "NoiseFloor", "PlanRow", "Power", "ScoreDistribution", "binomial_se",
    "noise_floor", "pair_edge", "plan", "power", "prob_improvement", "resolvable", "runs_floor",
    "unresolved", "score_distribution", "seeds_to_detect"
]

ALPHA = 0.05  # two-sided level of every test here
POWER = 0.8  # the usual target power (Cohen)


def binomial_se(p: float, n_test: int) -> float:
    """The binomial standard error of an accuracy ``p`` measured on ``n_test`` images.

    Raises:
        ValueError: ``p`` outside [0, 1] or ``n_test`` not a positive integer.
    """
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"p must be an accuracy in [0, 1]. Received: p={p!r}")
    if isinstance(n_test, bool) or not isinstance(n_test, (int, np.integer)) or n_test < 1:
        raise ValueError(f"n_test must be an integer >= 1. Received: n_test={n_test!r}")
    return math.sqrt(float(p) * (1.0 - float(p)) / int(n_test))


@dataclass(frozen=True)
class NoiseFloor:
    """One config's seed-to-seed spread against the test set's own noise."""

    n_runs: int  # runs (seeds)
    n_test: int  # test images each run was scored on
    mean: float  # mean final test accuracy, in [0, 1]
    floor: float  # binomial standard error at that mean, sqrt(p (1 - p) / n_test)
    std: float  # seed-to-seed sample std (ddof=1); nan with one run
    p_excess: float  # one-sided chi-square p-value of "variance > floor^2"; nan with one run

    @property
    def ratio(self) -> float:
        """Seed-to-seed std in units of the floor (inf when the floor is 0 and std is not)."""
        if self.floor == 0.0:
            return 0.0 if self.std == 0.0 else math.inf
        return self.std / self.floor

    @property
    def beyond(self) -> bool:
        """The seeds spread the runs more than test-set noise would (p < 0.05)."""
        return bool(self.p_excess < ALPHA)  # nan -> False

    def sentence(self, label: str = "") -> str:
        """In words: whether the runs differ beyond what the test set alone makes them."""
        who = f"{label}: " if label else ""
        head = (f"{who}the seed-to-seed standard deviation of final test accuracy is "
                f"{100 * self.std:.2f} points over {self.n_runs} runs; the test set's "
                f"{self.n_test} images alone give a binomial standard error of "
                f"{100 * self.floor:.2f} points at {100 * self.mean:.2f}%")
        if not math.isfinite(self.p_excess):
            return f"{head}. One run: no spread to compare with it."
        test = f"chi-square test of the variance, {_p(self.p_excess)}"
        if self.beyond:
            return (f"{head}: the seeds spread the runs {self.ratio:.1f} times as widely, far "
                    f"beyond test-set noise ({test})." if self.ratio >= 3 else
                    f"{head} ({test}): the runs differ by more than test-set noise.")
        return (f"{head} ({test}): the runs are indistinguishable beyond test-set noise; "
                "their differences are of the size of which test images each gets right.")


def _p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.2g}"


def noise_floor(values: Sequence[float] | np.ndarray, n_test: int) -> NoiseFloor:
    """Compare the spread of final accuracies over seeds with the test set's binomial noise.

    Raises:
        ValueError: empty, non-finite or out-of-[0, 1] values; a bad ``n_test``.
    """
    x = as_values(values, "values")
    if x.size == 0 or np.any((x < 0) | (x > 1)):
        raise ValueError(f"values must be one or more accuracies in [0, 1]. Received: {values!r}")
    p = float(x.mean())
    floor = binomial_se(min(max(p, 0.0), 1.0), n_test)
    k = int(x.size)
    if k < 2:
        return NoiseFloor(k, int(n_test), p, floor, math.nan, math.nan)
    std = 0.0 if np.all(x == x[0]) else float(x.std(ddof=1))
    if floor == 0.0:  # every image right (or wrong) on average: any spread exceeds it
        p_excess = 1.0 if std == 0.0 else 0.0
    else:
        p_excess = float(_st.chi2.sf((k - 1) * std**2 / floor**2, k - 1))
    return NoiseFloor(k, int(n_test), p, floor, std, p_excess)


def resolvable(p_a: float, p_b: float, n_test: int, confidence: float = 0.95) -> float:
    """How far accuracies ``p_a`` and ``p_b`` on one test set of ``n_test`` images can differ
    through test-set sampling alone: ``z * sqrt(pa (1 - pa) / n + pb (1 - pb) / n)``.

    Treating the two scores as independent overstates their noise when both models get
    many of the same images right, so this errs towards "within test-set noise".
    """
    z = float(_st.norm.ppf(0.5 + confidence / 2))
    return z * math.hypot(binomial_se(p_a, n_test), binomial_se(p_b, n_test))


def edge_source(measured: bool) -> str:
    """Where :func:`pair_edge`'s least resolvable difference came from, in words."""
    return ("95%, the test set's part of this difference from the runs' per-example "
            "predictions" if measured else
            "binomial, 95%; an upper bound, as both are scored on the same images and models "
            "that agree on most of them differ by less")


def pair_edge(fa: NoiseFloor, fb: NoiseFloor, tw: TwoWay | None = None) -> tuple[float, bool]:
    """The least difference between two configs their test set resolves (95%), and whether
    it was measured: with their difference from per-example outcomes (``tw``:
    :func:`outcomes.difference`), 1.96 times the test set's part of its standard error (far
    below the binomial bound for models that agree on most examples); else
    :func:`resolvable`'s binomial upper bound."""
    if tw is not None and math.isfinite(tw.test_set_se):
        return float(_st.norm.ppf(1 - ALPHA / 2)) * tw.test_set_se, True
    return resolvable(fa.mean, fb.mean, fa.n_test), False


def resolution_sentence(diff: float, threshold: float, n_test: int,
                        measured: bool = False) -> str:
    """"" when |diff| >= threshold, else that the difference is within test-set noise."""
    if abs(diff) >= threshold:
        return ""
    return (f"The difference, {100 * abs(diff):.2f} points, is within the test set's own noise: "
            f"two accuracies on {n_test} images can differ by up to {100 * threshold:.2f} "
            f"points through which images the test set holds "
            f"({edge_source(measured)}). More seeds shrink the seed-to-seed "
            "uncertainty, not this.")


def runs_floor(runs: Sequence[RunResult]) -> NoiseFloor | None:
    """The noise floor of a config's finished runs (final test accuracy; the test-set size
    is the sum of a run's confusion matrix). None without runs."""
    if not runs:
        return None
    return noise_floor([r.final.test_acc for r in runs], int(runs[0].confusion.sum()))


def unresolved(configs: Sequence[tuple[str, Sequence[RunResult]]],
               outcomes: Sequence[Outcomes | None] | None = None) -> str | None:
    """Neighbouring configs (in order) whose mean final test accuracies differ by less than
    their test set resolves (:func:`pair_edge`, from ``outcomes`` where both have them), in
    words; None when every step is resolvable."""
    got = list(outcomes) if outcomes is not None else [None] * len(configs)
    kept = [(label, runs_floor(runs), o) for (label, runs), o in zip(configs, got, strict=True)
            if runs]
    small, how = [], set()
    for (a, fa, oa), (b, fb, ob) in zip(kept, kept[1:], strict=False):
        assert fa is not None and fb is not None  # kept configs have runs
        edge, measured = pair_edge(fa, fb, difference(oa, ob))
        if abs(fb.mean - fa.mean) < edge:
            how.add(edge_source(measured))
            small.append(f"{a} → {b} ({100 * (fb.mean - fa.mean):+.2f} points, under "
                         f"{100 * edge:.2f})")
    if not small:
        return None
    n_test = kept[0][1].n_test  # type: ignore[union-attr]
    return (f"Differences within the test set's own noise ({n_test} test images, "
            f"{'; '.join(sorted(how))}): {'; '.join(small)}. More seeds shrink the seed-to-seed "
            "uncertainty, not this.")


# -------------------------------------------------------------------------- power


@dataclass(frozen=True)
class Power:
    """What a comparison of b - a can detect with its seeds, and what it would need."""

    paired: bool  # as stats.compare: True with >= 2 shared seeds
    n: int  # pairs (paired) or the smaller config's runs (unpaired)
    sd: float  # sd of per-seed differences (paired) or pooled sd (unpaired); nan: < 2 runs
    diff: float  # the observed mean difference b - a
    mdd: float  # smallest |b - a| detected with probability `power` at `alpha` with n seeds
    seeds_needed: float  # seeds (pairs, or per config) to detect |diff|; inf when diff is 0
    power: float = POWER
    alpha: float = ALPHA

    def sentence(self, scale: float = 100.0, unit: str = "points") -> str:
        """"With 10 paired seeds a difference under 0.31 points would go unnoticed ..."."""
        if not math.isfinite(self.mdd):
            return "Too few runs to say what difference these seeds could detect."
        seeds = f"{self.n} {'paired ' if self.paired else ''}seeds"
        per = "" if self.paired else " per configuration"
        if self.sd == 0.0:
            return (f"The {seeds} show no spread{' in their differences' * self.paired}, so "
                    "they would detect any difference.")
        def amount(x: float) -> str:  # points to 2 decimals; a loss (no unit) to 4
            return f"{scale * x:.2f} {unit}" if unit else f"{scale * x:.4f}"

        head = (f"With {seeds}{per}, a difference under {amount(self.mdd)} would go "
                f"unnoticed more than {100 - 100 * self.power:.0f}% of the time (t-test at "
                f"alpha={self.alpha:g})")
        if self.diff == 0.0:
            return f"{head}; the observed difference is 0, which no number of seeds detects."
        need = seed_count(self.seeds_needed)
        return (f"{head}; to detect the observed {amount(abs(self.diff))} with "
                f"{100 * self.power:.0f}% power takes about {need} seeds{per}.")


def seed_count(n: float) -> str:
    if not math.isfinite(n):
        return "infinitely many"
    return f"{int(n):,}"


def _solver(paired: bool):
    from statsmodels.stats.power import TTestIndPower, TTestPower

    return TTestPower() if paired else TTestIndPower()


def seeds_to_detect(delta: float, sd: float, paired: bool, power: float = POWER,
                    alpha: float = ALPHA) -> float:
    """Seeds (pairs, or runs per config) a two-sided t-test needs to detect ``delta`` with
    probability ``power``: at least 2, inf when ``delta`` is 0, nan when ``sd`` is unknown."""
    delta, sd = abs(float(delta)), float(sd)
    if not math.isfinite(sd):
        return math.nan
    if delta == 0.0:
        return math.inf
    if sd == 0.0:
        return 2.0  # no spread: two seeds show any difference
    d = delta / sd
    z = _st.norm.ppf(1 - alpha / 2) + _st.norm.ppf(power)
    rough = (z / d) ** 2 * (1 if paired else 2)  # normal approximation
    if rough > 1e6:  # the t correction is negligible there, and the solver's bracket ends
        return float(math.ceil(rough))
    # The smallest whole n with enough power, by statsmodels' power function: stepping from
    # the normal approximation (the t-test needs a few more) is exact where solve_power's
    # root finder can fail to converge.
    solver = _solver(paired)

    def enough(n: int) -> bool:
        kw = {"nobs": n} if paired else {"nobs1": n, "ratio": 1.0}
        return bool(solver.power(effect_size=d, alpha=alpha, **kw) >= power)

    n = max(2, math.ceil(rough))
    while not enough(n):
        n += 1
    while n > 2 and enough(n - 1):
        n -= 1
    return float(n)


def _mdd_effect(n: int, paired: bool, ratio: float, power: float, alpha: float) -> float:
    """The standardised effect a two-sided t-test detects with probability ``power``."""
    kwargs = {"nobs": n} if paired else {"nobs1": n, "ratio": ratio}
    return float(_solver(paired).solve_power(effect_size=None, alpha=alpha, power=power,
                                             **kwargs))


def power(a: Mapping[int, float], b: Mapping[int, float], power: float = POWER,
          alpha: float = ALPHA) -> Power:
    """Minimum detectable difference and seeds needed for comparing b with a (seed -> value):
    paired over >= 2 shared seeds (as :func:`sweeplab.analysis.stats.compare`), else unpaired
    with the pooled sd (``TTestIndPower`` with the groups' size ratio).

    Raises:
        ValueError: as :func:`sweeplab.analysis.stats.compare`.
    """
    a, b = as_seed_map(a, "a"), as_seed_map(b, "b")
    shared = sorted(set(a) & set(b))
    if len(shared) >= 2:
        d = np.array([b[s] - a[s] for s in shared])
        n, diff = len(shared), float(d.mean())
        sd = 0.0 if np.all(d == d[0]) else float(d.std(ddof=1))
        mdd = sd * _mdd_effect(n, True, 1.0, power, alpha)
        return Power(True, n, sd, diff, mdd, seeds_to_detect(diff, sd, True, power, alpha),
                     power, alpha)
    xa, xb = np.array(list(a.values())), np.array(list(b.values()))
    diff = float(xb.mean() - xa.mean())
    if xa.size < 2 or xb.size < 2:
        return Power(False, int(min(xa.size, xb.size)), math.nan, diff, math.nan, math.nan,
                     power, alpha)
    var = ((xa.size - 1) * xa.var(ddof=1) + (xb.size - 1) * xb.var(ddof=1)) \
        / (xa.size + xb.size - 2)
    sd = float(math.sqrt(var))
    mdd = sd * _mdd_effect(int(xa.size), False, xb.size / xa.size, power, alpha)
    return Power(False, int(min(xa.size, xb.size)), sd, diff, mdd,
                 seeds_to_detect(diff, sd, False, power, alpha), power, alpha)


@dataclass(frozen=True)
class PlanRow:
    """Seeds needed to detect a chosen difference between two neighbouring configs."""

    a: str  # config label
    b: str
    power: Power  # from the runs stored so far
    detect: float  # the difference to detect, as a fraction (0.005 = 0.5 points)

    @property
    def seeds_needed(self) -> float:
        """Seeds (pairs, or per config) to detect ``detect`` at the power's level."""
        return seeds_to_detect(self.detect, self.power.sd, self.power.paired, self.power.power,
                               self.power.alpha)


def plan(configs: Sequence[tuple[str, Mapping[int, float]]], detect: float) -> list[PlanRow]:
    """Neighbouring pairs of ``configs`` (label, seed -> final accuracy) in order: what their
    stored spread says about the seeds needed to detect a difference of ``detect``.

    Raises:
        ValueError: ``detect`` not a positive finite number.
    """
    if not (isinstance(detect, (int, float)) and math.isfinite(detect) and detect > 0):
        raise ValueError(f"detect must be a positive number of accuracy points. "
                         f"Received: {100 * detect if isinstance(detect, float) else detect!r}")
    kept = [(label, v) for label, v in configs if v]
    return [PlanRow(a, b, power(va, vb), float(detect))
            for (a, va), (b, vb) in zip(kept, kept[1:], strict=False)]


def plan_lines(rows: Sequence[PlanRow], detect_points: float) -> list[str]:
    """``sweeplab plan``'s table: one line per neighbouring pair."""
    head = (f"{'pair (b vs a)':<36} {'design':<10} {'sd diff':>8} {'detectable now':>15} "
            f"{f'seeds for {detect_points:g}':>14}")
    out = [head]
    for r in rows:
        p = r.power
        design = f"{p.n} paired" if p.paired else f"{p.n} unpaired"
        sd = f"{100 * p.sd:.3f}" if math.isfinite(p.sd) else "-"
        mdd = f"{100 * p.mdd:.3f}" if math.isfinite(p.mdd) else "-"
        need = r.seeds_needed
        need_s = "-" if math.isnan(need) else seed_count(need)
        out.append(f"{f'{r.b} vs {r.a}':<36} {design:<10} {sd:>8} {mdd:>15} {need_s:>14}")
    return out


# ------------------------------------------------------- probability of improvement


@dataclass(frozen=True)
class Improvement:
    """P(B > A): how often b beats a, with a percentile-bootstrap interval."""

    paired: bool  # paired over shared seeds (>= 2) or the Mann-Whitney form
    n_a: int  # runs of a used
    n_b: int  # runs of b used
    prob: float  # P(B > A), ties counting one half
    low: float  # 95% interval (nan with fewer than 2 runs a side), see `method`
    high: float
    confidence: float = 0.95
    method: str = "bootstrap"  # "bootstrap" (percentile), or "exact" (Clopper-Pearson) when
    # b won (or lost) on every seed: every resample is then the same, a zero-width interval

    def text(self, a_label: str = "A", b_label: str = "B") -> str:
        """"P(B > A) = 0.80 (95% bootstrap CI 0.50 to 1.00, 10 paired seeds)"."""
        how = (f"{self.n_a} paired seeds" if self.paired
               else f"all {self.n_a} x {self.n_b} pairs of runs")
        ci = (f"{100 * self.confidence:g}% {self.method} CI {self.low:.2f} to {self.high:.2f}, "
              if math.isfinite(self.low) else "")
        return f"P({b_label} > {a_label}) = {self.prob:.2f} ({ci}{how})"


def _wins_paired(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean((y > x) + 0.5 * (y == x), axis=axis)


def _wins_unpaired(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    x, y = np.moveaxis(x, axis, -1), np.moveaxis(y, axis, -1)
    xx, yy = x[..., :, None], y[..., None, :]
    return np.mean((yy > xx) + 0.5 * (yy == xx), axis=(-2, -1))


def prob_improvement(a: Mapping[int, float], b: Mapping[int, float], confidence: float = 0.95,
                     n_boot: int = 2000, rng_seed: int = 0) -> Improvement:
    """P(B > A) with a percentile-bootstrap interval: paired over >= 2 shared seeds (resampling
    seeds), else the Mann-Whitney form over all runs (resampling each config's runs).

    Raises:
        ValueError: as :func:`sweeplab.analysis.stats.compare`.
    """
    a, b = as_seed_map(a, "a"), as_seed_map(b, "b")
    shared = sorted(set(a) & set(b))
    paired = len(shared) >= 2
    if paired:
        xa, xb = np.array([a[s] for s in shared]), np.array([b[s] for s in shared])
        stat = _wins_paired
    else:
        xa, xb = np.array(list(a.values())), np.array(list(b.values()))
        stat = _wins_unpaired
    prob = float(stat(xa, xb))
    low = high = math.nan
    method = "bootstrap"
    if n_boot and min(xa.size, xb.size) >= 2:
        if paired and np.all(xb == xa):
            low = high = prob  # identical on every seed
        elif paired and np.all(np.sign(xb - xa) == np.sign(xb[0] - xa[0])):
            # Every seed the same way: each resample gives the same share, so the bootstrap
            # says "certain" from a handful of seeds. The exact binomial interval of n wins
            # (or losses) in n says how little n seeds can make certain.
            ci = _st.binomtest(int(round(prob * xa.size)), int(xa.size)).proportion_ci(
                confidence, method="exact")
            low, high, method = float(ci.low), float(ci.high), "exact"
        else:
            ci = _st.bootstrap((xa, xb), stat, paired=paired, vectorized=True,
                               n_resamples=n_boot, confidence_level=confidence,
                               method="percentile", rng=np.random.default_rng(rng_seed)
                               ).confidence_interval
            low, high = float(ci.low), float(ci.high)
    return Improvement(paired, int(xa.size), int(xb.size), prob, low, high, confidence, method)


def compared_extras(a: Mapping[int, float], b: Mapping[int, float],
                    n_test: tuple[int, int] | None = None, tw: TwoWay | None = None) -> dict:
    """What :class:`sweeplab.api.Compared` carries beside the comparison: power, P(B > A),
    and with ``n_test`` (test images of a and of b; test accuracy only) both noise floors
    and the least difference the test sets resolve (:func:`pair_edge`, from ``tw``: their
    difference from per-example outcomes, where kept)."""
    out: dict = {"power": power(a, b), "improvement": prob_improvement(a, b)}
    if n_test:
        fa, fb = (noise_floor(list(v.values()), n) for v, n in zip((a, b), n_test, strict=True))
        edge, measured = pair_edge(fa, fb, tw)
        out.update(floor_a=fa, floor_b=fb, resolvable=edge, resolvable_measured=measured)
    return out


# ------------------------------------------------------------------ distributions


@dataclass(frozen=True, eq=False)
class ScoreDistribution:
    """Share of runs at or above each accuracy, one curve per config, with bootstrap bands."""

    title: str
    labels: tuple[str, ...]  # one per config
    n: tuple[int, ...]  # runs per config
    thresholds: np.ndarray  # (t,) accuracies, fractions in [0, 1]
    share: np.ndarray  # (k, t) share of each config's runs with accuracy >= threshold
    low: np.ndarray  # (k, t) 95% pointwise percentile-bootstrap band
    high: np.ndarray  # (k, t)
    confidence: float = 0.95


def _at_or_above(x: np.ndarray, thresholds: np.ndarray, axis: int = -1) -> np.ndarray:
    """(t, ...) shares: scipy's bootstrap wants a vector statistic's outputs first."""
    x = np.moveaxis(x, axis, -1)
    return np.moveaxis(np.mean(x[..., None, :] >= thresholds[:, None], axis=-1), -1, 0)


def score_distribution(groups: Sequence[tuple[str, Sequence[float]]], title: str = "",
                       n_points: int = 200, confidence: float = 0.95, n_boot: int = 2000,
                       rng_seed: int = 0) -> ScoreDistribution:
    """Score distributions (rliable's performance profiles) of final accuracies per config
    (``groups``: label, accuracies; configs without runs left out). The ``n_points``
    thresholds include every observed value, so each step is drawn where it happens.

    Raises:
        ValueError: no config with runs.
    """
    kept = [(str(label), as_values(v, f"values of {label}")) for label, v in groups if len(v)]
    if not kept:
        raise ValueError("score_distribution needs at least one config with runs.")
    allv = np.concatenate([v for _, v in kept])
    lo, hi = float(allv.min()), float(allv.max())
    pad = max(hi - lo, 0.01) * 0.05
    grid = np.unique(np.concatenate([np.linspace(lo - pad, hi + pad, n_points), allv]))
    share, low, high = [], [], []
    for i, (_, v) in enumerate(kept):
        share.append(_at_or_above(v, grid))
        if n_boot and v.size >= 2 and not np.all(v == v[0]):
            ci = _st.bootstrap((v,), lambda x, axis=-1: _at_or_above(x, grid, axis),
                               vectorized=True, n_resamples=n_boot, confidence_level=confidence,
                               method="percentile", rng=np.random.default_rng(rng_seed + i)
                               ).confidence_interval
            low.append(np.asarray(ci.low, float))
            high.append(np.asarray(ci.high, float))
        else:  # one run, or all equal: every resample gives the same curve
            low.append(share[-1])
            high.append(share[-1])
    ro = [np.array(m) for m in (share, low, high)]
    for m in ro:
        m.setflags(write=False)
    return ScoreDistribution(title or "Share of runs at or above each final test accuracy",
                             tuple(lab for lab, _ in kept), tuple(v.size for _, v in kept),
                             grid, ro[0], ro[1], ro[2], confidence)
