"""What every engine shares: the epoch callback's shape, the ``parallel`` check, a run's
(seeded) initial weights, K from memory, and the seconds spent per phase (bench/engines.py
prints them).

One place for each, so the engines cannot drift apart: a run's initial weights are
:func:`initial_weights`'s whichever engine trains it or measures it (``probe.measure``).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from sweeplab import spec as S
from sweeplab.backend import keras, seed_everything, seed_layer_draws
from sweeplab.results import EpochRecord

# on_epoch(seed, record, epochs): called after each epoch of each run, with that epoch's
# metrics (progress bars, live logging to MLflow / TensorBoard).
EpochCallback = Callable[[int, EpochRecord, int], None]

# Seconds per phase in this process ("training", "evaluation", "diagnostics", ...), summed
# over engine calls. Only bench/engines.py reads it; a perf_counter pair costs ~100 ns.
PHASES: Counter[str] = Counter()
# The same phases' process CPU seconds (all threads): on a shared machine the wall time of a
# phase counts other people's work too, its CPU time only this process's (bench/engines.py).
CPU_PHASES: Counter[str] = Counter()


@contextlib.contextmanager
def timed(phase: str) -> Iterator[None]:
    """Add the seconds of the ``with`` body to ``PHASES[phase]``, its CPU seconds to
    ``CPU_PHASES[phase]``."""
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        PHASES[phase] += time.perf_counter() - t0
        CPU_PHASES[phase] += time.process_time() - c0


def initial_state(cfg: S.Config, seed: int, image_shape: tuple[int, ...],
                  num_classes: int) -> tuple[list[np.ndarray], list[Any]]:
    """Run ``seed``'s initial weights, in ``get_weights()`` order, and its dropout layers'
    seed-generator states (what ``fit`` on JAX carries per dropout layer).

    Keras 3 fixes a random initialiser's seed (and a Dropout's) when it is constructed (an
    integer from Python's ``random``, ``backend.seed_layer_draws``) and draws the weights
    statelessly from it. So constructing the same layers as ``models.build_model``, in the
    same order, and calling their initialisers gives the same weights bit for bit without
    building a model. tests/test_fast_engine.py compares this
    with ``build_model(...).get_weights()`` for every preset.
    """
    k = keras()
    if cfg.model is not None:  # a user's builder: its weights are what building it draws
        from sweeplab import models

        seed_everything(seed)  # it may draw from any generator a run seeds
        m = models.build_model(cfg, image_shape, num_classes)
        return [np.asarray(w) for w in m.get_weights()], [
            layer.seed_generator.state.value for layer in m.layers
            if getattr(layer, "seed_generator", None) is not None]
    seed_layer_draws(seed)
    built: list[tuple[Any, S.Layer]] = []
    for layer in cfg.layers:  # constructors in models.build_model's order and arguments
        if isinstance(layer, S.Dense):
            built.append((k.layers.Dense(layer.units, activation=layer.activation), layer))
        elif isinstance(layer, S.Conv2D):
            built.append((k.layers.Conv2D(layer.filters, layer.kernel, padding=layer.padding,
                                          activation=layer.activation), layer))
        elif isinstance(layer, S.BatchNorm):
            built.append((k.layers.BatchNormalization(), layer))
        elif isinstance(layer, S.Dropout):
            built.append((k.layers.Dropout(layer.rate), layer))  # draws a seed too
        else:
            built.append((None, layer))
    built.append((k.layers.Dense(num_classes, activation=cfg.output_activation),
                  S.Dense(num_classes, cfg.output_activation)))
    shape = tuple(image_shape)
    out: list[Any] = []
    seeds: list[Any] = []
    for kl, layer in built:
        if isinstance(layer, S.Dense):
            fan_in = math.prod(shape)
            out += [kl.kernel_initializer((fan_in, layer.units), dtype="float32"),
                    kl.bias_initializer((layer.units,), dtype="float32")]
            shape = (layer.units,)
        elif isinstance(layer, S.Conv2D):
            out += [kl.kernel_initializer((layer.kernel, layer.kernel, shape[-1], layer.filters),
                                          dtype="float32"),
                    kl.bias_initializer((layer.filters,), dtype="float32")]
            shape = _conv_shape(shape, layer)
        elif isinstance(layer, S.MaxPool):
            shape = (shape[0] // layer.size, shape[1] // layer.size, shape[2])
        elif isinstance(layer, S.Flatten):
            shape = (math.prod(shape),)
        elif isinstance(layer, S.BatchNorm):
            c = (shape[-1],)
            out += [kl.gamma_initializer(c, dtype="float32"),
                    kl.beta_initializer(c, dtype="float32"),
                    kl.moving_mean_initializer(c, dtype="float32"),
                    kl.moving_variance_initializer(c, dtype="float32")]
        elif isinstance(layer, S.Dropout) and getattr(kl, "seed_generator", None) is not None:
            seeds.append(kl.seed_generator.state.value)
    return [np.asarray(w, dtype=np.float32) for w in out], seeds


def _conv_shape(shape: tuple[int, ...], layer: S.Conv2D) -> tuple[int, ...]:
    h, w = shape[:2]
    if layer.padding == "valid":
        h, w = h - layer.kernel + 1, w - layer.kernel + 1
    return (h, w, layer.filters)


def initial_weights(cfg: S.Config, seed: int, image_shape: tuple[int, ...],
                    num_classes: int) -> list[np.ndarray]:
    """Run ``seed``'s untrained weights in ``get_weights()`` order (see :func:`initial_state`):
    what every engine starts from and what the probe measures at epoch 0."""
    return initial_state(cfg, seed, image_shape, num_classes)[0]


# --- memory and K ---------------------------------------------------------------------

def activation_floats(cfg: S.Config, image_shape: tuple[int, ...], num_classes: int) -> int:
    """Floats of all layer outputs for one image (what the backward pass keeps)."""
    return (math.prod(image_shape) + sum(math.prod(s) for s in S.check_shapes(cfg))
            + num_classes)


def eval_floats(cfg: S.Config, image_shape: tuple[int, ...]) -> tuple[int, int]:
    """Floats per test image of an evaluation: the largest output shared by all stacked runs
    (the input and what precedes the first layer with weights, e.g. Flatten) and the largest
    one run's layers produce after it."""
    shapes = [math.prod(s) for s in S.check_shapes(cfg)]
    first = next((i for i, layer in enumerate(cfg.layers)
                  if isinstance(layer, S.Dense | S.Conv2D | S.BatchNorm)), len(shapes))
    return max([math.prod(image_shape), *shapes[:first]]), max(shapes[first:], default=0)


def param_count(cfg: S.Config, image_shape: tuple[int, ...], num_classes: int) -> int:
    """Weights of the model (trainable and BatchNorm statistics)."""
    shape = image_shape
    n = 0
    for layer, out in zip(cfg.layers, S.check_shapes(cfg), strict=True):
        if isinstance(layer, S.Dense):
            n += shape[-1] * layer.units + layer.units
        elif isinstance(layer, S.Conv2D):
            n += layer.kernel ** 2 * shape[-1] * layer.filters + layer.filters
        elif isinstance(layer, S.BatchNorm):
            n += 4 * shape[-1]
        shape = out
    return n + shape[-1] * num_classes + num_classes


def host_available() -> int:
    """Bytes of host memory available now (MemAvailable; 8 GiB where it cannot be read)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 2**30


def run_bytes(cfg: S.Config, image_shape: tuple[int, ...], num_classes: int) -> int:
    """Bytes one stacked run needs while training: weights, grads, slots, activations."""
    copies = 4 + (2 if cfg.optimizer.name == "adam" else 1)  # weights, grads, new, slots
    params = param_count(cfg, image_shape, num_classes) * copies
    acts = activation_floats(cfg, image_shape, num_classes) * cfg.batch_size * 4  # fwd+bwd
    return 4 * (params + acts)


def group_size(cfg: S.Config, image_shape: tuple[int, ...], num_classes: int, n_seeds: int,
               free_bytes: int, most: int) -> int:
    """K: as many runs as ``free_bytes`` holds (:func:`run_bytes` each), at most ``most``
    and ``n_seeds``, at least 1. Each engine says what its free memory is."""
    per_run = run_bytes(cfg, image_shape, num_classes)
    return max(1, min(n_seeds, most, free_bytes // max(per_run, 1)))


def eval_chunk(cfg: S.Config, image_shape: tuple[int, ...], k: int, m: int,
               budget: int, most: int = 2048) -> int:
    """Test images per evaluation call: the shared input and K runs' activations (three
    layer outputs alive at once, :func:`eval_floats`) within ``budget`` bytes, at most
    ``most``, in equal chunks so one compiled shape serves (10,000 at most 2,048 -> 5 x
    2,000)."""
    shared, per_run = eval_floats(cfg, image_shape)
    per_image = 4 * (shared + 3 * k * per_run)
    largest = int(max(32, min(most, budget // per_image)))
    return -(-m // -(-m // largest)) if m else 1


def check_parallel(parallel: int | None) -> int | None:
    """An engine's ``parallel`` (its group size K): an integer >= 1, or None (automatic).

    Raises:
        ValueError: anything else, with what was received.
    """
    if parallel is not None and (isinstance(parallel, bool) or not isinstance(parallel, int)
                                 or parallel < 1):
        raise ValueError(f"parallel must be an integer >= 1 or None. "
                         f"Received: parallel={parallel!r}")
    return parallel


class GroupedEngine:
    """What the engines that train seeds in groups of K share: ``parallel`` and the group size.
    A subclass sets ``auto_group_size(cfg, data, n_seeds) -> int`` (K from its memory)."""

    name = ""
    auto_group_size: Any = None

    def __init__(self, parallel: int | None = None, shuffle: bool = True):
        self.parallel = check_parallel(parallel)
        self.shuffle = shuffle  # False keeps the data's order (tests force fit's batches)

    def group_size(self, cfg: S.Config, data: Any, n_seeds: int) -> int:
        """How many seeds of ``cfg`` one group trains (the runner schedules in such rounds)."""
        return self.parallel or self.auto_group_size(cfg, data, n_seeds)
