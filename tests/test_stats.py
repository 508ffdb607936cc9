"""Tests for sweeplab.stats: values against hand computation, scipy, and simulation."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats as st

from sweeplab.analysis.stats import (
    Comparison,
    average_confusion,
    baseline_pairs,
    ci_half_width,
    compare,
    compare_many,
    describe_difference,
    holm,
    needs_more_seeds,
    neighbour_pairs,
    summarize,
    summarize_curves,
    top_confusions,
)

# Any RuntimeWarning from numpy/scipy (0/0, empty slices) is a bug here.
pytestmark = pytest.mark.filterwarnings("error")

T_975_DOF4 = 2.7764451051977987  # Student-t 97.5% quantile, 4 dof (tables: 2.776)
T_975_DOF2 = 4.302652729749462  # 2 dof (tables: 4.303)

# Simulation bounds: with 2000 studies and true rate 0.95 the binomial sd of the
# observed rate is 0.0049, so [0.93, 0.97] is a +-4 sd band (false failure ~1e-4);
# the rng seeds are fixed, so the tests are deterministic anyway.
N_SIMS = 2000
COVERAGE_BAND = (0.93, 0.97)


# --------------------------------------------------------------------- summarize


def test_summarize_matches_hand_computation() -> None:
    values = [2.0, 4.0, 4.0, 5.0, 7.0]
    s = summarize(values)
    # mean 4.4; squared deviations 5.76 + 0.16 + 0.16 + 0.36 + 6.76 = 13.2; var 3.3
    assert s.n == 5
    assert s.mean == pytest.approx(4.4)
    assert s.std == pytest.approx(math.sqrt(3.3))
    assert s.sem == pytest.approx(math.sqrt(3.3 / 5))
    assert st.t.ppf(0.975, 4) == pytest.approx(T_975_DOF4)
    half = T_975_DOF4 * math.sqrt(3.3 / 5)  # 2.2556...
    assert s.ci_low == pytest.approx(4.4 - half)
    assert s.ci_high == pytest.approx(4.4 + half)
    assert s.ci_low == pytest.approx(2.1444, abs=1e-4)
    assert (s.min, s.max) == (2.0, 7.0)
    # Percentile bootstrap of a mean lies inside the data range and around the mean.
    assert 2.0 <= s.boot_low < 4.4 < s.boot_high <= 7.0


def test_bounds_clip_the_t_interval_to_the_metric_range() -> None:
    # The q1 demo's three seeds: mean 0.7737, t interval 0.447..1.100 unbounded.
    values = [0.9175, 0.7486, 0.6550]
    free = summarize(values, n_boot=0)
    assert free.ci_high > 1.0  # the impossible accuracy the bound is for
    s = summarize(values, n_boot=0, bounds=(0.0, 1.0))
    assert s.ci_high == 1.0 and s.ci_low == pytest.approx(free.ci_low)
    assert (s.mean, s.std, s.sem) == (free.mean, free.std, free.sem)  # only the CI moves
    low = summarize([0.01, 0.30, 0.02], n_boot=0, bounds=(0.0, 1.0))
    assert low.ci_low == 0.0 and low.ci_high < 1.0
    curves = summarize_curves([[0.10, 0.9175], [0.12, 0.7486], [0.11, 0.6550]],
                              bounds=(0.0, 1.0))
    assert curves.ci_high[1] == 1.0 and curves.ci_high[0] < 1.0
    assert curves.ci_low[0] == pytest.approx(0.11 - T_975_DOF2 * 0.01 / math.sqrt(3))


def test_summarize_other_confidence_uses_matching_quantile() -> None:
    s = summarize([2.0, 4.0, 4.0, 5.0, 7.0], confidence=0.9)
    half = st.t.ppf(0.95, 4) * math.sqrt(3.3 / 5)
    assert s.ci_high - s.mean == pytest.approx(half)
    assert s.confidence == 0.9


def test_summarize_single_value_has_nan_spread_not_zero() -> None:
    s = summarize([0.91])
    assert s.n == 1 and s.mean == 0.91 and s.min == s.max == 0.91
    for field in (s.std, s.sem, s.ci_low, s.ci_high, s.boot_low, s.boot_high):
        assert math.isnan(field)


def test_summarize_constant_values_give_zero_width_intervals() -> None:
    s = summarize([0.7, 0.7, 0.7])  # np.mean of these is not exactly 0.7
    assert s.mean == 0.7 and s.std == 0.0
    assert (s.ci_low, s.ci_high) == (0.7, 0.7)
    assert 0.7 - 1e-12 < s.boot_low <= s.boot_high < 0.7 + 1e-12


def test_bootstrap_is_deterministic_given_seed_and_close_to_t_for_large_n() -> None:
    values = np.random.default_rng(3).normal(10.0, 2.0, size=200)
    s1 = summarize(values, rng_seed=7)
    s2 = summarize(values, rng_seed=7)
    s3 = summarize(values, rng_seed=8)
    assert (s1.boot_low, s1.boot_high) == (s2.boot_low, s2.boot_high)
    assert (s1.boot_low, s1.boot_high) != (s3.boot_low, s3.boot_high)
    # For n=200 normal data the bootstrap and t intervals should nearly agree.
    t_width = s1.ci_high - s1.ci_low
    assert s1.boot_high - s1.boot_low == pytest.approx(t_width, rel=0.1)
    assert s1.boot_low == pytest.approx(s1.ci_low, abs=0.1 * t_width)


def test_summarize_n_boot_zero_skips_bootstrap() -> None:
    s = summarize([1.0, 2.0, 3.0], n_boot=0)
    assert math.isnan(s.boot_low) and math.isnan(s.boot_high)
    assert s.ci_low == pytest.approx(2.0 - st.t.ppf(0.975, 2) / math.sqrt(3))


def test_summarize_ci_coverage_is_nominal() -> None:
    rng = np.random.default_rng(12345)
    true_mean = 0.9
    for n in (5, 10):
        data = rng.normal(true_mean, 0.02, size=(N_SIMS, n))
        covered = 0
        for row in data:
            s = summarize(row, n_boot=0)
            covered += s.ci_low <= true_mean <= s.ci_high
        rate = covered / N_SIMS
        assert COVERAGE_BAND[0] <= rate <= COVERAGE_BAND[1], (n, rate)


def test_summarize_curves_values_and_shapes() -> None:
    c = summarize_curves([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]])
    assert c.n_runs == 3
    np.testing.assert_allclose(c.mean, [3.0, 5.0])
    np.testing.assert_allclose(c.std, [2.0, math.sqrt(13.0)])
    q = st.t.ppf(0.975, 2)
    np.testing.assert_allclose(
        c.ci_low, [3.0 - q * 2.0 / math.sqrt(3), 5.0 - q * math.sqrt(13 / 3)]
    )
    np.testing.assert_allclose(c.ci_high, 2 * c.mean - c.ci_low)
    with pytest.raises(ValueError):
        c.mean[0] = 0.0  # frozen record: arrays are read-only


def test_summarize_curves_single_run_has_nan_spread() -> None:
    c = summarize_curves(np.array([[0.1, 0.5, 0.7]]))
    np.testing.assert_allclose(c.mean, [0.1, 0.5, 0.7])
    assert np.all(np.isnan(c.std)) and np.all(np.isnan(c.ci_low))


# ----------------------------------------------------------------------- compare

A4 = {1: 0.80, 2: 0.82, 3: 0.79, 4: 0.85}
B4 = {1: 0.82, 2: 0.83, 3: 0.82, 4: 0.86}  # differences 0.02, 0.01, 0.03, 0.01


def test_paired_compare_matches_hand_and_scipy() -> None:
    c = compare(A4, B4)
    keys = sorted(A4)
    a = [A4[k] for k in keys]
    b = [B4[k] for k in keys]
    d = np.array(b) - np.array(a)
    sd = math.sqrt((0.0025**2 + 0.0075**2 + 0.0125**2 + 0.0075**2) / 3)
    assert c.paired and c.n_pairs == 4 and c.n_a == 4 and c.n_b == 4
    assert c.diff == pytest.approx(0.0175)
    assert c.effect_size == pytest.approx(0.0175 / sd)  # Cohen's d_z = 1.828
    assert c.effect_size == pytest.approx(1.8278, abs=1e-4)
    ref = st.ttest_rel(b, a)
    ref_ci = ref.confidence_interval(0.95)
    assert c.p_t == pytest.approx(ref.pvalue)
    assert (c.ci_low, c.ci_high) == pytest.approx((ref_ci.low, ref_ci.high))
    half = st.t.ppf(0.975, 3) * sd / 2.0
    assert c.ci_low == pytest.approx(0.0175 - half)
    assert c.p_rank == pytest.approx(st.wilcoxon(d).pvalue)
    assert c.dof == 3.0
    assert c.boot_low <= c.diff <= c.boot_high
    assert 0.01 <= c.boot_low and c.boot_high <= 0.03  # bootstrap mean stays in range
    assert c.note == ""


def test_paired_compare_drops_unshared_seeds_and_says_so() -> None:
    a = {**A4, 9: 0.5}
    b = {**B4, 7: 0.99, 8: 0.1}
    c = compare(a, b)
    ref = compare(A4, B4)
    assert c.paired and c.n_pairs == 4 and (c.n_a, c.n_b) == (5, 6)
    assert c.diff == pytest.approx(ref.diff) and c.p_t == pytest.approx(ref.p_t)
    assert "3 run(s)" in c.note and "shared" in c.note


def test_identical_configs_not_distinguishable_without_nan() -> None:
    values = {s: 0.9 + 0.01 * s for s in range(5)}
    c = compare(values, dict(values))
    assert c.paired
    assert c.diff == 0.0
    assert (c.ci_low, c.ci_high) == (0.0, 0.0)
    assert (c.boot_low, c.boot_high) == (0.0, 0.0)
    assert c.p_t == 1.0 and c.p_rank == 1.0
    assert c.effect_size == 0.0
    assert not c.distinguishable


def test_constant_nonzero_paired_difference_is_defined() -> None:
    a = {0: 1.0, 1: 2.0, 2: 4.0}
    c = compare(a, {k: v + 0.5 for k, v in a.items()})
    assert c.diff == 0.5 and (c.ci_low, c.ci_high) == (0.5, 0.5)
    assert (c.boot_low, c.boot_high) == (0.5, 0.5)
    assert c.p_t == 0.0 and c.effect_size == math.inf
    assert c.distinguishable


def test_welch_fallback_when_seeds_do_not_overlap() -> None:
    a = {0: 1.0, 1: 2.0, 2: 3.5}
    b = {10: 2.0, 11: 4.0, 12: 6.0, 0: 7.0}  # one shared seed is not enough to pair
    c = compare(a, b)
    xa, xb = [1.0, 2.0, 3.5], [2.0, 4.0, 6.0, 7.0]
    ref = st.ttest_ind(xb, xa, equal_var=False)
    ref_ci = ref.confidence_interval(0.95)
    assert not c.paired and c.n_pairs == 0 and (c.n_a, c.n_b) == (3, 4)
    assert "did not match" in c.note and "unpaired" in c.note and "1 shared" in c.note
    assert c.diff == pytest.approx(4.75 - 6.5 / 3)
    assert c.p_t == pytest.approx(ref.pvalue)
    assert (c.ci_low, c.ci_high) == pytest.approx((ref_ci.low, ref_ci.high))
    assert c.dof == pytest.approx(ref.df)
    assert c.p_rank == pytest.approx(st.mannwhitneyu(xb, xa).pvalue)
    va, vb = np.var(xa, ddof=1), np.var(xb, ddof=1)
    pooled = math.sqrt((2 * va + 3 * vb) / 5)
    assert c.effect_size == pytest.approx(c.diff / pooled * (1 - 3 / (4 * 7 - 9)))
    assert c.boot_low < c.diff < c.boot_high


def test_welch_with_a_single_run_reports_only_the_difference() -> None:
    c = compare({0: 1.0}, {1: 2.0, 2: 3.0})
    assert not c.paired and c.diff == 1.5
    assert math.isnan(c.ci_low) and math.isnan(c.p_t) and math.isnan(c.effect_size)
    assert not c.distinguishable
    assert "fewer than 2 runs" in c.note


def test_welch_identical_constant_groups() -> None:
    c = compare({0: 0.7, 1: 0.7}, {5: 0.7, 6: 0.7, 7: 0.7})
    assert not c.paired and c.diff == 0.0 and c.p_t == 1.0 and c.p_rank == 1.0
    assert (c.ci_low, c.ci_high) == (0.0, 0.0) and c.effect_size == 0.0
    assert (c.boot_low, c.boot_high) == (0.0, 0.0)
    assert not c.distinguishable


def _paired_study(
    rng: np.random.Generator, n: int, delta: float, seed_sd: float, noise_sd: float
) -> tuple[dict[int, float], dict[int, float]]:
    seed_effect = rng.normal(0.0, seed_sd, size=n)
    a = seed_effect + rng.normal(0.0, noise_sd, size=n)
    b = seed_effect + delta + rng.normal(0.0, noise_sd, size=n)
    return dict(enumerate(a.tolist())), dict(enumerate(b.tolist()))


def _unpaired_keys(values: dict[int, float]) -> dict[int, float]:
    return {k + 1000: v for k, v in values.items()}


@pytest.mark.parametrize("n", [5, 10])
def test_difference_ci_coverage_is_nominal(n: int) -> None:
    rng = np.random.default_rng(2024 + n)
    delta = 0.5
    covered_paired = covered_welch = 0
    for _ in range(N_SIMS):
        a, b = _paired_study(rng, n, delta, seed_sd=1.0, noise_sd=0.3)
        p = compare(a, b, n_boot=0)
        covered_paired += p.ci_low <= delta <= p.ci_high
        # Independent groups for Welch: fresh seed effects in b.
        _, b_indep = _paired_study(rng, n, delta, seed_sd=1.0, noise_sd=0.3)
        w = compare(a, _unpaired_keys(b_indep), n_boot=0)
        assert not w.paired
        covered_welch += w.ci_low <= delta <= w.ci_high
    for rate in (covered_paired / N_SIMS, covered_welch / N_SIMS):
        assert COVERAGE_BAND[0] <= rate <= COVERAGE_BAND[1], (n, rate)


def test_false_positive_rate_of_distinguishable_is_about_alpha() -> None:
    rng = np.random.default_rng(99)
    hits = 0
    for _ in range(N_SIMS):
        a, b = _paired_study(rng, 5, 0.0, seed_sd=0.02, noise_sd=0.005)
        hits += compare(a, b, n_boot=0).distinguishable
    rate = hits / N_SIMS
    # binomial sd at 0.05 is 0.0049: [0.03, 0.07] is a +-4 sd band.
    assert 0.03 <= rate <= 0.07, rate


def test_paired_beats_unpaired_when_seed_effects_are_shared() -> None:
    rng = np.random.default_rng(7)
    sims = 500
    paired_hits = welch_hits = narrower = 0
    for _ in range(sims):
        # Seed effect sd 1.0 dwarfs the 0.3 config effect; own noise is only 0.1.
        a, b = _paired_study(rng, 5, 0.3, seed_sd=1.0, noise_sd=0.1)
        p = compare(a, b, n_boot=0)
        w = compare(a, _unpaired_keys(b), n_boot=0)
        assert p.paired and not w.paired
        paired_hits += p.distinguishable
        welch_hits += w.distinguishable
        narrower += (p.ci_high - p.ci_low) < (w.ci_high - w.ci_low)
    # Expected: paired power ~0.9 (d_z ~2.1 at n=5), Welch power ~0.05-0.1.
    assert paired_hits / sims > 0.75
    assert welch_hits / sims < 0.2
    assert paired_hits / sims - welch_hits / sims > 0.6
    assert narrower / sims > 0.99


def test_distinguishable_agrees_with_t_interval_excluding_zero() -> None:
    rng = np.random.default_rng(5)
    for _ in range(300):
        a, b = _paired_study(rng, 4, 0.01, seed_sd=0.02, noise_sd=0.01)
        for cmp in (compare(a, b, n_boot=0), compare(a, _unpaired_keys(b), n_boot=0)):
            excludes_zero = cmp.ci_low > 0.0 or cmp.ci_high < 0.0
            assert cmp.distinguishable == excludes_zero


# ------------------------------------------------------------- multiple compares


def test_holm_hand_worked_example() -> None:
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> raised to 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_is_monotone() -> None:
    assert holm([0.5, 0.6]) == [1.0, 1.0]
    assert holm([]) == []
    assert holm([0.2]) == [0.2]
    p = [0.001, 0.2, 0.011, 0.3, 0.04]
    adj = holm(p)
    order = np.argsort(p)
    assert np.all(np.diff(np.array(adj)[order]) >= 0)
    assert all(q >= r for q, r in zip(adj, p, strict=True))


def test_compare_many_applies_holm_to_p_t() -> None:
    a = {1: 0.80, 2: 0.82, 3: 0.79, 4: 0.85, 5: 0.81}
    shifts = {
        "strong": [0.05, 0.06, 0.05, 0.055, 0.06],
        "marginal": [0.01, 0.02, 0.005, 0.015, 0.00],  # raw p = 0.047
        "null": [0.01, -0.01, 0.0, 0.005, -0.004],
    }
    pairs = [
        (label, a, {s: a[s] + d for s, d in zip(a, ds, strict=True)})
        for label, ds in shifts.items()
    ]
    rows = compare_many(pairs, n_boot=0)
    assert [r.label for r in rows] == ["strong", "marginal", "null"]
    raw = [r.comparison.p_t for r in rows]
    assert [r.p_adjusted for r in rows] == pytest.approx(holm(raw))
    assert raw[1] == pytest.approx(0.0474, abs=1e-3)
    assert rows[1].comparison.distinguishable  # alone it would pass...
    assert not rows[1].distinguishable  # ...but not after correcting for 3 tests
    assert rows[0].distinguishable and not rows[2].distinguishable


def test_compare_many_counts_untestable_pairs_conservatively() -> None:
    good = ({0: 1.0, 1: 2.0, 2: 3.0}, {0: 1.5, 1: 2.4, 2: 3.6})
    rows = compare_many([("ok", *good), ("single", {0: 1.0}, {5: 2.0})], n_boot=0)
    assert rows[0].p_adjusted == pytest.approx(min(1.0, 2 * rows[0].comparison.p_t))
    assert math.isnan(rows[1].p_adjusted) and not rows[1].distinguishable


def test_pair_helpers() -> None:
    labels = ["lr=0.001", "lr=0.01", "lr=0.1"]
    assert baseline_pairs(labels) == [(0, 1), (0, 2)]
    assert baseline_pairs(labels, baseline_index=1) == [(1, 0), (1, 2)]
    assert neighbour_pairs(labels) == [(0, 1), (1, 2)]
    assert neighbour_pairs(labels[:1]) == []


# ---------------------------------------------------------------------- confusion

SEED1 = np.array([[8, 2, 0], [1, 9, 0], [0, 3, 7]])  # rates .8 .2 0 / .1 .9 0 / 0 .3 .7
SEED2 = np.array([[7, 3, 0], [0, 10, 0], [4, 1, 5]])  # rates .7 .3 0 / 0 1 0 / .4 .1 .5


def test_average_confusion_exact_values() -> None:
    avg = average_confusion([SEED1, SEED2])
    assert avg.n_seeds == 2 and avg.n_classes == 3
    np.testing.assert_allclose(avg.mean, [[0.75, 0.25, 0.0], [0.05, 0.95, 0.0], [0.2, 0.2, 0.6]])
    # sample std of two values x, y is |x - y| / sqrt(2)
    r2 = math.sqrt(2.0)
    np.testing.assert_allclose(
        avg.std,
        [[0.1 / r2, 0.1 / r2, 0.0], [0.1 / r2, 0.1 / r2, 0.0], [0.4 / r2, 0.2 / r2, 0.2 / r2]],
    )
    np.testing.assert_allclose(avg.per_seed[1][2], [0.4, 0.1, 0.5])
    np.testing.assert_array_equal(avg.n_per_class, [2, 2, 2])


def test_top_confusions_keeps_consistent_pair_and_drops_one_seed_spike() -> None:
    avg = average_confusion([SEED1, SEED2])
    # k=2 per seed: seed 1 top = (2,1) .3, (0,1) .2; seed 2 top = (2,0) .4, (0,1) .3
    rows = top_confusions(avg, k=2)
    assert [(r.true_class, r.predicted_class) for r in rows] == [(0, 1)]
    (row,) = rows
    assert row.mean_rate == pytest.approx(0.25)
    assert row.std_rate == pytest.approx(0.1 / math.sqrt(2.0))
    assert (row.seeds_held, row.n_seeds) == (2, 2)
    # (2, 0) has mean 0.2 but only from seed 2: it appears once half the seeds suffice.
    loose = top_confusions(avg, k=2, min_fraction_of_seeds=0.5)
    assert [(r.true_class, r.predicted_class) for r in loose] == [(0, 1), (2, 0)]
    assert loose[1].seeds_held == 1


def test_empty_row_becomes_nan_and_is_left_out_of_the_mean() -> None:
    seed3 = np.array([[9, 1, 0], [0, 0, 0], [1, 1, 8]])  # class 1 absent in this seed
    avg = average_confusion([SEED1, seed3])
    assert np.all(np.isnan(avg.per_seed[1][1]))
    np.testing.assert_allclose(avg.mean[1], [0.1, 0.9, 0.0])  # seed 1 only
    assert np.all(np.isnan(avg.std[1]))  # one seed: no spread
    np.testing.assert_array_equal(avg.n_per_class, [2, 1, 2])
    np.testing.assert_allclose(avg.mean[0], [0.85, 0.15, 0.0])


def test_confusion_input_validation() -> None:
    with pytest.raises(ValueError, match="at least one"):
        average_confusion([])
    with pytest.raises(ValueError, match=r"same shape.*\(3, 3\).*\(2, 2\)"):
        average_confusion([SEED1, np.eye(2)])
    with pytest.raises(ValueError, match="square"):
        average_confusion([np.ones((2, 3))])
    with pytest.raises(ValueError, match="non-negative"):
        average_confusion([-SEED1])
    avg = average_confusion([SEED1])
    with pytest.raises(ValueError, match="k=0"):
        top_confusions(avg, k=0)
    with pytest.raises(ValueError, match="min_fraction_of_seeds=1.5"):
        top_confusions(avg, min_fraction_of_seeds=1.5)


# --------------------------------------------------------------- adaptive seeding


def test_ci_half_width_and_needs_more_seeds() -> None:
    values = [2.0, 4.0, 4.0, 5.0, 7.0]
    assert ci_half_width(values) == pytest.approx(T_975_DOF4 * math.sqrt(3.3 / 5))
    assert ci_half_width([1.0]) == math.inf
    assert ci_half_width([]) == math.inf
    by_config = {
        "wide": values,  # half-width 2.26
        "tight": [4.0, 4.1, 4.0, 4.1],  # half-width 0.09
        "one_run": [3.0],  # no estimate yet
    }
    assert needs_more_seeds(by_config, target_half_width=0.5) == ["wide", "one_run"]
    assert needs_more_seeds(by_config, target_half_width=3.0) == ["one_run"]
    with pytest.raises(ValueError, match="target_half_width=0"):
        needs_more_seeds(by_config, target_half_width=0)


# -------------------------------------------------------------------- description

BASE = Comparison(
    paired=True,
    n_a=5,
    n_b=5,
    n_pairs=5,
    diff=0.0042,
    ci_low=-0.0010,
    ci_high=0.0094,
    boot_low=-0.0005,
    boot_high=0.0090,
    p_t=0.09,
    p_rank=0.125,
    effect_size=0.9,
    note="",
)


def test_describe_not_distinguishable() -> None:
    assert describe_difference(BASE) == (
        "B - A = +0.42 points of test accuracy (95% CI -0.10 to +0.94, paired over "
        "5 seeds, p=0.09): not distinguishable from seed-to-seed noise."
    )


def test_describe_distinguishable_and_unpaired() -> None:
    cmp = replace(BASE, paired=False, n_pairs=0, n_b=4, ci_low=0.0011, p_t=0.0123)
    text = describe_difference(cmp, a_label="lr=0.01", b_label="lr=0.1")
    assert text.startswith("lr=0.1 - lr=0.01 = +0.42 points")
    assert "95% CI +0.11 to +0.94" in text
    assert "unpaired (Welch) over 5 and 4 seeds, seeds did not match" in text
    assert "p=0.012" in text
    assert text.endswith(": distinguishable from seed-to-seed noise.")


def test_describe_rounding_never_crosses_threshold() -> None:
    text = describe_difference(replace(BASE, ci_low=0.0001, p_t=0.0496))
    assert "p=0.0496" in text and "p=0.05," not in text
    assert text.endswith(": distinguishable from seed-to-seed noise.")


def test_describe_holm_adjusted_overrides_verdict() -> None:
    cmp = replace(BASE, ci_low=0.0011, p_t=0.02)
    text = describe_difference(cmp, p_adjusted=0.08, n_comparisons=4)
    assert "Holm-adjusted p=0.08 over 4 comparisons" in text
    assert text.endswith(
        "not distinguishable from seed-to-seed noise after correcting for multiple comparisons."
    )


def test_describe_identical_and_untestable() -> None:
    same = compare({0: 0.9, 1: 0.8}, {0: 0.9, 1: 0.8})
    assert describe_difference(same).endswith("p=1): identical on every seed.")
    none = compare({0: 0.9}, {1: 0.8})
    text = describe_difference(none, metric_name="val loss", scale=1.0, unit="")
    assert text.startswith("B - A = -0.10 in val loss (")
    assert "too few runs" in text and "distinguishable" not in text


# ------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda: summarize([]), "at least one"),
        (lambda: summarize([1.0, float("nan")]), "finite"),
        (lambda: summarize([[1.0, 2.0]]), r"one-dimensional.*\(1, 2\)"),
        (lambda: summarize([1.0, 2.0], confidence=1.5), "confidence=1.5"),
        (lambda: summarize([1.0, 2.0], n_boot=-1), "n_boot=-1"),
        (lambda: summarize_curves([]), "n_runs, n_epochs"),
        (lambda: summarize_curves([1.0, 2.0]), r"shape \(2,\)"),
        (lambda: summarize_curves([[1.0, 2.0], [1.0]]), "rectangular"),
        (lambda: summarize_curves([[1.0, float("inf")]]), "finite"),
        (lambda: compare({}, {0: 1.0}), "a must contain at least one"),
        (lambda: compare({0: 1.0}, {"x": 1.0}), "integer seeds"),
        (lambda: compare({0: 1.0}, {0: float("nan")}), r"b\[0\]"),
        (lambda: compare([1.0], {0: 1.0}), "mapping"),
        (lambda: holm([0.5, 1.2]), r"pvalues\[1\]=1.2"),
        (lambda: holm([float("nan")]), "pvalues"),
        (lambda: compare_many([("x", {0: 1.0})]), r"pairs\[0\]"),
        (lambda: compare_many([], alpha=0.0), "alpha=0.0"),
        (lambda: baseline_pairs(["a", "b"], baseline_index=2), "baseline_index=2"),
        (lambda: ci_half_width([1.0, 2.0], confidence=0.0), "confidence=0.0"),
    ],
)
def test_input_validation(call, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        call()


def test_two_pairs_with_identical_nonzero_differences_give_no_verdict():
    from sweeplab.analysis.stats import compare, describe_difference

    c = compare({0: 0.50, 1: 0.60}, {0: 0.52, 1: 0.62})
    assert c.paired and c.n_pairs == 2 and abs(c.diff - 0.02) < 1e-12
    assert not c.distinguishable
    assert "too few runs" in describe_difference(c)
    # with three seeds the same exact shift is evidence
    c3 = compare({0: 0.50, 1: 0.60, 2: 0.7}, {0: 0.52, 1: 0.62, 2: 0.72})
    assert c3.distinguishable
