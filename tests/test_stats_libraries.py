"""The library replacements (issue 23) checked against the hand-written code they replaced:
Holm (statsmodels multipletests), the percentile bootstrap (scipy.stats.bootstrap), the
Cochran-Armitage trend test (statsmodels' linear-by-linear association test, rescaled)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as _st

from sweeplab.analysis import explain, stats


def _holm_by_hand(pvalues):
    """stats.holm before issue 23."""
    p = np.asarray(pvalues, dtype=float).reshape(-1)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (m - np.arange(m))
    adjusted_sorted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return [float(v) for v in adjusted]


def _bootstrap_mean_by_hand(x, confidence, n_boot, rng):
    """stats._bootstrap_mean before issue 23."""
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(x[idx].mean(axis=1), [tail, 1.0 - tail])
    return float(low), float(high)


def _trend_p_by_hand(hits, totals):
    """explain.trend_p before issue 23 (Cochran-Armitage, scores 0, 1, 2, ...)."""
    x = np.asarray(hits, float)
    n = np.asarray(totals, float)
    s = np.arange(len(x), dtype=float)
    p = x.sum() / n.sum()
    var = p * (1 - p) * ((n * s * s).sum() - (n * s).sum() ** 2 / n.sum())
    if var <= 0:
        return 1.0
    z = float((s * (x - n * p)).sum()) / math.sqrt(var)
    return float(2 * _st.norm.sf(abs(z)))


def test_holm_equals_the_hand_written_one():
    rng = np.random.default_rng(0)
    cases = [[0.01, 0.04, 0.03, 0.5], [0.2, 0.2, 0.2], [1.0, 0.0, 0.5], [0.049]]
    cases += [list(rng.uniform(0, 0.2, size=k)) for k in (2, 5, 9, 30)]
    for p in cases:
        # Same arithmetic (products, running maximum, cap at 1): equal to rounding.
        assert stats.holm(p) == pytest.approx(_holm_by_hand(p), abs=1e-15)
    assert stats.holm([]) == []
    with pytest.raises(ValueError, match=r"pvalues must all be in \[0, 1\]"):
        stats.holm([0.1, math.nan])


@pytest.mark.parametrize("n", [5, 10, 40])
def test_percentile_bootstrap_agrees_with_the_hand_written_one(n):
    x = np.random.default_rng(n).normal(0.9, 0.02, size=n)
    b = 20_000
    old = _bootstrap_mean_by_hand(x, 0.95, b, np.random.default_rng(1))
    new = stats._bootstrap_mean(x, 0.95, b, np.random.default_rng(1))
    # Different resampling streams, same estimator: each 2.5% quantile of B resamples has a
    # standard error of sqrt(q (1-q) / B) / phi(1.96) sd_boot = 0.0189 sd_boot at B=20000,
    # so two independent estimates differ by 0.027 sd_boot in sd; 5 of those is 0.13.
    sd_boot = x.std(ddof=0) / math.sqrt(n)
    assert new[0] == pytest.approx(old[0], abs=0.13 * sd_boot)
    assert new[1] == pytest.approx(old[1], abs=0.13 * sd_boot)
    again = stats._bootstrap_mean(x, 0.95, 2000, np.random.default_rng(1))
    assert again == stats._bootstrap_mean(x, 0.95, 2000, np.random.default_rng(1))


def test_compare_bootstrap_agrees_with_the_hand_written_one():
    rng = np.random.default_rng(5)
    a = {s: 0.9 + 0.01 * rng.standard_normal() for s in range(8)}
    b = {s: a[s] + 0.004 + 0.006 * rng.standard_normal() for s in range(8)}
    d = np.array([b[s] - a[s] for s in range(8)])
    old = _bootstrap_mean_by_hand(d, 0.95, 20_000, np.random.default_rng(0))
    c = stats.compare(a, b, n_boot=20_000)
    sd_boot = d.std(ddof=0) / math.sqrt(8)
    assert (c.boot_low, c.boot_high) == pytest.approx(old, abs=0.13 * sd_boot)  # as above
    # Unpaired: each group resampled on its own, the difference of the means.
    b2 = {s + 100: v for s, v in b.items()}
    xa, xb = np.array(list(a.values())), np.array(list(b.values()))
    r = np.random.default_rng(0)
    boot = (xb[r.integers(0, 8, (20_000, 8))].mean(1) - xa[r.integers(0, 8, (20_000, 8))].mean(1))
    old2 = tuple(np.quantile(boot, [0.025, 0.975]))
    u = stats.compare(a, b2, n_boot=20_000)
    sd2 = math.sqrt(xa.var() / 8 + xb.var() / 8)
    assert (u.boot_low, u.boot_high) == pytest.approx(old2, abs=0.13 * sd2)


def test_trend_test_equals_the_hand_written_cochran_armitage():
    rng = np.random.default_rng(2)
    cases = [([0, 5, 10], [10] * 3), ([8, 8, 4, 0, 0], [10] * 5), ([1, 3, 5, 8], [10] * 4),
             ([0, 0, 0], [5] * 3), ([5, 5, 5], [5] * 3), ([2, 0, 1], [3, 5, 2])]
    for _ in range(20):
        totals = rng.integers(2, 30, size=rng.integers(3, 8))
        cases.append((list(rng.integers(0, totals + 1)), list(totals)))
    for hits, totals in cases:
        assert explain.trend_p(hits, totals) == pytest.approx(_trend_p_by_hand(hits, totals),
                                                              rel=1e-9, abs=1e-300)
