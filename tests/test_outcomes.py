"""Per-example outcomes: Jordan's estimator against a simulation whose truth is known,
McNemar against statsmodels, churn / ensembles / the seeds-and-test-set interval on cases worked by
hand, the predictions kept with their run through SIGKILLs, real (tiny) trainings whose
stored predictions reproduce their stored confusion matrices, and a store written before
predictions were kept (schema 2, /work/stores/q1.db as built at b404082) opening and saying
what it lacks."""

from __future__ import annotations

import itertools
import math
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as _st

import sweeplab
from sweeplab import readout
from sweeplab.analysis import outcomes as O
from sweeplab.store import SCHEMA_VERSION, Store, unpack_classes

OLD_STORE = Path(__file__).parent / "data" / "q1_schema2.db"


# --------------------------------------------------------------------- the estimator

def _truth(mu: float, tau: float, omega: float) -> float:
    """var over u ~ N(0, omega^2) of Phi((mu + u) / sqrt(1 + tau^2)): the distribution-wise
    variance of the simulation below (Gauss-Hermite, 80 nodes: exact to ~1e-15 here)."""
    x, w = np.polynomial.hermite_e.hermegauss(80)
    w = w / w.sum()
    a = _st.norm.cdf((mu + omega * x) / math.sqrt(1 + tau**2))
    return float(w @ a**2 - (w @ a) ** 2)


def _simulate(rng, k: int, n: int, mu: float, tau: float, omega: float) -> np.ndarray:
    """K seeds x n test examples drawn afresh: example x has difficulty z ~ N(mu, tau^2),
    seed k a shift u_k ~ N(0, omega^2), and c = [z + u + eps > 0], eps ~ N(0, 1). A seed's
    accuracy on the distribution is Phi((mu + u) / sqrt(1 + tau^2))."""
    z = rng.normal(mu, tau, n)
    u = rng.normal(0, omega, k)
    return (z[None, :] + u[:, None] + rng.standard_normal((k, n))) > 0


@pytest.mark.parametrize("k, omega", [(10, 0.02), (3, 0.05)])
def test_estimator_recovers_the_known_distribution_wise_variance(k, omega):
    # Jordan's regime (omega 0.02): the test set's sampling is ~5x the distribution-wise
    # variance; (3, 0.05): few seeds, the two parts comparable.
    mu, tau, n, reps = 1.6, 1.2, 2000, 500
    truth = _truth(mu, tau, omega)
    rng = np.random.default_rng(7)
    splits = [O.split_variance(_simulate(rng, k, n, mu, tau, omega)) for _ in range(reps)]
    est = np.array([s.distribution for s in splits])
    se = float(np.mean([s.se for s in splits]))
    # Unbiased: the mean of 500 estimates lies within 3 of its standard errors of the truth.
    assert abs(est.mean() - truth) < 3 * se / math.sqrt(reps), (est.mean(), truth)
    # The derived se is the estimates' spread: the sd of 500 estimates has a relative se of
    # 1 / sqrt(2 * 499) = 3.2%, so +-15% is over 4 of those.
    assert 0.85 < est.std(ddof=1) / se < 1.15
    # The seeds' own variance is not an estimate of it: biased upward by the test set's part.
    naive = np.array([s.seeds for s in splits])
    assert naive.mean() - truth > 5 * se / math.sqrt(reps)
    for s in splits[:5]:
        assert s.test_set + s.distribution == pytest.approx(s.seeds, abs=1e-15)
        assert s.binomial == pytest.approx(s.mean * (1 - s.mean) / n)


