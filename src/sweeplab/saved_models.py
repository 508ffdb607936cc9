"""Trained models as ``.keras`` files: saved beside the store while a study runs, loaded back.

Off by default (``run --save-models DIR``, ``sweeplab.run(save_models=...)``). Each run's
trained weights (``RunResult.weights``, which every engine fills) are put into a fresh
model built from the run's config by :mod:`sweeplab.models`, so the file is the same
whichever engine trained it. The path goes into the run's ``model_path`` in the store,
relative to the store's folder when the file is inside it (the pair can be moved
together). Files are loaded with Keras' safe mode on (no arbitrary code from a file) and
uncompiled (only inference is needed, and the squared-error loss is our own function).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sweeplab import data as data_mod
from sweeplab import spec as S
from sweeplab.checks import pixel_problem
from sweeplab.errors import FieldError
from sweeplab.outputs import check_dir_destination, full_disk_error
from sweeplab.results import RunResult
from sweeplab.store import Store

SUFFIX = ".keras"
# Bytes a saved model's archive may unpack to before Keras is let open it. sweeplab's
# largest model (cnn-4block-bn-dropout) is 1.1 MB; a 2 MB zip bomb unpacked to 5 GB.
MAX_ARCHIVE_BYTES = 256 * 2**20
MAX_IMAGES_BYTES = 4 * 2**30  # a predict input file's array, at most (N x H x W x C x 4)


class ModelError(FieldError, ValueError):
    """A saved model is missing, unreadable or not the run's. The message says which file."""


def model_file(directory: str | os.PathLike, config_hash: str, seed: int) -> Path:
    """Where a run's model goes: ``DIR/<first 12 hex digits of the config hash>/seed<N>.keras``."""
    return Path(directory) / config_hash[:12] / f"seed{seed}{SUFFIX}"


def build(cfg: S.Config, weights: Sequence[np.ndarray] | None = None) -> Any:
    """The config's Keras model (uncompiled), with ``weights`` (``get_weights()`` order) set."""
    from sweeplab import models

    model = models.build_model(cfg, S.input_shape(cfg), len(S.class_names(cfg)))
    if weights is not None:
        model.set_weights(list(weights))
    return model


def save(cfg: S.Config, weights: Sequence[np.ndarray], path: str | os.PathLike) -> Path:
    """Write the trained model of one run to ``path`` (a ``.keras`` file); returns the path.

    Raises:
        OutputError: the file cannot be written (a full disk, a read-only folder); no part
            of it is left behind.
    """
    path = Path(path)
    tmp = path.with_name(path.stem + ".partial" + SUFFIX)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        build(cfg, weights).save(tmp)
        os.replace(tmp, path)  # a crash mid-write never leaves a half file under the real name
    except OSError as err:
        raise full_disk_error(err, path, "the saved model") from err
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _shapes(model: Any) -> list[tuple[str, tuple[tuple[int, ...], ...]]]:
    return [(type(layer).__name__, tuple(tuple(w.shape) for w in layer.weights))
            for layer in model.layers]


def load(path: str | os.PathLike, cfg: S.Config | None = None) -> Any:
    """Load a saved model with Keras' safe mode on; with ``cfg``, check it is that config's.

    Raises:
        ModelError: the file is missing, is not a Keras model file, or (with ``cfg``) holds
            a model of another architecture.
    """
    from sweeplab.backend import keras

    path = Path(path)
    if not path.is_file():
        raise ModelError.about("saved model {path} does not exist (moved or deleted?); train "
                               "the run again with {save_models:True} to recreate it.",
                               path=path)
    check_archive(path)
    if cfg is not None and cfg.model is not None:  # a user's builder: rebuilt, weights loaded
        return _load_weights_into(build(cfg), path, cfg)
    try:
        model = keras().models.load_model(path, safe_mode=True, compile=False)
    except Exception as err:  # Keras raises ValueError, OSError, zipfile errors, ...
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ModelError(f"{path} is not a Keras model file sweeplab can load ({first}).") \
            from err
    if cfg is not None and _shapes(model) != _shapes(build(cfg)):
        raise ModelError(f"{path} holds a model of another architecture than config "
                         f"{S.config_hash(cfg)[:10]} ({S.describe(cfg)}); it is not this "
                         "run's model.")
    return model


def _load_weights_into(model: Any, path: Path, cfg: S.Config) -> Any:
    """A user's model is rebuilt by calling its builder and only the weights are read from
    the file, so no code or layer config from the file is ever deserialised."""
    try:
        model.load_weights(path)
    except Exception as err:  # a file of another architecture: shapes or layers differ
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ModelError(f"{path} does not hold weights of config {S.config_hash(cfg)[:10]} "
                         f"({S.describe(cfg)}): {first}") from err
    return model


