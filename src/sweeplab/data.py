"""Datasets: where they are found, how they are read, and small subsets. Knows no models.

Every dataset comes out as float32 examples ((N, H, W, C) or (N, F); uint8 divided by 255,
floats as given), integer labels (N,) and class names. A user's data is identified by a
fingerprint of its content, never its name; so is a built-in file whose arrays are not the
standard ones (``STANDARD_MD5``), so it cannot pass for them.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sweeplab.checks import pixel_problem
from sweeplab.errors import FieldError

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


# MD5 of arr.tobytes() of (x_train, y_train, x_test, y_test) as distributed (the raw uint8
# arrays; /work/shared/data/README.md lists them). A file with other arrays is not the dataset.
STANDARD_MD5: dict[str, tuple[str, str, str, str]] = {
    "mnist": ("6510e85a72c3e9475c492d559d3770d2", "e86ee40d66677c011a9abda399ec8c4d",
              "240610fa99e73bfa49df8e7fc24d3206", "073c3904dfbd3e141ff8aa01cfde6b15"),
    "fashion_mnist": ("f209073e486d5113ebe2cc431d4df862", "3236f6424fc25388b2834cb19942cf7e",
                      "b7656a891b218fc13e45205c48a92cae", "8dea97a4e78c1bd1b5a6e8efbb870b6e"),
    "cifar10": ("17e2cb5a4119d89a4a13e02b91701bff", "69c5f3349be54915edfca558b72ad888",
                "6d2714505047e13831cd876923568712", "251f18ce75337ae9ca5d0dbd7ea62cf4"),
}
SPLITS = ("x_train", "y_train", "x_test", "y_test")


class DataError(FieldError):
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
    fingerprint: str = ""  # content hash (see fingerprint()); "" = the standard built-in data
    scaling: str = "uint8/255"  # how x was scaled: "uint8/255" or "as given" (floats)
    # The validation split (hold_out): examples taken out of the training split; None = none.
    x_val: np.ndarray | None = field(default=None, repr=False)
    y_val: np.ndarray | None = field(default=None, repr=False)
    validation: float | None = None  # the fraction of the training split held out

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
    """The data directories looked in, in order, each with why it is looked in.

    A directory given explicitly is the only one: a dataset missing there is an error, not
    a reason to train silently on a copy found elsewhere.
    """
    if data_dir is not None:
        return [("--data-dir", Path(data_dir).expanduser())]
    dirs: list[tuple[str, Path]] = []
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
            out = {}
            for k in keys:
                try:
                    out[k] = archive[k]
                except ValueError as err:
                    if "allow_pickle" not in str(err):
                        raise
                    raise DataError(
                        f"{path}: {k} is an array of Python objects, which sweeplab does not "
                        f"unpickle (loading one can run code); save it as plain values, e.g. "
                        f"np.savez(..., {k}=np.asarray({k}, dtype=str))") from None
            return out
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


VALIDATION_SEED = 20_231  # the hold-out's own seed: the same examples for every run's seed


def validation_indices(labels: np.ndarray, fraction: float) -> np.ndarray:
    """Indices (sorted) of a stratified hold-out of ``fraction`` of ``labels``: each class
    gives round(fraction x its count) examples drawn by :data:`VALIDATION_SEED`, so the split
    is the same for every seed of every run and on every machine."""
    rng = np.random.default_rng(VALIDATION_SEED)
    keep = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = int(round(fraction * len(idx)))
        keep.append(np.sort(rng.permutation(idx)[:k]))
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, np.int64)


def hold_out(ds: Dataset, fraction: float | None) -> Dataset:
    """``ds`` with a stratified ``fraction`` of its training split moved to a validation
    split (``x_val``, ``y_val``); the test split is not touched. None: ``ds`` as it is."""
    if not fraction:
        return ds
    val = validation_indices(ds.y_train, fraction)
    train = np.setdiff1d(np.arange(len(ds.y_train)), val, assume_unique=True)
    if len(val) == 0 or len(train) == 0:
        raise DataError(f"validation = {fraction:g} of {len(ds.y_train)} training examples "
                        f"leaves {len(val)} for validation and {len(train)} for training; "
                        f"both need at least one. Use a larger subset or another fraction.")
    return dataclasses.replace(ds, x_train=ds.x_train[train], y_train=ds.y_train[train],
                               x_val=ds.x_train[val], y_val=ds.y_train[val],
                               validation=fraction)


def _prepare(x: np.ndarray, y: np.ndarray, subset: int | None) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).reshape(-1).astype(np.int32)
    if subset is not None:
        idx = stratified_indices(y, subset)
        x, y = x[idx], y[idx]
    x = scale(x)
    if x.ndim == 3:
        x = x[..., None]
    return np.ascontiguousarray(x), y


ALIGN = 64  # bytes: TensorFlow shares (does not copy) an array aligned to this (AVX-512)


def scale(x: np.ndarray) -> np.ndarray:
    """float32 examples: uint8 divided by 255, floats as given (never divided twice), in a
    buffer aligned to ALIGN bytes, so that an engine can hand it to TensorFlow without a
    copy."""
    buf = np.empty(x.size * 4 + ALIGN, np.uint8)
    start = -buf.ctypes.data % ALIGN
    out = buf[start:start + x.size * 4].view(np.float32).reshape(x.shape)
    out[...] = x  # uint8 -> float32 exactly, as astype
    if x.dtype == np.uint8:
        out /= np.float32(255.0)
    return out


def scaling_of(x: np.ndarray) -> str:
    return "uint8/255" if x.dtype == np.uint8 else "as given"


def load(
    name: str,
    data_dir: str | os.PathLike | None = None,
    subset: int | None = None,
    allow_download: bool = True,
) -> Dataset:
    """Load dataset ``name`` from ``data_dir`` alone when given (no download); else from
    ``$SWEEPLAB_DATA``, Keras' cache, then ``keras.datasets`` when ``allow_download``.
    ``subset`` keeps a stratified sample of each split (:func:`stratified_indices`; test at
    most ``subset`` too).

    Raises:
        DataError: unknown name, bad subset, no file anywhere, or a corrupt file.
    """
    if subset is not None and (not isinstance(subset, int) or subset < 10):
        raise DataError(f"subset must be an integer >= 10. Received: subset={subset!r}")
    if name in _USER:  # a user's data made known in this process (Arrays, a study file's)
        return _USER[name].subset(subset)
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
    elif allow_download and data_dir is None:
        try:
            arrays = _download(name)
        except Exception as err:  # any failure of the network fetch ends the same way
            raise _not_found(name, data_dir, err) from err
        source = f"keras.datasets.{name} (cache {KERAS_CACHE})"
    else:
        raise _not_found(name, data_dir, None)
    _check_arrays(meta, source, arrays)
    md5 = _md5s_cached(paths, arrays) if paths is not None else _md5s(arrays)
    standard = name not in STANDARD_MD5 or md5 == STANDARD_MD5[name]
    x_train, y_train = _prepare(arrays[0], arrays[1], subset)
    x_test, y_test = _prepare(arrays[2], arrays[3], subset)
    return Dataset(name, x_train, y_train, x_test, y_test, meta.class_names, source, subset,
                   "" if standard else _combine(arrays, md5), scaling_of(arrays[0]))


def _not_found(name: str, data_dir: str | None, err: Exception | None) -> DataError:
    meta = info(name)
    files = " + ".join(meta.files[0])
    if data_dir is not None:
        d = Path(data_dir).expanduser()
        why = f"it holds no {files}" if d.is_dir() else "no such directory"
        return DataError.about(
            "Dataset {name!r} not found in {d}, given as {data_dir} ({why}); a data directory "
            "given explicitly is the only place looked. Fix: pass {data_dir:DIR} with a "
            "directory holding {files}, or leave it out to use ${env}, the Keras cache or a "
            "download.", name=name, d=d, why=why, files=files, env=ENV_VAR)
    looked = "; ".join(
        f"{why} {d} (for {' + '.join(layout)})"
        for why, d in search_dirs(data_dir) for layout in meta.files[:1]
    )
    tail = f"; download through keras.datasets failed: {type(err).__name__}: {err}" if err else ""
    return DataError.about(
        "Dataset {name!r} not found. Looked in: {looked}. Fix: pass {data_dir:DIR} (or set "
        "${env}) to a directory holding {files}, or go online so Keras can download it.",
        name=name, looked=looked + tail, files=files, env=ENV_VAR)


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


# --- fingerprints -----------------------------------------------------------------------

def _md5s(arrays: Sequence[np.ndarray]) -> tuple[str, ...]:
    """MD5 of each array's raw bytes (``arr.tobytes()``, as STANDARD_MD5 lists them)."""
    return tuple(hashlib.md5(np.ascontiguousarray(a).reshape(-1).view(np.uint8)).hexdigest()
                 for a in arrays)