@pytest.mark.parametrize("k, omega", [(3, 0.0), (10, 0.0), (3, 0.05), (10, 0.02)])
def test_chi_square_test_has_its_level_and_the_bound_its_coverage(k, omega):
    # 1000 simulated tables each: a rate's binomial se is sqrt(0.05 * 0.95 / 1000) = 0.0069,
    # so +-0.021 is 3 of them (the test's level 0.05, the one-sided bound's coverage 0.95).
    mu, tau, n, reps = 1.6, 1.2, 2000, 1000
    rng = np.random.default_rng(7)  # as the estimator's test above
    splits = [O.split_variance(_simulate(rng, k, n, mu, tau, omega)) for _ in range(reps)]
    truth = _truth(mu, tau, omega)
    reject = np.mean([s.p_value < 0.05 for s in splits])
    cover = np.mean([s.distribution_high >= math.sqrt(truth) for s in splits])
    if omega == 0:  # no distribution-wise part: the test rejects at its level
        assert abs(reject - 0.05) < 0.021, reject
    else:  # its power as the chi-square law gives it, at the seeds' expected variance
        v0 = float(np.mean([s.seeds - s.distribution * (1 - 1 / n) for s in splits]))
        crit = _st.chi2.ppf(0.95, k - 1) * v0 / (v0 + truth * (1 - 1 / n))
        power = _st.chi2.sf(crit, k - 1)
        assert abs(reject - power) < 3 * math.sqrt(power * (1 - power) / reps), (reject, power)
        assert abs(cover - 0.95) < 0.021, cover


def test_chi_square_test_on_a_table_worked_by_hand():
    # Three seeds, 4 examples each right or wrong: accuracies 1, 0.5, 0.25.
    c = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], bool)
    v = O.split_variance(c)
    s2 = np.var([1, 0.5, 0.25], ddof=1)
    p = c.mean(axis=0)
    v0 = np.mean(p * (1 - p)) * 3 / 2 / 4
    assert v.p_value == pytest.approx(_st.chi2.sf(2 * s2 / v0, 2), rel=1e-12)
    high = (2 * s2 / _st.chi2.ppf(0.05, 2) - v0) / (1 - 1 / 4)
    assert v.distribution_high == pytest.approx(math.sqrt(min(high, v.mean * (1 - v.mean))))
    # Three seeds that differ far beyond the test set (q1's dead outputs: 92, 68, 72%): a
    # Wald test on se = s^2 could never say so; the chi-square test does.
    rng = np.random.default_rng(0)
    c = rng.random((3, 10_000)) < np.array([[0.92], [0.68], [0.72]])
    v = O.split_variance(c)
    assert v.distribution < 1.96 * v.se and v.p_value < 1e-6
    assert "above 0 (chi-square test, p<0.001)" in v.sentence()
    # Seeds that spread less than the test set's sampling alone (accuracies 0.5, 0.5, 0.75,
    # each example right for 2 of 3 or 1 of 3 seeds): s^2 = 1/48 against v0 = 1/12, so the
    # distribution-wise estimate is negative and the test set's part is 5x the seeds' variance
    # -- "all of it", not "500%".
    v = O.split_variance(np.array([[1, 1, 0, 0], [0, 0, 1, 1], [1, 1, 1, 0]], bool))
    assert v.seeds == pytest.approx(1 / 48) and v.test_set == pytest.approx(5 * v.seeds)
    assert v.p_value == pytest.approx(_st.chi2.sf(0.5, 2))
    assert ("the test set's sampling dominates (all of the variance: the seeds spread less than "
            "it alone would)") in v.sentence()
    same = O.split_variance(np.array([[1, 1, 0, 0], [0, 0, 1, 1]], bool))  # 50% each
    assert same.sentence().endswith("; every seed scores the same.")


def test_estimator_is_the_mean_off_diagonal_covariance():
    c = np.random.default_rng(3).random((6, 40)) < 0.7
    cov = np.cov(c.astype(float), rowvar=False)  # (40, 40) over the seeds, ddof 1
    n = c.shape[1]
    off = (cov.sum() - np.trace(cov)) / (n * (n - 1))
    assert O.split_variance(c).distribution == pytest.approx(off, rel=1e-12)
    with pytest.raises(ValueError, match="seeds >= 2"):
        O.split_variance(c[:1])


# --------------------------------------------------------------------- McNemar and others

@pytest.mark.parametrize("only_a, only_b, both, neither", [
    (0, 0, 50, 5), (3, 3, 40, 2), (1, 9, 80, 10), (25, 10, 900, 65), (0, 7, 10, 0),
    (120, 95, 9500, 285)])
def test_mcnemar_equals_statsmodels(only_a, only_b, both, neither):
    from statsmodels.stats.contingency_tables import mcnemar

    a = np.array([1] * only_a + [0] * only_b + [1] * both + [0] * neither, bool)
    b = np.array([0] * only_a + [1] * only_b + [1] * both + [0] * neither, bool)
    got = O.mcnemar(a, b)
    ref = mcnemar([[both, only_a], [only_b, neither]], exact=True)
    assert (got.only_a, got.only_b) == (only_a, only_b)
    assert got.p == pytest.approx(float(ref.pvalue), rel=1e-12, abs=1e-300)


