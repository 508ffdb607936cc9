"""The reference engine: determinism and equivalence with a hand-built Keras model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sweeplab import data, spec
from sweeplab.engines.reference import train


@pytest.fixture(scope="module")
def mnist2k(data_dir):
    return data.load("mnist", data_dir, subset=2000)


def test_same_seed_same_numbers_other_seed_differs(mnist2k):
    cfg = dataclasses.replace(spec.preset("mlp-softmax-ce"), epochs=2)
    a, b = train(cfg, 3, mnist2k), train(cfg, 3, mnist2k)
    assert [e.__dict__ | {"seconds": 0} for e in a.epochs] == [
        e.__dict__ | {"seconds": 0} for e in b.epochs]
    assert np.array_equal(a.confusion, b.confusion) and a.probe_trained == b.probe_trained
    c = train(cfg, 4, mnist2k)
    assert c.epochs[-1].train_loss != a.epochs[-1].train_loss


def test_result_shape_and_meaning(mnist2k):
    cfg = dataclasses.replace(spec.preset("mlp-relu-mse"), epochs=2)
    r = train(cfg, 0, mnist2k)
    assert [e.epoch for e in r.epochs] == [0, 1, 2]
    assert r.epochs[0].train_loss is None and r.epochs[1].train_loss > 0
    assert r.confusion.shape == (10, 10) and r.confusion.sum() == len(mnist2k.y_test)
    # accuracy recorded by Keras equals the confusion matrix's diagonal share
    assert abs(np.trace(r.confusion) / r.confusion.sum() - r.final.test_acc) < 1e-6
    assert len(r.probe_untrained) == 10 and r.engine == "reference"


def test_q1_matches_a_hand_built_keras_model(mnist2k):
    """The q1 model equals the notebook version: Dense/relu, mse on one-hot targets, SGD 0.1."""
    import keras

    cfg = dataclasses.replace(spec.preset("mlp-relu-mse"), epochs=3)
    ours = train(cfg, 11, mnist2k)

    keras.utils.set_random_seed(11)
    model = keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10, activation="relu"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse",
                  metrics=["categorical_accuracy"])
    onehot = np.eye(10, dtype="float32")
    test_loss0, test_acc0 = model.evaluate(mnist2k.x_test, onehot[mnist2k.y_test],
                                           batch_size=1024, verbose=0)
    hist = model.fit(mnist2k.x_train, onehot[mnist2k.y_train], batch_size=32, epochs=3,
                     validation_data=(mnist2k.x_test, onehot[mnist2k.y_test]),
                     validation_batch_size=1024, verbose=0).history
    assert ours.epochs[0].test_loss == pytest.approx(test_loss0, rel=1e-6)
    assert ours.epochs[0].test_acc == pytest.approx(test_acc0, abs=1e-7)
    for e in range(3):
        got = ours.epochs[e + 1]
        assert got.train_loss == pytest.approx(hist["loss"][e], rel=1e-5)
        assert got.train_acc == pytest.approx(hist["categorical_accuracy"][e], abs=1e-6)
        assert got.test_loss == pytest.approx(hist["val_loss"][e], rel=1e-5)
        assert got.test_acc == pytest.approx(hist["val_categorical_accuracy"][e], abs=1e-6)
    out = model.predict(mnist2k.x_test[:1], verbose=0)[0]
    np.testing.assert_allclose(ours.probe_trained, out, rtol=1e-5, atol=1e-6)
