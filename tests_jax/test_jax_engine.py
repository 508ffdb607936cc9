"""The jax engine against Keras' own ``model.fit`` on the JAX backend, in this process.

Same backend, same initial weights (``seed_everything`` + ``models.build_model``), the same
batches (``shuffle=False`` on both sides), the same dropout seed-generator state: the two
compute the same float32 operations, so they may differ only where XLA orders a reduction
differently inside ``vmap``/``scan``.

Tolerances, derived: float32 rounds each operation to a relative error of at most
eps = 2**-23 (~1.2e-7). A reordered reduction changes a step's result by a few eps times
its magnitude, and one epoch of S steps can accumulate at most S such differences, so
weights (|w| <= 1-ish, Keras' initialisers and small updates) agree within
S * 8 * eps * max(1, max|w|), losses within the same relative bound. Accuracy is a count:
a rounding difference flips a prediction only at an exact tie, so we allow one sample.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sweeplab import backend, models
from sweeplab import data as D
from sweeplab import spec as S
from sweeplab.backend import BackendError, seed_everything
from sweeplab.engines import get_engine, resolve
from sweeplab.engines.jax import Run, stack_key, train_group

EPS = 2.0 ** -23
ROOT = Path(__file__).resolve().parents[1]
# What this machine trains on, so the expectations hold on a CPU and on a GPU alike: the
# device kind the store records ("cpu:", "gpu:") and what `auto` resolves to there.
KIND = backend.device().split(":")[0] + ":"
AUTO = "fast" if KIND == "cpu:" else "jax"

CNN_BN_DROPOUT = S.config_from_dict({
    "dataset": "mnist", "epochs": 1, "batch_size": 32,
    "layers": [{"type": "conv2d", "filters": 8}, {"type": "batchnorm"}, {"type": "maxpool"},
               {"type": "flatten"}, {"type": "dropout", "rate": 0.3},
               {"type": "dense", "units": 16}],
})


@pytest.fixture(scope="module")
def mnist_1000(data_dir):
    return D.load("mnist", data_dir, 1000)


@pytest.fixture(scope="module")
def mnist_500(data_dir):
    return D.load("mnist", data_dir, 500)


def _fit(cfg: S.Config, seed: int, ds: D.Dataset):
    """Keras' own path on JAX: seed, build, compile, evaluate, fit one epoch in order."""
    seed_everything(seed)
    model = models.compile_model(models.build_model(cfg, ds.image_shape, ds.num_classes), cfg)
    loss0, acc0 = model.evaluate(ds.x_test, ds.y_test, batch_size=1024, verbose=0)
    hist = model.fit(ds.x_train, ds.y_train, batch_size=cfg.batch_size, epochs=1,
                     shuffle=False, verbose=0, validation_data=(ds.x_test, ds.y_test)).history
    out = model.predict(ds.x_test[:1], verbose=0)[0]
    return (loss0, acc0), hist, model.get_weights(), out


