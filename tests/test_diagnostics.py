"""Diagnostics with known answers: constructed weights and curves, then real training.

Constructed models are the q1 MLP (784 -> Dense(32, relu) -> Dense(10, relu)) with weights
set so that the answer is certain: inputs are pixels in [0, 1], so a unit with non-negative
weights and bias +0.1 is > 0 on every image, and one with zero weights and bias -1 is 0 on
every image (dead). Real runs use small slices of MNIST from the ``data_dir`` fixture.
"""

from __future__ import annotations

import dataclasses
import math
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm
from test_fast_engine import WEIGHT_ATOL  # the exactness setting's derived tolerance

from sweeplab import cli, data, models, readout, spec
from sweeplab import store as store_mod
from sweeplab.analysis import diagnostics as D
from sweeplab.analysis import explain
from sweeplab.engines import common, get_engine, probe
from sweeplab.report import diagnostics as RD
from sweeplab.results import EpochRecord, RunResult, confusion_matrix
from sweeplab.runner import run_study
from sweeplab.store import Store
from sweeplab.study import load_study_file

Q1 = spec.preset("mlp-relu-mse")


@pytest.fixture(scope="module")
def mnist(data_dir) -> data.Dataset:
    return data.load("mnist", data_dir, subset=1000, allow_download=False)


def _epochs(test_loss, train_loss=None, test_acc=None) -> tuple[EpochRecord, ...]:
    n = len(test_loss)
    train_loss = train_loss or [None] + [1.0] * (n - 1)
    test_acc = test_acc or [0.1 * (i + 1) for i in range(n)]
    return tuple(EpochRecord(i, test_loss[i], test_acc[i], train_loss[i],
                             None if i == 0 else 0.5) for i in range(n))


def _run(confusion, epochs=None, seed=0, diagnostics=None) -> RunResult:
    conf = np.asarray(confusion)
    acc = float(np.trace(conf) / conf.sum())
    epochs = epochs or (EpochRecord(0, 2.3, 0.1), EpochRecord(1, 0.5, acc, 0.6, acc))
    return RunResult("h", seed, "test", epochs, conf, diagnostics=diagnostics or {})


def _forced(x: np.ndarray, dead_hidden: int, dead_out: tuple[int, ...]) -> list[np.ndarray]:
    """q1 weights with ``dead_hidden`` dead hidden units (the first ones) and the given dead
    output units; every other unit is > 0 on every image."""
    rng = np.random.default_rng(0)
    w1 = np.abs(rng.normal(0, 0.05, (x[0].size, 32))).astype(np.float32)
    b1 = np.full(32, 0.1, np.float32)
    w1[:, :dead_hidden], b1[:dead_hidden] = 0.0, -1.0
    w2 = np.abs(rng.normal(0, 0.3, (32, 10))).astype(np.float32)
    b2 = np.full(10, 0.1, np.float32)
    for j in dead_out:
        w2[:, j], b2[j] = 0.0, -1.0
    return [w1, b1, w2, b2]


# ------------------------------------------------------------------ pure functions


def test_dead_units_counts_units_zero_everywhere():
    act = np.zeros((5, 3, 3, 4))
    act[2, 1, 1, 0] = 0.3  # unit 0 fires once, at one position of one image
    act[:, :, :, 2] = 1.0
    assert D.dead_units(act) == (1, 3)
    assert D.dead_units(np.ones((4, 6))) == ()


def test_never_predicted_collapse_and_chance_from_the_confusion_matrix():
    healthy = np.diag([100] * 10)
    d = D.diagnose(_run(healthy))
    assert d.never_predicted == () and not d.collapsed and not d.near_chance and d.learning
    one = np.zeros((10, 10), int)
    one[:, 4] = 100  # every image predicted as 4: 10% accuracy
    d = D.diagnose(_run(one))
    assert d.never_predicted == (0, 1, 2, 3, 5, 6, 7, 8, 9)
    assert d.collapsed and d.top_class == 4 and d.near_chance and not d.learning
    # chance + 3.09 binomial SEs of a guesser on 1,000 images: 0.1 + 3.09 * sqrt(.09/1000)
    assert D.chance_ceiling(10, 1000) == pytest.approx(0.1 + 3.09 * math.sqrt(0.09 / 1000))


