"""`predict` checks what its inputs hold before anything heavy: the .npy header against the
file's size, the images' shape and pixel values (before TensorFlow is imported), and a saved
model's archive sizes before Keras opens it."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import sweeplab
from sweeplab import cli
from sweeplab.saved_models import MAX_ARCHIVE_BYTES, ModelError

REF = "p:width=8"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    """One run (64 images, 1 epoch) with its model saved."""
    db = tmp_path_factory.mktemp("predict") / "s.db"
    study = sweeplab.Study.build("p", model="mlp-softmax-ce", dataset="mnist", seeds=1,
                                 epochs=1, subset=64,
                                 axes=[{"name": "width", "paths": "layers.1.units",
                                        "values": [8]}])
    return sweeplab.run(study, store=db, data_dir=data_dir, engine="fast", progress=False,
                        save_models=True)


def _one_line(capsys, *argv: str) -> str:
    assert cli.main(["predict", REF, "--seed", "0", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_a_wrong_shape_is_refused_without_importing_tensorflow(trained, tmp_path):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((3, 27, 28), np.uint8))
    # A fresh interpreter: the refusal, then TensorFlow's import, each timed in that process.
    # The claim is about imports, not speed: timings are printed for the record only.
    code = f"""
import io, contextlib, json, sys, time
from sweeplab import cli
t0 = time.perf_counter()
err = io.StringIO()
with contextlib.redirect_stderr(err):
    rc = cli.main(["predict", {REF!r}, "--seed", "0", {str(bad)!r}, "--store",
                   {str(trained.path)!r}])
refuse = time.perf_counter() - t0
imported = "tensorflow" in sys.modules or "keras" in sys.modules
t0 = time.perf_counter()
import tensorflow
print(json.dumps(dict(rc=rc, err=err.getvalue(), imported=imported, refuse_s=refuse,
                      tf_import_s=time.perf_counter() - t0)))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"refusal {got['refuse_s']:.2f} s, TensorFlow import {got['tf_import_s']:.2f} s")
    assert got["rc"] == 2 and not got["imported"]
    assert got["err"].count("\n") == 1 and "shape (3, 27, 28)" in got["err"]


@pytest.mark.parametrize("images, words", [
    (np.array([[[0.5, np.nan], [np.inf, 0.2]]] * 2, np.float32).repeat(14, 1).repeat(14, 2),
     "784 pixel value(s) are not finite numbers in [0, 1] (the first at index (0, 0, 14, 0): "
     "nan)"),
    (np.full((1, 28, 28), 65535, np.uint16), "784 pixel value(s) are not finite numbers in "
     "[0, 255] (the first at index (0, 0, 0, 0): 65535)"),
    (np.full((1, 28, 28), -0.5, np.float64), "784 pixel value(s)"),
])
def test_pixels_out_of_range_are_refused_with_count_and_first_index(trained, tmp_path, capsys,
                                                                    images, words):
    path = tmp_path / "x.npy"
    np.save(path, images)
    assert words in _one_line(capsys, str(path), "--store", str(trained.path))
    with pytest.raises(ModelError, match=r"pixel value\(s\)"):  # the Python API too
        trained.predict(REF, 0, images)


def test_damaged_npy_files_are_one_line_before_reading(trained, tmp_path, capsys):
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    assert "cannot read" in _one_line(capsys, str(empty), "--store", str(trained.path))
    huge = tmp_path / "huge.npy"  # a header declaring 1e9 images and no data after it
    with open(huge, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "|u1", "fortran_order": False, "shape": (10**9, 28, 28)})
    line = _one_line(capsys, str(huge), "--store", str(trained.path))
    assert "declares shape (1000000000, 28, 28) (784,000,000,000 bytes)" in line
    assert "holds 0 bytes" in line


def test_a_zip_bomb_is_not_opened(trained, tmp_path):
    path = trained.model_path(REF, 0)
    real = path.read_bytes()
    try:
        # One entry declaring MAX_ARCHIVE_BYTES + 1 MB of zeros: ~0.3 MB on disk.
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, \
                z.open("model.weights.h5", "w", force_zip64=True) as f:
            chunk = bytes(2**20)
            for _ in range(MAX_ARCHIVE_BYTES // 2**20 + 1):
                f.write(chunk)
        assert path.stat().st_size < 2 * 2**20
        with pytest.raises(ModelError, match="would unpack to 269,484,032 bytes"):
            trained.model(REF, 0)
    finally:
        Path(path).write_bytes(real)
    assert trained.model(REF, 0) is not None  # the real file still loads


def test_a_dataset_with_nan_or_out_of_range_pixels_is_refused(tmp_path):
    from sweeplab import data as data_mod

    x = np.zeros((20, 28, 28), np.float32)
    x[3, 4, 5] = np.nan
    x[7, 0, 0] = 300.0
    y = np.arange(20) % 10
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y, x_test=x[:10] * 0, y_test=y[:10])
    with pytest.raises(data_mod.DataError, match=r"train images: 2 pixel value\(s\) are not "
                       r"finite numbers in \[0, 255\] \(the first at index \(3, 4, 5\): nan\)"):
        data_mod.load("mnist", tmp_path, allow_download=False)
