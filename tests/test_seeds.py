"""What seeds can tell: noise floor, power, P(B > A), score distributions (sweeplab.seeds)."""

import math

import numpy as np
import pytest
from scipy import stats as st
from statsmodels.stats.power import TTestIndPower, TTestPower

from sweeplab.analysis import seeds


def test_binomial_floor_for_known_p_and_n():
    assert seeds.binomial_se(0.98, 10_000) == pytest.approx(0.0014, rel=1e-12)  # the 0.14
    assert seeds.binomial_se(0.5, 100) == pytest.approx(0.05, rel=1e-12)
    assert seeds.binomial_se(1.0, 50) == 0.0
    with pytest.raises(ValueError, match="n_test must be an integer >= 1"):
        seeds.binomial_se(0.5, 0)
    with pytest.raises(ValueError, match=r"p must be an accuracy in \[0, 1\]"):
        seeds.binomial_se(1.5, 10)


def test_variance_test_statistic_by_hand():
    x = np.array([0.50, 0.52, 0.47, 0.55, 0.49])
    nf = seeds.noise_floor(x, 400)
    s2, sigma2 = x.var(ddof=1), x.mean() * (1 - x.mean()) / 400
    assert nf.floor == pytest.approx(math.sqrt(sigma2), rel=1e-12)
    assert nf.p_excess == pytest.approx(st.chi2.sf(4 * s2 / sigma2, 4), rel=1e-12)
    assert nf.ratio == pytest.approx(math.sqrt(s2 / sigma2), rel=1e-12)
    one = seeds.noise_floor([0.9], 100)
    assert math.isnan(one.p_excess) and not one.beyond and "One run" in one.sentence()


def _rejections(extra_sd_in_floors: float, trials: int = 400, k: int = 10, n_test: int = 10_000,
                p: float = 0.98) -> float:
    rng = np.random.default_rng(7)
    floor = math.sqrt(p * (1 - p) / n_test)
    hits = 0
    for _ in range(trials):
        # Each run's accuracy: its own true accuracy (seed effect) scored on n_test images.
        true = np.clip(p + rng.normal(0, extra_sd_in_floors * floor, k), 0, 1)
        hits += seeds.noise_floor(rng.binomial(n_test, true) / n_test, n_test).beyond
    return hits / trials


def test_variance_test_on_runs_whose_spread_is_binomial_noise():
    # Size 0.05 by construction; over 400 trials the rate's sd is 0.011, so 0.10 is 4.5 sd.
    assert _rejections(0.0) < 0.10


def test_variance_test_on_runs_that_spread_beyond_binomial_noise():
    # Variance 1 + 3^2 = 10 floors^2: P(chi2_9 > 16.92 / 10) = 0.995; 0.95 leaves 4 sd of room.
    assert _rejections(3.0) > 0.95
    nf = seeds.noise_floor([0.30, 0.55, 0.97, 0.96, 0.71], 10_000)  # q1-like: 26-point spread
    assert nf.beyond and nf.ratio > 50 and "far beyond test-set noise" in nf.sentence()
    q7d = seeds.noise_floor([0.9801, 0.9812, 0.9795, 0.9808, 0.9790], 10_000)
    assert not q7d.beyond and "indistinguishable beyond test-set noise" in q7d.sentence()


def test_resolvable_difference():
    # 1.96 * sqrt(2 * 0.98 * 0.02 / 10000) = 0.388 points
    want = st.norm.ppf(0.975) * math.sqrt(2 * 0.98 * 0.02 / 10_000)
    assert seeds.resolvable(0.98, 0.98, 10_000) == pytest.approx(want, rel=1e-12)



