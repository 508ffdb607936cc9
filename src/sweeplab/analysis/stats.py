"""Statistics for repeated runs: summaries, paired comparisons, confusion averages. Pure.

Spreads are sample standard deviations (ddof=1), nan below 2 values so that one run never
looks precise; intervals are Student-t, bootstrap ones percentile intervals deterministic
given ``rng_seed``; Holm is statsmodels'; a difference is ``b - a``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

__all__ = [
    "AveragedConfusion", "Comparison", "ComparisonRow", "ConfusionRow", "CurveSummary", "Summary",
    "average_confusion", "baseline_pairs", "ci_half_width", "compare", "compare_many",
    "describe_difference", "holm", "needs_more_seeds", "neighbour_pairs", "summarize",
    "summarize_curves", "top_confusions"
]

CONFIDENCE = 0.95  # the coverage of every interval the report, the API and explain show


# --------------------------------------------------------------------------- checks


def _check_confidence(confidence: float, name: str = "confidence") -> float:
    if not isinstance(confidence, (int, float)) or not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"{name} must be a number in (0, 1). Received: {name}={confidence!r}")
    return float(confidence)


def _check_n_boot(n_boot: int) -> int:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ValueError(
            f"n_boot must be an integer >= 0 (0 skips the bootstrap). Received: n_boot={n_boot!r}"
        )
    return int(n_boot)


def as_values(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    """1-D float array of finite values, or ValueError naming `name`."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be a sequence of numbers. Received: {name}={values!r}"
        ) from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional. Received: {name} with shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            f"{name} must contain only finite numbers (no nan/inf). Received: {name}={values!r}"
        )
    return arr


def as_seed_map(values: Mapping[int, float], name: str) -> dict[int, float]:
    if not isinstance(values, Mapping):
        raise ValueError(f"{name} must be a mapping of seed -> value. Received: {name}={values!r}")
    if len(values) == 0:
        raise ValueError(f"{name} must contain at least one run. Received: {name}={{}}")
    out: dict[int, float] = {}
    for seed, value in values.items():
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"{name} keys must be integer seeds. Received: key {seed!r} in {name}")
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"{name} values must be finite. Received: {name}[{seed}]={value!r}")
        out[int(seed)] = v
    return out


def _alpha(confidence: float) -> float:
    # Rounded so that 1 - 0.95 is exactly 0.05 and p=0.05 is not "below" it.
    return round(1.0 - confidence, 12)


def _mean(x: np.ndarray) -> float:
    # Exact for constant input (np.mean([0.7] * 3) != 0.7), so identical configs
    # give a difference of exactly 0 rather than a rounding error read as a signal.
    return float(x[0]) if np.all(x == x[0]) else float(x.mean())


def _t_quantile(confidence: float, dof: float) -> float:
    return float(_st.t.ppf(0.5 + confidence / 2.0, dof))


def _bootstrap(samples: tuple[np.ndarray, ...], statistic, confidence: float, n_boot: int,
               rng: np.random.Generator) -> tuple[float, float]:
    """scipy's percentile bootstrap (each sample resampled on its own), nan with n_boot=0."""
    if n_boot == 0 or min(x.size for x in samples) < 2:
        return math.nan, math.nan
    ci = _st.bootstrap(samples, statistic, vectorized=True, n_resamples=n_boot,
                       confidence_level=confidence, method="percentile", rng=rng
                       ).confidence_interval
    return float(ci.low), float(ci.high)