def test_runs_stored_before_diagnostics_say_not_recorded():
    d = D.diagnose(_run(np.diag([100] * 10)))  # no diagnostics record: an older store's run
    assert not d.recorded and d.hidden is None and d.dead_outputs is None
    assert d.never_predicted == ()  # still derived from the confusion matrix
    assert "liveness not recorded" in explain.run_line(d, data.DIGITS)


def test_divergence_is_reported_at_the_first_non_finite_epoch():
    assert D.diverged_epoch(_epochs([2.3, 1.0, 0.8, 0.7])) is None
    assert D.diverged_epoch(_epochs([2.3, 1.0, 0.8, math.nan, math.nan])) == 3
    assert D.diverged_epoch(_epochs([2.3, 1.0, math.inf])) == 2
    # a non-finite training loss with a finite test loss also counts
    assert D.diverged_epoch(_epochs([2.3, 1.0, 0.9], [None, 1.0, math.nan])) == 2


def test_diverged_run_is_stored_and_read_back_diverged(tmp_path):
    """SQLite has no NaN: the store writes it as inf, which still reads as diverged."""
    run = _run(np.diag([10] * 10),
               _epochs([2.3, 1.0, math.nan, math.nan], [None, 1.2, math.nan, math.nan]))
    with Store(tmp_path / "s.db") as store:
        store.save_study("s", {}, [("h", "{}", "base", {})])  # the run's config row
        store.finish_run(run, {})
        (back,) = store.results("h")
    assert back.epochs[2].test_loss == math.inf
    assert D.diagnose(back).diverged_epoch == 2


def test_best_epoch_and_overfitting_onset():
    # test loss lowest at epoch 2, then rises 20% while training loss keeps falling
    eps = _epochs([2.3, 0.5, 0.4, 0.45, 0.48], [None, 0.6, 0.4, 0.3, 0.2],
                  [0.1, 0.8, 0.9, 0.88, 0.87])
    assert D.best_epoch(eps) == (2, 0.9)
    assert D.overfit_onset(eps) == 3
    # a rise within 1% is a plateau, not over-fitting
    assert D.overfit_onset(_epochs([2.3, 0.5, 0.4, 0.403], [None, 0.6, 0.4, 0.3])) is None
    # test loss rising while training loss rises too is not over-fitting
    assert D.overfit_onset(_epochs([2.3, 0.5, 0.4, 0.5], [None, 0.6, 0.4, 0.5])) is None


# ------------------------------------------------------------- constructed weights


def test_forced_dead_output_unit_is_dead_and_its_class_never_predicted(mnist):
    x = mnist.x_test[:300]
    live = probe.probe_liveness(Q1, _forced(x, dead_hidden=5, dead_out=(3,)), x, 10)
    assert live.output_dead == (3,)
    assert [(h.layer, h.kind, h.units, h.dead) for h in live.hidden] == [(1, "dense", 32, 5)]
    assert live.output_active[3] == 0 and all(live.output_active[j] == 300 for j in range(10)
                                              if j != 3)
    conf = confusion_matrix(mnist.y_test[:300], live.predicted, 10)
    rec = {"probe_images": 300, "trained": live.record(10), "untrained": live.record(10)}
    d = D.diagnose(_run(conf, diagnostics=rec))
    assert d.dead_outputs == (3,) and 3 in d.never_predicted
    assert d.hidden_dead == 5 and d.hidden_units == 32 and d.output_active_share[3] == 0.0


def test_healthy_model_reports_no_dead_units(mnist):
    x = mnist.x_test[:300]
    live = probe.probe_liveness(Q1, _forced(x, dead_hidden=0, dead_out=()), x, 10)
    assert live.output_dead == () and live.hidden[0].dead == 0
    assert live.record(10)["dead_outputs"] == []


