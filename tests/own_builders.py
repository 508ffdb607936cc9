"""Builders and small datasets of a user's kind, shared by tests/test_own_model.py,
tests_jax/ and bench/own_model.py. Study files name this file as "own_builders.py:NAME"
(a copy beside the study file) or import it as a module."""

from __future__ import annotations

import numpy as np


def resnet(width: int = 4, classes: int = 3, side: int = 8):
    """A small functional CNN with a residual block (Add) and global average pooling."""
    import keras

    inp = keras.Input((side, side, 1))
    x = keras.layers.Conv2D(width, 3, padding="same", activation="relu")(inp)
    y = keras.layers.Conv2D(width, 3, padding="same", activation="relu")(x)
    x = keras.layers.Add()([x, y])
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(classes, activation="softmax")(x))


def mlp(hidden: int = 16, features: int = 6, classes: int = 3):
    """A functional MLP over feature vectors (N, F)."""
    import keras

    inp = keras.Input((features,))
    x = keras.layers.Dense(hidden, activation="relu")(inp)
    return keras.Model(inp, keras.layers.Dense(classes, activation="softmax")(x))


def raises(width: int = 4):
    raise RuntimeError(f"no model of width {width} today")


def not_a_model(width: int = 4):
    return {"width": width}


def stripes(n_train: int = 120, n_test: int = 60, side: int = 8, seed: int = 0,
            dtype: str = "float32") -> tuple[np.ndarray, ...]:
    """Images (N, side, side, 1) of three classes: a brighter band of rows per class."""
    rng = np.random.default_rng(seed)
    out = []
    for n in (n_train, n_test):
        y = np.arange(n) % 3
        x = rng.uniform(0.0, 0.4, size=(n, side, side, 1))
        band = side // 3
        for c in range(3):
            x[y == c, c * band:(c + 1) * band] += 0.5
        x = (x * 255).astype(np.uint8) if dtype == "uint8" else x.astype(np.float32)
        out += [x, y.astype(np.int64)]
    return tuple(out)


def blobs(n_train: int = 150, n_test: int = 60, features: int = 6, seed: int = 0
          ) -> tuple[np.ndarray, ...]:
    """Feature vectors (N, F) of three Gaussian blobs."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 2.0, size=(3, features))
    out = []
    for n in (n_train, n_test):
        y = np.arange(n) % 3
        out += [(centres[y] + rng.normal(size=(n, features))).astype(np.float32),
                y.astype(np.int64)]
    return tuple(out)