def _mean_of(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _mean_diff(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(b, axis=axis) - np.mean(a, axis=axis)


def _bootstrap_mean(
    x: np.ndarray, confidence: float, n_boot: int, rng: np.random.Generator
) -> tuple[float, float]:
    if np.all(x == x[0]) and n_boot and x.size >= 2:
        return float(x[0]), float(x[0])  # every resample is the same (scipy would warn)
    return _bootstrap((x,), _mean_of, confidence, n_boot, rng)


# ------------------------------------------------------------------------ summaries


@dataclass(frozen=True)
class Summary:
    """Mean and spread of one metric over n runs (nan where n is too small)."""

    n: int  # number of runs
    mean: float  # arithmetic mean
    std: float  # sample standard deviation (ddof=1); nan when n < 2
    sem: float  # standard error of the mean, std / sqrt(n); nan when n < 2
    ci_low: float  # Student-t confidence interval of the mean, lower end (within bounds)
    ci_high: float  # Student-t confidence interval of the mean, upper end (within bounds)
    boot_low: float  # percentile-bootstrap interval of the mean, lower end
    boot_high: float  # percentile-bootstrap interval of the mean, upper end
    min: float  # smallest value
    max: float  # largest value
    confidence: float = 0.95  # coverage of both intervals


def _clip(x, bounds: tuple[float, float] | None):
    """A t interval's end clipped to the metric's range.

    With few seeds and a large spread, mean +- t * sem can leave the range a metric can
    take (an accuracy CI of 45%-110%). The true mean lies inside the range, so cutting
    the interval there never drops it: coverage stays at least the nominal level, and
    the interval stops claiming impossible values.
    """
    if bounds is None:
        return x
    return np.clip(x, bounds[0], bounds[1]) if isinstance(x, np.ndarray) else float(
        min(max(x, bounds[0]), bounds[1]))


def summarize(values: Sequence[float] | np.ndarray, confidence: float = 0.95, n_boot: int = 2000,
              rng_seed: int = 0, bounds: tuple[float, float] | None = None) -> Summary:
    """Summarize one metric (one finite value per run) over repeated runs.

    ``n_boot`` 0 skips the bootstrap (boot_* are nan); ``bounds`` (e.g. (0, 1) for an
    accuracy) clips the t interval (see :func:`_clip`).

    Raises:
        ValueError: empty or non-finite `values`, or a bad `confidence`/`n_boot`.
    """
    x = as_values(values, "values")
    if x.size == 0:
        raise ValueError("values must contain at least one run. Received: values=[]")
    confidence = _check_confidence(confidence)
    n_boot = _check_n_boot(n_boot)
    n = int(x.size)
    mean = _mean(x)
    if n < 2:
        std = sem = ci_low = ci_high = math.nan
    else:
        std = 0.0 if np.all(x == x[0]) else float(x.std(ddof=1))
        sem = std / math.sqrt(n)
        half = _t_quantile(confidence, n - 1) * sem
        ci_low, ci_high = _clip(mean - half, bounds), _clip(mean + half, bounds)
    boot_low, boot_high = _bootstrap_mean(x, confidence, n_boot, np.random.default_rng(rng_seed))
    return Summary(n=n, mean=mean, std=std, sem=sem, ci_low=ci_low, ci_high=ci_high,
                   boot_low=boot_low, boot_high=boot_high, min=float(x.min()),
                   max=float(x.max()), confidence=confidence)


@dataclass(frozen=True, eq=False)
class CurveSummary:
    """Per-epoch mean and spread of a training curve over n runs (read-only arrays)."""

    n_runs: int  # number of runs (curves) averaged
    mean: np.ndarray  # shape (n_epochs,), mean over runs
    std: np.ndarray  # shape (n_epochs,), sample std over runs; nan when n_runs < 2
    ci_low: np.ndarray  # shape (n_epochs,), Student-t interval of the mean, lower end
    ci_high: np.ndarray  # shape (n_epochs,), Student-t interval of the mean, upper end
    confidence: float = 0.95  # coverage of the interval


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def summarize_curves(
    matrix: Sequence[Sequence[float]] | np.ndarray, confidence: float = 0.95,
    bounds: tuple[float, float] | None = None,
) -> CurveSummary:
    """Summarize per-epoch curves of shape (n_runs, n_epochs); ragged or NaN input (e.g.
    early-stopped runs) is rejected, not silently averaged. ``bounds`` as in :func:`summarize`.

    Raises:
        ValueError: not 2-D, empty, ragged or non-finite `matrix`; bad `confidence`.
    """
    confidence = _check_confidence(confidence)
    try:
        m = np.asarray(matrix, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            "matrix must be a rectangular (n_runs, n_epochs) array of numbers; "
            "runs of different lengths are not allowed."
        ) from exc
    if m.ndim != 2 or m.shape[0] == 0 or m.shape[1] == 0:
        raise ValueError(
            "matrix must have shape (n_runs, n_epochs) with both >= 1. "
            f"Received: matrix with shape {m.shape}"
        )
    if not np.all(np.isfinite(m)):
        raise ValueError("matrix must contain only finite numbers (no nan/inf).")
    n = m.shape[0]
    mean = m.mean(axis=0)
    if n < 2:
        std = np.full(m.shape[1], np.nan)
        low = high = std.copy()
    else:
        std = m.std(axis=0, ddof=1)
        half = _t_quantile(confidence, n - 1) * std / math.sqrt(n)
        low, high = _clip(mean - half, bounds), _clip(mean + half, bounds)
    return CurveSummary(n_runs=n, mean=_readonly(mean), std=_readonly(std),
                        ci_low=_readonly(np.array(low)), ci_high=_readonly(np.array(high)),
                        confidence=confidence)


# ----------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class Comparison:
    """Difference b - a of one metric between two configurations.

    ``distinguishable`` uses one rule: the t-test p-value is below
    ``1 - confidence`` (0.05 by default). For a t-based test this is the same
    statement as "the t confidence interval excludes 0", so the two never disagree.
    The rank p-value and the bootstrap interval are reported as cross-checks only.
    """

    paired: bool  # True: differences taken per shared seed; False: Welch unpaired
    n_a: int  # runs given for a
    n_b: int  # runs given for b
    n_pairs: int  # shared seeds used as pairs (0 when unpaired)
    diff: float  # mean of b - a (paired: mean of per-seed differences)
    ci_low: float  # Student-t (paired or Welch) interval of diff, lower end
    ci_high: float  # Student-t interval of diff, upper end
    boot_low: float  # percentile-bootstrap interval of diff, lower end
    boot_high: float  # percentile-bootstrap interval of diff, upper end
    p_t: float  # two-sided p-value, paired t-test or Welch's t-test
    p_rank: float  # two-sided p-value, Wilcoxon signed-rank or Mann-Whitney U
    effect_size: float  # paired: Cohen's d_z; unpaired: Hedges' g (see compare)
    note: str  # caveats in plain words ("" when there are none)
    confidence: float = 0.95  # coverage of both intervals; 1 - confidence is alpha
    dof: float = math.nan  # degrees of freedom of the t interval

    @property
    def distinguishable(self) -> bool:
        """True when p_t < 1 - confidence (equivalently, the t interval excludes 0)."""
        return bool(self.p_t < _alpha(self.confidence))  # nan p_t -> False


def _t_test(diff: float, se: float, dof: float, confidence: float) -> tuple[float, float, float]:
    """(ci_low, ci_high, p) for an estimate `diff` with standard error `se`."""
    if se == 0.0:
        # No spread at all: the interval collapses to the point. A zero difference
        # is then certainly not evidence of anything (p=1); a non-zero one is the
        # t -> infinity limit (p=0). Defined here so scipy's nan never escapes.
        if diff != 0.0 and dof < 2:
            # Two runs that moved by exactly the same amount (accuracies are multiples
            # of 1/n_test, so this happens) say nothing about the spread: no verdict.
            return math.nan, math.nan, math.nan
        return diff, diff, (1.0 if diff == 0.0 else 0.0)
    half = _t_quantile(confidence, dof) * se
    p = float(2.0 * _st.t.sf(abs(diff) / se, dof))
    return diff - half, diff + half, min(p, 1.0)


def _ratio(num: float, den: float) -> float:
    """num / den with 0/0 -> 0 and x/0 -> +-inf (effect sizes without spread)."""
    if den == 0.0:
        return 0.0 if num == 0.0 else math.copysign(math.inf, num)
    return num / den


def compare(a: Mapping[int, float], b: Mapping[int, float], confidence: float = 0.95,
            n_boot: int = 2000, rng_seed: int = 0) -> Comparison:
    """Compare one metric between configs a and b, run over seeds (the mapping keys).

    With >= 2 shared seeds: paired over them (seeds in only one config dropped, said in the
    note): paired t, bootstrap over pairs, Wilcoxon, Cohen's d_z; pairing removes the
    seed-to-seed variation both share, usually most of it. Otherwise Welch's unpaired test, an
    independent bootstrap per group, Mann-Whitney U and Hedges' g; with fewer than 2 runs in a
    group only `diff` is defined. Zero spread gives zero-width intervals, p 1 for a zero
    difference and 0 otherwise, effect 0 or +-inf. Wilcoxon cannot go below p=0.0625 with 5
    pairs, so p_rank is a cross-check, not the decision.

    Raises:
        ValueError: empty or non-mapping input, non-integer seeds, non-finite values,
            bad `confidence` or `n_boot`.
    """
    a_map = as_seed_map(a, "a")
    b_map = as_seed_map(b, "b")
    confidence = _check_confidence(confidence)
    n_boot = _check_n_boot(n_boot)
    rng = np.random.default_rng(rng_seed)
    shared = sorted(set(a_map) & set(b_map))
    if len(shared) >= 2:
        return _compare_paired(a_map, b_map, shared, confidence, n_boot, rng)
    return _compare_unpaired(a_map, b_map, len(shared), confidence, n_boot, rng)


def _compare_paired(a: dict[int, float], b: dict[int, float], shared: list[int], confidence: float,
                    n_boot: int, rng: np.random.Generator) -> Comparison:
    d = np.array([b[s] - a[s] for s in shared])
    n = d.size
    diff = _mean(d)
    sd = float(d.std(ddof=1))
    if np.all(d == d[0]):
        sd = 0.0  # exact: avoids a 1e-17 rounding "spread" for identical differences
    ci_low, ci_high, p_t = _t_test(diff, sd / math.sqrt(n), n - 1, confidence)
    if sd == 0.0 and n_boot:
        boot_low = boot_high = diff  # every resample is the same; skip rounding noise
    else:
        boot_low, boot_high = _bootstrap_mean(d, confidence, n_boot, rng)
    if np.all(d == 0.0):
        p_rank = 1.0  # scipy warns and divides 0/0 here; the answer is plainly 1
    else:
        p_rank = float(_st.wilcoxon(d).pvalue)
    dropped = len(a) + len(b) - 2 * n
    note = (f"paired over the {n} shared seeds; {dropped} run(s) whose seed appears in only "
            "one config were left out") if dropped else ""
    return Comparison(paired=True, n_a=len(a), n_b=len(b), n_pairs=n, diff=diff, ci_low=ci_low,
                      ci_high=ci_high, boot_low=boot_low, boot_high=boot_high, p_t=p_t,
                      p_rank=p_rank, effect_size=_ratio(diff, sd), note=note,
                      confidence=confidence, dof=float(n - 1))


def _compare_unpaired(a: dict[int, float], b: dict[int, float], n_shared: int, confidence: float,
                      n_boot: int, rng: np.random.Generator) -> Comparison:
    xa = np.array(list(a.values()))
    xb = np.array(list(b.values()))
    na, nb = xa.size, xb.size
    diff = _mean(xb) - _mean(xa)
    note = (
        f"seeds did not match ({n_shared} shared), so the comparison is unpaired "
        "(Welch's t-test): variation the configs share through the seed is not "
        "cancelled out"
    )
    nan = math.nan
    if na < 2 or nb < 2:
        return Comparison(False, na, nb, 0, diff, nan, nan, nan, nan, nan, nan, nan,
                          note + "; fewer than 2 runs in a config, so no interval or test",
                          confidence=confidence)
    va, vb = float(xa.var(ddof=1)), float(xb.var(ddof=1))
    if np.all(xa == xa[0]):
        va = 0.0
    if np.all(xb == xb[0]):
        vb = 0.0
    se2 = va / na + vb / nb
    if se2 == 0.0:
        dof = float(na + nb - 2)
    else:
        dof = se2**2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    ci_low, ci_high, p_t = _t_test(diff, math.sqrt(se2), dof, confidence)
    if n_boot and se2 == 0.0:
        boot_low = boot_high = diff  # every resample is the same; skip rounding noise
    else:
        boot_low, boot_high = _bootstrap((xa, xb), _mean_diff, confidence, n_boot, rng)
    if np.all(np.concatenate([xa, xb]) == xa[0]):
        p_rank = 1.0  # every value tied: no evidence of a shift
    else:
        p_rank = float(_st.mannwhitneyu(xb, xa, alternative="two-sided").pvalue)
    pooled = math.sqrt(((na - 1) * va + (nb - 1) * vb) / (na + nb - 2))
    hedges_j = 1.0 - 3.0 / (4.0 * (na + nb) - 9.0)  # small-sample bias correction
    return Comparison(paired=False, n_a=na, n_b=nb, n_pairs=0, diff=diff, ci_low=ci_low,
                      ci_high=ci_high, boot_low=boot_low, boot_high=boot_high, p_t=p_t,
                      p_rank=p_rank, effect_size=_ratio(diff, pooled) * hedges_j, note=note,
                      confidence=confidence, dof=dof)


# ------------------------------------------------------------- multiple comparisons


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order.

    The i-th smallest p (1-based) is multiplied by (m - i + 1), made non-decreasing
    in that order, and capped at 1. Rejecting where adjusted p < alpha controls the
    family-wise error rate at alpha.

    Raises:
        ValueError: a p-value that is nan or outside [0, 1].
    """
    p = np.asarray(pvalues, dtype=float).reshape(-1)
    bad = ~((p >= 0.0) & (p <= 1.0))  # also catches nan
    if np.any(bad):
        raise ValueError(
            "pvalues must all be in [0, 1]. "
            f"Received: pvalues[{int(np.argmax(bad))}]={float(p[np.argmax(bad)])!r}"
        )
    if p.size == 0:
        return []
    from statsmodels.stats.multitest import multipletests

    return [float(v) for v in multipletests(p, method="holm")[1]]


@dataclass(frozen=True)
class ComparisonRow:
    """One comparison of a family, with its Holm-adjusted p-value."""

    label: str  # what was compared, e.g. "lr=0.1 vs lr=0.01"
    comparison: Comparison  # the unadjusted comparison
    p_adjusted: float  # Holm-adjusted p_t over the family; nan if p_t is nan
    distinguishable: bool  # p_adjusted < alpha


def compare_many(pairs: Sequence[tuple[str, Mapping[int, float], Mapping[int, float]]],
                 alpha: float = 0.05, confidence: float = 0.95, n_boot: int = 2000,
                 rng_seed: int = 0) -> list[ComparisonRow]:
    """Compare several (label, a, b) pairs and correct p_t for the family (Holm).

    A comparison with no p-value (too few runs) still counts as one test in the
    family, as p=1, which keeps the correction conservative; its row reports nan.

    Raises:
        ValueError: a malformed pair or a bad `alpha`; errors from `compare`.
    """
    alpha = _check_confidence(alpha, "alpha")
    comparisons: list[tuple[str, Comparison]] = []
    for i, item in enumerate(pairs):
        if isinstance(item, str) or not isinstance(item, Sequence) or len(item) != 3:
            raise ValueError(f"pairs must be (label, a, b) tuples. Received: pairs[{i}]={item!r}")
        label, a, b = item
        cmp = compare(a, b, confidence=confidence, n_boot=n_boot, rng_seed=rng_seed)
        comparisons.append((str(label), cmp))
    raw = [c.p_t if math.isfinite(c.p_t) else 1.0 for _, c in comparisons]
    rows = []
    for (label, cmp), p_adj in zip(comparisons, holm(raw), strict=True):
        if not math.isfinite(cmp.p_t):
            p_adj = math.nan
        rows.append(ComparisonRow(label, cmp, p_adj, bool(p_adj < alpha)))
    return rows


def baseline_pairs(labels: Sequence[object], baseline_index: int = 0) -> list[tuple[int, int]]:
    """Index pairs (baseline, other) comparing every config to one baseline.

    Used as (a, b) the differences read "other - baseline".

    Raises:
        ValueError: `baseline_index` not in [0, len(labels)).
    """
    n = len(labels)
    is_int = isinstance(baseline_index, (int, np.integer)) and not isinstance(baseline_index, bool)
    if not is_int or not 0 <= baseline_index < n:
        raise ValueError(
            f"baseline_index must be an integer in [0, {n}). "
            f"Received: baseline_index={baseline_index!r}"
        )
    return [(int(baseline_index), i) for i in range(n) if i != baseline_index]


def neighbour_pairs(labels: Sequence[object]) -> list[tuple[int, int]]:
    """Index pairs (i, i + 1) comparing each step of an ordered sweep axis."""
    return [(i, i + 1) for i in range(len(labels) - 1)]


# ------------------------------------------------------------------ confusion matrix


@dataclass(frozen=True, eq=False)
class AveragedConfusion:
    """Row-normalised confusion matrices averaged over seeds (read-only arrays).

    Rates are per true class: cell (t, p) is the fraction of class-t examples
    predicted as p. A true class with no examples in a seed gives a nan row for
    that seed, and the seed is left out of that row's mean and std.
    """

    n_seeds: int  # number of matrices (seeds) given
    per_seed: np.ndarray  # (n_seeds, n_classes, n_classes) row-normalised rates
    mean: np.ndarray  # (n_classes, n_classes) mean rate over seeds with that class
    std: np.ndarray  # (n_classes, n_classes) sample std over seeds; nan when < 2
    n_per_class: np.ndarray  # (n_classes,) seeds in which the true class occurred

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return int(self.mean.shape[0])


def average_confusion(matrices: Sequence[np.ndarray]) -> AveragedConfusion:
    """Row-normalise each seed's count matrix (rows = true, columns = predicted), then take the
    per-cell mean and sample std across seeds.

    Raises:
        ValueError: no, non-square, differently shaped, negative or non-finite matrices.
    """
    if len(matrices) == 0:
        raise ValueError("matrices must contain at least one matrix. Received: []")
    arrays = []
    for i, mat in enumerate(matrices):
        arr = np.asarray(mat, dtype=float)
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
            raise ValueError(
                "each matrix must be square (n_classes, n_classes) with n_classes >= 1. "
                f"Received: matrices[{i}] with shape {arr.shape}"
            )
        if arrays and arr.shape != arrays[0].shape:
            raise ValueError(
                "all matrices must have the same shape. Received: matrices[0] with shape "
                f"{arrays[0].shape} and matrices[{i}] with shape {arr.shape}"
            )
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(
                f"matrices must hold finite, non-negative counts. Received: matrices[{i}]"
            )
        arrays.append(arr)
    counts = np.stack(arrays)
    row_sums = counts.sum(axis=2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(row_sums > 0, counts / row_sums, np.nan)
    valid = ~np.isnan(rates)
    n_valid = valid.sum(axis=0)  # per cell; constant along each row
    total = np.where(valid, rates, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_valid > 0, total / np.maximum(n_valid, 1), np.nan)
        sq = np.where(valid, (rates - mean) ** 2, 0.0).sum(axis=0)
        std = np.where(n_valid >= 2, np.sqrt(sq / np.maximum(n_valid - 1, 1)), np.nan)
    return AveragedConfusion(n_seeds=int(counts.shape[0]), per_seed=_readonly(rates),
                             mean=_readonly(mean), std=_readonly(std),
                             n_per_class=_readonly(n_valid[:, 0].astype(int)))


@dataclass(frozen=True)
class ConfusionRow:
    """One off-diagonal (true, predicted) confusion that holds across seeds."""

    true_class: int  # row index: the actual class
    predicted_class: int  # column index: what the model said
    mean_rate: float  # mean fraction of true_class predicted as predicted_class
    std_rate: float  # sample std of that fraction across seeds (nan if < 2 seeds)
    seeds_held: int  # seeds in which this cell was among that seed's top k
    n_seeds: int  # seeds in which true_class occurred


def top_confusions(
    avg: AveragedConfusion, k: int = 5, min_fraction_of_seeds: float = 1.0
) -> list[ConfusionRow]:
    """The up-to-k off-diagonal confusions with the highest mean rate that hold across seeds.

    Rule: a cell "holds" in a seed when its rate is > 0 and at least that seed's
    k-th largest off-diagonal rate (ties included). It is reported only if it holds
    in at least `min_fraction_of_seeds` of the seeds where its true class occurred,
    so a confusion that is large in one lucky seed does not show up.

    Raises:
        ValueError: `k` < 1 or `min_fraction_of_seeds` outside (0, 1].
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1. Received: k={k!r}")
    if not 0.0 < float(min_fraction_of_seeds) <= 1.0:
        raise ValueError(
            "min_fraction_of_seeds must be in (0, 1]. "
            f"Received: min_fraction_of_seeds={min_fraction_of_seeds!r}"
        )
    n_classes = avg.n_classes
    off = ~np.eye(n_classes, dtype=bool)
    held = np.zeros((n_classes, n_classes), dtype=int)
    for rates in avg.per_seed:
        cells = np.where(off & ~np.isnan(rates), rates, -np.inf)
        flat = np.sort(cells[off])[::-1]
        kth = flat[min(k, flat.size) - 1]
        held += (cells >= kth) & (cells > 0.0)
    rows = []
    for t, p in zip(*np.nonzero(off), strict=True):
        n_seen = int(avg.n_per_class[t])
        # Small tolerance so that e.g. 2/3 of seeds passes a 2/3 threshold.
        if n_seen == 0 or held[t, p] < min_fraction_of_seeds * n_seen - 1e-9:
            continue
        rows.append(ConfusionRow(true_class=int(t), predicted_class=int(p),
                                 mean_rate=float(avg.mean[t, p]), std_rate=float(avg.std[t, p]),
                                 seeds_held=int(held[t, p]), n_seeds=n_seen))
    rows.sort(key=lambda r: (-r.mean_rate, r.true_class, r.predicted_class))
    return rows[:k]


# --------------------------------------------------------------- adaptive seeding


def ci_half_width(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> float:
    """Half-width of the Student-t interval of the mean; inf with fewer than 2 values.

    Raises:
        ValueError: non-finite values or a bad `confidence`.
    """
    x = as_values(values, "values")
    confidence = _check_confidence(confidence)
    if x.size < 2:
        return math.inf  # no spread estimate yet: more seeds are certainly needed
    return _t_quantile(confidence, x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)


def needs_more_seeds(values_by_config: Mapping[str, Sequence[float]], target_half_width: float,
                     confidence: float = 0.95) -> list[str]:
    """Configs (in mapping order) whose t half-width exceeds `target_half_width`. The half-width
    is itself noisy at small n, so stopping as soon as it dips below the target is slightly
    optimistic: use a sensible minimum number of seeds too.

    Raises:
        ValueError: `target_half_width` not a positive finite number.
    """
    target = float(target_half_width)
    if not math.isfinite(target) or target <= 0.0:
        raise ValueError(
            "target_half_width must be a positive finite number. "
            f"Received: target_half_width={target_half_width!r}"
        )
    return [
        name
        for name, values in values_by_config.items()
        if ci_half_width(values, confidence) > target
    ]


# --------------------------------------------------------------------- plain words


def _format_p(p: float, alpha: float) -> str:
    if p < 0.001:
        return "p<0.001"
    text = f"{p:.2g}"
    if (float(text) < alpha) != (p < alpha):
        text = f"{p:.4f}"  # rounding must not move p across the threshold
    return f"p={text}"


def describe_difference(cmp: Comparison, metric_name: str = "test accuracy", scale: float = 100.0,
                        unit: str = "points", a_label: str = "A", b_label: str = "B",
                        p_adjusted: float | None = None, n_comparisons: int | None = None,
                        digits: int = 2) -> str:
    """One honest English sentence about `cmp`, e.g.

    "B - A = +0.42 points of test accuracy (95% CI -0.10 to +0.94, paired over
    5 seeds, p=0.09): not distinguishable from seed-to-seed noise."

    Values are multiplied by `scale` (100 turns accuracy fractions into points).
    If `p_adjusted` (e.g. Holm, from compare_many) is given, the verdict uses it
    instead of the raw p-value, and `n_comparisons` is mentioned when known.
    """
    conf_pct = f"{100 * cmp.confidence:g}%"
    alpha = _alpha(cmp.confidence)

    def num(x: float) -> str:
        return f"{x * scale:+.{digits}f}"

    measure = f" {unit} of {metric_name}" if unit else f" in {metric_name}"
    head = f"{b_label} - {a_label} = {num(cmp.diff)}{measure}"
    if cmp.paired:
        design = f"paired over {cmp.n_pairs} seeds"
    else:
        design = f"unpaired (Welch) over {cmp.n_a} and {cmp.n_b} seeds, seeds did not match"
    if not math.isfinite(cmp.p_t):
        return (
            f"{head} ({design}): too few runs for an interval, "
            "so nothing can be said about the difference."
        )
    interval = f"{conf_pct} CI {num(cmp.ci_low)} to {num(cmp.ci_high)}"
    if p_adjusted is None:
        p_text = _format_p(cmp.p_t, alpha)
        decisive = cmp.distinguishable
        correction = ""
    else:
        family = f" over {n_comparisons} comparisons" if n_comparisons else ""
        p_text = f"Holm-adjusted {_format_p(p_adjusted, alpha)}{family}"
        decisive = bool(p_adjusted < alpha)
        correction = " after correcting for multiple comparisons"
    if cmp.ci_low == cmp.ci_high == cmp.diff == 0.0:
        verdict = "identical on every seed" if cmp.paired else "every run gave the same value"
    elif decisive:
        verdict = f"distinguishable from seed-to-seed noise{correction}"
    else:
        verdict = f"not distinguishable from seed-to-seed noise{correction}"
    return f"{head} ({interval}, {design}, {p_text}): {verdict}."