def test_dead_convolution_filters_are_counted(mnist):
    cfg = spec.Config(layers=(spec.Conv2D(4, 3, "valid", "relu"), spec.Flatten()),
                      output_activation="softmax")
    x = mnist.x_test[:50]
    k = np.full((3, 3, 1, 4), 0.1, np.float32)
    b = np.full(4, 0.1, np.float32)
    k[..., 1], b[1] = 0.0, -1.0  # filter 1: zero at every position of every image
    w_out = np.zeros((26 * 26 * 4, 10), np.float32)
    live = probe.probe_liveness(cfg, [k, b, w_out, np.zeros(10, np.float32)], x, 10)
    assert [(h.kind, h.units, h.dead) for h in live.hidden] == [("conv2d", 4, 1)]
    assert live.output_dead is None  # softmax is never exactly zero: not applicable


# --------------------------------------------------------------------- explain


def _silent_run(seed: int, silent: int, acc: float) -> RunResult:
    """A run on 1,000 images (100 per class) at accuracy ``acc`` that never predicts classes
    0..silent-1: the hits are spread over the other classes, every miss is predicted as 9
    (8 for class 9), so the first ``silent`` columns stay empty."""
    conf = np.zeros((10, 10), int)
    hits = np.array_split(np.arange(int(round(acc * 1000))), 10 - silent)
    for c in range(10):
        conf[c, c] = len(hits[c - silent]) if c >= silent else 0
        conf[c, 9 if c < 9 else 8] += 100 - conf[c, c]
    return _run(conf, seed=seed)


def test_cost_per_silent_class_has_the_constructed_slope():
    accs = {0: 0.95, 1: 0.85, 2: 0.75}  # exactly -10 points per silent class
    runs = [_silent_run(s, k, accs[k] + (0.01 if s % 2 else -0.01))
            for s, k in enumerate([0, 0, 1, 1, 2, 2])]
    e = explain.explain("base", runs)
    assert [d.silent for d in e.runs] == [0, 0, 1, 1, 2, 2]
    assert e.slope.slope == pytest.approx(-0.10, abs=1e-9)
    assert e.slope.supported and e.slope.ci_low < -0.10 < e.slope.ci_high
    text = explain.why_statement(e, data.DIGITS)
    assert "Each silent class costs 10.00 points" in text


def test_a_cost_the_data_do_not_support_is_not_stated_as_one():
    # silent 0, 0, 1, 1 at 90%, 70%, 90%, 70%: slope exactly 0, its interval includes 0
    runs = [_silent_run(s, k, a) for s, (k, a) in enumerate([(0, 0.9), (0, 0.7), (1, 0.9),
                                                              (1, 0.7)])]
    e = explain.explain("base", runs)
    assert e.slope.slope == pytest.approx(0.0, abs=1e-12) and not e.slope.supported
    text = explain.why_statement(e, data.DIGITS)
    assert "The data do not show that silent classes cost accuracy" in text
    assert "an interval that includes 0" in text and "Each silent class costs" not in text
    assert "of the seed-to-seed variance" not in text


def test_collapsed_and_learning_runs_are_two_groups_with_their_means():
    runs = [_silent_run(s, 0, a) for s, a in enumerate([0.3, 0.32, 0.34, 0.36])]
    one = np.zeros((10, 10), int)
    one[:, 6] = 100
    runs += [_run(one, seed=s) for s in (4, 5)]
    e = explain.explain("width=32", runs)
    assert e.not_learning.seeds == (4, 5) and e.not_learning.mean == pytest.approx(0.1)
    assert e.learning.seeds == (0, 1, 2, 3) and e.learning.mean == pytest.approx(0.33)
    assert e.learning.boot_low <= 0.33 <= e.learning.boot_high
    text = explain.groups_statement(e, data.DIGITS)
    assert "2 of 6 collapsed onto one class" in text and "10.00% in each of the 2 runs" in text
    assert "mean 33.00% over 4 runs" in text and "describes neither group" in text


