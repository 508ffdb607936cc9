"""Datasets: where they are found, how they are read, and small subsets.

Knows nothing of models. Every dataset comes out the same way: float32 pixels in
[0, 1] with a channel axis (N, H, W, C), integer labels (N,), class names.
"""

from __future__ import annotations

import functools
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sweeplab.checks import pixel_problem

ENV_VAR = "SWEEPLAB_DATA"
KERAS_CACHE = Path("~/.keras/datasets").expanduser()


@dataclass(frozen=True)
class DatasetInfo:
    """What sweeplab knows about a dataset before it is loaded."""

    name: str  # name used in studies and on the command line
    files: tuple[tuple[str, ...], ...]  # accepted file layouts in a data dir, first match wins
    shape: tuple[int, int, int]  # one image, (height, width, channels)
    class_names: tuple[str, ...]  # label i is class_names[i]
    n_train: int  # images in the full training split
    n_test: int  # images in the full test split


DIGITS = tuple(str(i) for i in range(10))
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", (("mnist.npz",),), (28, 28, 1), DIGITS, 60000, 10000),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", (("fashion_mnist.npz",), ("fashion-mnist.npz",)), (28, 28, 1),
        FASHION_CLASSES, 60000, 10000,
    ),
    "cifar10": DatasetInfo(
        "cifar10",
        (("cifar10_train_part1.npz", "cifar10_train_part2.npz", "cifar10_test.npz"),
         ("cifar10.npz",)),
        (32, 32, 3), CIFAR10_CLASSES, 50000, 10000,
    ),
    "cifar100": DatasetInfo(
        "cifar100", (("cifar100.npz",),), (32, 32, 3),
        tuple(f"class_{i}" for i in range(100)), 50000, 10000,
    ),
}


