"""What a run is, as plain validated data: a frozen :class:`Config` (everything but the seed),
built from dicts by :func:`config_from_dict` and identified by :func:`config_hash`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sweeplab import data as data_mod
from sweeplab.errors import FieldError


class SpecError(FieldError, ValueError):
    """A study, config or layer is invalid. The message names the key and what is allowed."""


ACTIVATIONS = ("relu", "linear", "sigmoid", "tanh", "softmax", "elu", "gelu")
OUTPUT_ACTIVATIONS = ("softmax", "relu", "linear", "sigmoid")
LOSSES = ("squared_error", "sparse_categorical_crossentropy")
OPTIMIZERS = ("sgd", "adam")
PADDINGS = ("valid", "same")
# Upper bounds: far above any model this tool is for, low enough that no value overflows a
# machine integer downstream (NumPy seeds, TensorFlow shapes, SQLite) or asks for more memory
# than a workstation has before the first step.
MAX_UNITS = 65536  # dense units and conv filters
MAX_WINDOW = 1024  # conv kernel and pool side, in pixels
MAX_BATCH = 65536  # batch_size
MAX_EPOCHS = 100_000  # epochs
MAX_SUBSET = 100_000_000  # subset (images per split)
MAX_WEIGHTS = 2**28  # trainable + non-trainable weights of one model: 1 GiB of float32


# --- layers ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Flatten:
    """Flatten an image to a vector."""

    type: str = field(default="flatten", init=False)


@dataclass(frozen=True)
class Dense:
    """A fully connected hidden layer."""

    units: int  # number of outputs, >= 1
    activation: str = "relu"  # one of ACTIVATIONS
    type: str = field(default="dense", init=False)


@dataclass(frozen=True)
class Conv2D:
    """A 2-D convolution with a square kernel and stride 1."""

    filters: int  # output channels, >= 1
    kernel: int = 3  # kernel side in pixels, >= 1
    padding: str = "valid"  # "valid" shrinks the image by kernel-1, "same" keeps it
    activation: str = "relu"  # one of ACTIVATIONS
    type: str = field(default="conv2d", init=False)


@dataclass(frozen=True)
class MaxPool:
    """Max pooling with a square window and stride equal to the window."""

    size: int = 2  # window side in pixels, >= 1
    type: str = field(default="maxpool", init=False)


@dataclass(frozen=True)
class BatchNorm:
    """Batch normalisation over the last axis (Keras defaults)."""

    type: str = field(default="batchnorm", init=False)


@dataclass(frozen=True)
class Dropout:
    """Dropout during training."""

    rate: float  # fraction of units dropped, in [0, 1)
    type: str = field(default="dropout", init=False)


Layer = Flatten | Dense | Conv2D | MaxPool | BatchNorm | Dropout
LAYER_TYPES: dict[str, type] = {
    "flatten": Flatten, "dense": Dense, "conv2d": Conv2D,
    "maxpool": MaxPool, "batchnorm": BatchNorm, "dropout": Dropout,
}


@dataclass(frozen=True)
class Optimizer:
    """The optimiser and its arguments (Keras' defaults where not given)."""

    name: str = "adam"  # "sgd" or "adam"
    learning_rate: float = 0.001  # step size, > 0
    momentum: float = 0.0  # sgd only: momentum in [0, 1)
    nesterov: bool = False  # sgd only: Nesterov momentum
    beta_1: float = 0.9  # adam only: first-moment decay in [0, 1)
    beta_2: float = 0.999  # adam only: second-moment decay in [0, 1)
    epsilon: float = 1e-7  # adam only: denominator fuzz, > 0
    amsgrad: bool = False  # adam only: AMSGrad variant


@dataclass(frozen=True)
class ModelRef:
    """A user's model builder: ``build(**params)`` returns an uncompiled ``keras.Model``."""

    builder: str  # "package.module:function" or "path/file.py:function", as the user gave it
    params: tuple[tuple[str, Any], ...] = ()  # the builder's keyword arguments, sorted by name
    version: str | None = None  # the user's pin of the builder's code (None: its source hash)
    source: str = ""  # sha256 of the builder's source (inspect.getsource), 16 hex digits
    path: str = ""  # the file a "file.py:function" builder is loaded from (not its identity)
    name: str = ""  # display name (not its identity)

    def identity(self) -> dict[str, Any]:
        """What makes two builders the same model: path, params, and code or its pin."""
        code = {"version": self.version} if self.version is not None else {"source": self.source}
        return {"builder": self.builder, "params": dict(self.params), **code}


@dataclass(frozen=True)
class DataRef:
    """A user's arrays (or a built-in name whose file is not the standard data)."""

    name: str  # display name, e.g. "blobs"
    fingerprint: str  # sha256 over the arrays' dtypes, shapes and bytes, 16 hex digits
    shape: tuple[int, ...]  # one example: (H, W, C) image or (F,) feature vector
    class_names: tuple[str, ...]  # label i is class_names[i]
    scaling: str  # "uint8/255" (pixels divided by 255) or "as given" (floats)
    source: str = ""  # file or folder read ("" for arrays given in Python; not its identity)

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "fingerprint": self.fingerprint, "shape": list(self.shape),
                "class_names": list(self.class_names), "scaling": self.scaling}


