"""The Keras forward-pass probe of a run's weights (dead units, output liveness) and the
engine wrapper that records it for every run. Moving to ``engines/`` (issue 25); the pure
diagnostics are :mod:`sweeplab.analysis.diagnostics`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from sweeplab.analysis.diagnostics import VERSION, LayerLiveness, Liveness, diagnose
from sweeplab.results import RunResult

__all__ = ["DiagnosedEngine", "initial_weights", "measure", "probe_liveness"]

PROBE_BATCH = 1024  # images per forward pass; only speed and memory depend on it


_PROBE_MODELS: dict[tuple, Any] = {}


def _probe_model(cfg: Any, image_shape: tuple[int, ...], num_classes: int) -> tuple[Any, Any]:
    """(model, multi-output model giving every layer's output), cached per config: building
    a Keras model costs more than probing an MLP."""
    from sweeplab import models
    from sweeplab import spec as S
    from sweeplab.backend import keras

    key = (S.canonical_json(cfg), tuple(image_shape), num_classes)
    if key not in _PROBE_MODELS:
        _PROBE_MODELS.clear()  # one at a time, like the fast engine's programs
        k = keras()
        model = models.build_model(cfg, image_shape, num_classes)
        outputs = [layer.output for layer in model.layers]
        _PROBE_MODELS[key] = (model, k.Model(model.inputs[0], outputs))
    return _PROBE_MODELS[key]


def probe_liveness(cfg: Any, weights: Sequence[np.ndarray], x: np.ndarray,
                   num_classes: int, batch: int = PROBE_BATCH) -> Liveness:
    """Run the model of ``cfg`` with ``weights`` (Keras ``get_weights()`` order) over ``x``
    and reduce every ReLU layer to its dead units, batch by batch (a convolution's full
    activations on 10,000 images would not fit in memory).
    """
    from sweeplab import spec as S

    model, multi = _probe_model(cfg, tuple(x.shape[1:]), num_classes)
    model.set_weights([np.asarray(w) for w in weights])
    # The layers that own an activation: hidden Dense/Conv2D, then the output Dense.
    spec_layers = list(cfg.layers) + [S.Dense(num_classes, cfg.output_activation)]
    keras_layers = list(model.layers)
    if len(keras_layers) != len(spec_layers):
        raise RuntimeError(f"model has {len(keras_layers)} layers, config {len(spec_layers)}")
    relu = [i for i, s in enumerate(spec_layers)
            if isinstance(s, (S.Dense, S.Conv2D)) and s.activation == "relu"]
    alive = {i: None for i in relu}
    active = np.zeros(num_classes, dtype=np.int64)
    preds = []
    for a in range(0, len(x), batch):
        outs = multi(x[a:a + batch], training=False)
        outs = [np.asarray(o) for o in outs]
        for i in relu:
            o = outs[i]
            nz = np.any(o.reshape(-1, o.shape[-1]) != 0, axis=0)
            alive[i] = nz if alive[i] is None else (alive[i] | nz)
        final = outs[-1]
        active += (final > 0).sum(axis=0)
        preds.append(final.argmax(axis=1))
    last = len(spec_layers) - 1
    hidden = tuple(
        LayerLiveness(i, "conv2d" if isinstance(spec_layers[i], S.Conv2D) else "dense",
                      int(alive[i].size), int((~alive[i]).sum()))
        for i in relu if i != last)
    out_dead = (tuple(int(j) for j in np.flatnonzero(~alive[last])) if last in relu else None)
    return Liveness(np.concatenate(preds).astype(np.int64), active, out_dead, hidden)


def initial_weights(cfg: Any, seed: int, image_shape: tuple[int, ...],
                    num_classes: int) -> list[np.ndarray]:
    """The untrained weights of ``seed``: what every engine starts from (the reference
    engine's ``seed_everything`` then ``build_model``)."""
    from sweeplab import models
    from sweeplab.backend import seed_everything

    seed_everything(seed)
    return models.build_model(cfg, image_shape, num_classes).get_weights()


def measure(cfg: Any, result: RunResult, data: Any) -> dict[str, Any]:
    """The stored diagnostics record of a finished run: liveness of the untrained and the
    trained model on the test set, and the derived fields (for readers of the JSON).

    Never raises: a failure is recorded as ``{"error": ...}`` so that a diagnostic cannot
    cost a trained run.
    """
    try:
        if result.weights is None:
            return {"version": VERSION, "error": "the engine returned no weights"}
        x = data.x_test
        k = data.num_classes
        untrained = probe_liveness(cfg, initial_weights(cfg, result.seed, data.image_shape, k),
                                   x, k)
        trained = probe_liveness(cfg, result.weights, x, k)
        rec: dict[str, Any] = {"version": VERSION, "probe": "test", "probe_images": int(len(x)),
                               "untrained": untrained.record(k), "trained": trained.record(k)}
        d = diagnose(replace(result, diagnostics=rec))
        rec["derived"] = {
            "never_predicted": list(d.never_predicted), "collapsed": d.collapsed,
            "top_class": d.top_class, "near_chance": d.near_chance,
            "diverged_epoch": d.diverged_epoch, "best_epoch": d.best_epoch,
            "best_test_acc": d.best_test_acc, "overfit_onset": d.overfit_onset}
        return rec
    except Exception as err:  # noqa: BLE001 - a diagnostic must never lose a trained run
        return {"version": VERSION, "error": f"{type(err).__name__}: {err}"}


class DiagnosedEngine:
    """Wraps an engine so that every result it yields carries :func:`measure`'s record."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.name = inner.name

    def __getattr__(self, attr: str) -> Any:  # group_size and anything else the engine has
        if attr == "inner":  # not set yet (e.g. while unpickling): no endless recursion
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def __call__(self, cfg: Any, seeds: Sequence[int], data: Any, on_epoch: Any = None):
        for result in self.inner(cfg, seeds, data, on_epoch):
            if not result.diagnostics:
                result = replace(result, diagnostics=measure(cfg, result, data))
            yield result
