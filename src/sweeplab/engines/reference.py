"""The reference engine: ``model.fit``, one run at a time, the assignment's exact path."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import numpy as np

from sweeplab import models
from sweeplab.backend import device, keras, seed_everything
from sweeplab.data import Dataset
from sweeplab.engines.common import EpochCallback
from sweeplab.results import EpochRecord, RunResult, confusion_matrix
from sweeplab.spec import Config, config_hash

EVAL_BATCH = 1024  # evaluation batch; only speed depends on it, not the numbers' meaning


def train(cfg: Config, seed: int, data: Dataset, *, shuffle: bool = True,
          on_epoch: EpochCallback | None = None,
          weights_out: list | None = None) -> RunResult:
    """Train one fresh model exactly as the assignment does and return what it measured.

    Seeds everything, builds the model, evaluates it untrained (epoch 0), then
    ``model.fit(..., validation_data=test)`` with the config's batch size.

    Args:
        shuffle: Keras' per-epoch shuffling (the assignment's default). False keeps the
            training set's order, which tests use to force the same batches on two engines.
        weights_out: if given, the trained model's ``get_weights()`` are appended to it
            (tests compare them with the fast engine's).
    """
    k = keras()
    t_start = time.perf_counter()
    seed_everything(seed)
    model = models.compile_model(
        models.build_model(cfg, data.image_shape, data.num_classes), cfg)
    probe = data.x_test[:1]
    probe_untrained = tuple(float(v) for v in np.asarray(model(probe, training=False))[0])
    t0 = time.perf_counter()
    loss0, acc0 = model.evaluate(data.x_test, data.y_test, batch_size=EVAL_BATCH, verbose=0)

    def val() -> dict[str, float]:  # the validation split's numbers, when it has one
        if data.x_val is None:
            return {}
        vl, va = model.evaluate(data.x_val, data.y_val, batch_size=EVAL_BATCH, verbose=0)
        return {"val_loss": float(vl), "val_acc": float(va)}

    records = [EpochRecord(0, float(loss0), float(acc0), seconds=time.perf_counter() - t0,
                           **val())]

    class _Recorder(k.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            records.append(EpochRecord(
                epoch + 1,
                test_loss=float(logs["val_loss"]),
                test_acc=float(logs["val_sparse_categorical_accuracy"]),
                train_loss=float(logs["loss"]),
                train_acc=float(logs["sparse_categorical_accuracy"]),
                seconds=time.perf_counter() - self._t,
                **val(),
            ))
            if on_epoch is not None:
                on_epoch(seed, records[-1], cfg.epochs)

    model.fit(data.x_train, data.y_train, batch_size=cfg.batch_size, epochs=cfg.epochs,
              validation_data=(data.x_test, data.y_test), validation_batch_size=EVAL_BATCH,
              shuffle=shuffle, verbose=0, callbacks=[_Recorder()])
    scores = model.predict(data.x_test, batch_size=EVAL_BATCH, verbose=0)
    pred = scores.argmax(axis=1)
    conf = confusion_matrix(data.y_test, pred, data.num_classes)
    probe_trained = tuple(float(v) for v in scores[0])
    val_pred = None if data.x_val is None else \
        model.predict(data.x_val, batch_size=EVAL_BATCH, verbose=0).argmax(axis=1)
    if weights_out is not None:
        weights_out.extend(model.get_weights())
    return RunResult(config_hash(cfg), int(seed), "reference", tuple(records), conf,
                     probe_untrained, probe_trained, time.perf_counter() - t_start,
                     device=device(), weights=tuple(model.get_weights()),
                     predictions=pred, test_labels=data.y_test,
                     val_predictions=val_pred, val_labels=data.y_val)


class ReferenceEngine:
    """Runs each seed with :func:`train`, one after another."""

    name = "reference"

    def __call__(self, cfg: Config, seeds: Sequence[int], data: Dataset,
                 on_epoch: EpochCallback | None = None) -> Iterator[RunResult]:
        for seed in seeds:
            yield train(cfg, seed, data, on_epoch=on_epoch)