def _config(label: str, collapsed: int) -> explain.ConfigExplanation:
    """10 runs, the first ``collapsed`` of them onto class 6, the others learning (30%)."""
    one = np.zeros((10, 10), int)
    one[:, 6] = 100
    runs = [_run(one, seed=s) for s in range(collapsed)]
    runs += [_silent_run(s, 0, 0.3) for s in range(collapsed, 10)]
    return explain.explain(label, runs)


def test_sweep_says_differs_only_where_fishers_test_does():
    # 10/10 vs 0/10 collapsed: Fisher p = 1.1e-5; 0/10 vs 1/10: p = 1
    text = explain.sweep_statement([_config("w=8", 10), _config("w=16", 0), _config("w=32", 1)])
    assert "w=8 10/10, w=16 0/10, w=32 1/10" in text
    assert "w=8 → w=16 (100% → 0%)" in text and "w=16 → w=32" not in text
    assert explain.sweep_statement([_config("a", 0), _config("b", 0)]) is None
    # a grid's sweep with no distinguishable step says so, and nothing of searches
    flat = explain.sweep_statement([_config("w=16", 0), _config("w=32", 1)])
    assert "No step between neighbouring configurations" in flat and "search" not in flat
    # a search's candidates are no sequence: only those with such runs, no steps tested
    text = explain.sweep_statement([_config("w=8", 10), _config("w=16", 0), _config("w=32", 1)],
                                   steps=False)
    assert text == ("Runs that did not learn (collapsed, at chance or diverged): 11 of 30, in 2 "
                    "of 3 configurations: w=8 10/10, w=32 1/10. A search's candidates are no "
                    "sequence: no step between them is tested.")


def test_cochran_armitage_trend_p_has_the_hand_computed_value():
    # hits 0, 5, 10 of 10 at scores 0, 1, 2: pooled share p = 0.5, T = sum s (x - n p) = 10,
    # Var T = p (1 - p) (sum n s^2 - (sum n s)^2 / N) = 0.25 (50 - 30) = 5, z = 10 / sqrt(5).
    assert explain.trend_p([0, 5, 10], [10] * 3) == pytest.approx(
        2 * norm.sf(10 / math.sqrt(5)), rel=1e-12)
    # q8's collapsed runs along width (8/10, 8/10, 4/10, 0/10, 0/10): p = 0.4,
    # T = 16 - 0.4 x 100 = -24, Var T = 0.24 (300 - 100^2 / 50) = 24, z = -sqrt(24).
    assert explain.trend_p([8, 8, 4, 0, 0], [10] * 5) == pytest.approx(
        2 * norm.sf(math.sqrt(24)), rel=1e-12)
    # An independent route: z^2 = N r^2, r the Pearson correlation of score and outcome over
    # the N runs one by one (the Cochran-Armitage statistic with the p (1 - p) variance).
    for hits, totals in (([2, 2, 2, 1, 0], [10] * 5), ([1, 3, 2, 4], [4, 6, 5, 7])):
        score = np.repeat(np.arange(len(hits)), totals)
        pairs = zip(hits, totals, strict=True)
        outcome = np.concatenate([[1] * h + [0] * (t - h) for h, t in pairs])
        r = np.corrcoef(score, outcome)[0, 1]
        assert explain.trend_p(hits, totals) == pytest.approx(
            2 * norm.sf(math.sqrt(len(score)) * abs(r)), rel=1e-9)
    # Two-sided: the reversed order gives the same p; no variation at all gives 1.
    assert explain.trend_p([10, 5, 0], [10] * 3) == pytest.approx(
        explain.trend_p([0, 5, 10], [10] * 3))
    assert explain.trend_p([0, 0, 0], [5] * 3) == 1.0
    assert explain.trend_p([5, 5, 5], [5] * 3) == 1.0


