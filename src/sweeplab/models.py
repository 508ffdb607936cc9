"""Spec -> Keras model, loss and optimiser. Pure builders: no training, no seeding."""

from __future__ import annotations

from typing import Any

from sweeplab import spec as S
from sweeplab.backend import keras


def build_model(cfg: S.Config, input_shape: tuple[int, ...], num_classes: int) -> Any:
    """A fresh, uncompiled model for ``cfg``: a ``keras.Sequential`` for a layer spec, or
    whatever the user's builder returns (:mod:`sweeplab.usermodels`). Every engine builds
    its models here.

    Weights come from Keras' default initialisers, so they depend only on the
    seed set beforehand (:func:`sweeplab.backend.seed_everything`).
    """
    if cfg.model is not None:
        from sweeplab import usermodels

        return usermodels.build(cfg.model, tuple(input_shape))
    k = keras()
    layers: list[Any] = [k.Input(shape=tuple(input_shape))]
    for layer in cfg.layers:
        if isinstance(layer, S.Flatten):
            layers.append(k.layers.Flatten())
        elif isinstance(layer, S.Dense):
            layers.append(k.layers.Dense(layer.units, activation=layer.activation))
        elif isinstance(layer, S.Conv2D):
            layers.append(k.layers.Conv2D(layer.filters, layer.kernel, padding=layer.padding,
                                          activation=layer.activation))
        elif isinstance(layer, S.MaxPool):
            layers.append(k.layers.MaxPooling2D(layer.size))
        elif isinstance(layer, S.BatchNorm):
            layers.append(k.layers.BatchNormalization())
        elif isinstance(layer, S.Dropout):
            layers.append(k.layers.Dropout(layer.rate))
        else:  # config_from_dict admits no other layer; this guards programming errors
            raise TypeError(f"unsupported layer {layer!r}")
    layers.append(k.layers.Dense(num_classes, activation=cfg.output_activation))
    return k.Sequential(layers)


def squared_error(y_true: Any, y_pred: Any) -> Any:
    """The assignment's loss: mean over the outputs of (one_hot(label) - output)^2."""
    k = keras()
    ops = k.ops
    labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
    target = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
    return ops.mean(ops.square(target - y_pred), axis=-1)


def build_loss(cfg: S.Config) -> Any:
    """The Keras loss for ``cfg`` (integer labels in both cases)."""
    k = keras()
    if cfg.loss == "squared_error":
        return squared_error
    return k.losses.SparseCategoricalCrossentropy(from_logits=cfg.output_activation == "linear")


def build_optimizer(opt: S.Optimizer) -> Any:
    """The Keras optimiser for ``opt``."""
    k = keras()
    if opt.name == "sgd":
        return k.optimizers.SGD(learning_rate=opt.learning_rate, momentum=opt.momentum,
                                nesterov=opt.nesterov)
    return k.optimizers.Adam(learning_rate=opt.learning_rate, beta_1=opt.beta_1,
                             beta_2=opt.beta_2, epsilon=opt.epsilon, amsgrad=opt.amsgrad)


def compile_model(model: Any, cfg: S.Config) -> Any:
    """Compile with the config's loss and optimiser and the accuracy metric."""
    model.compile(optimizer=build_optimizer(cfg.optimizer), loss=build_loss(cfg),
                  metrics=["sparse_categorical_accuracy"])
    return model
