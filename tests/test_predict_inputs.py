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
from sweeplab.saved_models import MAX_ARCHIVE_BYTES, ModelError

REF = "tiny:width=4"  # a config of the shared tiny store (tests/conftest.py), models saved


@pytest.fixture(scope="module")
def trained(tiny_store):
    """The shared tiny store: every run's model saved."""
    return sweeplab.open(tiny_store)


@pytest.fixture
def one_line(run_cli):
    """``one_line(*argv)``: the one line ``sweeplab predict REF --seed 0 ARGV`` refuses with."""

    def refused(*argv: str) -> str:
        rc, out, err = run_cli("predict", REF, "--seed", "0", *argv)
        lines = err.strip().splitlines()
        assert rc == 2 and len(lines) == 1 and not out, (rc, lines, out)
        return lines[0]

    return refused


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
def test_pixels_out_of_range_are_refused_with_count_and_first_index(trained, tmp_path, one_line,
                                                                    images, words):
    path = tmp_path / "x.npy"
    np.save(path, images)
    assert words in one_line(path, "--store", trained.path)
    with pytest.raises(ModelError, match=r"pixel value\(s\)"):  # the Python API too
        trained.predict(REF, 0, images)


def test_damaged_npy_files_are_one_line_before_reading(trained, tmp_path, one_line):
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    assert "cannot read" in one_line(empty, "--store", trained.path)
    huge = tmp_path / "huge.npy"  # a header declaring 1e9 images and no data after it
    with open(huge, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "|u1", "fortran_order": False, "shape": (10**9, 28, 28)})
    line = one_line(huge, "--store", trained.path)
    assert "declares shape (1000000000, 28, 28) (784,000,000,000 bytes)" in line
    assert "holds 0 bytes" in line


def test_a_zip_bomb_is_not_opened(tiny_store, store_copy):
    mine = sweeplab.open(store_copy(tiny_store))  # its model file is overwritten here
    path = mine.model_path(REF, 0)
    real = path.read_bytes()
    # One entry declaring MAX_ARCHIVE_BYTES + 1 MB of zeros: ~0.3 MB on disk.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, \
            z.open("model.weights.h5", "w", force_zip64=True) as f:
        chunk = bytes(2**20)
        for _ in range(MAX_ARCHIVE_BYTES // 2**20 + 1):
            f.write(chunk)
    assert path.stat().st_size < 2 * 2**20
    with pytest.raises(ModelError, match="would unpack to 269,484,032 bytes"):
        mine.model(REF, 0)
    Path(path).write_bytes(real)
    assert mine.model(REF, 0) is not None  # the real file loads


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