def test_sweep_statement_states_a_trend_only_along_an_ordered_axis():
    collapsed = {8: 8, 16: 8, 32: 4, 64: 0, 128: 0}  # q8's real counts, of 10 runs each
    q8 = [_config(f"width={w}", c) for w, c in collapsed.items()]
    text = explain.sweep_statement(q8, ordered=True)
    # z = -sqrt(24) above: p = 9.6e-7
    assert ("Along the axis the share trends from 80% to 0% (Cochran-Armitage trend test over "
            "the 5 configurations, p<0.001).") in text
    assert "Cochran" not in explain.sweep_statement(q8, ordered=False)  # categories: no order
    # 2/10, 3/10, 2/10: T = 7 - (7/30) x 30 = 0, so z = 0 and p = 1
    flat = explain.sweep_statement([_config(f"lr={i}", c) for i, c in enumerate((2, 3, 2))],
                                   ordered=True)
    assert "No trend along the axis is distinguishable (Cochran-Armitage, p=1)." in flat
    # two configurations are a step, not a trend
    assert "Cochran" not in explain.sweep_statement(q8[1:3], ordered=True)
    assert explain.ordered_axes({"axes": [{"name": "width", "scale": "log2"}]})
    assert explain.ordered_axes({"axes": [{"name": "rate", "scale": "linear"}]})
    assert not explain.ordered_axes({"axes": [{"name": "opt", "scale": "category"}]})
    assert not explain.ordered_axes({"axes": [{"scale": "log2"}, {"scale": "log2"}]})


def test_liveness_and_marked_curves_records_mark_the_affected_runs():
    one = np.zeros((10, 10), int)
    one[:, 6] = 100
    runs = [_silent_run(0, 0, 0.9), _silent_run(1, 2, 0.7), _run(one, seed=2)]
    diags = [D.diagnose(r) for r in runs]
    rec = RD.liveness(diags, data.DIGITS)
    assert rec.seeds == (0, 1, 2) and rec.measure == "predicted"  # no liveness recorded
    assert rec.silent[0].sum() == 0 and list(np.flatnonzero(rec.silent[1])) == [0, 1]
    assert list(np.flatnonzero(~rec.silent[2])) == [6] and not rec.dead.any()
    np.testing.assert_allclose(rec.values[2], np.eye(10)[6])  # every image predicted as 6
    # with the weights' record: the colour is the share of images each output unit fires on
    live = {"probe_images": 1000, "trained": {"dead_outputs": [0], "output_active":
                                              [0] + [1000] * 9, "never_predicted": [0, 1],
                                              "hidden": []}}
    rec = RD.liveness([D.diagnose(_run(runs[1].confusion, seed=1, diagnostics=live))],
                      data.DIGITS)
    assert rec.measure == "active" and list(np.flatnonzero(rec.dead[0])) == [0]
    assert rec.values[0, 0] == 0.0 and rec.values[0, 5] == 1.0
    view = readout.ConfigView(None, "abc", "abc", {}, {}, {}, None, tuple(runs), None)
    marked = RD.marked_curves(runs, diags, data.DIGITS, curve=view.curve("test_acc"))
    assert marked.tags == ("", "never predicts 0, 1", "collapsed onto 6")
    assert marked.learning == (True, True, False)
    assert RD.draw_liveness(RD.liveness(diags, data.DIGITS)).axes  # it draws


# ------------------------------------------------------------------ real training


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory) -> Path:
    """A store holding study "d": q1's model at SGD 0.5, seed 1, 2 epochs on 1,000 images."""
    tmp = tmp_path_factory.mktemp("trained")
    toml = tmp / "d.toml"
    toml.write_text('name = "d"\ndataset = "mnist"\nseeds = [1]\nepochs = 2\nsubset = 1000\n'
                    '[model]\npreset = "mlp-relu-mse"\n[model.optimizer]\nname = "sgd"\n'
                    'learning_rate = 0.5\n')
    with Store(tmp / "s.db") as store:
        summary = run_study(load_study_file(toml), store, data_dir, engine="fast", quiet=True)
        assert summary.trained == 1
    return tmp / "s.db"


