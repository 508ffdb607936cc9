"""A user's own Keras model: a builder function named by import path, identified by its code.

``KerasModel(build, params={...})`` (Python) or ``[model] builder = "pkg.mod:fn"`` /
``"file.py:fn"`` with ``[model.params]`` (study files) make a :class:`~sweeplab.spec.ModelRef`:
the builder's import path, its keyword arguments, and the sha256 of its source
(``inspect.getsource``) unless ``version=`` pins it, so an edited builder is a new config
(joblib's ``Memory`` hashes a function the same way). Models are always rebuilt by calling
the builder; no model code is ever deserialised from a file.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sweeplab import spec as S

# Builders given as Python functions in this process, by (builder path, source hash): a
# function defined in a notebook cannot be imported again by its path.
_BUILDERS: dict[tuple[str, str], Callable[..., Any]] = {}
_FILES: dict[tuple[str, float], Any] = {}  # (file, mtime) -> the module loaded from it


def source_hash(fn: Callable[..., Any]) -> str:
    """sha256 of the function's source, 16 hex digits ("" when Python cannot read it)."""
    try:
        text = inspect.getsource(fn)
    except (OSError, TypeError):
        return ""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class KerasModel:
    """A user's model for ``Study.build(..., model=KerasModel(build, params={...}))``.

    Args:
        build: ``build(**params)`` returns an uncompiled ``keras.Model`` whose output has
            one unit per class (softmax probabilities, or logits with
            ``output_activation="linear"``).
        params: the builder's keyword arguments (numbers, strings, bools, lists); axes
            sweep them as ``model.params.NAME``.
        name: shown in tables and reports (default: the function's name).
        version: pins the builder's identity to this string instead of its source code
            (edits then keep the config; needed when the source cannot be read).

    Raises:
        SpecError: ``build`` is not a function, a param is not a plain value, or the
            source cannot be read and no ``version`` is given.
    """

    def __init__(self, build: Callable[..., Any], params: Mapping[str, Any] | None = None,
                 name: str | None = None, version: str | None = None):
        if not callable(build) or not hasattr(build, "__qualname__"):
            raise S.SpecError(f"KerasModel needs a builder function build(**params) -> "
                              f"keras.Model. Received: {S.short_repr(build)}")
        path = f"{build.__module__}:{build.__qualname__}"
        src = source_hash(build)
        if not src and version is None:
            raise S.SpecError(f"the source of model builder {path!r} cannot be read (defined "
                              "at an interactive prompt?); give KerasModel(..., version='1') "
                              "to name its code yourself")
        self.ref = S.model_ref_from_dict({
            "builder": path, "params": dict(params or {}), "version": version, "source": src,
            "name": name or build.__name__})
        _BUILDERS[(path, src)] = build

    def __repr__(self) -> str:
        return f"KerasModel({self.ref.builder}, params={dict(self.ref.params)})"


def ref_from_table(table: Mapping[str, Any], base_dir: Path | None, where: str = "model"
                   ) -> dict[str, Any]:
    """A study file's ``builder``/``params``/``version``/``name`` as a config's ``model`` dict.

    A ``"file.py:function"`` builder is found relative to ``base_dir`` (the study file's
    folder). A table that already has ``source`` (a stored study) is taken as it is.

    Raises:
        SpecError: the builder cannot be imported; the message names it.
    """
    d = {k: table[k] for k in ("builder", "params", "version", "name", "source", "path")
         if k in table}
    ref = S.model_ref_from_dict(d, where)
    if "source" in table:
        return d
    target = ref.builder.rpartition(":")[0]
    if target.endswith(".py"):
        p = Path(target).expanduser()
        d["path"] = str((p if p.is_absolute() or base_dir is None else base_dir / p).resolve())
    fn = load_function(ref.builder, d.get("path", ""))
    d["source"] = source_hash(fn)
    d.setdefault("name", ref.builder.rpartition(":")[2])
    return d


