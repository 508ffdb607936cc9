"""A user's functional model (residual Add, GlobalAveragePooling2D) on the jax engine: seeds
stacked under jax.vmap, equal to Keras' own ``fit`` on JAX run by run, and a swept builder
param through the API and through a study file (this process's Keras is on JAX)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import sweeplab
from sweeplab import models
from sweeplab import study as st
from sweeplab.backend import seed_everything
from sweeplab.engines.jax import Run, train_group

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))
import own_builders as ob  # noqa: E402 - the builders tests/ uses, shared

EPS = 2.0 ** -23  # float32 rounding, as in test_jax_engine.py


@pytest.fixture(scope="module")
def stripes():
    return sweeplab.Arrays(*ob.stripes(), class_names=["top", "middle", "bottom"],
                           name="stripes")


def _study(arrays, name="own"):
    return sweeplab.Study.build(
        name, model=sweeplab.KerasModel(ob.resnet, params={"width": 2}), dataset=arrays,
        seeds=3, epochs=1, batch_size=30, optimizer={"name": "adam", "learning_rate": 0.01},
        axes=[{"name": "width", "paths": "model.params.width", "values": [2, 4]}])


def test_stacked_seeds_equal_keras_fit_on_jax(stripes):
    """Three seeds in one vmapped program, each equal to its own ``model.fit`` (same order:
    shuffle off). Tolerance as test_jax_engine.py derives it: S steps of float32 reductions
    XLA may order differently, at most S * 8 eps relative."""
    cfg = st.expand(_study(stripes))[0].config
    ds = stripes.dataset
    got = train_group([Run(cfg, s) for s in (0, 1, 2)], ds, shuffle=False)
    steps = -(-len(ds.x_train) // cfg.batch_size)
    rel = steps * 8 * EPS
    for seed, run in zip((0, 1, 2), got, strict=True):
        seed_everything(seed)
        model = models.compile_model(models.build_model(cfg, ds.image_shape, 3), cfg)
        hist = model.fit(ds.x_train, ds.y_train, batch_size=cfg.batch_size, epochs=1,
                         shuffle=False, verbose=0,
                         validation_data=(ds.x_test, ds.y_test)).history
        assert run.epochs[1].train_loss == pytest.approx(hist["loss"][0], rel=rel)
        assert run.epochs[1].test_loss == pytest.approx(hist["val_loss"][0], rel=rel)
        for w_got, w_fit in zip(run.weights, model.get_weights(), strict=True):
            np.testing.assert_allclose(w_got, w_fit, rtol=0,
                                       atol=rel * max(1.0, float(np.abs(w_fit).max())))
    assert not np.array_equal(got[0].weights[0], got[1].weights[0])  # seeds differ


def test_swept_param_through_the_api_and_a_study_file(tmp_path, stripes):
    db = tmp_path / "j.db"
    res = sweeplab.run(_study(stripes), store=db, engine="auto", progress=False)
    assert (res.last.trained, res.last.failed) == (6, [])
    runs = res.runs("own")
    assert set(runs["engine"]) == {"jax"}  # auto on a JAX process: the jax engine
    assert sorted(runs["config"].unique()) == ["width=2", "width=4"]
    again = sweeplab.run(_study(stripes), store=db, engine="jax", progress=False)
    assert (again.last.trained, again.last.skipped) == (0, 6)
    # the same through a study file on disk: a builder file and an .npz beside it
    shutil.copy(TESTS / "own_builders.py", tmp_path / "own_builders.py")
    x_tr, y_tr, x_te, y_te = ob.stripes()
    np.savez(tmp_path / "stripes.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    (tmp_path / "own_file.toml").write_text('''
dataset = { path = "stripes.npz" }
seeds = 3
epochs = 1
[model]
builder = "own_builders.py:resnet"
batch_size = 30
params = { width = 2 }
[[axes]]
name = "width"
paths = ["model.params.width"]
values = [2, 4]
''')
    res = sweeplab.run(tmp_path / "own_file.toml", store=db, engine="jax", progress=False)
    assert (res.last.trained, res.last.failed) == (6, [])
    final = res.final("own_file", metrics=["test_acc"])
    assert list(final["n"]) == [3, 3]