def test_real_run_stores_diagnostics_that_match_its_predictions(data_dir, trained, capsys):
    with Store(trained, readonly=True) as store:
        (cfg_row,) = store.study_configs("d")
        (run,) = store.results(cfg_row.config_hash)
        store_cfg = store.config(cfg_row.config_hash)[1]
    rec = run.diagnostics
    assert rec["version"] == D.VERSION and rec["probe_images"] == 1000 and "error" not in rec
    # The probe's own forward pass predicts exactly what the engine's confusion matrix holds.
    assert rec["trained"]["never_predicted"] == list(D.never_predicted(run.confusion))
    d = D.diagnose(run)
    # Measured on this machine (TF 2.21 CPU): seed 1 at lr 0.5 ends with output 9 dead.
    assert d.dead_outputs == (9,) and 9 in d.never_predicted
    assert d.dead_outputs_untrained == ()  # it died while training
    # The untrained weights measured are the engine's own: same outputs on the first image.
    ds = data.load("mnist", data_dir, subset=1000, allow_download=False)
    cfg = spec.config_from_dict(store_cfg)
    model = models.build_model(cfg, ds.image_shape, 10)
    model.set_weights(common.initial_weights(cfg, 1, ds.image_shape, 10))
    np.testing.assert_allclose(np.asarray(model(ds.x_test[:1]))[0], run.probe_untrained,
                               atol=1e-6)  # float32 outputs of O(1): rounding only
    assert d.hidden[0].units == 32 and d.best_epoch in (1, 2)
    assert cli.main(["diagnose", "d", "--store", str(trained)]) == 0
    out = capsys.readouterr().out
    assert "seed   1:" in out and "dead outputs 9" in out and "why:" in out
    assert cli.main(["show", "d", "--store", str(trained)]) == 0
    assert "dead outputs 9" in capsys.readouterr().out
    assert cli.main(["diagnose", "nosuch", "--store", str(trained)]) == 2
    assert capsys.readouterr().err.startswith("sweeplab diagnose: error: No config 'nosuch'")


def _preactivations(weights, x: np.ndarray) -> np.ndarray:
    """q1's output layer before its ReLU, (images, 10), in float64."""
    w1, b1, w2, b2 = (np.asarray(w, np.float64) for w in weights)
    return np.maximum(x.reshape(len(x), -1) @ w1 + b1, 0) @ w2 + b2


def test_both_engines_give_the_same_diagnostics(data_dir):
    """In the exactness setting of tests/test_fast_engine.py (q1's model, SGD 0.1, 2,000 MNIST
    images, 3 shuffled epochs) the two CPU engines give the same weights, to its derived
    WEIGHT_ATOL, and then the same diagnostics. Seeds 2 and 8 end there with dead output units
    and seed 3 with none (measured on this machine), so both answers are compared."""
    ds = data.load("mnist", data_dir, subset=2000, allow_download=False)
    cfg = dataclasses.replace(Q1, epochs=3)
    seeds = [2, 3, 8]
    ref = list(get_engine("reference")(cfg, seeds, ds))
    fast = list(get_engine("fast")(cfg, seeds, ds))
    for a, b in zip(ref, fast, strict=True):
        assert a.seed == b.seed
        for wa, wb in zip(a.weights, b.weights, strict=True):
            np.testing.assert_allclose(wb, wa, rtol=0, atol=WEIGHT_ATOL)  # the same weights
        da, db = a.diagnostics, b.diagnostics
        assert da["untrained"] == db["untrained"]  # the same initial weights, bit for bit
        for key in ("dead_outputs", "never_predicted", "hidden"):
            assert da["trained"][key] == db["trained"][key], key
        ga, gb = D.diagnose(a), D.diagnose(b)
        for key in ("never_predicted", "collapsed", "top_class", "near_chance",
                    "diverged_epoch", "best_epoch", "overfit_onset"):
            assert getattr(ga, key) == getattr(gb, key), key
        # output_active counts the images on which a unit is > 0. Within WEIGHT_ATOL an image
        # can count differently only where the unit's input lies within the two models'
        # difference of 0 (plus 1e-5: float32 rounding of a 32-term sum of O(1) terms).
        za, zb = _preactivations(a.weights, ds.x_test), _preactivations(b.weights, ds.x_test)
        near = (np.abs(za) <= np.abs(za - zb).max() + 1e-5).sum(axis=0)
        diff = np.abs(np.subtract(da["trained"]["output_active"], db["trained"]["output_active"]))
        assert (diff <= near).all(), (diff, near)
    assert [r.diagnostics["trained"]["dead_outputs"] for r in ref] == [[1], [], [7, 9]]
    # seed 8's output unit 9 is dead from the start (its initial weights), 7 dies in training
    assert [r.diagnostics["untrained"]["dead_outputs"] for r in ref] == [[], [], [9]]