def test_churn_votes_and_ensemble_by_hand():
    labels = np.array([0, 1, 2, 0])
    preds = np.array([[0, 1, 2, 1],
                      [0, 1, 1, 1],
                      [0, 2, 2, 0]])
    # pairs (0,1): 1 of 4 differ, (0,2): 2, (1,2): 3 -> (1 + 2 + 3) / (3 * 4)
    assert O.churn(preds, num_classes=3) == pytest.approx(6 / 12)
    # between configs: every (row of a, row of b) pair
    assert O.churn(preds[:1], preds[1:], num_classes=3) == pytest.approx((1 + 2) / 8)
    assert O.majority_vote(preds, 3).tolist() == [0, 1, 2, 1]
    assert O.majority_vote(preds[1:], 3).tolist() == [0, 1, 1, 1]  # ties: the first row's
    assert O.majority_vote(preds[:0:-1], 3).tolist() == [0, 2, 2, 0]
    curve = O.ensemble_curve(preds, labels, 3)
    assert curve.sizes == (1, 2, 3) and curve.subsets == (3, 3, 1)
    assert curve.accuracy[0] == pytest.approx(np.mean([3 / 4, 2 / 4, 3 / 4]))
    # pairs (0,1): 1 + 1 + 0.5 + 0; (0,2): 1 + 0.5 + 1 + 0.5; (1,2): 1 + 0.5 + 0.5 + 0.5
    assert curve.accuracy[1] == pytest.approx((2.5 + 3 + 2.5) / 12)
    assert curve.accuracy[2] == pytest.approx(3 / 4)
    # the curve's vectorised vote is vote_accuracy, subset by subset, on a random case too
    rng = np.random.default_rng(2)
    big, y = rng.integers(0, 7, (9, 500)), rng.integers(0, 7, 500)
    fast = O.ensemble_curve(big, y, 7, subsets=5)
    rng = np.random.default_rng(0)  # the curve's own draws, replayed
    for size, acc in zip(fast.sizes, fast.accuracy, strict=True):
        if math.comb(9, size) <= 5:
            picks = [list(c) for c in itertools.combinations(range(9), size)]
        else:
            seen: set = set()
            while len(seen) < 5:
                seen.add(tuple(sorted(rng.choice(9, size, replace=False).tolist())))
            picks = [list(c) for c in sorted(seen)]
        assert acc == pytest.approx(np.mean([O.vote_accuracy(big[i], y, 7) for i in picks]),
                                    abs=1e-12)
    o = O.Outcomes((0, 1, 2), preds, labels, 3)
    assert o.difficulty.tolist() == pytest.approx([1, 2 / 3, 2 / 3, 1 / 3])
    assert O.hard_examples(o) == ([], [1, 2, 3])
    df = o.frame(("a", "b", "c"))
    assert len(df) == 12 and df["correct"].sum() == 8
    assert df.iloc[3][["seed", "example", "label", "predicted"]].tolist() == [0, 3, "a", "b"]


def _world(rng, m, k, seed_sd=0.02):
    """One test set of ``m`` examples drawn from the distribution (each example's expected
    correctness p_i ~ U(0.3, 0.9): the distribution's mean is 0.6) and ``k`` seeds, each
    moving every p_i by its own N(0, seed_sd) (the distribution-wise spread) before drawing
    its (k, m) correctness."""
    p = rng.uniform(0.3, 0.9, m)
    u = rng.normal(0, seed_sd, k)
    return rng.random((k, m)) < p[None, :] + u[:, None], p