def load_function(builder: str, path: str = "") -> Callable[..., Any]:
    """Import ``"pkg.mod:fn"`` (or load ``path`` for ``"file.py:fn"``) and return ``fn``.

    Raises:
        SpecError: one line naming the builder and why it cannot be imported.
    """
    target, _, name = builder.rpartition(":")
    try:
        if target.endswith(".py"):
            file = Path(path or target)
            key = (str(file), file.stat().st_mtime)
            if key not in _FILES:
                mod_name = "sweeplab_builder_" + hashlib.sha256(key[0].encode()).hexdigest()[:12]
                spec = importlib.util.spec_from_file_location(mod_name, file)
                module = importlib.util.module_from_spec(spec)
                sys.modules[mod_name] = module  # dataclasses and pickling look it up there
                spec.loader.exec_module(module)
                _FILES[key] = module
            obj: Any = _FILES[key]
        else:
            obj = importlib.import_module(target)
        for part in name.split("."):
            obj = getattr(obj, part)
    except Exception as err:  # ImportError, SyntaxError, OSError, AttributeError, ...
        text = (str(err).strip().splitlines() or [""])[0][:200]
        raise S.SpecError(f"model builder {builder!r} cannot be imported: "
                          f"{type(err).__name__}: {text}") from None
    if not callable(obj):
        raise S.SpecError(f"model builder {builder!r} is not a function. "
                          f"Received: {S.short_repr(obj)}")
    return obj


def function(ref: S.ModelRef) -> Callable[..., Any]:
    """The builder function of ``ref``: the one given in Python, else imported.

    Raises:
        SpecError: it cannot be imported, or its source changed since the config was made
            (the config would name code that no longer exists).
    """
    fn = _BUILDERS.get((ref.builder, ref.source))
    if fn is not None:
        return fn
    fn = load_function(ref.builder, ref.path)
    if ref.version is None and ref.source and source_hash(fn) != ref.source:
        raise S.SpecError(f"model builder {ref.builder!r} was edited since this config was "
                          "made; load the study again (an edited builder is a new config)")
    _BUILDERS[(ref.builder, ref.source)] = fn
    return fn


def carried(cfg: S.Config) -> dict[tuple[str, str], bytes]:
    """The builder a Ray worker needs for ``cfg``, pickled by value (cloudpickle), so one
    defined in a notebook, or in a module only the driver can import, travels with the task.
    A ``"file.py:fn"`` builder is read from its file by the worker instead."""
    ref = cfg.model
    fn = None if ref is None or ref.path else _BUILDERS.get((ref.builder, ref.source))
    if fn is None:
        return {}
    import ray.cloudpickle as cloudpickle

    module = sys.modules.get(fn.__module__)
    by_value = module is not None and fn.__module__ != "__main__"
    if by_value:
        cloudpickle.register_pickle_by_value(module)
    try:
        return {(ref.builder, ref.source): cloudpickle.dumps(fn)}
    finally:
        if by_value:
            cloudpickle.unregister_pickle_by_value(module)


def register(builders: Mapping[tuple[str, str], bytes]) -> None:
    """Make builders received from a driver (:func:`carried`) known to this process."""
    import ray.cloudpickle as cloudpickle

    _BUILDERS.update({key: cloudpickle.loads(blob) for key, blob in builders.items()})


def build(ref: S.ModelRef, input_shape: tuple[int, ...]) -> Any:
    """A fresh model from the builder (weights from the seed set beforehand).

    Raises:
        SpecError: the builder raises or returns something that is not a ``keras.Model``.
    """
    from sweeplab.backend import keras

    k = keras()
    fn = function(ref)
    try:
        model = fn(**dict(ref.params))
    except Exception as err:
        text = (str(err).strip().splitlines() or [""])[0][:200]
        raise S.SpecError(f"model builder {ref.builder!r} raised {type(err).__name__}: {text} "
                          f"(params {dict(ref.params)})") from None
    if not isinstance(model, k.Model):
        raise S.SpecError(f"model builder {ref.builder!r} must return a keras.Model. "
                          f"Received: {S.short_repr(model)}")
    if not model.built:
        model.build((None, *input_shape))
    return model