def test_store_from_before_diagnostics_shows_what_can_be_derived(trained, tmp_path, capsys):
    """A version-1 store (before diagnostics) opens read-only and is left as it was: silent
    classes come from its confusion matrices, dead units read "not recorded"; opened for
    writing, it is upgraded and keeps its runs."""
    with Store(trained, readonly=True) as store:
        (row,) = store.study_configs("d")
        (run,) = store.results(row.config_hash)
    silent = D.diagnose(run).never_predicted  # 9 among them (see test_real_run_...)
    names = ", ".join(map(str, silent))
    old = tmp_path / "v1.db"
    shutil.copy(trained, old)
    # Schemas 2 and after only appended columns (to ``runs`` and ``epochs``) and added
    # tables: dropping them gives a version-1 file.
    con = sqlite3.connect(old)
    for script in store_mod.MIGRATIONS.values():
        for table, col in re.findall(r"ALTER TABLE (\w+) ADD COLUMN (\w+)", script):
            con.execute(f"ALTER TABLE {table} DROP COLUMN {col}")
        for table in re.findall(r"CREATE TABLE (\w+)", script):
            con.execute(f"DROP TABLE {table}")
    con.execute("PRAGMA user_version=1")
    con.commit()
    v1 = sqlite3.connect(":memory:")
    store_mod._run_script(v1, store_mod._SCHEMA_V1)
    for table in ("runs", "epochs"):
        assert ([r[1] for r in con.execute(f"PRAGMA table_info({table})")]
                == [r[1] for r in v1.execute(f"PRAGMA table_info({table})")])
    con.close()
    before = old.read_bytes()
    assert cli.main(["ls", "--store", str(old)]) == 0
    assert cli.main(["diagnose", "d", "--store", str(old)]) == 0
    out = capsys.readouterr().out
    assert "seed   1: test" in out and f"silent {names}; liveness not recorded" in out
    assert "dead outputs" not in out and f"seed 1 never predicts {names}" in out
    assert cli.main(["show", "d", "--store", str(old)]) == 0
    assert f"silent {names}; liveness not recorded" in capsys.readouterr().out
    html = tmp_path / "r.html"
    assert cli.main(["report", "d", "--store", str(old), "--out", str(html)]) == 0
    text = html.read_text()
    assert "Dead units were not recorded for 1 of 1 runs" in text
    assert f"seed 1 never predicts {names}" in text
    assert old.read_bytes() == before  # read only: not upgraded, not touched
    with Store(old) as store:  # opened for writing: upgraded, the run kept
        (row,) = store.study_configs("d")
        (run,) = store.results(row.config_hash)
    assert run.diagnostics == {} and D.diagnose(run).never_predicted == silent
    con = sqlite3.connect(old)
    assert con.execute("PRAGMA user_version").fetchone()[0] == store_mod.SCHEMA_VERSION
    con.close()