@dataclass(frozen=True)
class Config:
    """Everything that decides a run except the seed."""

    dataset: str = "mnist"  # a key of sweeplab.data.DATASETS
    layers: tuple[Layer, ...] = ()  # hidden layers, in order; the output layer is added
    output_activation: str = "softmax"  # activation of the Dense(num_classes) output layer
    loss: str = "sparse_categorical_crossentropy"  # one of LOSSES
    optimizer: Optimizer = Optimizer()  # how weights are updated
    batch_size: int = 32  # images per gradient step
    epochs: int = 5  # passes over the training set
    subset: int | None = None  # stratified images per split (None = the whole dataset)
    # A user's model builder instead of ``layers`` (then output_activation says what the
    # builder's last layer gives: softmax probabilities or linear logits).
    model: ModelRef | None = None
    data: DataRef | None = None  # a user's data instead of the built-in ``dataset``
    # Fraction of the training split held out as a validation split (stratified, the same
    # examples for every seed: sweeplab.data.hold_out); None = no validation split.
    validation: float | None = None


# --- validation -----------------------------------------------------------------------

def _allowed(names) -> str:
    return ", ".join(sorted(names))


def _check_keys(where: str, given: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(given) - allowed)
    if unknown:
        key = unknown[0] if unknown[0].isprintable() else repr(unknown[0])  # stays one line
        raise SpecError(
            f"Unknown key '{where}{key}' (value {short_repr(given[unknown[0]])}). "
            f"Allowed keys: {_allowed(allowed)}."
        )


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages (always one line)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _str(where: str, value: Any, allowed: str = "a string") -> str:
    if not isinstance(value, str):
        raise SpecError(f"{where} must be {allowed}. Received: {where}={short_repr(value)}")
    return value


