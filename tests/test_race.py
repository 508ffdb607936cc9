"""The racing step (sweeplab.analysis.race) on hand-made tables."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from sweeplab.analysis import race
from sweeplab.analysis.stats import holm

GOOD = [0.970, 0.972, 0.969]
BAD = [0.950, 0.951, 0.949]  # 2 points below on every shared seed


def test_clearly_worse_candidate_is_dropped_after_first_test_seeds():
    d = race.decide({"a": GOOD, "b": BAD}, 100, first_test=3, max_seeds=10, pool=2)
    assert d.incumbent == "a"
    assert d.newly_dropped == ("b",) and d.dropped == {"b"}
    assert d.p_values["b"] < 0.01
    # a is alone in a pool of 2: a newcomer is asked for before a gets more seeds
    assert d.propose == 1 and d.seeds == {}


def test_not_dropped_before_first_test():
    d = race.decide({"a": GOOD, "b": BAD[:2]}, 100, first_test=3, max_seeds=10)
    assert d.dropped == set() and d.seeds == {"b": 1}


def test_equal_candidates_are_kept_and_get_more_seeds_best_first():
    a, b = [0.970, 0.960, 0.980], [0.960, 0.980, 0.972]
    d = race.decide({"a": a, "b": b}, 100, first_test=3, max_seeds=10, pool=2)
    assert d.dropped == set() and d.propose == 0
    assert d.incumbent == "b"  # mean 0.9707 > 0.97
    assert list(d.seeds.items()) == [("b", 1), ("a", 1)]
    assert d.p_values["a"] > 0.4


def test_dropped_candidate_gets_no_further_seed():
    table = {"a": GOOD + [0.971], "b": BAD, "c": [0.970, 0.971, 0.970]}
    d = race.decide(table, 100, first_test=3, max_seeds=10, dropped={"b"}, pool=2)
    assert "b" not in d.seeds and "b" in d.dropped and "b" not in d.p_values
    assert set(d.seeds) == {"a", "c"}


def test_budget_is_never_exceeded_and_max_seeds_respected():
    table = {"a": [0.9] * 4, "b": [0.9] * 10, "c": [0.91, 0.89]}
    d = race.decide(table, 2, first_test=4, max_seeds=10, pool=3)
    assert d.seeds == {"c": 2} and d.runs == 2
    d = race.decide(table, 0, first_test=4, max_seeds=10)
    assert d.seeds == {} and d.propose == 0 and d.done
    d = race.decide({"a": [0.9] * 10}, 50, first_test=3, max_seeds=10, can_propose=False)
    assert d.done  # at max_seeds and nothing new: over


def test_paired_p_with_one_challenger_is_scipys_one_sided_paired_t_test():
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 10):
        x, y = rng.normal(0.97, 0.002, n), rng.normal(0.968, 0.002, n)
        want = sps.ttest_rel(x, y, alternative="greater").pvalue
        assert race.paired_p(list(x), [list(y)]) == pytest.approx([want], rel=1e-9)
    # shared seeds only: the longer side's extra seeds are not paired
    assert race.paired_p([1, 2, 3, 100], [[0, 1, 2.5]]) == pytest.approx(
        [sps.ttest_rel([1, 2, 3], [0, 1, 2.5], alternative="greater").pvalue])
    assert race.paired_p([0.9, 0.9], [[0.8, 0.8]]) == [0.0]  # same difference on every seed
    assert race.paired_p([0.9, 0.9], [[0.9, 0.9]]) == [1.0]


def test_paired_p_pools_the_variance_of_differences_over_the_challengers():
    """Each challenger's mean difference over its shared seeds, divided by the standard
    error from the pooled variance (the residual mean square of all differences about their
    own challenger's mean, with the summed degrees of freedom, here 1 + 2 + 3 = 6), or from
    its own variance where that is larger."""
    inc = [0.970, 0.972, 0.969, 0.971]
    chs = [[0.950, 0.964], [0.968, 0.966, 0.969], [0.971, 0.972, 0.968, 0.972]]
    diffs = [np.subtract(inc[:len(c)], c) for c in chs]
    pooled = sum(((d - d.mean()) ** 2).sum() for d in diffs) / 6
    var = [max(pooled, d.var(ddof=1)) for d in diffs]
    assert var[0] > pooled == var[1] == var[2]  # the first one varies more than the pool
    want = [sps.t.sf(d.mean() / np.sqrt(v / len(d)), 6) for d, v in zip(diffs, var, strict=True)]
    assert race.paired_p(inc, chs) == pytest.approx(want, rel=1e-9)
    # the first challenger is 1.4 points down on two seeds: alone (its own variance, one
    # degree of freedom) it is not dropped at 5%; with the pool's six it is
    assert race.paired_p(inc, chs[:1])[0] > 0.05 > race.paired_p(inc, chs)[0]


def test_a_challenger_is_never_judged_by_a_smaller_spread_than_its_own():
    """Four steady challengers (nearly the same difference on every seed) make the pooled
    variance small; a fifth whose seeds spread widely keeps its own variance."""
    inc = [0.970, 0.972, 0.969]
    one = [a - 0.001 - e for a, e in zip(inc, (0.0001, -0.0001, 0.0), strict=True)]
    steady = [one] * 4
    wide = [0.958, 0.976, 0.961]  # 0.53 points down on average, seeds 1.8 points apart
    p = race.paired_p(inc, steady + [wide])
    diffs = [np.subtract(inc, c) for c in steady + [wide]]
    pooled = sum(((d - d.mean()) ** 2).sum() for d in diffs) / 10
    d = diffs[-1]
    assert d.var(ddof=1) > 4 * pooled
    assert p[-1] == pytest.approx(sps.t.sf(d.mean() / np.sqrt(d.var(ddof=1) / 3), 10))
    assert p[-1] > 0.1  # judged by the pool's spread alone it would be dropped:
    assert sps.t.sf(d.mean() / np.sqrt(pooled / 3), 10) < 0.02


def test_holm_matches_statsmodels():
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.001])
    reject, adj = race.holm_reject(p, 0.05)
    assert adj == pytest.approx(holm(list(p)))
    assert list(reject) == [True, False, False, False, True]


def test_two_challengers_are_tested_as_a_family_with_holm():
    inc = [0.970, 0.971, 0.969, 0.972]
    table = {"inc": inc, "x": [0.9685, 0.9705, 0.968, 0.9695],
             "y": [0.9695, 0.9695, 0.9685, 0.971]}
    px, py = race.paired_p(inc, [table["x"], table["y"]])
    lo, hi = sorted((px, py))
    want = {"x": min(1, 2 * lo) if px == lo else max(min(1, 2 * lo), hi)}
    want["y"] = min(1, 2 * lo) if py == lo else max(min(1, 2 * lo), hi)
    d = race.decide(table, 10, first_test=3, max_seeds=10)
    assert d.incumbent == "inc"
    assert d.p_values == pytest.approx(want)
    assert d.dropped == {c for c, p in want.items() if p <= 0.05}


def test_describe_names_the_test_level_and_correction():
    text = race.describe_test(0.05)
    assert "paired t-test" in text and "Holm" in text and "0.05" in text


# --- the answer with the test set's sampling ---------------------------------------------

def _answer(correct: dict, **kw) -> race.Answer:
    """race.answer on hand-made per-example outcomes: accuracies are their row means."""
    acc = {k: list(c.mean(axis=1)) for k, c in correct.items()}
    return race.answer({k: k for k in correct}, {k: float(np.mean(v)) for k, v in acc.items()},
                       acc, acc, "test_acc", seed=0, **kw)


def test_seeds_that_agree_say_nothing_of_a_new_test_set_the_two_way_answer_does():
    from sweeplab.analysis import outcomes

    rng = np.random.default_rng(0)
    # 5 fresh seeds of A that get the same 200 examples right (82%), B the same at 80%,
    # with 10 examples of A's wrong ones among B's right ones: on this test set the seeds
    # have no spread (t-interval of width 0, P(A best) = 1 over seeds), but a new test set
    # would draw other examples.
    a1 = rng.permutation(np.arange(200) < 164)
    b1 = a1.copy()
    b1[np.flatnonzero(a1)[:14]] = False
    b1[np.flatnonzero(~a1)[:10]] = True
    correct = {"A": np.tile(a1, (5, 1)), "B": np.tile(b1, (5, 1))}
    plain = _answer(correct)
    both = _answer(correct, metric_correct=correct, test_correct=correct, metric_split="test")
    assert plain.best.key == both.best.key == "A"
    assert plain.best.p_best == 1.0 and plain.best.two_way is None
    assert plain.sentence.startswith("A is best with P=1.00 (test 82.0%, 95% CI 82.0-82.0, "
                                     "5 fresh seeds); no other finalist within noise")
    # P(best) over fresh seeds and test examples: the same resampling as compare's two-way
    # bootstrap, computed directly
    p = outcomes.two_way_best([correct["A"], correct["B"]], rng_seed=0)
    assert both.best.p_best == p[0] and both.finalists[1].p_best == p[1]
    assert 0.5 < p[0] < 0.99 and p.sum() == pytest.approx(1.0)
    assert both.best.p_best_seeds == 1.0
    # The winner's interval on a new test set: compare's estimator on its outcomes alone
    direct = outcomes.two_way(None, correct["A"])
    assert both.best.two_way == direct
    assert (both.best.new_low, both.best.new_high) == (direct.low, direct.high)
    # the seeds agree, so it is the test set's sampling alone: +-t(199) sqrt(.82 .18 / 200)
    assert direct.high - direct.diff == pytest.approx(
        sps.t.ppf(0.975, 199) * math.sqrt(0.82 * 0.18 / 199), rel=1e-9)
    assert both.best.test_low == both.best.test_high == pytest.approx(0.82)
    assert both.sentence == (
        f"A is best with P={p[0]:.2f} over fresh seeds and test examples (test 82.0%, 95% CI "
        f"82.0-82.0 on this test set over 5 fresh seeds, {100 * direct.low:.1f}-"
        f"{100 * direct.high:.1f} on a new test set); no other finalist within noise; its race "
        "estimate of test_acc was +0.00 points off the fresh seeds' (winner's curse)")


def test_the_new_test_set_interval_is_never_narrower_than_the_seeds_only_one():
    from sweeplab.analysis import outcomes

    # 2 seeds far apart: the seeds' part dominates; adding the test set's cannot narrow it
    rng = np.random.default_rng(1)
    c = np.stack([rng.random(300) < 0.6, rng.random(300) < 0.7])
    ans = _answer({"A": c}, test_correct={"A": c})
    b, tw = ans.best, outcomes.two_way(None, c)
    assert b.two_way == tw and (b.new_low, b.new_high) == (max(0.0, tw.low), min(1.0, tw.high))
    assert b.new_low <= b.test_low and b.new_high >= b.test_high
    assert tw.test_set_se > 0 and tw.se > tw.test_set_se
    assert b.p_best == b.p_best_seeds == 1.0 and ans.p_over == ""
    assert "P=1.00 over fresh seeds (test " in ans.sentence


def test_the_pick_uses_the_race_seeds_all_finalists_share_the_estimates_fresh_ones_only():
    # Fresh seeds favour B by 0.1 point, the race's 2 shared seeds favour A by 1 point: A's
    # mean over the 5 seeds is higher, so A is named; its interval, the within-noise test and
    # the winner's curse use the 3 fresh seeds alone.
    race_seeds = {"A": [0.91, 0.92], "B": [0.90, 0.91]}
    fresh = {"A": [0.900, 0.902, 0.898], "B": [0.901, 0.903, 0.899]}
    ans = race.answer({"A": "A", "B": "B"}, {"A": 0.915, "B": 0.905}, fresh, fresh, "val_acc",
                      shared_metric=race_seeds)
    assert [f.key for f in ans.finalists] == ["A", "B"] and ans.n_shared == 2
    a, b = ans.finalists
    assert a.fresh_mean == pytest.approx(0.900) and a.test_mean == pytest.approx(0.900)
    assert ans.curse == pytest.approx(0.915 - 0.900)
    picked_on = np.array([race_seeds["A"] + fresh["A"], race_seeds["B"] + fresh["B"]])
    assert [a.p_best, b.p_best] == list(race.p_best(picked_on))
    # B is not worse than A on the fresh seeds (it is better there): within noise
    assert b.p_worse == pytest.approx(race.paired_p(fresh["A"], [fresh["B"]])[0])
    assert b.p_worse > 0.5 and ans.within_noise == (b,)
    assert f"A is best with P={a.p_best:.2f} over 2 race and 3 fresh seeds (test 90.0%" in (
        ans.sentence)
    # Without the race's seeds the fresh ones alone pick B
    assert race.answer({"A": "A", "B": "B"}, {"A": 0.915, "B": 0.905}, fresh, fresh,
                       "val_acc").best.key == "B"