def test_two_way_covers_the_distributions_mean_with_3_seeds():
    # 400 simulated test sets whose distribution's truth is known. 95% intervals should cover
    # it in 95%: with 400 draws the share has a binomial se of 0.011, so 0.91-0.99 is within
    # 3.5 se. (The two-way percentile bootstrap this replaces covered 0.885 with 3 seeds of
    # sd 2 points on 2,000 examples, 0.995 with sd 0.2 on 10,000: bench/README.md.)
    rng = np.random.default_rng(0)
    one = diff = paired = 0
    reps = 400
    for _ in range(reps):
        a, p = _world(rng, 500, 3)
        tw = O.two_way(None, a)
        one += tw.low <= 0.6 <= tw.high
        # the seeds-only t-interval is about this test set: always inside the stated one
        s = a.mean(1)
        h = _st.t.ppf(0.975, 2) * s.std(ddof=1) / math.sqrt(3)
        assert tw.low <= s.mean() - h + 1e-12 and tw.high >= s.mean() + h - 1e-12
        # b - a, other seeds, the same test examples: b is 1 point better on every example
        b = rng.random((3, 500)) < (p + 0.01)[None, :] + rng.normal(0, 0.02, 3)[:, None]
        t2 = O.two_way(a, b)
        diff += t2.low <= 0.01 <= t2.high
        # paired: each seed moves both configs alike (same data order), so the pairs agree
        u = rng.normal(0, 0.02, 3)
        pa = rng.random((3, 500)) < p[None, :] + u[:, None]
        pb = rng.random((3, 500)) < (p + 0.01)[None, :] + u[:, None]
        tp = O.two_way(pa, pb, paired=True)
        paired += tp.low <= 0.01 <= tp.high
    assert 0.91 <= one / reps <= 0.99
    assert 0.91 <= diff / reps <= 0.99
    assert 0.91 <= paired / reps <= 0.99


def test_two_way_on_seeds_that_agree_is_the_test_sets_sampling_alone():
    rng = np.random.default_rng(1)
    row = rng.random(2000) < 0.8
    tw = O.two_way(None, np.tile(row, (4, 1)))  # 4 seeds, identical predictions
    acc = row.mean()
    se = math.sqrt(acc * (1 - acc) / 2000 * 2000 / 1999)  # var of the 0/1 p_i, over M
    assert tw.diff == pytest.approx(acc) and tw.se == pytest.approx(se)
    assert tw.test_set_se == pytest.approx(se) and tw.df == pytest.approx(1999)
    assert tw.high - tw.diff == pytest.approx(_st.t.ppf(0.975, 1999) * se)
    # a difference the size of the test set's noise is not called certain either way
    a = rng.random((5, 3000)) < 0.7
    assert O.two_way(a, a[::-1], paired=True).prob == pytest.approx(0.5, abs=0.3)
    assert math.isnan(O.two_way(None, a[:1]).low)  # one seed: no interval
    with pytest.raises(ValueError, match="same test examples"):
        O.two_way(a, a[:, :10])


# --------------------------------------------------------------------- real trainings

SUBSET = 300  # images per split of the shared tiny store (tests/conftest.py)


@pytest.fixture(scope="module")
def trained(tiny_store):
    """The shared store of study "tiny": widths 4, 16, 64 x 3 seeds on the fast engine."""
    return sweeplab.open(tiny_store)


def test_stored_predictions_reproduce_each_runs_confusion_and_accuracy(trained, data_dir):
    from sweeplab import data

    y = data.load("mnist", data_dir, SUBSET).y_test
    with Store(trained.path, readonly=True) as s:
        view = readout.read_study(s, "tiny")
        blobs = s._con.execute("SELECT length(predictions) FROM runs").fetchall()
    assert len(blobs) == 9 and all(0 < b[0] < SUBSET + 1 for b in blobs)  # < 1 byte each
    assert [c.label for c in view.configs] == ["width=4", "width=16", "width=64"]
    for c in view.configs:
        assert len(c.runs) == 3 and c.outcomes_lack == ""
        for r in c.runs:
            assert np.array_equal(r.test_labels, y) and r.predictions.shape == (SUBSET,)
            conf = np.zeros((10, 10), int)
            np.add.at(conf, (y, r.predictions.astype(int)), 1)
            assert np.array_equal(conf, r.confusion)
            assert np.mean(r.predictions == y) == pytest.approx(r.final.test_acc, abs=1e-6)
        o = c.outcomes
        assert o.predictions.shape == (3, SUBSET) and o.seeds == (0, 1, 2)
        assert c.variance_split == O.split_variance(o.correct)  # memoised on the view
        assert c.variance_split is c.variance_split
        assert c.ensemble.sizes == (1, 2, 3)
        assert c.ensemble.accuracy[0] == pytest.approx(np.mean([r.final.test_acc
                                                                for r in c.runs]), abs=1e-6)
        assert 0 < c.churn < 1