def _int(where: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (
        high is not None and value > high
    ):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise SpecError(f"{where} must be an integer {rng}. Received: {where}={short_repr(value)}")
    return int(value)


def _float(where: str, value: Any, low: float, high: float, low_open: bool, high_open: bool
           ) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        v = float(value)
        ok = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        hi_s = "inf" if math.isinf(high) else repr(high)
        raise SpecError(
            f"{where} must be a number in {lo}{low!r}, {hi_s}{hi}. "
            f"Received: {where}={short_repr(value)}"
        )
    return float(value)


def _choice(where: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise SpecError(f"{where} must be one of {', '.join(allowed)}. "
                        f"Received: {where}={short_repr(value)}")
    return value


def _bool(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SpecError(f"{where} must be true or false. Received: {where}={short_repr(value)}")
    return value


def layer_from_dict(d: Mapping[str, Any], where: str = "layer") -> Layer:
    """Build one layer from ``{"type": ..., ...}``."""
    if isinstance(d, (Flatten, Dense, Conv2D, MaxPool, BatchNorm, Dropout)):
        d = layer_to_dict(d)
    if not isinstance(d, Mapping) or "type" not in d:
        raise SpecError(
            f"{where} must be a table with a 'type' key ({_allowed(LAYER_TYPES)}). "
            f"Received: {where}={short_repr(d)}"
        )
    kind = d["type"]
    if not isinstance(kind, str) or kind not in LAYER_TYPES:
        raise SpecError(
            f"Unknown layer type {where}.type={short_repr(kind)}. Allowed: {_allowed(LAYER_TYPES)}."
        )
    cls = LAYER_TYPES[kind]
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    _check_keys(f"{where}.", d, fields | {"type"})
    args = {k: v for k, v in d.items() if k != "type"}
    missing = [f.name for f in dataclasses.fields(cls)
               if f.init and f.default is dataclasses.MISSING and f.name not in args]
    if missing:
        raise SpecError(f"{where} ({kind}) needs {where}.{missing[0]}.")
    if kind == "dense":
        return Dense(_int(f"{where}.units", args["units"], 1, MAX_UNITS),
                     _choice(f"{where}.activation", args.get("activation", "relu"), ACTIVATIONS))
    if kind == "conv2d":
        return Conv2D(
            _int(f"{where}.filters", args["filters"], 1, MAX_UNITS),
            _int(f"{where}.kernel", args.get("kernel", 3), 1, MAX_WINDOW),
            _choice(f"{where}.padding", args.get("padding", "valid"), PADDINGS),
            _choice(f"{where}.activation", args.get("activation", "relu"), ACTIVATIONS),
        )
    if kind == "maxpool":
        return MaxPool(_int(f"{where}.size", args.get("size", 2), 1, MAX_WINDOW))
    if kind == "dropout":
        return Dropout(_float(f"{where}.rate", args["rate"], 0.0, 1.0, False, True))
    return cls()


def layer_to_dict(layer: Layer) -> dict[str, Any]:
    """The plain-dict form of a layer, ``type`` first."""
    out = {"type": layer.type}
    out.update({f.name: getattr(layer, f.name) for f in dataclasses.fields(layer) if f.init})
    return out


def optimizer_from_dict(d: Mapping[str, Any], where: str = "optimizer") -> Optimizer:
    if isinstance(d, Optimizer):
        return d
    if not isinstance(d, Mapping):
        raise SpecError(f"{where} must be a table. Received: {where}={short_repr(d)}")
    name = _choice(f"{where}.name", d.get("name", "adam"), OPTIMIZERS)
    common = {"name", "learning_rate"}
    own = {"sgd": {"momentum", "nesterov"},
           "adam": {"beta_1", "beta_2", "epsilon", "amsgrad"}}[name]
    _check_keys(f"{where}.", d, common | own)
    default_lr = 0.01 if name == "sgd" else 0.001  # Keras' defaults
    lr = _float(f"{where}.learning_rate", d.get("learning_rate", default_lr), 0.0, math.inf,
                True, True)
    if name == "sgd":
        return Optimizer(
            name, lr,
            momentum=_float(f"{where}.momentum", d.get("momentum", 0.0), 0.0, 1.0, False, True),
            nesterov=_bool(f"{where}.nesterov", d.get("nesterov", False)),
        )
    return Optimizer(
        name, lr,
        beta_1=_float(f"{where}.beta_1", d.get("beta_1", 0.9), 0.0, 1.0, False, True),
        beta_2=_float(f"{where}.beta_2", d.get("beta_2", 0.999), 0.0, 1.0, False, True),
        epsilon=_float(f"{where}.epsilon", d.get("epsilon", 1e-7), 0.0, math.inf, True, True),
        amsgrad=_bool(f"{where}.amsgrad", d.get("amsgrad", False)),
    )


CONFIG_KEYS = {f.name for f in dataclasses.fields(Config)}


def config_from_dict(d: Mapping[str, Any], where: str = "") -> Config:
    """Validate a plain dict into a :class:`Config`.

    Raises:
        SpecError: unknown key, value out of range, or a layer stack whose shapes
            cannot work for the dataset.
    """
    if not isinstance(d, Mapping):
        raise SpecError(f"{where or 'config'} must be a table. Received: {short_repr(d)}")
    _check_keys(where, d, CONFIG_KEYS)
    model = None if d.get("model") is None else model_ref_from_dict(d["model"], f"{where}model")
    data = None if d.get("data") is None else data_ref_from_dict(d["data"], f"{where}data")
    dataset = d.get("dataset", "mnist" if data is None else data.name)
    if data is not None:
        if dataset != data.name:
            raise SpecError(f"{where}dataset must be the data's name {data.name!r}. "
                            f"Received: {where}dataset={short_repr(dataset)}")
    elif not isinstance(dataset, str) or dataset not in data_mod.DATASETS:
        raise SpecError(
            f"{where}dataset must be one of {_allowed(data_mod.DATASETS)}. "
            f"Received: {where}dataset={short_repr(dataset)}"
        )
    raw_layers = d.get("layers", ())
    if not isinstance(raw_layers, (list, tuple)):
        raise SpecError(f"{where}layers must be a list of layer tables. "
                        f"Received: {where}layers={short_repr(raw_layers)}")
    layers = tuple(layer_from_dict(x, f"{where}layers[{i}]") for i, x in enumerate(raw_layers))
    if model is not None and layers:
        raise SpecError(f"{where}layers and a model builder cannot both be given: the builder "
                        f"makes the whole model. Received: {len(layers)} layers and "
                        f"builder {model.builder!r}")
    subset = d.get("subset")
    cfg = Config(
        dataset=dataset,
        layers=layers,
        output_activation=_choice(f"{where}output_activation",
                                  d.get("output_activation", "softmax"), OUTPUT_ACTIVATIONS),
        loss=_choice(f"{where}loss", d.get("loss", "sparse_categorical_crossentropy"), LOSSES),
        optimizer=optimizer_from_dict(d.get("optimizer", {}), f"{where}optimizer"),
        batch_size=_int(f"{where}batch_size", d.get("batch_size", 32), 1, MAX_BATCH),
        epochs=_int(f"{where}epochs", d.get("epochs", 5), 1, MAX_EPOCHS),
        subset=None if subset is None else _int(f"{where}subset", subset, 10, MAX_SUBSET),
        model=model, data=data,
        validation=None if d.get("validation") is None else _float(
            f"{where}validation", d["validation"], 0.0, 0.5, True, False),
    )
    check_shapes(cfg, where)
    if cfg.loss == "sparse_categorical_crossentropy" and cfg.output_activation not in (
        "softmax", "linear"
    ):
        raise SpecError(
            f"{where}loss=sparse_categorical_crossentropy needs output_activation softmax "
            f"(probabilities) or linear (logits). Received: "
            f"{where}output_activation={cfg.output_activation!r}"
        )
    return cfg


def check_shapes(cfg: Config, where: str = "") -> list[tuple[int, ...]]:
    """Trace the image shape through the layers; return the shape after each one.

    Raises:
        SpecError: a layer that cannot follow the previous one.
    """
    if cfg.model is not None:
        return []  # a builder's model is checked by building it (sweeplab.usermodels)
    shape = input_shape(cfg)
    shapes = []
    weights = 0
    for i, layer in enumerate(cfg.layers):
        at = f"{where}layers[{i}] ({layer.type})"
        if isinstance(layer, (Conv2D, MaxPool)) and len(shape) != 3:
            raise SpecError(
                f"{at} needs an image (height, width, channels) but gets a vector of "
                f"{shape[0]} after a flatten or dense layer. Put conv2d and maxpool layers "
                "before flatten."
            )
        if isinstance(layer, Conv2D):
            h, w, _ = shape
            if layer.padding == "valid":
                h, w = h - layer.kernel + 1, w - layer.kernel + 1
            if h < 1 or w < 1:
                raise SpecError(
                    f"{at} with kernel={layer.kernel} and padding='valid' shrinks a "
                    f"{shape[0]}x{shape[1]} image below 1 pixel. Allowed: kernel <= "
                    f"{min(shape[:2])}, or padding='same'."
                )
            weights += (layer.kernel**2 * shape[2] + 1) * layer.filters
            shape = (h, w, layer.filters)
        elif isinstance(layer, MaxPool):
            h, w, c = shape[0] // layer.size, shape[1] // layer.size, shape[2]
            if h < 1 or w < 1:
                raise SpecError(
                    f"{at} with size={layer.size} shrinks a {shape[0]}x{shape[1]} image below "
                    f"1 pixel. Allowed: size <= {min(shape[:2])}."
                )
            shape = (h, w, c)
        elif isinstance(layer, Flatten):
            shape = (math.prod(shape),)
        elif isinstance(layer, Dense):
            if len(shape) != 1:
                raise SpecError(
                    f"{at} needs a vector but gets an image of shape {shape}. "
                    "Add {type = \"flatten\"} before it."
                )
            weights += (shape[0] + 1) * layer.units
            shape = (layer.units,)
        elif isinstance(layer, BatchNorm):
            weights += 4 * shape[-1]  # gamma, beta, moving mean and variance
        shapes.append(shape)
        if weights > MAX_WEIGHTS:
            raise SpecError(
                f"{at} brings the model to {weights:,} weights; at most {MAX_WEIGHTS:,} "
                f"(1 GiB of float32) are allowed. Use fewer units or filters."
            )
    if len(shape) != 1:
        raise SpecError(
            f"{where}layers end with an image of shape {shape}; the output layer needs a vector. "
            "Add {type = \"flatten\"} at the end of the hidden layers."
        )
    return shapes


def input_shape(cfg: Config) -> tuple[int, ...]:
    """One example's shape: (H, W, C) for images, (F,) for feature vectors."""
    return cfg.data.shape if cfg.data is not None else data_mod.DATASETS[cfg.dataset].shape


def class_names(cfg: Config | Mapping[str, Any]) -> tuple[str, ...]:
    """The config's class names (label i is class_names[i]); a config or its stored dict."""
    if isinstance(cfg, Config):
        cfg = config_to_dict(cfg)
    if cfg.get("data"):
        return tuple(cfg["data"]["class_names"])
    return data_mod.DATASETS[cfg.get("dataset", "mnist")].class_names


_PARAM_TYPES = (bool, int, float, str)


def _param(where: str, value: Any) -> Any:
    """A builder parameter: a TOML value (number, string, bool, or a list of them)."""
    if isinstance(value, (list, tuple)):
        return tuple(_param(f"{where}[{i}]", v) for i, v in enumerate(value))
    if not isinstance(value, _PARAM_TYPES) or (isinstance(value, float)
                                               and not math.isfinite(value)):
        raise SpecError(f"{where} must be a number, string, bool or a list of them (a value a "
                        f"study file can hold). Received: {where}={short_repr(value)}")
    return value


def model_ref_from_dict(d: Any, where: str = "model") -> ModelRef:
    """A :class:`ModelRef` from its dict (as :func:`config_to_dict` writes it)."""
    if isinstance(d, ModelRef):
        return d
    if not isinstance(d, Mapping):
        raise SpecError(f"{where} must be a table. Received: {where}={short_repr(d)}")
    _check_keys(f"{where}.", d, {"builder", "params", "version", "source", "path", "name"})
    builder = _str(f"{where}.builder", d.get("builder"),
                   'a "package.module:function" or "file.py:function" string')
    if builder.count(":") < 1 or not builder.rpartition(":")[2].isidentifier():
        raise SpecError(f'{where}.builder must be "package.module:function" or '
                        f'"path/file.py:function". Received: {where}.builder={short_repr(builder)}')
    params = d.get("params", {})
    if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        raise SpecError(f"{where}.params must be a table of keyword arguments. "
                        f"Received: {where}.params={short_repr(params)}")
    version = d.get("version")
    if version is not None:
        version = _str(f"{where}.version", version)
    return ModelRef(builder, tuple(sorted((k, _param(f"{where}.params.{k}", v))
                                          for k, v in params.items())),
                    version, _str(f"{where}.source", d.get("source", "")),
                    _str(f"{where}.path", d.get("path", "")), _str(f"{where}.name",
                                                                   d.get("name", "")))


def data_ref_from_dict(d: Any, where: str = "data") -> DataRef:
    """A :class:`DataRef` from its dict (as :func:`config_to_dict` writes it)."""
    if isinstance(d, DataRef):
        return d
    keys = {"name", "fingerprint", "shape", "class_names", "scaling", "source"}
    if not isinstance(d, Mapping) or not keys - {"source"} <= set(d):
        raise SpecError(f"{where} must be a table with {_allowed(keys)}. "
                        f"Received: {where}={short_repr(d)}")
    _check_keys(f"{where}.", d, keys)
    shape = d["shape"]
    if not isinstance(shape, (list, tuple)) or len(shape) not in (1, 3) or not all(
            isinstance(v, int) and v >= 1 for v in shape):
        raise SpecError(f"{where}.shape must be [H, W, C] or [F]. "
                        f"Received: {where}.shape={short_repr(shape)}")
    names = d["class_names"]
    if not isinstance(names, (list, tuple)) or len(names) < 2 or not all(
            isinstance(n, str) for n in names):
        raise SpecError(f"{where}.class_names must be a list of at least 2 strings. "
                        f"Received: {where}.class_names={short_repr(names)}")
    return DataRef(_str(f"{where}.name", d["name"]), _str(f"{where}.fingerprint",
                                                          d["fingerprint"]),
                   tuple(shape), tuple(names),
                   _choice(f"{where}.scaling", d["scaling"], ("uint8/255", "as given")),
                   _str(f"{where}.source", d.get("source", "")))


# --- identity -------------------------------------------------------------------------

def config_to_dict(cfg: Config) -> dict[str, Any]:
    """The plain-dict form of a config (what TOML and the store hold)."""
    return {
        "dataset": cfg.dataset,
        "layers": [layer_to_dict(x) for x in cfg.layers],
        "output_activation": cfg.output_activation,
        "loss": cfg.loss,
        "optimizer": optimizer_to_dict(cfg.optimizer),
        "batch_size": cfg.batch_size,
        "epochs": cfg.epochs,
        "subset": cfg.subset,
        # Only a user's model or data adds keys, so every built-in config keeps its hash.
        **({"model": {**cfg.model.identity(), "path": cfg.model.path, "name": cfg.model.name}}
           if cfg.model is not None else {}),
        **({"data": {**cfg.data.identity(), "source": cfg.data.source}}
           if cfg.data is not None else {}),
        # Only a validation split adds the key, so configs without one keep their hashes.
        **({"validation": cfg.validation} if cfg.validation is not None else {}),
    }


def optimizer_to_dict(opt: Optimizer) -> dict[str, Any]:
    own = ({"momentum", "nesterov"} if opt.name == "sgd"
           else {"beta_1", "beta_2", "epsilon", "amsgrad"})
    keep = {"name", "learning_rate"} | own
    return {k: v for k, v in dataclasses.asdict(opt).items() if k in keep}


def canonical_json(cfg: Config) -> str:
    """Sorted keys, no spaces, floats as floats: the same config gives the same text."""
    return json.dumps(config_to_dict(cfg), sort_keys=True, separators=(",", ":"))


def config_hash(cfg: Config) -> str:
    """A stable identity: sha256 of the canonical JSON, first 16 hex digits.

    A user's model and data count by what they are (builder path, params, source or pin; the
    arrays' fingerprint), not by where they were loaded from or what they are called.
    """
    d = config_to_dict(cfg)
    if cfg.model is not None:
        d["model"] = cfg.model.identity()
    if cfg.data is not None:
        d["data"] = cfg.data.identity()
    return hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
                          ).hexdigest()[:16]


def describe(cfg: Config) -> str:
    """A one-line human summary, e.g. ``flatten > dense(32,relu) > dense(10,softmax) | adam``."""
    parts = []
    if cfg.model is not None:
        args = ", ".join(f"{k}={v!r}" for k, v in cfg.model.params)
        parts.append(f"{cfg.model.name or cfg.model.builder}({args})")
    for layer in cfg.layers:
        if isinstance(layer, Dense):
            parts.append(f"dense({layer.units},{layer.activation})")
        elif isinstance(layer, Conv2D):
            parts.append(f"conv({layer.filters},{layer.kernel}x{layer.kernel},{layer.padding})")
        elif isinstance(layer, MaxPool):
            parts.append(f"pool({layer.size})")
        elif isinstance(layer, Dropout):
            parts.append(f"dropout({layer.rate:g})")
        else:
            parts.append(layer.type)
    if cfg.model is None:
        parts.append(f"dense({len(class_names(cfg))},{cfg.output_activation})")
    opt = cfg.optimizer
    extra = f", momentum={opt.momentum:g}" if opt.name == "sgd" and opt.momentum else ""
    return (f"{' > '.join(parts)} | {cfg.loss} | {opt.name}(lr={opt.learning_rate:g}{extra}) "
            f"| batch {cfg.batch_size} | {cfg.epochs} epochs")


# --- presets --------------------------------------------------------------------------

def _conv_stack(bn: bool) -> tuple[Layer, ...]:
    out: list[Layer] = []
    for filters, padding in ((32, "valid"), (64, "same"), (128, "same"), (128, "same")):
        out.append(Conv2D(filters, 3, padding))
        if bn:
            out.append(BatchNorm())
        out.append(MaxPool(2))
    return tuple(out)


def _presets() -> dict[str, Config]:
    mlp = Config(
        dataset="mnist", layers=(Flatten(), Dense(32, "relu")), output_activation="relu",
        loss="squared_error", optimizer=Optimizer("sgd", 0.1), epochs=5,
    )
    mlp_ce = dataclasses.replace(
        mlp, output_activation="softmax", loss="sparse_categorical_crossentropy",
        optimizer=Optimizer("adam", 0.001), epochs=20,
    )
    cnn = Config(
        dataset="cifar10",
        layers=(Conv2D(32), MaxPool(2), Conv2D(64), MaxPool(2), Conv2D(64), Flatten(),
                Dense(64)),
        output_activation="softmax", loss="sparse_categorical_crossentropy",
        optimizer=Optimizer("adam", 0.001), epochs=10,
    )
    four = dataclasses.replace(cnn, layers=_conv_stack(False) + (Flatten(), Dense(64)))
    four128 = dataclasses.replace(cnn, layers=_conv_stack(False) + (Flatten(), Dense(128),
                                                                     Dense(128)))
    four_bn = dataclasses.replace(cnn, layers=_conv_stack(True) + (Flatten(), Dense(128),
                                                                    Dense(128)))
    four_bn_do = dataclasses.replace(
        cnn, layers=_conv_stack(True) + (Flatten(), Dropout(0.2), Dense(128), Dropout(0.2),
                                         Dense(128), Dropout(0.2)))
    return {
        "mlp-relu-mse": mlp,  # STUDIES.md's base model: q1-q3
        "mlp-softmax-ce": mlp_ce,  # q5's softmax + cross-entropy + Adam model
        "cifar-mlp": dataclasses.replace(mlp_ce, dataset="cifar10", epochs=10),  # q8
        "cnn-base": cnn,  # q9
        "cnn-4block": four,  # q10b
        "cnn-4block-dense128": four128,  # q10c
        "cnn-4block-bn": four_bn,  # q10d
        "cnn-4block-bn-dropout": four_bn_do,  # q10e
    }


PRESETS: dict[str, Config] = _presets()


def preset(name: str) -> Config:
    """A named model from STUDIES.md.

    Raises:
        SpecError: unknown preset name.
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise SpecError(f"Unknown preset {short_repr(name)}. Allowed: {_allowed(PRESETS)}.")
    return PRESETS[name]
