"""The forward-pass probe: what a run's weights do on the test set, measured at the end of
every run (:func:`measure`, wrapped around every engine by :class:`DiagnosedEngine`).

Output units that are zero on every test image (dead ReLU outputs), the share of test
images on which each output unit is non-zero, and per hidden ReLU layer how many units are
dead, for the untrained (epoch 0) and the trained weights. What the numbers mean and how
they are read back is ``sweeplab.analysis.diagnostics``; this module runs the models. An engine
that already ran that forward pass (the fast engine's test evaluation) returns the same
record itself (:func:`record`) and the wrapper leaves it alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from sweeplab import spec as S
from sweeplab.analysis.diagnostics import VERSION, LayerLiveness, Liveness, alive_units
from sweeplab.engines import common
from sweeplab.results import RunResult

PROBE_BATCH = 1024  # images per forward pass; only speed and memory depend on it

_PROBE_MODELS: dict[tuple, tuple[Any, Any, list[int]]] = {}


def _probe_model(cfg: Any, image_shape: tuple[int, ...],
                 num_classes: int) -> tuple[Any, Any, list[int]]:
    """(model, multi-output model giving its ReLU layers' outputs then the model's output,
    those layers' positions), cached per config: building a Keras model costs more than
    probing an MLP. A user's model (sweeplab.usermodels) has its ReLU layers wherever they
    sit in the graph: a ``Dense``/``Conv2D`` with ``activation="relu"`` or a ``ReLU`` layer."""
    from sweeplab import models
    from sweeplab.backend import keras

    key = (S.canonical_json(cfg), tuple(image_shape), num_classes)
    if key not in _PROBE_MODELS:
        _PROBE_MODELS.clear()  # one at a time, like the engines' programs
        k = keras()
        model = models.build_model(cfg, image_shape, num_classes)
        if getattr(cfg, "model", None) is not None:
            relu = [i for i, layer in enumerate(model.layers) if isinstance(layer, k.layers.ReLU)
                    or getattr(getattr(layer, "activation", None), "__name__", "") == "relu"]
        else:
            if len(model.layers) != len(cfg.layers) + 1:
                raise RuntimeError(f"model has {len(model.layers)} layers, "
                                   f"config {len(cfg.layers) + 1}")
            relu = relu_layers(cfg, num_classes)
        outputs = [model.layers[i].output for i in relu] + list(model.outputs[:1])
        _PROBE_MODELS[key] = (model, k.Model(model.inputs[0], outputs), relu)
    return _PROBE_MODELS[key]


def relu_layers(cfg: Any, num_classes: int) -> list[int]:
    """Positions (in ``cfg.layers`` + the output layer) of the Dense/Conv2D layers with ReLU."""
    spec_layers = list(cfg.layers) + [S.Dense(num_classes, cfg.output_activation)]
    return [i for i, s in enumerate(spec_layers)
            if isinstance(s, (S.Dense, S.Conv2D)) and s.activation == "relu"]


def liveness(cfg: Any, num_classes: int, alive: dict[int, np.ndarray], active: np.ndarray,
             predicted: np.ndarray) -> Liveness:
    """A :class:`Liveness` from per-layer alive masks (position -> (units,) bool, for the
    positions of :func:`relu_layers`), output-active counts and predictions."""
    spec_layers = list(cfg.layers) + [S.Dense(num_classes, cfg.output_activation)]
    last = len(spec_layers) - 1
    hidden = tuple(
        LayerLiveness(i, "conv2d" if isinstance(spec_layers[i], S.Conv2D) else "dense",
                      int(alive[i].size), int((~alive[i]).sum()))
        for i in sorted(alive) if i != last)
    out_dead = tuple(int(j) for j in np.flatnonzero(~alive[last])) if last in alive else None
    return Liveness(np.asarray(predicted, np.int64), np.asarray(active, np.int64), out_dead,
                    hidden)


def probe_liveness(cfg: Any, weights: Sequence[np.ndarray], x: np.ndarray,
                   num_classes: int, batch: int = PROBE_BATCH) -> Liveness:
    """Run the model of ``cfg`` with ``weights`` (Keras ``get_weights()`` order) over ``x``
    and reduce every ReLU layer to its dead units, batch by batch (a convolution's full
    activations on 10,000 images would not fit in memory).
    """
    model, multi, relu = _probe_model(cfg, tuple(x.shape[1:]), num_classes)
    model.set_weights([np.asarray(w) for w in weights])
    alive: list[np.ndarray] = []
    active = np.zeros(num_classes, dtype=np.int64)
    preds = []
    for a in range(0, len(x), batch):
        outs = [np.asarray(o) for o in multi(x[a:a + batch], training=False)]
        nz = [alive_units(o) for o in outs[:-1]]
        alive = [was | now for was, now in zip(alive, nz, strict=True)] if alive else nz
        active += (outs[-1] > 0).sum(axis=0)
        preds.append(outs[-1].argmax(axis=1))
    predicted = np.concatenate(preds).astype(np.int64)
    if getattr(cfg, "model", None) is None:
        return liveness(cfg, num_classes, dict(zip(relu, alive, strict=True)), active, predicted)
    last = len(model.layers) - 1  # a user's model: its layers named by their Keras class
    hidden = tuple(LayerLiveness(i, type(model.layers[i]).__name__.lower(), int(a.size),
                                 int((~a).sum())) for i, a in zip(relu, alive, strict=True)
                   if i != last)
    out_dead = (tuple(int(j) for j in np.flatnonzero(~alive[-1])) if relu and relu[-1] == last
                else None)
    return Liveness(predicted, active, out_dead, hidden)


def record(untrained: Liveness, trained: Liveness, n_images: int,
           num_classes: int) -> dict[str, Any]:
    """The stored diagnostics record from the two liveness measurements (what is derived
    from the curves and the confusion matrix is not stored: analysis.diagnostics.diagnose
    derives it when read)."""
    return {"version": VERSION, "probe": "test", "probe_images": int(n_images),
            "untrained": untrained.record(num_classes), "trained": trained.record(num_classes)}


def measure(cfg: Any, result: RunResult, data: Any) -> dict[str, Any]:
    """The stored diagnostics record of a finished run: liveness of the untrained and the
    trained model on the test set.

    Never raises: a failure is recorded as ``{"error": ...}`` so that a diagnostic cannot
    cost a trained run.
    """
    try:
        if result.weights is None:
            return {"version": VERSION, "error": "the engine returned no weights"}
        x, k = data.x_test, data.num_classes
        start = common.initial_weights(cfg, result.seed, data.image_shape, k)
        return record(probe_liveness(cfg, start, x, k),
                      probe_liveness(cfg, result.weights, x, k), len(x), k)
    except Exception as err:  # noqa: BLE001 - a diagnostic must never lose a trained run
        return {"version": VERSION, "error": f"{type(err).__name__}: {err}"}


class DiagnosedEngine:
    """Wraps an engine so that every result it yields carries :func:`measure`'s record."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.name = inner.name
        if hasattr(inner, "group_size"):  # multi-seed engines: the runner schedules rounds
            self.group_size = inner.group_size
        if hasattr(inner, "program_key"):  # configs sharing compiled programs (engines.jax)
            self.program_key = inner.program_key

    def __call__(self, cfg: Any, seeds: Sequence[int], data: Any,
                 on_epoch: Any = None) -> Iterator[RunResult]:
        for result in self.inner(cfg, seeds, data, on_epoch):
            if not result.diagnostics:
                with common.timed("diagnostics"):
                    result = replace(result, diagnostics=measure(cfg, result, data))
            yield result