def _combine(arrays: Sequence[np.ndarray], md5: Sequence[str]) -> str:
    """The fingerprint: sha256 over each array's dtype, shape and MD5, 16 hex digits."""
    text = json.dumps([[a.dtype.str, list(a.shape), m] for a, m in zip(arrays, md5,
                                                                       strict=True)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(arrays: Sequence[np.ndarray]) -> str:
    """A content hash of (x_train, y_train, x_test, y_test): equal arrays, equal hash."""
    return _combine(arrays, _md5s(arrays))


def _cache_file() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "sweeplab" / \
        "fingerprints.json"


def _md5s_cached(paths: Sequence[Path], arrays: Sequence[np.ndarray]) -> tuple[str, ...]:
    """The arrays' MD5s, remembered by the files' paths, sizes and modification times (a
    changed file has another size or mtime), so a big dataset is hashed once per machine."""
    stats = [os.stat(p) for p in paths]
    key = json.dumps([[str(Path(p).resolve()), s.st_size, s.st_mtime_ns]
                      for p, s in zip(paths, stats, strict=True)])
    cache_file = _cache_file()
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    if isinstance(cache.get(key), list):
        return tuple(cache[key])
    md5 = _md5s(arrays)
    cache[key] = list(md5)
    try:  # a read-only home only costs hashing again next time
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, cache_file)
    except OSError:
        pass
    return md5


# --- a user's own data ------------------------------------------------------------------

_USER: dict[str, Arrays] = {}  # name -> the user's data made known in this process
_BY_PRINT: dict[str, Arrays] = {}  # fingerprint -> the same


def _refuse(where: str, problem: str) -> None:
    raise DataError(f"{where}: {problem}")


class Arrays:
    """A user's dataset: ``Study.build(..., dataset=Arrays(x_train, y_train, x_test, y_test))``.

    Examples are images (N, H, W, C) or (N, H, W), or vectors (N, F); uint8 is divided by 255,
    floats are used as given. Labels are integers 0..K-1 (named by ``class_names``, default
    "0", "1", ...), or labels as users have them (strings, floats, booleans): the classes are
    then their sorted distinct values (or ``class_names``' order) and
    ``Results.predict_classes`` answers in them. ``name`` is for display; the identity is the
    content's fingerprint.

    Raises:
        DataError: one line naming the split and the problem.
    """

    def __init__(self, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                 y_test: np.ndarray, class_names: Sequence[str] | None = None,
                 name: str = "arrays", source: str = ""):
        if not isinstance(name, str) or not name.isprintable() or not name.strip():
            raise DataError(f"name must be a one-line string. Received: name={name!r}")
        if name in DATASETS:
            raise DataError(f"name {name!r} is a built-in dataset's; give your data another "
                            "name (its identity is its content, the name is for people)")
        raw = [_plain(np.asarray(a)) for a in (x_train, y_train, x_test, y_test)]
        where = f"dataset {name!r}" + (f" ({source})" if source else "")
        for split, x, y in (("train", raw[0], raw[1]), ("test", raw[2], raw[3])):
            _check_split(where, split, x, y)
        if raw[0].shape[1:] != raw[2].shape[1:]:
            _refuse(where, f"x_train examples have shape {raw[0].shape[1:]} but x_test "
                    f"examples {raw[2].shape[1:]}; both splits need the same shape")
        labels = [raw[1], raw[3]]  # class indices; raw keeps the labels as given (identity)
        if _integer(raw[1]) and _integer(raw[3]):
            top = int(max(raw[1].max(), raw[3].max()))
            names = tuple(str(i) for i in range(top + 1)) if class_names is None else tuple(
                str(c) for c in class_names)
        else:
            names, labels = _encode_labels(where, raw[1], raw[3], class_names)
        if len(names) < 2:
            _refuse(where, f"a classifier needs at least 2 classes. Received: {len(names)}")
        for split, y in (("train", labels[0]), ("test", labels[1])):
            if y.max() >= len(names):
                _refuse(where, f"{split} split: labels go up to {int(y.max())} but there are "
                        f"{len(names)} class names; labels must be in 0..{len(names) - 1}")
            missing = np.setdiff1d(np.arange(len(names)), y)
            if missing.size:
                c = int(missing[0])
                _refuse(where, f"{split} split has no example of class {c} ({names[c]!r}); "
                        "every class needs examples in both splits to be measured")
        self.name = name
        self.source = source
        self.class_names = names
        self.fingerprint = fingerprint(raw)
        self.scaling = scaling_of(raw[0])
        x_tr, y_tr = _prepare(raw[0], labels[0], None)
        x_te, y_te = _prepare(raw[2], labels[1], None)
        self.dataset = Dataset(name, x_tr, y_tr, x_te, y_te, names, source or "arrays",
                               None, self.fingerprint, self.scaling)
        _USER[name] = self
        _BY_PRINT[self.fingerprint] = self

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.dataset.x_train.shape[1:])

    def ref(self) -> dict:
        """The config's ``data`` dict (sweeplab.spec.DataRef)."""
        return {"name": self.name, "fingerprint": self.fingerprint, "shape": list(self.shape),
                "class_names": list(self.class_names), "scaling": self.scaling,
                "source": self.source}

    def subset(self, n: int | None) -> Dataset:
        d = self.dataset
        if n is None:
            return d
        i, j = stratified_indices(d.y_train, n), stratified_indices(d.y_test, n)
        return Dataset(d.name, d.x_train[i], d.y_train[i], d.x_test[j], d.y_test[j],
                       d.class_names, d.source, n, d.fingerprint, d.scaling)

    def __repr__(self) -> str:
        return (f"Arrays({self.name!r}, train {self.dataset.x_train.shape}, test "
                f"{self.dataset.x_test.shape}, {len(self.class_names)} classes, "
                f"{self.scaling}, fingerprint {self.fingerprint})")