# --------------------------------------------------------------------- kill -9

WRITER = textwrap.dedent("""
    import sys, numpy as np
    from sweeplab.results import EpochRecord, RunResult
    from sweeplab.store import Store
    m = 200_000  # large predictions, so a kill often lands inside a write
    labels = (np.arange(m) * 7919 % 10).astype(np.int64)
    with Store(sys.argv[1]) as s:
        s.save_study("w", {"name": "w"}, [("h", "{}", "base", {})])
        print("ready", flush=True)
        for seed in range(10_000):
            if seed in s.done_seeds("h"):
                continue
            s.start_run("h", seed, "test")
            pred = (labels + (np.arange(m) % (seed + 2) == 0)) % 10
            s.finish_run(RunResult("h", seed, "test", (EpochRecord(0, 1.0, 0.5),),
                                   np.eye(10, dtype=np.int64), predictions=pred,
                                   test_labels=labels), {})
""")


def test_predictions_survive_kill_9_with_their_run(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    db = tmp_path / "k.db"
    env = {**os.environ, "PYTHONPATH": str(Path(sweeplab.__file__).parents[1])}
    rng = random.Random(5)
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, str(script), str(db)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert proc.stdout.readline() == b"ready\n", proc.stderr.read().decode()[-2000:]
            time.sleep(0.1 + rng.random() * 0.8)  # into the loop of runs
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    m = 200_000
    labels = (np.arange(m) * 7919 % 10)
    con = sqlite3.connect(db)
    rows = con.execute("SELECT seed, status, predictions, labels_key FROM runs").fetchall()
    done = [r for r in rows if r[1] == "done"]
    assert len(done) >= 4  # the kills let work through
    for seed, status, pred, key in rows:
        if status != "done":  # never outcomes without the run
            assert pred is None and key is None
            continue
        want = (labels + (np.arange(m) % (seed + 2) == 0)) % 10
        assert np.array_equal(unpack_classes(pred), want)  # never a run without them
        (blob,) = con.execute("SELECT labels FROM test_labels WHERE key=?", (key,)).fetchone()
        assert np.array_equal(unpack_classes(blob), labels)
        assert con.execute("SELECT count(*) FROM epochs e JOIN runs r ON r.id = e.run_id "
                           "WHERE r.seed=?", (seed,)).fetchone()[0] == 1
    con.close()


# --------------------------------------------------------------------- an older store

def test_a_store_from_before_opens_and_says_what_it_lacks(tmp_path):
    db = tmp_path / "old.db"
    shutil.copy(OLD_STORE, db)
    with Store(db, readonly=True) as s:  # read as it is, not upgraded
        view = readout.read_study(s, "q1")
        assert s._con.execute("PRAGMA main.user_version").fetchone()[0] == 2
    (c,) = view.configs
    assert len(c.runs) == 10 and all(r.predictions is None for r in c.runs)
    assert c.outcomes is None and c.variance_split is None and c.ensemble is None
    assert math.isnan(c.churn)
    assert c.outcomes_lack.startswith("10 of 10 runs were stored without per-example")
    res = sweeplab.open(db)
    html = res.report(tmp_path / "r.html")
    text = Path(html).read_text()
    assert "10 of 10 runs were stored without per-example predictions" in text
    # Opened for writing, it is upgraded in place; its runs keep every number they had.
    with Store(db) as s:
        assert s._con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        runs = s.results(c.config_hash)
    assert [r.final.test_acc for r in runs] == [r.final.test_acc for r in c.runs]
    assert all(r.predictions is None and r.val_predictions is None for r in runs)


def test_compare_adds_the_test_sets_sampling_and_mcnemar(trained):
    c = trained.compare("tiny:width=4", "tiny:width=64")
    a, b = (readout.find_configs(Store(trained.path, readonly=True), f"tiny:width={w}")[0]
            for w in (4, 64))
    assert c.split_a == O.split_variance(a.outcomes.correct)
    pr = c.paired
    assert pr == O.paired(a.outcomes, b.outcomes)
    va = O.majority_vote(a.outcomes.predictions, 10) == a.outcomes.labels
    vb = O.majority_vote(b.outcomes.predictions, 10) == b.outcomes.labels
    assert (pr.mcnemar.only_a, pr.mcnemar.only_b) == (int((va & ~vb).sum()),
                                                      int((vb & ~va).sum()))
    assert pr.two_way.diff == pytest.approx(c.comparison.diff, abs=1e-9)  # same seeds, same set
    text = str(c)
    assert f"McNemar exact p {pr.mcnemar.p:.4g}" in text and pr.sentence() in text
    assert c.split_b.sentence() in text
    # not test accuracy: no per-example numbers, and no claim about them
    assert trained.compare("tiny:width=4", "tiny:width=64", "test_loss").paired is None


def test_diagnose_asks_seeds_or_test_set_once(trained, tmp_path, capsys):
    from sweeplab import cli

    # With the runs' predictions: the split's test (against the test set's own part).
    assert cli.main(["diagnose", "tiny:width=4", "--store", str(trained.path)]) == 0
    out = " ".join(capsys.readouterr().out.split())  # unwrapped
    c = readout.find_configs(Store(trained.path, readonly=True), "tiny:width=4")[0]
    assert f"noise: {c.variance_split.sentence()}" in out
    assert "binomial standard error" not in out
    # Without them (a store from before): the binomial noise floor's.
    db = tmp_path / "old.db"
    shutil.copy(OLD_STORE, db)
    assert cli.main(["diagnose", "q1", "--store", str(db)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "noise: the seed-to-seed standard deviation of final test accuracy" in out


def test_compare_and_show_on_a_store_from_before_say_what_they_lack(tmp_path, capsys):
    from sweeplab import cli

    db = tmp_path / "old.db"
    shutil.copy(OLD_STORE, db)
    assert cli.main(["show", "q1", "--store", str(db)]) == 0
    out = capsys.readouterr().out
    assert "per-example numbers: not available: 10 of 10 runs were stored without" in out
    assert "  test-set noise: the seed-to-seed standard deviation" in out  # the binomial's
    # A second config from before: q1's old runs (no predictions) written again, through
    # the store's own API, as a study "old2" of the same model at 6 epochs.
    import dataclasses

    from sweeplab import study as st
    from sweeplab.runner import prepare

    with Store(db) as store:
        old = store.results(readout.find_configs(store, "q1")[0].config_hash)
        (p,) = prepare(dataclasses.replace(st.with_overrides(st.BUILTIN["q1"], epochs=6),
                                           name="old2"), store)
        for r in old:
            assert r.predictions is None
            store.finish_run(dataclasses.replace(r, config_hash=p.config_hash), {})
    c = sweeplab.open(db).compare("q1:base", "old2:base")
    assert c.paired is None and c.outcomes_lack.count("10 of 10 runs") == 2
    assert "Per-example numbers (the test set's variance" in str(c)


# --------------------------------------------------------------------- downstream

def test_results_outcomes_array_and_long_frame(trained):
    c = readout.find_configs(Store(trained.path, readonly=True), "tiny:width=4")[0]
    arr = trained.outcomes("tiny:width=4")
    assert arr.shape == (3, SUBSET) and arr.dtype == np.int64
    assert np.array_equal(arr, np.stack([r.predictions for r in c.runs]))  # seeds ascending
    df = trained.outcomes_frame("tiny")
    assert list(df.columns) == ["study", "config", "config_hash", "width",
                                *readout.OUTCOME_COLUMNS]
    assert len(df) == 3 * 3 * SUBSET and df["width"].tolist()[:1] == [4]
    mine = df[df["config"] == "width=4"]
    assert mine["label"].tolist() == [str(int(y)) for y in np.tile(c.runs[0].test_labels, 3)]
    assert mine["predicted"].tolist() == [str(int(p)) for p in arr.reshape(-1)]
    assert (mine["correct"] == (mine["label"] == mine["predicted"])).all()
    runs = trained.runs("tiny")
    acc = df.groupby(["config", "seed"])["correct"].mean()
    for row in runs.to_dict("records"):
        assert acc[(row["config"], row["seed"])] == pytest.approx(row["test_acc"], abs=1e-6)
    pd = pytest.importorskip("pandas")
    pd.testing.assert_frame_equal(trained.outcomes_frame(config="tiny:width=4"),
                                  mine.reset_index(drop=True))


def test_outcomes_of_a_store_from_before_say_what_it_lacks(tmp_path):
    from sweeplab.serve import source

    db = tmp_path / "old.db"
    shutil.copy(OLD_STORE, db)
    res = sweeplab.open(db)
    with pytest.raises(ValueError, match="10 of 10 runs were stored without per-example"):
        res.outcomes("q1:base")
    assert len(res.outcomes_frame("q1")) == 0
    (c,) = source.outcomes(res, "q1")["configs"]
    assert c["lack"].startswith("10 of 10 runs were stored without per-example")


def test_serve_shows_the_ensemble_curve_and_hard_examples(trained, tmp_path):
    """`sweeplab serve` on 127.0.0.1 (its own process, a free port): /api/outcomes carries
    the view's numbers, curve and hard examples; the study page asks for them."""
    import json
    import socket
    import urllib.request

    pytest.importorskip("starlette")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(Path(sweeplab.__file__).parents[1])}
    log = tmp_path / "serve.log"  # not beside the shared store
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "sweeplab", "serve", "--store",
                                 str(trained.path), "--port", str(port)], env=env,
                                stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"{url}/api/outcomes?name=tiny", timeout=60) as r:
                    got = json.loads(r.read())
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
        with urllib.request.urlopen(f"{url}/static/app.js", timeout=60) as r:
            assert b"/api/outcomes?" in r.read()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    views = {c.label: c for c in readout.find_configs(Store(trained.path, readonly=True),
                                                      "tiny")}
    assert [c["config"] for c in got["configs"]] == ["width=4", "width=16", "width=64"]
    for c in got["configs"]:
        v = views[c["config"]]
        split, e, o = v.variance_split, v.ensemble, v.outcomes
        assert c["lack"] is None and c["seeds"] == 3 and c["n_test"] == SUBSET
        assert c["distribution_std"] == pytest.approx(100 * split.distribution_std)
        assert c["binomial_std"] == pytest.approx(100 * split.binomial_std)
        assert c["test_set_std"] == pytest.approx(100 * split.test_set_std)
        assert c["sentence"] == split.sentence()
        assert c["ensemble"]["sizes"] == [1, 2, 3]
        assert c["ensemble"]["accuracy"] == pytest.approx([100 * a for a in e.accuracy])
        assert c["churn"] == pytest.approx(100 * v.churn)
        never, split_idx = O.hard_examples(o, 12)
        assert [h["example"] for h in c["hard"]["never_right"]] == never
        assert [h["example"] for h in c["hard"]["split"]] == split_idx
        for h in c["hard"]["never_right"] + c["hard"]["split"]:
            assert h["label"] == str(int(o.labels[h["example"]]))
            assert sum(n for _, n in h["votes"]) == 3
            assert h["right"] == pytest.approx(o.difficulty[h["example"]])
        assert c["never_right"] == int((o.difficulty == 0).sum())
    best = max(got["configs"], key=lambda c: c["mean"])
    assert got["main"] == best["config_hash"]


def test_two_way_best_is_the_plain_bootstrap_over_seeds_and_examples():
    """P(best) equals the textbook bootstrap written as a loop (seeds drawn as shared blocks,
    then examples, both with replacement): two Monte Carlo estimates of one probability, so
    they may differ by their own noise only, sqrt(2 p (1 - p) / n) <= 0.0112 at n = 4,000
    (4 of those: a false failure about once in 15,000)."""
    rng = np.random.default_rng(3)
    a = rng.random((3, 400)) < 0.80
    b = rng.random((3, 400)) < 0.78
    n = 4000
    p = O.two_way_best([a, b], n_boot=n, rng_seed=0)
    loop = np.random.default_rng(1)
    wins = 0
    for _ in range(n):
        s, e = loop.integers(0, 3, 3), loop.integers(0, 400, 400)
        wins += a[s][:, e].mean() >= b[s][:, e].mean()  # ties to the earlier config
    se = math.sqrt(2 * p[0] * (1 - p[0]) / n)
    assert 0.2 < p[0] < 0.98 and abs(p[0] - wins / n) < 4 * se, (p[0], wins / n)
    assert p.sum() == pytest.approx(1.0)