def test_real_run_made_to_diverge_is_reported_at_epoch_1(data_dir, tmp_path, capsys):
    """SGD at learning rate 1,000 on squared error with a linear output: every step scales the
    output weights by about lr x |h|^2 (tanh hidden units, |h|^2 up to 32), so the loss passes
    float32's 3.4e38 within the 16 steps of epoch 1 and then turns NaN (inf - inf). Epoch 0 is
    the untrained model with a finite loss: the right answer is epoch 1."""
    toml = tmp_path / "div.toml"
    toml.write_text('name = "div"\ndataset = "mnist"\nseeds = [0]\nepochs = 2\nsubset = 500\n'
                    '[model]\npreset = "mlp-relu-mse"\noutput_activation = "linear"\n'
                    'layers = [{ type = "flatten" }, { type = "dense", units = 32, '
                    'activation = "tanh" }]\n'
                    '[model.optimizer]\nname = "sgd"\nlearning_rate = 1000.0\n')
    path = tmp_path / "s.db"
    with Store(path) as store:
        summary = run_study(load_study_file(toml), store, data_dir, engine="fast", quiet=True)
        assert summary.trained == 1  # stored, not lost as failed
        (row,) = store.study_configs("div")
        (run,) = store.results(row.config_hash)
    assert math.isfinite(run.epochs[0].test_loss)
    assert "error" not in run.diagnostics  # NaN weights are still probed
    d = D.diagnose(run)
    assert d.diverged_epoch == 1 and not d.learning and d.overfit_onset is None
    assert cli.main(["diagnose", "div", "--store", str(path)]) == 0
    out = capsys.readouterr().out
    assert "DIVERGED at epoch 1" in out
    assert "seed 0 diverged (non-finite loss) at epoch 1" in out
    assert "diverged (non-finite loss) in 1 of 1 runs (seed 0 at epoch 1)" in out


def test_report_answers_why_and_draws_the_output_units(trained, tmp_path):
    """The report of a real one-configuration study: the generated why / learn statements,
    the liveness plot of the output units and the per-run curves marked with the diagnosis."""
    with Store(trained, readonly=True) as store:
        (row,) = store.study_configs("d")
        (run,) = store.results(row.config_hash)
    d = D.diagnose(run)
    names = ", ".join(map(str, d.never_predicted))
    html = tmp_path / "r.html"
    assert cli.main(["report", "d", "--store", str(trained), "--out", str(html)]) == 0
    text = html.read_text()
    assert ("Why does each run behave differently? 1 of 1 runs end with silent classes, classes "
            f"they never predict on the test set: seed 1 never predicts {names}") in text
    assert "have a dead ReLU output unit, zero on every test image (seed 1: 9)" in text
    assert f"Do all runs learn the task? 1 of 1 runs learn only part of the task: seed 1 never "\
           f"predicts {names}" in text
    assert "Output units of d base, one row per run: colour: share of test images on which the "\
           "output unit is non-zero; × = a dead output unit" in text
    assert 'alt="Test accuracy per epoch of every run; solid' in text
    assert "dead output units in 1 of 1 runs (seed 1: unit 9)" in text


def test_jax_engine_runs_carry_diagnostics_too(data_dir, tmp_path):
    """Every engine's runs are measured (engines.get_engine wraps them all): the JAX engine,
    in its own process since the Keras backend is chosen once per process."""
    pytest.importorskip("jax")
    toml = tmp_path / "dj.toml"
    toml.write_text('name = "dj"\ndataset = "mnist"\nseeds = [1, 2]\nepochs = 1\n'
                    'subset = 500\n[model]\npreset = "mlp-relu-mse"\n')
    path = tmp_path / "s.db"
    proc = subprocess.run([sys.executable, "-m", "sweeplab", "run", str(toml), "--engine", "jax",
                           "--store", str(path), "--data-dir", data_dir, "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with Store(path, readonly=True) as store:
        (row,) = store.study_configs("dj")
        runs = store.results(row.config_hash)
    assert [r.seed for r in runs] == [1, 2] and {r.backend for r in runs} == {"jax"}
    for r in runs:
        rec = r.diagnostics
        assert rec["version"] == D.VERSION and rec["probe_images"] == 500 and "error" not in rec
        # the probe's forward pass predicts what the engine's confusion matrix holds
        assert rec["trained"]["never_predicted"] == list(D.never_predicted(r.confusion))
        assert [h["units"] for h in rec["trained"]["hidden"]] == [32]
        assert rec["trained"]["dead_outputs"] is not None  # ReLU outputs: measured
        assert D.diagnose(r).recorded