def _check_split(where: str, split: str, x: np.ndarray, y: np.ndarray) -> None:
    xn, yn = f"x_{split}", f"y_{split}"
    if x.ndim not in (2, 3, 4):
        _refuse(where, f"{xn} must be images (N, H, W[, C]) or feature vectors (N, F). "
                f"Received: shape {x.shape}")
    if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
        _refuse(where, f"{xn} must be uint8 (divided by 255) or float (used as given). "
                f"Received: dtype {x.dtype}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    if y.ndim != 1:
        _refuse(where, f"{yn} must be class labels of shape (N,) (integers 0..K-1, or any "
                f"sortable values such as strings). Received: shape {y.shape}")
    if y.dtype.kind not in LABEL_KINDS:
        _refuse(where, f"{yn} must be integers 0..K-1 or sortable values (strings, numbers, "
                f"booleans). Received: dtype {y.dtype}")
    if len(x) == 0 or len(y) == 0:
        _refuse(where, f"{split} split is empty ({xn} has {len(x)} examples)")
    if len(x) != len(y):
        _refuse(where, f"{split} split: {xn} has {len(x)} examples but {yn} has {len(y)} "
                "labels; they must be equal")
    if _integer(y) and len(y) and y.min() < 0:
        _refuse(where, f"{split} split: {yn} holds a negative label ({int(y.min())}); "
                "labels must be in 0..K-1")
    if x.dtype != np.uint8:
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        if bad:
            _refuse(where, f"{split} split: {xn} holds {bad} NaN or infinite values")


LABEL_KINDS = "iubfUS"  # dtype kinds a label array may have: integers, bool, float, text


def _integer(y: np.ndarray) -> bool:
    """Integer labels are class indices 0..K-1, as they always were (their hashes too)."""
    return np.issubdtype(y.dtype, np.integer)


def _plain(a: np.ndarray) -> np.ndarray:
    """An object array (a pandas column of strings, a list of mixed Python values) as the
    plain array NumPy makes of its values: its bytes are then its content (fingerprint)."""
    if a.dtype != object:
        return a
    try:
        return np.asarray(a.tolist())
    except ValueError:  # ragged: left as it is, refused by the checks with its shape
        return a


def _text(v: object) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _encode_labels(where: str, y_train: np.ndarray, y_test: np.ndarray,
                   class_names: Sequence[str] | None
                   ) -> tuple[tuple[str, ...], list[np.ndarray]]:
    """Labels as users have them (strings, floats, booleans): the classes are the sorted
    distinct values of both splits (or ``class_names``' order, which must name each of
    them), each named by its text; returns the names and both splits' class indices."""
    ytr, yte = y_train.reshape(-1), y_test.reshape(-1)
    if ytr.dtype.kind != yte.dtype.kind and not {ytr.dtype.kind, yte.dtype.kind} <= set("iu"):
        _refuse(where, f"y_train holds {ytr.dtype} labels but y_test {yte.dtype}; both splits "
                "need labels of one kind (all strings, or all numbers)")
    both = np.concatenate([ytr, yte])
    if both.dtype.kind == "f" and not np.isfinite(both).all():
        _refuse(where, "labels hold NaN or infinite values; every example needs a class")
    classes = np.unique(both)  # sorted
    found = [_text(v) for v in classes]
    if len(set(found)) < len(found):
        _refuse(where, f"labels {found} name a class twice as text; give each class one "
                "spelling")
    if class_names is None:
        names = tuple(found)
    else:
        names = tuple(str(c) for c in class_names)
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            _refuse(where, f"class_names names {twice[0]!r} twice; each class once")
        extra = [f for f in found if f not in names]
        if extra:
            _refuse(where, f"label {extra[0]!r} is not one of class_names {list(names)}; "
                    "class_names must name every label (or leave it out: the sorted labels)")
    order = {n: i for i, n in enumerate(names)}
    lut = np.array([order[f] for f in found], np.int64)
    return names, [lut[np.searchsorted(classes, y)] for y in (ytr, yte)]


def read_npz(path: str | os.PathLike, name: str | None = None) -> Arrays:
    """A user's ``.npz`` (x_train, y_train, x_test, y_test, optional class_names).

    Raises:
        DataError: unreadable file, missing arrays, or bad data (one line).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"dataset file {p} does not exist")
    arr = _read_npz(p, SPLITS)
    try:
        with np.load(p, allow_pickle=False) as archive:
            names = archive["class_names"].tolist() if "class_names" in archive.files else None
    except ValueError as err:
        raise DataError(f"{p}: class_names must be an array of strings ({err})") from None
    return Arrays(*(arr[k] for k in SPLITS), class_names=names, name=name or p.stem,
                  source=str(p.resolve()))


def read_images(folder: str | os.PathLike, name: str | None = None) -> Arrays:
    """A folder ``DIR/train/<class>/*`` and ``DIR/test/<class>/*`` of images, read with
    Keras' ``image_dataset_from_directory`` (classes in alphabetical order, uint8 pixels).

    Raises:
        DataError: no such folder, a split missing, or the two splits' classes differ.
    """
    from sweeplab.backend import keras

    root = Path(folder)
    out, names = [], None
    for split in ("train", "test"):
        d = root / split
        if not d.is_dir():
            raise DataError(f"image folder {root} needs {split}/<class>/ subfolders; "
                            f"{d} is missing")
        try:
            ds = keras().utils.image_dataset_from_directory(
                d, labels="inferred", label_mode="int", batch_size=None, shuffle=False,
                image_size=_image_size(d), color_mode=_color_mode(d), verbose=False)
        except ValueError as err:
            raise DataError(f"image folder {d}: {str(err).splitlines()[0]}") from None
        if names is not None and list(ds.class_names) != names:
            raise DataError(f"image folder {root}: train classes {names} but test classes "
                            f"{list(ds.class_names)}; both splits need the same classes")
        names = list(ds.class_names)
        xs, ys = zip(*[(np.asarray(x), np.asarray(y)) for x, y in ds], strict=True) if len(
            ds) else ((), ())
        out += [np.stack(xs).astype(np.uint8) if xs else np.zeros((0, 1, 1, 1), np.uint8),
                np.asarray(ys, np.int64)]
    return Arrays(*out, class_names=names, name=name or root.name, source=str(root.resolve()))


def _first_image(d: Path) -> Path:
    for p in sorted(d.rglob("*")):
        if p.is_file():
            return p
    raise DataError(f"image folder {d} holds no images")


def _image_size(d: Path) -> tuple[int, int]:
    """The first image's size: Keras resizes every image to it (it needs one size)."""
    from PIL import Image

    with Image.open(_first_image(d)) as im:
        return im.height, im.width


def _color_mode(d: Path) -> str:
    from PIL import Image

    with Image.open(_first_image(d)) as im:
        return "grayscale" if im.mode in ("L", "1", "I;16") else "rgb"


def arrays_for(ref: dict) -> Arrays:
    """The user's data named by a config's ``data`` dict: already in this process, or read
    again from its file or folder (and checked to be the same content).

    Raises:
        DataError: not in this process and no file to read, or the file changed.
    """
    have = _BY_PRINT.get(ref["fingerprint"])
    if have is not None:
        return have
    source = ref.get("source", "")
    if not source:
        raise DataError(f"dataset {ref['name']!r} was given as arrays in another process; "
                        "pass the same Arrays (sweeplab.Arrays) to run it again")
    if ref["name"] in DATASETS:
        raise DataError.about("dataset {name!r} from {source} is not the standard data; run "
                              "it with that {data_dir}", name=ref["name"], source=source)
    p = Path(source)
    arrays = read_images(p, ref["name"]) if p.is_dir() else read_npz(p, ref["name"])
    if arrays.fingerprint != ref["fingerprint"]:
        raise DataError(f"{source} changed since the study was defined (fingerprint "
                        f"{arrays.fingerprint}, the study's {ref['fingerprint']}); load the "
                        "study again: the new content is a new dataset")
    return arrays