def test_pair_edge_measures_the_test_sets_part_where_outcomes_are_kept():
    from sweeplab.analysis import outcomes as O

    rng = np.random.default_rng(5)
    labels = rng.integers(0, 10, 2000)
    kind = rng.choice(3, 2000, p=[0.92, 0.05, 0.03])  # both right / b's gain / a's gain

    def outs(p_right: tuple[float, float, float]) -> O.Outcomes:
        right = rng.random((4, 2000)) < np.asarray(p_right)[kind]
        return O.Outcomes((0, 1, 2, 3), np.where(right, labels, (labels + 1) % 10), labels, 10)

    oa, ob = outs((0.98, 0.2, 0.9)), outs((0.98, 0.9, 0.2))
    fa, fb = (seeds.noise_floor(o.correct.mean(axis=1), 2000) for o in (oa, ob))
    # Without outcomes (or with either missing): the binomial upper bound.
    assert seeds.pair_edge(fa, fb) == (seeds.resolvable(fa.mean, fb.mean, 2000), False)
    assert seeds.pair_edge(fa, fb, O.difference(oa, None))[1] is False
    # With both: 1.96 times the test set's part of the paired difference's se, which the
    # binomial bound overstates (it ignores that both get 92% of the examples right together).
    edge, measured = seeds.pair_edge(fa, fb, O.difference(oa, ob))
    se = O.two_way(oa.correct, ob.correct, paired=True).test_set_se
    assert measured and edge == pytest.approx(1.959963984540054 * se, rel=1e-12)
    assert 0 < edge < seeds.resolvable(fa.mean, fb.mean, 2000)

def _power_paired(d: float, n: int, alpha: float = 0.05) -> float:
    """By hand: two-sided one-sample t-test power from the noncentral t."""
    crit = st.t.ppf(1 - alpha / 2, n - 1)
    nc = d * math.sqrt(n)
    return st.nct.sf(crit, n - 1, nc) + st.nct.cdf(-crit, n - 1, nc)


def _power_ind(d: float, n1: int, n2: int, alpha: float = 0.05) -> float:
    df = n1 + n2 - 2
    crit = st.t.ppf(1 - alpha / 2, df)
    nc = d * math.sqrt(n1 * n2 / (n1 + n2))
    return st.nct.sf(crit, df, nc) + st.nct.cdf(-crit, df, nc)


def test_paired_power_against_statsmodels_and_by_hand():
    rng = np.random.default_rng(0)
    a = {s: 0.97 + 0.002 * rng.standard_normal() for s in range(10)}
    b = {s: a[s] + 0.001 + 0.0015 * rng.standard_normal() for s in range(10)}
    pw = seeds.power(a, b)
    d = np.array([b[s] - a[s] for s in range(10)])
    assert pw.paired and pw.n == 10 and pw.sd == pytest.approx(d.std(ddof=1), rel=1e-12)
    eff = TTestPower().solve_power(effect_size=None, nobs=10, alpha=0.05, power=0.8)
    assert pw.mdd == pytest.approx(eff * d.std(ddof=1), rel=1e-9)
    # The solved effect has 80% power by the noncentral t (solver tolerance ~1e-6).
    assert _power_paired(pw.mdd / pw.sd, 10) == pytest.approx(0.8, abs=1e-5)
    n = int(pw.seeds_needed)
    obs = abs(d.mean()) / d.std(ddof=1)
    assert _power_paired(obs, n) >= 0.8 > _power_paired(obs, n - 1)


def test_unpaired_power_against_statsmodels_and_by_hand():
    a = {0: 0.90, 1: 0.92, 2: 0.91, 3: 0.95}
    b = {10: 0.93, 11: 0.96, 12: 0.94, 13: 0.97, 14: 0.92, 15: 0.95}
    pw = seeds.power(a, b)
    xa, xb = np.array(list(a.values())), np.array(list(b.values()))
    pooled = math.sqrt((3 * xa.var(ddof=1) + 5 * xb.var(ddof=1)) / 8)
    assert not pw.paired and pw.n == 4 and pw.sd == pytest.approx(pooled, rel=1e-12)
    eff = TTestIndPower().solve_power(effect_size=None, nobs1=4, ratio=1.5, alpha=0.05, power=0.8)
    assert pw.mdd == pytest.approx(eff * pooled, rel=1e-9)
    assert _power_ind(pw.mdd / pooled, 4, 6) == pytest.approx(0.8, abs=1e-5)
    n = int(pw.seeds_needed)
    obs = abs(xb.mean() - xa.mean()) / pooled
    assert _power_ind(obs, n, n) >= 0.8 > _power_ind(obs, n - 1, n - 1)


