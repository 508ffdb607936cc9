"""Per-run diagnostics: what a run's weights and curves say about where it ended.

* **derived** from what every stored run holds (epochs, the final confusion matrix):
  silent classes, collapse, ending near chance, divergence, best epoch, over-fitting onset;
* **measured** by a forward pass of the untrained and trained model over the test set
  (``sweeplab.engines.probe.measure``, for every engine): dead output and hidden ReLU
  units; None ("not recorded") for runs stored without them.

Thresholds: dead = exactly 0.0 on every test image (and position): ReLU is exactly zero
for non-positive input, and such a unit gets no gradient. Near chance = at most chance +
3.09 binomial standard errors (one-sided 0.1%; 10 classes, 10,000 images: 10.93%).
Collapsed = one class gets at least 90% of the predictions. Over-fitting onset = the epoch
after the lowest test loss, when the final test loss is more than 1% above it (1% keeps a
flat plateau's float noise out) while the training loss still fell.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sweeplab.results import EpochRecord, RunResult

__all__ = [
    "COLLAPSE_SHARE", "CHANCE_Z", "OVERFIT_RISE", "LayerLiveness", "Liveness", "RunDiagnostics",
    "alive_units", "best_epoch", "chance_ceiling", "dead_units", "diagnose", "diverged_epoch",
    "never_predicted", "overfit_onset"
]

VERSION = 1  # of the stored record; bump when its meaning changes
CHANCE_Z = 3.09  # one-sided 99.9% normal quantile: "cannot be told from guessing"
COLLAPSE_SHARE = 0.9  # a run giving one class >= 90% of its predictions has collapsed
OVERFIT_RISE = 0.01  # final test loss > (1 + this) x its minimum counts as a rise


# ----------------------------------------------------------------- pure functions


def alive_units(activation: np.ndarray) -> np.ndarray:
    """Which units (last axis) are non-zero on some image and position: a (units,) bool mask.

    Args:
        activation: a layer's outputs, shape (images, ..., units).
    """
    a = np.asarray(activation)
    if a.ndim < 2:
        raise ValueError(f"activation must have shape (images, ..., units). Received shape "
                         f"{a.shape}")
    return np.any(a.reshape(-1, a.shape[-1]) != 0, axis=0)


def dead_units(activation: np.ndarray) -> tuple[int, ...]:
    """Units (last axis) that are exactly zero on every image and position (see
    :func:`alive_units`)."""
    return tuple(int(i) for i in np.flatnonzero(~alive_units(activation)))


def never_predicted(confusion: np.ndarray) -> tuple[int, ...]:
    """Classes no test image was predicted as (empty columns; rows = true, cols = predicted)."""
    m = np.asarray(confusion)
    return tuple(int(i) for i in np.flatnonzero(m.sum(axis=0) == 0))


def chance_ceiling(n_classes: int, n_images: int) -> float:
    """The highest accuracy still "near chance" on ``n_images`` (see the module notes)."""
    p = 1.0 / n_classes
    return p + CHANCE_Z * math.sqrt(p * (1 - p) / max(n_images, 1))


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def diverged_epoch(epochs: Sequence[EpochRecord]) -> int | None:
    """The first epoch whose training or test loss is not finite (None = never).

    A missing training loss (epoch 0 has none) is not divergence; a stored NaN reads back
    as infinity or None in the test loss and counts.
    """
    for e in epochs:
        if (e.train_loss is not None and not math.isfinite(e.train_loss)) or not _finite(
                e.test_loss):
            return int(e.epoch)
    return None


def best_epoch(epochs: Sequence[EpochRecord]) -> tuple[int, float]:
    """(epoch, test accuracy) of the highest test accuracy; the earliest on a tie."""
    best = max(epochs, key=lambda e: (e.test_acc if _finite(e.test_acc) else -1.0, -e.epoch))
    return int(best.epoch), float(best.test_acc)


def overfit_onset(epochs: Sequence[EpochRecord], rise: float = OVERFIT_RISE) -> int | None:
    """The first epoch after the lowest test loss, when test loss then rises by more than
    ``rise`` (relative) while training loss still falls; None otherwise (see module notes)."""
    trained = [e for e in epochs if e.epoch >= 1 and e.train_loss is not None]
    if len(trained) < 2 or not all(_finite(e.test_loss) and _finite(e.train_loss)
                                   for e in trained):
        return None
    low = min(trained, key=lambda e: (e.test_loss, e.epoch))
    last = trained[-1]
    if low is last:
        return None
    if last.test_loss > low.test_loss * (1 + rise) and last.train_loss < low.train_loss:
        return int(low.epoch) + 1
    return None


@dataclass(frozen=True)
class LayerLiveness:
    """Dead units of one hidden ReLU layer."""

    layer: int  # position in the config's layers (0-based; the output layer is not here)
    kind: str  # "dense" or "conv2d"
    units: int  # units (dense) or filters (conv2d)
    dead: int  # units zero on every test image

    @property
    def fraction(self) -> float:
        return self.dead / self.units if self.units else 0.0


@dataclass(frozen=True)
class RunDiagnostics:
    """Everything known about why one run ended where it did. None = not recorded."""

    seed: int  # the run's seed
    n_classes: int  # output units / classes
    n_test: int  # test images behind the confusion matrix
    final_test_acc: float  # final test accuracy, in [0, 1]
    predicted_share: tuple[float, ...]  # per class: share of test images predicted as it
    never_predicted: tuple[int, ...]  # silent classes: never predicted after training
    collapsed: bool  # one class got >= COLLAPSE_SHARE of the predictions
    top_class: int  # the most predicted class
    near_chance: bool  # final test accuracy <= chance_ceiling(...)
    diverged_epoch: int | None  # first epoch with a non-finite loss (None = never)
    best_epoch: int  # epoch of the highest test accuracy (0 = untrained)
    best_test_acc: float  # that accuracy
    overfit_onset: int | None  # see overfit_onset (None = none seen, or the run learned nothing)
    # measured from the weights (None = not recorded: stored before diagnostics existed,
    # or, for output units, an output activation that is never exactly zero)
    dead_outputs: tuple[int, ...] | None = None  # output units zero on every test image
    dead_outputs_untrained: tuple[int, ...] | None = None  # the same at epoch 0
    never_predicted_untrained: tuple[int, ...] | None = None  # silent classes at epoch 0
    output_active_share: tuple[float, ...] | None = None  # per unit: share of images > 0
    hidden: tuple[LayerLiveness, ...] | None = None  # dead units per hidden ReLU layer
    hidden_untrained: tuple[LayerLiveness, ...] | None = None  # the same at epoch 0
    error: str = ""  # why the measurement failed, if it did

    @property
    def silent(self) -> int:
        """Number of classes never predicted."""
        return len(self.never_predicted)

    @property
    def recorded(self) -> bool:
        """Whether weight-based measurements exist for this run."""
        return self.hidden is not None

    @property
    def learning(self) -> bool:
        """False for runs that did not learn: collapsed, at chance, or diverged."""
        return not (self.collapsed or self.near_chance or self.diverged_epoch is not None)

    @property
    def hidden_dead(self) -> int | None:
        return None if self.hidden is None else sum(h.dead for h in self.hidden)

    @property
    def hidden_units(self) -> int | None:
        return None if self.hidden is None else sum(h.units for h in self.hidden)


def _layers(raw: Any) -> tuple[LayerLiveness, ...] | None:
    if raw is None:
        return None
    return tuple(LayerLiveness(int(h["layer"]), str(h["kind"]), int(h["units"]), int(h["dead"]))
                 for h in raw)


def _ints(raw: Any) -> tuple[int, ...] | None:
    return None if raw is None else tuple(int(v) for v in raw)


def diagnose(run: RunResult) -> RunDiagnostics:
    """The diagnostics of one run: derived from its curves and confusion matrix, plus what
    was measured from its weights when it was trained (``run.diagnostics``)."""
    conf = np.asarray(run.confusion, dtype=float)
    k = int(conf.shape[0])
    n = int(conf.sum())
    pred = conf.sum(axis=0)
    share = tuple(float(v) for v in (pred / n if n else np.zeros(k)))
    top = int(np.argmax(pred)) if n else 0
    final = float(run.final.test_acc)
    ep, acc = best_epoch(run.epochs)
    rec: Mapping[str, Any] = run.diagnostics or {}
    trained = rec.get("trained") or {}
    untrained = rec.get("untrained") or {}
    active = trained.get("output_active")
    n_probe = int(rec.get("probe_images") or 0)
    collapsed = bool(n and share[top] >= COLLAPSE_SHARE)
    chance = bool(n and final <= chance_ceiling(k, n))
    diverged = diverged_epoch(run.epochs)
    # Over-fitting needs something learned first: a collapsed or diverged run's rising test
    # loss says nothing about generalisation.
    learned = not (collapsed or chance or diverged is not None)
    return RunDiagnostics(
        seed=int(run.seed), n_classes=k, n_test=n, final_test_acc=final,
        predicted_share=share, never_predicted=never_predicted(conf),
        collapsed=collapsed, top_class=top, near_chance=chance,
        diverged_epoch=diverged, best_epoch=ep, best_test_acc=acc,
        overfit_onset=overfit_onset(run.epochs) if learned else None,
        dead_outputs=_ints(trained.get("dead_outputs")),
        dead_outputs_untrained=_ints(untrained.get("dead_outputs")),
        never_predicted_untrained=_ints(untrained.get("never_predicted")),
        output_active_share=(None if active is None or not n_probe
                             else tuple(float(v) / n_probe for v in active)),
        hidden=_layers(trained.get("hidden")),
        hidden_untrained=_layers(untrained.get("hidden")),
        error=str(rec.get("error", "")),
    )


# ------------------------------------------------------------ measured from weights


@dataclass(frozen=True)
class Liveness:
    """One forward pass of a model over the probe images, reduced per unit."""

    predicted: np.ndarray  # (images,) argmax class per image
    output_active: np.ndarray  # (classes,) images on which each output unit is > 0
    output_dead: tuple[int, ...] | None  # dead output units (None: output is not ReLU)
    hidden: tuple[LayerLiveness, ...]  # per hidden ReLU layer

    def record(self, n_classes: int) -> dict[str, Any]:
        counts = np.bincount(self.predicted, minlength=n_classes)
        return {
            "never_predicted": [int(i) for i in np.flatnonzero(counts == 0)],
            "dead_outputs": None if self.output_dead is None else list(self.output_dead),
            "output_active": [int(v) for v in self.output_active],
            "hidden": [{"layer": h.layer, "kind": h.kind, "units": h.units, "dead": h.dead}
                       for h in self.hidden],
        }