class DataError(Exception):
    """A dataset could not be found or read. The message says where and how to fix it."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """One dataset in memory, ready for training."""

    name: str  # key in DATASETS
    x_train: np.ndarray = field(repr=False)  # float32 (N, H, W, C) in [0, 1]
    y_train: np.ndarray = field(repr=False)  # int32 (N,)
    x_test: np.ndarray = field(repr=False)  # float32 (M, H, W, C) in [0, 1]
    y_test: np.ndarray = field(repr=False)  # int32 (M,)
    class_names: tuple[str, ...]  # label i is class_names[i]
    source: str  # file(s) or "keras.datasets" it came from
    subset: int | None = None  # images per split kept by the stratified subset, None = all

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def info(name: str) -> DatasetInfo:
    """Look up a dataset by name.

    Raises:
        DataError: the name is not a known dataset.
    """
    if name not in DATASETS:
        raise DataError(
            f"Unknown dataset {name!r}. Allowed: {', '.join(sorted(DATASETS))}."
        )
    return DATASETS[name]


def search_dirs(data_dir: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """The data directories looked in, in order, each with why it is looked in."""
    dirs: list[tuple[str, Path]] = []
    if data_dir is not None:
        dirs.append(("--data-dir", Path(data_dir).expanduser()))
    if os.environ.get(ENV_VAR):
        dirs.append((f"${ENV_VAR}", Path(os.environ[ENV_VAR]).expanduser()))
    dirs.append(("Keras cache", KERAS_CACHE))
    return dirs


def locate(name: str, data_dir: str | os.PathLike | None = None) -> tuple[Path, ...] | None:
    """The files holding ``name`` in the first directory that has them, or None."""
    meta = info(name)
    for _, directory in search_dirs(data_dir):
        for layout in meta.files:
            paths = tuple(directory / f for f in layout)
            if all(p.is_file() for p in paths):
                return paths
    return None


def _read_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise DataError(
                    f"{path} is not a sweeplab/Keras dataset file: arrays {missing} are missing "
                    f"(found {sorted(archive.files)}; expected {list(keys)})."
                )
            return {k: archive[k] for k in keys}
    except DataError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as err:
        raise DataError(
            f"{path} is corrupt or truncated and cannot be read ({type(err).__name__}: {err}). "
            "Replace it with a good copy, or delete it so that sweeplab looks elsewhere."
        ) from err


def _read_files(meta: DatasetInfo, paths: tuple[Path, ...]) -> tuple[np.ndarray, ...]:
    if len(paths) == 3:  # the split CIFAR-10 layout of ../shared/data
        p1 = _read_npz(paths[0], ("x_train", "y_train"))
        p2 = _read_npz(paths[1], ("x_train", "y_train"))
        te = _read_npz(paths[2], ("x_test", "y_test"))
        x_train = np.concatenate([p1["x_train"], p2["x_train"]])
        y_train = np.concatenate([p1["y_train"], p2["y_train"]])
        return x_train, y_train, te["x_test"], te["y_test"]
    arr = _read_npz(paths[0], ("x_train", "y_train", "x_test", "y_test"))
    return arr["x_train"], arr["y_train"], arr["x_test"], arr["y_test"]


def _download(name: str) -> tuple[np.ndarray, ...]:
    from sweeplab.backend import keras

    loader = getattr(keras().datasets, name)
    (x_train, y_train), (x_test, y_test) = loader.load_data()
    return x_train, y_train, x_test, y_test


def _check_arrays(meta: DatasetInfo, source: str, arrays: tuple[np.ndarray, ...]) -> None:
    x_train, y_train, x_test, y_test = arrays
    h, w, c = meta.shape
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        ok_shape = x.ndim in (3, 4) and x.shape[1:3] == (h, w) and (x.ndim == 3 or x.shape[3] == c)
        if not ok_shape or len(x) != len(y) or len(x) == 0:
            raise DataError(
                f"{source}: {split} arrays have shapes x{x.shape}, y{y.shape}; expected "
                f"x(N, {h}, {w}{'' if c == 1 else ', ' + str(c)}) and y(N,) for {meta.name}."
            )
        problem = pixel_problem(x, 255)  # NaN or 65535 would train silently
        if problem:
            raise DataError(f"{source}: {split} images: {problem}; pixels must be in [0, 255].")
        if y.size and (y.min() < 0 or y.max() >= len(meta.class_names)):
            raise DataError(
                f"{source}: {split} labels range over [{y.min()}, {y.max()}]; "
                f"{meta.name} has {len(meta.class_names)} classes."
            )


def stratified_indices(labels: np.ndarray, n: int) -> np.ndarray:
    """Indices of a deterministic stratified sample of ``n`` items.

    Each class gets a share proportional to its frequency (largest remainder),
    filled by the first items of that class in original order; the result keeps
    the original order. No randomness, so a subset is the same on every machine.
    """
    if n >= len(labels):
        return np.arange(len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * n / len(labels)
    quota = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - quota), kind="stable")[: n - quota.sum()]:
        quota[i] += 1
    keep = [np.flatnonzero(labels == c)[:q] for c, q in zip(classes, quota, strict=True)]
    return np.sort(np.concatenate(keep))


def _prepare(x: np.ndarray, y: np.ndarray, subset: int | None) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).reshape(-1).astype(np.int32)
    if subset is not None:
        idx = stratified_indices(y, subset)
        x, y = x[idx], y[idx]
    x = x.astype(np.float32) / np.float32(255.0)
    if x.ndim == 3:
        x = x[..., None]
    return np.ascontiguousarray(x), y


def load(
    name: str,
    data_dir: str | os.PathLike | None = None,
    subset: int | None = None,
    allow_download: bool = True,
) -> Dataset:
    """Load a dataset: ``data_dir``, then ``$SWEEPLAB_DATA``, then Keras' cache, then a download.

    Args:
        name: a key of DATASETS.
        data_dir: a directory to look in first.
        subset: keep a stratified ``subset`` images of each split (see
            :func:`stratified_indices`); the test split is cut to at most ``subset`` too.
        allow_download: fall back to ``keras.datasets`` (which uses its cache first).

    Raises:
        DataError: unknown name, bad subset, no file anywhere, or a corrupt file.
    """
    if subset is not None and (not isinstance(subset, int) or subset < 10):
        raise DataError(f"subset must be an integer >= 10. Received: subset={subset!r}")
    return _load_cached(name, str(data_dir) if data_dir is not None else None, subset,
                        allow_download, os.environ.get(ENV_VAR))


@functools.lru_cache(maxsize=4)
def _load_cached(name: str, data_dir: str | None, subset: int | None,
                 allow_download: bool, _env: str | None) -> Dataset:
    meta = info(name)
    paths = locate(name, data_dir)
    if paths is not None:
        source = " + ".join(str(p) for p in paths)
        arrays = _read_files(meta, paths)
    elif allow_download:
        try:
            arrays = _download(name)
        except Exception as err:  # any failure of the network fetch ends the same way
            raise DataError(_not_found_message(name, data_dir, err)) from err
        source = f"keras.datasets.{name} (cache {KERAS_CACHE})"
    else:
        raise DataError(_not_found_message(name, data_dir, None))
    _check_arrays(meta, source, arrays)
    x_train, y_train = _prepare(arrays[0], arrays[1], subset)
    x_test, y_test = _prepare(arrays[2], arrays[3], subset)
    return Dataset(name, x_train, y_train, x_test, y_test, meta.class_names, source, subset)


def _not_found_message(name: str, data_dir: str | None, err: Exception | None) -> str:
    meta = info(name)
    looked = "; ".join(
        f"{why} {d} (for {' + '.join(layout)})"
        for why, d in search_dirs(data_dir) for layout in meta.files[:1]
    )
    tail = f"; download through keras.datasets failed: {type(err).__name__}: {err}" if err else ""
    return (
        f"Dataset {name!r} not found. Looked in: {looked}{tail}. "
        f"Fix: pass --data-dir DIR (or set ${ENV_VAR}) to a directory holding "
        f"{' + '.join(meta.files[0])}, or go online so Keras can download it."
    )


def describe(name: str, data_dir: str | os.PathLike | None = None) -> dict:
    """Where a dataset is found and what it holds, without raising for a missing file."""
    meta = info(name)
    paths = locate(name, data_dir)
    row: dict = {"name": name, "found": str(paths[0].parent) if paths else None,
                 "files": [p.name for p in paths] if paths else [], "error": None}
    if paths is None:
        row["error"] = "not found locally (would download through keras.datasets when online)"
        return row
    try:
        ds = load(name, data_dir, allow_download=False)
    except DataError as err:
        row["error"] = str(err)
        return row
    row.update(
        train_shape=tuple(ds.x_train.shape), test_shape=tuple(ds.x_test.shape),
        train_counts=np.bincount(ds.y_train, minlength=len(meta.class_names)).tolist(),
        test_counts=np.bincount(ds.y_test, minlength=len(meta.class_names)).tolist(),
    )
    return row
