"""Diagnostics with known answers: constructed weights and curves, then real training.

Constructed models are the q1 MLP (784 -> Dense(32, relu) -> Dense(10, relu)) with weights
set so that the answer is certain: inputs are pixels in [0, 1], so a unit with non-negative
weights and bias +0.1 is > 0 on every image, and one with zero weights and bias -1 is 0 on
every image (dead). Real runs use small slices of MNIST from the ``data_dir`` fixture.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from sweeplab import cli, data, explain, models, spec
from sweeplab import diagnostics as D
from sweeplab.engines import get_engine
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
    live = D.probe_liveness(Q1, _forced(x, dead_hidden=5, dead_out=(3,)), x, 10)
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
    live = D.probe_liveness(Q1, _forced(x, dead_hidden=0, dead_out=()), x, 10)
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
    live = D.probe_liveness(cfg, [k, b, w_out, np.zeros(10, np.float32)], x, 10)
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


def test_sweep_says_differs_only_where_fishers_test_does():
    one = np.zeros((10, 10), int)
    one[:, 6] = 100

    def config(label: str, collapsed: int) -> explain.ConfigExplanation:
        runs = [_run(one, seed=s) for s in range(collapsed)]
        runs += [_silent_run(s, 0, 0.3) for s in range(collapsed, 10)]
        return explain.explain(label, runs)

    # 10/10 vs 0/10 collapsed: Fisher p = 1.1e-5; 0/10 vs 1/10: p = 1
    text = explain.sweep_statement([config("w=8", 10), config("w=16", 0), config("w=32", 1)])
    assert "w=8 10/10, w=16 0/10, w=32 1/10" in text
    assert "w=8 → w=16 (100% → 0%)" in text and "w=16 → w=32" not in text
    assert explain.sweep_statement([config("a", 0), config("b", 0)]) is None


# ------------------------------------------------------------------ real training


def test_real_run_stores_diagnostics_that_match_its_predictions(data_dir, tmp_path, capsys):
    toml = tmp_path / "d.toml"
    toml.write_text('name = "d"\ndataset = "mnist"\nseeds = [1]\nepochs = 2\nsubset = 1000\n'
                    '[model]\npreset = "mlp-relu-mse"\n[model.optimizer]\nname = "sgd"\n'
                    'learning_rate = 0.5\n')
    with Store(tmp_path / "s.db") as store:
        summary = run_study(load_study_file(toml), store, data_dir, engine="fast", quiet=True)
        assert summary.trained == 1
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
    model.set_weights(D.initial_weights(cfg, 1, ds.image_shape, 10))
    np.testing.assert_allclose(np.asarray(model(ds.x_test[:1]))[0], run.probe_untrained,
                               atol=1e-6)  # float32 outputs of O(1): rounding only
    assert d.hidden[0].units == 32 and d.best_epoch in (1, 2)
    assert cli.main(["diagnose", "d", "--store", str(tmp_path / "s.db")]) == 0
    out = capsys.readouterr().out
    assert "seed   1:" in out and "dead outputs 9" in out and "why:" in out
    assert cli.main(["show", "d", "--store", str(tmp_path / "s.db")]) == 0
    assert "dead outputs 9" in capsys.readouterr().out
    assert cli.main(["diagnose", "nosuch", "--store", str(tmp_path / "s.db")]) == 2
    assert capsys.readouterr().err.startswith("sweeplab diagnose: error: No config 'nosuch'")


def test_both_engines_give_the_same_diagnostics(mnist):
    """Same seed, same weights (the fast engine reproduces fit's order, see
    tests/test_fast_engine.py) -> the same dead units and silent classes."""
    cfg = dataclasses.replace(Q1, epochs=2, subset=1000, optimizer=spec.Optimizer("sgd", 0.5))
    (ref,) = get_engine("reference")(cfg, [1], mnist)
    (fast,) = get_engine("fast")(cfg, [1], mnist)
    a, b = ref.diagnostics, fast.diagnostics
    for state in ("untrained", "trained"):
        assert a[state]["dead_outputs"] == b[state]["dead_outputs"]
        assert a[state]["never_predicted"] == b[state]["never_predicted"]
        assert a[state]["hidden"] == b[state]["hidden"]
        # Weights agree to ~2e-5, so an output that sits within rounding of 0 on an image
        # can flip: allow the 2 images the fast engine's tests allow for argmax ties.
        diff = np.abs(np.subtract(a[state]["output_active"], b[state]["output_active"]))
        assert diff.sum() <= 2
    assert a["trained"]["dead_outputs"] == [9]
