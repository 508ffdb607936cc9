"""What one run measured: the record every engine returns and the store keeps."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import takewhile
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EpochRecord:
    """Metrics after one epoch. Epoch 0 is the untrained model: no training numbers."""

    epoch: int  # 0 = before training, 1..E after each epoch
    test_loss: float  # loss on the test set
    test_acc: float  # accuracy on the test set, in [0, 1]
    train_loss: float | None = None  # mean training loss over the epoch's steps (Keras' number)
    train_acc: float | None = None  # mean training accuracy over the epoch's steps
    seconds: float = 0.0  # wall time of the epoch's training and evaluation
    val_loss: float | None = None  # loss on the validation split (None: the config has none)
    val_acc: float | None = None  # accuracy on the validation split


@dataclass(frozen=True)
class RunResult:
    """Everything one (config, seed) run produced."""

    config_hash: str  # sweeplab.spec.config_hash of the run's config
    seed: int  # the one seed that decided weights, shuffling and dropout
    engine: str  # which engine trained it ("reference", "fast")
    epochs: tuple[EpochRecord, ...]  # epoch 0 (untrained) then 1..E
    confusion: np.ndarray = field(repr=False)  # (classes, classes) counts, rows=true, cols=pred
    probe_untrained: tuple[float, ...] = ()  # raw outputs for the first test image, untrained
    probe_trained: tuple[float, ...] = ()  # raw outputs for the first test image, trained
    wall_seconds: float = 0.0  # whole run, model building included
    backend: str = "tensorflow"  # the Keras backend that trained it ("tensorflow", "jax")
    device: str = ""  # what it trained on, as "KIND:NAME" (e.g. "cpu:x86_64", "gpu:NVIDIA H100")
    node: str = ""  # host name of the machine that trained it ("" = the store's writer's host)
    diagnostics: Mapping[str, Any] = field(default_factory=dict)  # analysis.diagnostics
    model_path: str | None = None  # the saved .keras file (run --save-models), else None
    # The final model's predicted class per test example, in the test set's order, and the
    # test labels it was scored against (M,) each; None = not recorded (stored before schema
    # 3). The store keeps them with the run, in the same transaction (a few bytes each).
    predictions: np.ndarray | None = field(default=None, repr=False, compare=False)
    test_labels: np.ndarray | None = field(default=None, repr=False, compare=False)
    # The same on the validation split (the study's ``validation``), in the split's order,
    # and the split's labels; None = the run had no split (or was stored before schema 6).
    val_predictions: np.ndarray | None = field(default=None, repr=False, compare=False)
    val_labels: np.ndarray | None = field(default=None, repr=False, compare=False)
    # Not stored: the trained weights in Keras order (model.get_weights()), so the runner can
    # save the model or compute diagnostics wherever the run was trained. None once stored.
    weights: tuple[np.ndarray, ...] | None = field(default=None, repr=False, compare=False)

    @property
    def final(self) -> EpochRecord:
        return self.epochs[-1]

    def last(self, metric: str, epochs: int = 1) -> float:
        """``metric`` averaged over the last ``epochs`` epochs (at most the trained ones): a
        search's race score (its ``metric_epochs``); 1 is the final epoch's value."""
        vals = [float(getattr(e, metric)) for e in self.epochs[1:][-epochs:]]
        return sum(vals) / len(vals)


def race_row(runs: Mapping[int, RunResult], seeds: Iterable[int], metric: str,
             epochs: int = 1) -> list[float]:
    """One candidate's row of a search's race table: each seed's score (RunResult.last), in
    ``seeds``' order, up to the first seed with no finished run in ``runs`` (seed -> run)."""
    return [runs[s].last(metric, epochs) for s in takewhile(runs.__contains__, seeds)]


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts with rows = true class, columns = predicted class."""
    idx = np.asarray(y_true, np.int64) * num_classes + np.asarray(y_pred, np.int64)
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