def check_archive(path: Path) -> None:
    """Refuse a file that is not a zip archive, or whose entries would unpack to more than
    :data:`MAX_ARCHIVE_BYTES`, before Keras opens it. The declared sizes bound what is
    unpacked: Python's zipfile stops reading an entry at its declared size.

    Raises:
        ModelError: which of the two, with the file's path.
    """
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is not a .keras model file (not a zip archive).")
    try:
        with zipfile.ZipFile(path) as z:
            total = sum(max(i.file_size, 0) for i in z.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise ModelError(f"{path} is not a readable .keras model file ({err}).") from err
    if total > MAX_ARCHIVE_BYTES:
        raise ModelError(f"{path} would unpack to {total:,} bytes, more than the "
                         f"{MAX_ARCHIVE_BYTES:,} any sweeplab model needs; not opened.")


def read_images(path: str | os.PathLike) -> np.ndarray:
    """A ``.npy`` array of images, its header checked against the file's size before the
    array is read (a 0-byte file, a header declaring 1e9 images, an object array).

    Raises:
        ModelError: one line naming the file and what is wrong.
    """
    path = Path(path)
    fmt = np.lib.format
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            version = fmt.read_magic(f)
            header = (fmt.read_array_header_1_0 if version == (1, 0)
                      else fmt.read_array_header_2_0)
            shape, _, dtype = header(f, max_header_size=10_000)
            offset = f.tell()
    except (OSError, ValueError, EOFError) as err:
        raise ModelError(f"cannot read {path} as a .npy array of images ({err}).") from None
    if dtype.hasobject:
        raise ModelError(f"{path} holds Python objects (dtype {dtype}); images are numbers.")
    need = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if need != size - offset:
        raise ModelError(f"{path} is damaged: its header declares shape {tuple(shape)} "
                         f"({need:,} bytes) but the file holds {size - offset:,} bytes of data.")
    if need > MAX_IMAGES_BYTES:
        raise ModelError(f"{path} holds {need:,} bytes of images, more than the "
                         f"{MAX_IMAGES_BYTES:,} predict reads at once; split it.")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise ModelError(f"cannot read {path} as a .npy array of images ({err}).") from None


def stored_path(store: Store, recorded: str) -> Path:
    """A recorded ``model_path`` as a path: relative ones are relative to the store's folder."""
    p = Path(recorded)
    return p if p.is_absolute() else store.path.resolve().parent / p


def prepare_images(images: np.ndarray, shape: Sequence[int],
                   scaling: str = "uint8/255") -> np.ndarray:
    """Inputs as the models take them: float32, shape (N, H, W, C) or (N, F).

    Accepts one example or a batch, images with or without the channel axis. ``scaling`` is
    the training data's (``spec.DataRef.scaling``): for "uint8/255" (every built-in dataset)
    integer pixels are divided by 255 and floats taken as already in [0, 1]; for "as given"
    (a user's float arrays) numbers are taken as they are, uint8 divided by 255 as
    ``sweeplab.data.scale`` does, and only finiteness is checked.

    Raises:
        ModelError: a shape that does not fit ``shape`` ((H, W, C) or (F,)); values that are
            not finite, or outside [0, 255] (integers) or [0, 1] (floats) for "uint8/255".
    """
    x = np.asarray(images)
    if len(shape) == 1:
        f = int(shape[0])
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != f or x.shape[0] == 0:
            raise ModelError(f"inputs must have shape (N, {f}) (or ({f},) for one example). "
                             f"Received: shape {tuple(x.shape)}")
    else:
        h, w, c = (int(v) for v in shape)
        if x.ndim == 2 or (x.ndim == 3 and x.shape == (h, w, c)):
            x = x[None]
        if x.ndim == 3 and c == 1 and x.shape[1:] == (h, w):
            x = x[..., None]
        if x.ndim != 4 or x.shape[1:] != (h, w, c) or x.shape[0] == 0:
            raise ModelError(f"images must have shape (N, {h}, {w}, {c}) (or (N, {h}, {w}) "
                             f"for one channel, or one image). Received: shape {tuple(x.shape)}")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise ModelError(f"inputs must hold numbers. Received: dtype {x.dtype}")
    if scaling == "as given":
        problem = pixel_problem(x, None)
        if problem:
            raise ModelError(f"inputs: {problem}")
        return data_mod.scale(x)
    if np.issubdtype(x.dtype, np.integer):
        check_pixels(x, 255, "images")
        return (x.astype(np.float32) / np.float32(255.0))
    check_pixels(x, 1, "images")
    return x.astype(np.float32)


def check_pixels(x: np.ndarray, top: float, what: str) -> None:
    """Refuse pixels that are not finite or outside [0, top] (checks.pixel_problem).

    Raises:
        ModelError: there are some; their count and the first's index.
    """
    problem = pixel_problem(x, top)
    if problem:
        raise ModelError(f"{what}: {problem}; integer pixels must be in [0, 255], float "
                         f"pixels in [0, 1].")


class ModelSaver:
    """A run listener (sweeplab.runner.RunListener) that saves every finished run's model.

    The run is already committed when ``run_done`` is called; the file is written, then its
    path recorded. A crash in between leaves a finished run without a model path.
    """

    def __init__(self, store: Store, directory: str | os.PathLike):
        self.store = store
        self.directory = check_dir_destination(directory, "the saved models' directory")
        self.saved: list[Path] = []  # files written by this listener, in order

    def epoch(self, study, planned, seed, record, epochs) -> None:  # noqa: ANN001
        pass

    def run_done(self, study, planned, result: RunResult) -> None:  # noqa: ANN001
        if result.weights is None:
            return  # an engine that returned no weights: nothing to save
        path = save(planned.config, result.weights,
                    model_file(self.directory, result.config_hash, result.seed))
        self.saved.append(path)
        base = self.store.path.resolve().parent
        try:
            recorded = str(path.resolve().relative_to(base))
        except ValueError:  # outside the store's folder: keep it absolute
            recorded = str(path.resolve())
        self.store.set_model_path(result.config_hash, result.seed, recorded)