_build = build  # describe_lines' argument is named build
_CHECKED: set[tuple[str, tuple[int, ...], int]] = set()  # configs that passed check()


def check(cfg: S.Config, input_shape: tuple[int, ...], num_classes: int) -> Any:
    """Build ``cfg``'s model once and check it fits the data, before any training; returns
    the model (None when this config already passed in this process).

    Raises:
        SpecError: the builder cannot be imported, raises, returns no keras.Model, does not
            take the data's examples, or has the wrong number of outputs.
    """
    ref = cfg.model
    key = (S.canonical_json(cfg), tuple(input_shape), num_classes)
    if key in _CHECKED:  # api.run checks before opening the store, the runner again
        return None
    model = build(ref, input_shape)
    try:
        out = np.asarray(model(np.zeros((2, *input_shape), np.float32), training=False))
    except Exception as err:
        text = (str(err).strip().splitlines() or [""])[0][:200]
        raise S.SpecError(f"the model of builder {ref.builder!r} does not take examples of "
                          f"shape {tuple(input_shape)}: {type(err).__name__}: {text}") from None
    if out.shape != (2, num_classes):
        raise S.SpecError(f"the model of builder {ref.builder!r} gives outputs of shape "
                          f"{out.shape[1:]}; the data has {num_classes} classes, so the last "
                          f"layer needs {num_classes} units (output shape ({num_classes},))")
    last = getattr(model.layers[-1], "activation", None)
    name = getattr(last, "__name__", "")
    if name in ("softmax", "linear") and name != cfg.output_activation and (
            cfg.loss == "sparse_categorical_crossentropy"):
        raise S.SpecError(f"the model of builder {ref.builder!r} ends with a {name} layer but "
                          f"output_activation={cfg.output_activation!r}; set output_activation "
                          f"= {name!r} so the loss reads its outputs as "
                          f"{'logits' if name == 'linear' else 'probabilities'}")
    _CHECKED.add(key)
    return model


def describe_lines(cfg: S.Config | Mapping[str, Any], build: bool = True,
                   varying: Collection[str] = ()) -> list[str]:
    """Lines describing a user's model and data for ls/show/the report: the builder, its
    params, the parameter count and layer summary (when the builder can be imported here),
    and the data's fingerprint, shape, classes and scaling. [] for a built-in spec and data.
    ``build=False`` leaves out what needs the model built (no Keras import: for ``ls``);
    ``varying``: params that differ between a study's configs, shown as such, not as
    ``cfg``'s values."""
    cfg = cfg if isinstance(cfg, S.Config) else S.config_from_dict(cfg)
    lines = []
    if cfg.data is not None:
        d = cfg.data
        lines.append(f"data {d.name}: fingerprint {d.fingerprint}, examples {d.shape}, "
                     f"{len(d.class_names)} classes ({', '.join(d.class_names)}), scaling "
                     f"{d.scaling}" + (f", from {d.source}" if d.source else ""))
    ref = cfg.model
    if ref is None:
        return lines
    code = f"version {ref.version}" if ref.version is not None else f"source {ref.source}"
    params = ", ".join(f"{k}={'(per config)' if k in varying else repr(v)}"
                       for k, v in ref.params) or "none"
    lines += [f"builder {ref.builder} ({code}), params {params}"]
    if not build:
        return lines
    try:
        model = _build(ref, S.input_shape(cfg))
    except S.SpecError as err:
        return lines + [f"(layers not shown: {err})"]
    lines.append(f"{model.count_params():,} parameters in {len(model.layers)} layers:")
    lines += [f"  {layer.name}: {type(layer).__name__} {_out_shape(layer)}"
              for layer in model.layers]
    return lines


def _out_shape(layer: Any) -> str:
    try:
        return str(tuple(layer.output.shape[1:]))
    except Exception:  # a layer used twice or of a subclassed model has no single output
        return ""