@pytest.mark.parametrize("which", ["mlp-relu-mse", "cnn-bn-dropout"])
def test_one_epoch_matches_keras_fit_on_jax(which, mnist_1000, mnist_500):
    cfg = (dataclasses.replace(S.preset("mlp-relu-mse"), epochs=1) if which == "mlp-relu-mse"
           else CNN_BN_DROPOUT)
    ds = mnist_1000 if which == "mlp-relu-mse" else mnist_500
    seed = 3
    got = train_group([Run(cfg, seed)], ds, shuffle=False)[0]
    (loss0, acc0), hist, weights, out = _fit(cfg, seed, ds)

    steps = -(-len(ds.x_train) // cfg.batch_size)  # the last partial batch is a step too
    rel = steps * 8 * EPS
    n_test, n_train = len(ds.x_test), len(ds.x_train)
    e0, e1 = got.epochs
    assert e0.test_loss == pytest.approx(loss0, rel=rel)
    assert abs(e0.test_acc - acc0) <= 1 / n_test + 1e-7
    assert e1.train_loss == pytest.approx(hist["loss"][0], rel=rel)
    assert abs(e1.train_acc - hist["sparse_categorical_accuracy"][0]) <= 1 / n_train + 1e-7
    assert e1.test_loss == pytest.approx(hist["val_loss"][0], rel=rel)
    assert abs(e1.test_acc - hist["val_sparse_categorical_accuracy"][0]) <= 1 / n_test + 1e-7
    assert len(got.weights) == len(weights)
    for w_got, w_fit in zip(got.weights, weights, strict=True):
        assert w_got.shape == w_fit.shape
        np.testing.assert_allclose(w_got, w_fit, rtol=0,
                                   atol=rel * max(1.0, float(np.abs(w_fit).max())))
    np.testing.assert_allclose(got.probe_trained, out, rtol=0, atol=rel)
    # the record is complete: confusion over the whole test set, engine, backend, device
    assert got.confusion.sum() == n_test
    assert np.trace(got.confusion) == round(e1.test_acc * n_test)
    assert (got.engine, got.backend) == ("jax", "jax") and got.device.startswith(KIND)
    assert e1.train_acc > e0.test_acc - 0.05 and e1.test_acc > 0.2  # it learned something


def test_same_seed_same_numbers_with_dropout_and_shuffling(mnist_500):
    a = train_group([Run(CNN_BN_DROPOUT, 5)], mnist_500)[0]
    b = train_group([Run(CNN_BN_DROPOUT, 5)], mnist_500)[0]
    c = train_group([Run(CNN_BN_DROPOUT, 6)], mnist_500)[0]
    def numbers(r):  # every measured number but the wall time
        return [dataclasses.replace(e, seconds=0.0) for e in r.epochs]

    assert numbers(a) == numbers(b) and np.array_equal(a.confusion, b.confusion)
    for wa, wb in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert a.probe_trained == b.probe_trained
    assert not np.array_equal(a.weights[0], c.weights[0])  # another seed, another run


def test_dropout_masks_differ_per_run_and_are_off_at_test_time(mnist_500):
    """Two seeds stacked in one program keep their own dropout stream: each equals its
    single-run self (above: the single run equals fit, whose dropout is Keras' own)."""
    both = train_group([Run(CNN_BN_DROPOUT, 1), Run(CNN_BN_DROPOUT, 2)], mnist_500,
                         shuffle=False)
    alone = [train_group([Run(CNN_BN_DROPOUT, s)], mnist_500, shuffle=False)[0]
             for s in (1, 2)]
    steps = -(-len(mnist_500.x_train) // 32)
    for st, al in zip(both, alone, strict=True):
        for w1, w2 in zip(st.weights, al.weights, strict=True):
            np.testing.assert_allclose(w1, w2, rtol=0, atol=steps * 8 * EPS)
    # evaluation is deterministic (no dropout at test time): epoch 0 equals a fresh model's
    seed_everything(1)
    m = models.compile_model(models.build_model(CNN_BN_DROPOUT, mnist_500.image_shape, 10),
                             CNN_BN_DROPOUT)
    np.testing.assert_allclose(both[0].probe_untrained,
                               np.asarray(m(mnist_500.x_test[:1], training=False))[0],
                               rtol=0, atol=8 * EPS)


def test_stacked_learning_rates_equal_single_runs(mnist_1000):
    """q2 and q3 differ only in the learning rate: one program trains both, and each run
    gets the numbers it gets alone (tolerance as above, two epochs of steps)."""
    base = dataclasses.replace(S.preset("mlp-relu-mse"), epochs=2)
    cfgs = [dataclasses.replace(base, optimizer=dataclasses.replace(base.optimizer,
                                                                   learning_rate=lr))
            for lr in (0.1, 0.01)]
    assert stack_key(cfgs[0]) == stack_key(cfgs[1])
    runs = [Run(c, s) for c in cfgs for s in (0, 1)]
    stacked = train_group(runs, mnist_1000)
    steps = 2 * -(-len(mnist_1000.x_train) // base.batch_size)
    for m, st in zip(runs, stacked, strict=True):
        alone = train_group([m], mnist_1000)[0]
        assert st.config_hash == S.config_hash(m.cfg) and st.seed == m.seed
        for w1, w2 in zip(st.weights, alone.weights, strict=True):
            np.testing.assert_allclose(w1, w2, rtol=0, atol=steps * 8 * EPS)
        for e1, e2 in zip(st.epochs[1:], alone.epochs[1:], strict=True):
            assert e1.train_loss == pytest.approx(e2.train_loss, rel=steps * 8 * EPS)
            assert abs(e1.test_acc - e2.test_acc) <= 1 / len(mnist_1000.x_test) + 1e-7
    # the two learning rates really trained differently
    assert not np.allclose(stacked[0].weights[0], stacked[2].weights[0])
    # a shape-changing field is not stackable
    wider = dataclasses.replace(base, layers=(S.Flatten(), S.Dense(64, "relu")))
    with pytest.raises(ValueError, match="learning_rate"):
        train_group([Run(base, 0), Run(wider, 0)], mnist_1000)


def test_runs_mapped_in_turn_equal_runs_vmapped(mnist_500, monkeypatch):
    """The two ways of mapping a step over runs (engines.jax.runs_mapping: vmap for
    dense models, lax.map for convolutions) give the same numbers, up to float32 rounding
    of differently batched kernels (tolerance as above, one epoch of steps), and a state
    that was donated to the compiled epoch is not read again (no "deleted buffer" error)."""
    import sweeplab.engines.jax as jx

    cfg = dataclasses.replace(CNN_BN_DROPOUT, epochs=1)
    assert jx.runs_mapping(cfg) == "map"
    assert jx.runs_mapping(S.preset("mlp-relu-mse")) == "vmap"
    runs = [Run(cfg, 3), Run(cfg, 4)]
    mapped = train_group(runs, mnist_500)
    monkeypatch.setenv("SWEEPLAB_JAX_MAP", "vmap")
    vmapped = train_group(runs, mnist_500)
    steps = -(-len(mnist_500.x_train) // cfg.batch_size)
    for a, b in zip(mapped, vmapped, strict=True):
        for w1, w2 in zip(a.weights, b.weights, strict=True):
            np.testing.assert_allclose(w1, w2, rtol=0, atol=steps * 8 * EPS)
        assert a.epochs[1].train_loss == pytest.approx(b.epochs[1].train_loss,
                                                       rel=steps * 8 * EPS)
    assert not np.allclose(mapped[0].weights[0], mapped[1].weights[0])  # two seeds


def test_engine_registry_and_one_backend_per_process():
    assert resolve("auto") == "jax"  # this process already runs Keras on JAX
    assert get_engine("jax", parallel=2).group_size(CNN_BN_DROPOUT, None, 5) == 2
    with pytest.raises(BackendError, match="one backend per process"):
        get_engine("fast")


# The CLI in a fresh process, which also says whether TensorFlow was ever imported.
CLI = ("import sys; from sweeplab.cli import main; rc = main(sys.argv[1:]); "
       "print('tensorflow imported:', 'tensorflow' in sys.modules); sys.exit(rc)")


def _sweeplab(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("KERAS_BACKEND", None)
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True,
                          text=True, timeout=300, env=env, cwd=ROOT)


def test_cli_run_records_engine_backend_device(tmp_path, data_dir):
    store = str(tmp_path / "s.db")
    r = _sweeplab("run", "q5", "--engine", "jax", "--seeds", "2", "--epochs", "1",
                  "--subset", "300", "--store", store, "--data-dir", data_dir, "--quiet")
    assert r.returncode == 0, r.stderr
    # the jax path (engine, store, data, CLI) works on a machine without TensorFlow
    assert "tensorflow imported: False" in r.stdout
    with sqlite3.connect(store) as con:
        rows = con.execute("SELECT seed, status, engine, backend, device, versions FROM runs "
                           "ORDER BY seed").fetchall()
    assert [row[:4] for row in rows] == [(0, "done", "jax", "jax"), (1, "done", "jax", "jax")]
    assert all(row[4].startswith(KIND) for row in rows)
    assert all('"jax"' in row[5] and "tensorflow" not in row[5] for row in rows)
    ls = _sweeplab("ls", "--store", store)
    assert ls.returncode == 0 and f"2/2 done  [jax (jax, {KIND}" in ls.stdout, ls.stdout
    show = _sweeplab("show", "q5", "--store", store)
    assert show.returncode == 0 and f"trained by jax (jax, {KIND}" in show.stdout, show.stdout
    html = tmp_path / "r.html"
    rep = _sweeplab("report", "q5", "--store", store, "--out", str(html))
    assert rep.returncode == 0, rep.stderr
    assert f"engine(s) recorded: jax (jax, {KIND}" in html.read_text()
    # auto: the fast engine (TensorFlow) without an accelerator, jax on a GPU
    auto = subprocess.run(
        [sys.executable, "-c", "from sweeplab.engines import resolve; print(resolve('auto'))"],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert auto.stdout.strip() == AUTO, auto.stderr


def test_chunked_padded_evaluation_equals_one_chunk(mnist_1000, monkeypatch):
    """1,000 test images in chunks of at most 450 -> 3 x 334 with 2 padded images, which
    must count nowhere; sums over chunks differ from one sum only by float32 rounding
    (a few eps relative)."""
    import sweeplab.engines.jax as jx

    cfg = dataclasses.replace(S.preset("mlp-relu-mse"), epochs=1)
    one = train_group([Run(cfg, 0)], mnist_1000, shuffle=False)[0]
    monkeypatch.setattr(jx, "EVAL_CHUNK_MAX", 450)
    assert jx._eval_chunk(cfg, mnist_1000.image_shape, 1, 1000) == 334
    three = train_group([Run(cfg, 0)], mnist_1000, shuffle=False)[0]
    np.testing.assert_array_equal(one.confusion, three.confusion)
    assert three.confusion.sum() == 1000
    for a, b in zip(one.epochs, three.epochs, strict=True):
        assert a.test_loss == pytest.approx(b.test_loss, rel=8 * EPS * 3)
        assert a.test_acc == b.test_acc
    assert one.probe_trained == three.probe_trained


def test_without_jax_the_engine_is_refused_in_one_line(tmp_path, data_dir):
    """A machine without JAX (its import blocked in a fresh process): --engine jax names
    the extra; auto falls back to fast; no run is started."""
    block = "import sys; sys.modules['jax'] = None; "
    store = tmp_path / "s.db"
    r = subprocess.run(
        [sys.executable, "-c", block + CLI, "run", "q1", "--engine", "jax", "--seeds", "1",
         "--epochs", "1", "--subset", "100", "--store", str(store), "--data-dir", data_dir],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "sweeplab run: error: the jax engine needs JAX, which is not installed: "
        "pip install 'sweeplab[jax]' (or 'sweeplab[gpu]' for NVIDIA GPUs)"]
    if store.exists():  # the CLI may open the store first; no run was started in it
        with sqlite3.connect(store) as con:
            assert con.execute("SELECT COUNT(*) FROM runs").fetchone() == (0,)
    auto = subprocess.run(
        [sys.executable, "-c", block + "from sweeplab.engines import resolve; "
         "print(resolve('auto'))"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert auto.stdout.strip() == "fast", auto.stderr


def test_shuffled_epochs_follow_run_order_like_fit(mnist_500):
    """With shuffling, a run visits run_order(seed) in every epoch (as fit on TensorFlow
    repeats its order): two shuffled epochs equal fit on the data pre-permuted that way
    with shuffle=False (tolerance as above, two epochs of steps)."""
    from sweeplab.engines.jax import run_order

    cfg = dataclasses.replace(CNN_BN_DROPOUT, epochs=2)
    seed = 7
    got = train_group([Run(cfg, seed)], mnist_500)[0]
    order = np.asarray(run_order(seed, len(mnist_500.x_train)))
    assert sorted(order) == list(range(len(mnist_500.x_train)))
    assert not np.array_equal(order, np.asarray(run_order(seed + 1, len(order))))
    seed_everything(seed)
    model = models.compile_model(models.build_model(cfg, mnist_500.image_shape, 10), cfg)
    hist = model.fit(mnist_500.x_train[order], mnist_500.y_train[order], batch_size=32,
                     epochs=2, shuffle=False, verbose=0).history
    steps = 2 * -(-len(order) // 32)
    assert [e.train_loss for e in got.epochs[1:]] == pytest.approx(hist["loss"],
                                                                    rel=steps * 8 * EPS)
    for w1, w2 in zip(got.weights, model.get_weights(), strict=True):
        np.testing.assert_allclose(w1, w2, rtol=0, atol=steps * 8 * EPS * max(
            1.0, float(np.abs(w2).max())))


def test_configs_differing_in_learning_rate_keep_one_program_in_a_study(tmp_path, data_dir):
    """The runner releases what a config compiled when the next one cannot use it
    (backend.starting_config): with the jax engine, configs that differ only in STACKABLE
    fields (a grid's or a search's learning rates) train with the same program, so it and
    JAX's caches are kept; another width is another program. The numbers are unchanged:
    each run equals the same config trained in a study of its own."""
    import sweeplab
    import sweeplab.engines.jax as jx
    from sweeplab import study as st

    def programs(study, store):
        seen: list[int] = []

        class Meter:
            def epoch(self, *args) -> None:
                pass

            def run_done(self, *args) -> None:
                seen.append(id(next(iter(jx._PROGRAMS.values()))))

        res = sweeplab.run(study, store=store, data_dir=data_dir, engine="jax",
                           progress=False, listeners=[Meter()])
        return seen, res.runs(study.name).sort_values(["config_hash", "seed"])

    def grid(name, path, values):
        return st.study_from_dict({
            "name": name, "dataset": "mnist", "seeds": 1, "epochs": 1, "subset": 200,
            "model": {"preset": "mlp-softmax-ce"},
            "axes": [{"name": "x", "paths": [path], "values": values}]})

    lr, lr_runs = programs(grid("lr", "optimizer.learning_rate", [0.01, 0.001]),
                           tmp_path / "a.db")
    assert len(lr) == 2 and lr[0] == lr[1]  # one program for both learning rates
    width, _ = programs(grid("w", "layers.1.units", [8, 16]), tmp_path / "b.db")
    assert len(width) == 2 and width[0] != width[1]  # a new shape, a new program
    alone = programs(grid("lr1", "optimizer.learning_rate", [0.001]), tmp_path / "c.db")[1]
    kept = lr_runs[lr_runs["config_hash"] == alone["config_hash"].iloc[0]]
    assert kept["test_acc"].tolist() == alone["test_acc"].tolist()
    assert kept["test_loss"].tolist() == alone["test_loss"].tolist()