def test_seeds_to_detect_textbook_values_and_edges():
    # Cohen (1988): d = 0.5 needs 64 per group (two samples), 34 pairs (one sample).
    assert seeds.seeds_to_detect(0.5, 1.0, paired=False) == 64
    assert seeds.seeds_to_detect(0.5, 1.0, paired=True) == 34
    assert seeds.seeds_to_detect(0.0, 1.0, paired=True) == math.inf
    assert seeds.seeds_to_detect(0.1, 0.0, paired=True) == 2
    assert math.isnan(seeds.seeds_to_detect(0.1, math.nan, paired=True))
    # Far past the solver's bracket the normal approximation is used: (2.80 / 1e-4)^2.
    assert seeds.seeds_to_detect(1e-4, 1.0, True) == pytest.approx(7.85e8, rel=1e-2)


def test_power_sentence():
    a = {s: 0.5 for s in range(5)}
    b = {0: 0.51, 1: 0.52, 2: 0.50, 3: 0.53, 4: 0.51}
    text = seeds.power(a, b).sentence()
    assert text.startswith("With 5 paired seeds, a difference under ")
    assert "to detect the observed 1.40 points with 80% power takes about" in text
    assert "Too few runs" in seeds.power({0: 0.5}, {1: 0.6}).sentence()


def test_probability_of_improvement_paired():
    a = {s: 0.5 for s in range(10)}
    b = dict(a)
    for s in range(7):
        b[s] = 0.6  # b wins on 7 seeds
    b[7] = 0.5  # a tie counts one half
    b[8] = b[9] = 0.4  # a wins on 2
    imp = seeds.prob_improvement(a, b)
    assert imp.paired and imp.prob == pytest.approx(0.75)
    assert 0.0 <= imp.low < 0.75 < imp.high <= 1.0
    again = seeds.prob_improvement(a, b)
    assert (again.low, again.high) == (imp.low, imp.high)  # fixed rng seed
    wins = seeds.prob_improvement(a, {s: 0.7 for s in range(10)})
    # B wins on all 10 seeds: the exact (Clopper-Pearson) lower bound is 0.025^(1/10).
    assert (wins.prob, wins.high, wins.method) == (1.0, 1.0, "exact")
    assert wins.low == pytest.approx(0.025 ** (1 / 10), rel=1e-9)
    same = seeds.prob_improvement(a, a)
    assert (same.prob, same.low, same.high) == (0.5, 0.5, 0.5)
    assert imp.text("A", "B").startswith("P(B > A) = 0.75 (95% bootstrap CI")


def test_probability_of_improvement_unpaired_is_mann_whitney():
    a = {0: 0.1, 1: 0.5, 2: 0.3}
    b = {10: 0.4, 11: 0.6, 12: 0.3, 13: 0.9}
    imp = seeds.prob_improvement(a, b)
    u = st.mannwhitneyu(list(b.values()), list(a.values())).statistic
    assert not imp.paired and imp.prob == pytest.approx(u / 12)
    # By hand: 0.4 beats 0.1, 0.3 (2); 0.6 beats all (3); 0.3 beats 0.1, ties 0.3 (1.5); 0.9 (3)
    assert imp.prob == pytest.approx(9.5 / 12)
    assert 0.0 <= imp.low <= imp.prob <= imp.high <= 1.0


def test_score_distribution_record():
    rec = seeds.score_distribution([("split", [0.1, 0.1, 0.97, 0.98]), ("none", [])])
    assert rec.labels == ("split",) and rec.n == (4,)
    t = rec.thresholds
    share = rec.share[0]
    assert share[np.searchsorted(t, 0.1)] == 1.0  # at or above 10%: all four runs
    assert share[np.searchsorted(t, 0.97)] == 0.5
    assert share[np.searchsorted(t, 0.98)] == 0.25
    assert share[-1] == 0.0
    assert np.all(rec.low <= rec.share + 1e-12) and np.all(rec.share <= rec.high + 1e-12)
    assert np.all(np.diff(share) <= 0)  # a share "at or above" never rises
    with pytest.raises(ValueError, match="at least one config with runs"):
        seeds.score_distribution([("x", [])])
