"""The jax engine measures a validation split (issue 31) as the other engines do: its loss
and accuracy every epoch, its final predicted classes kept with the run, so outcomes on the
split, searches (which select on ``val_acc``) and the report work with ``--engine jax``.

The numbers are checked against the reference engine in this process, which is Keras' own
``model.fit`` on the JAX backend (the comparison tests_jax/test_jax_engine.py makes for the
test set, with the same tolerances and the same reasoning; see its docstring).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sweeplab
from sweeplab import data as D
from sweeplab import spec as S
from sweeplab import study as st
from sweeplab.engines import reference
from sweeplab.engines.jax import Run, train_group
from sweeplab.runner import load_data

EPS = 2.0 ** -23
ROOT = Path(__file__).resolve().parents[1]


def test_validation_every_epoch_equals_fit_on_jax(data_dir):
    """Same config, seed and batches (shuffle=False on both sides): per epoch, the jax
    engine's val_loss/val_acc equal the reference engine's (model.fit, model.evaluate on the
    split) within float32 rounding, and its kept validation classes score its val_acc."""
    cfg = dataclasses.replace(S.preset("mlp-softmax-ce"), epochs=2, validation=0.1)
    ds = D.hold_out(D.load("mnist", data_dir, 1000), 0.1)
    n_val = len(ds.y_val)
    assert n_val == 100
    seed = 4
    got = train_group([Run(cfg, seed)], ds, shuffle=False)[0]
    ref = reference.train(cfg, seed, ds, shuffle=False)
    # Tolerances as in test_jax_engine: the same float32 operations, reductions perhaps
    # ordered otherwise by XLA inside vmap/scan; each of the S steps so far adds at most a
    # few eps relative (8 eps allowed per step), so the losses agree within S * 8 * eps
    # relative. Accuracy is a count: weights that differ by rounding flip a prediction only
    # at a near-tie of two logits, so one example of the split may differ (1 / n_val; the
    # 1e-7 absorbs Keras' float32 accuracy against our count / n in float64).
    steps_per_epoch = -(-len(ds.x_train) // cfg.batch_size)
    assert [e.epoch for e in got.epochs] == [e.epoch for e in ref.epochs] == [0, 1, 2]
    for g, r in zip(got.epochs, ref.epochs, strict=True):
        rel = max(1, g.epoch * steps_per_epoch) * 8 * EPS
        assert g.val_loss == pytest.approx(r.val_loss, rel=rel)
        assert abs(g.val_acc - r.val_acc) <= 1 / n_val + 1e-7
        # the test set is measured beside it, as before
        assert g.test_loss == pytest.approx(r.test_loss, rel=rel)
    assert got.epochs[-1].val_acc > 0.5  # it learned: ten classes, chance is 0.1
    # The final predicted class per validation example, in the split's order: the same
    # classes as fit's model predicts, within the one near-tie allowed above, and they score
    # the recorded final val_acc exactly (an integer count over n_val in both).
    assert got.val_predictions.shape == (n_val,)
    np.testing.assert_array_equal(got.val_labels, ds.y_val)
    assert np.sum(got.val_predictions != ref.val_predictions) <= 1
    assert float(np.mean(got.val_predictions == ds.y_val)) == got.epochs[-1].val_acc
    # without a split: no validation numbers and nothing kept, as the other engines
    plain = train_group([Run(dataclasses.replace(cfg, validation=None, epochs=1), seed)],
                        D.load("mnist", data_dir, 300))[0]
    assert all(e.val_acc is None and e.val_loss is None for e in plain.epochs)
    assert plain.val_predictions is None and plain.val_labels is None


def test_stacked_runs_keep_their_own_validation_predictions(tmp_path, data_dir):
    """Through the library and the store: two seeds trained in one program, each with its
    own val_acc per epoch and its own kept classes (length = the split's), read back by
    Results.outcomes(split="validation") and scoring the stored final val_acc exactly."""
    study = st.Study.build("jv", model="mlp-softmax-ce", dataset="mnist", epochs=2,
                           subset=300, seeds=2, validation=0.1)
    res = sweeplab.run(study, store=tmp_path / "s.db", data_dir=data_dir, engine="jax",
                       progress=False)
    data = load_data(study, data_dir)[1]
    n_val = len(data.y_val)
    assert n_val == 30
    ep = res.epochs("jv")
    assert list(ep["epoch"]) == [0, 1, 2, 0, 1, 2]
    assert ep["val_acc"].notna().all() and (ep["val_loss"] > 0).all()
    config = res.runs("jv").config_hash[0]
    assert set(res.runs("jv").engine) == {"jax"}
    val = res.outcomes(config, split="validation")
    assert val.shape == (2, n_val)
    final = ep[ep["epoch"] == 2].sort_values("seed")["val_acc"].to_list()
    assert [float(np.mean(v == data.y_val)) for v in val] == final  # exactly
    (c,) = res._select("jv", None)
    np.testing.assert_array_equal(c.val_outcomes.labels, data.y_val)
    assert res.outcomes(config).shape == (2, 300)  # the test set's, as before


SEARCH = """
name = "js"
dataset = "mnist"
epochs = 1
subset = 300
[model]
preset = "mlp-softmax-ce"
[search]
budget = 8
first_test = 2
max_seeds = 2
pool = 2
finalists = 1
fresh_seeds = 2
seed = 3
[[search.params]]
name = "lr"
path = "optimizer.learning_rate"
float = [1e-3, 0.5]
log = true
"""
# The CLI in a fresh process, which also says whether TensorFlow was ever imported.
CLI = ("import sys; from sweeplab.cli import main; rc = main(sys.argv[1:]); "
       "print('tensorflow imported:', 'tensorflow' in sys.modules); sys.exit(rc)")


def test_search_with_engine_jax_runs_end_to_end(tmp_path, data_dir):
    """A [search] study (validation 0.1 by default, racing on val_acc) with --engine jax:
    the budget spent, the sentence given, every run trained by jax with its validation
    numbers and predictions, the report written; TensorFlow never imported."""
    pytest.importorskip("optuna")
    path, store = tmp_path / "js.toml", tmp_path / "s.db"
    path.write_text(SEARCH)
    env = dict(os.environ)
    env.pop("KERAS_BACKEND", None)
    r = subprocess.run([sys.executable, "-c", CLI, "run", str(path), "--engine", "jax",
                        "--store", str(store), "--data-dir", data_dir, "--quiet"],
                       capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "tensorflow imported: False" in r.stdout
    assert "is best with P=" in r.stdout and "2 fresh seeds" in r.stdout
    res = sweeplab.open(store)
    runs = res.runs("js")
    assert f"{len(runs)} of the budget's 8 runs used" in r.stdout
    assert 8 - 2 - 1 <= len(runs) <= 8 and set(runs["engine"]) == {"jax"}
    assert runs["val_acc"].notna().all()
    # 30 validation examples (10% of 300, stratified): accuracies are multiples of 1/30
    k = runs["val_acc"].to_numpy() * 30
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)
    df = res.search("js")
    assert (df["status"] == "best").sum() == 1
    for row in df.itertuples():  # the race compared the candidates' val_acc
        race = runs[(runs["config_hash"] == row.config_hash) & (runs["seed"] < 2)]
        assert row.n == len(race) and row.mean == pytest.approx(race["val_acc"].mean())
    best = df.loc[df["status"] == "best", "config_hash"].iloc[0]
    assert res.outcomes(best, split="validation").shape[1] == 30
    html = res.report(tmp_path / "r.html", studies=["js"])
    assert "is best with P=" in Path(html).read_text()
