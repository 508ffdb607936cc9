"""Datasets: lookup order, the shared .npz layout, subsets, clear errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from sweeplab import data


def test_mnist_from_data_dir_scaled_with_channel(data_dir):
    ds = data.load("mnist", data_dir)
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert ds.x_train.dtype == np.float32 and 0.0 == ds.x_train.min() and ds.x_train.max() == 1.0
    assert ds.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert abs(float(ds.x_train.mean()) - 0.13066) < 1e-4  # the README's pixel mean
    assert "mnist.npz" in ds.source


def test_cifar10_joins_the_two_training_parts(data_dir):
    ds = data.load("cifar10", data_dir, subset=1000)
    assert ds.x_train.shape == (1000, 32, 32, 3)
    assert ds.class_names[0] == "airplane" and ds.class_names[9] == "truck"
    full = data.locate("cifar10", data_dir)
    assert [p.name for p in full] == ["cifar10_train_part1.npz", "cifar10_train_part2.npz",
                                      "cifar10_test.npz"]


def test_stratified_subset_keeps_class_proportions_and_order():
    labels = np.array([0] * 60 + [1] * 30 + [2] * 10)
    idx = data.stratified_indices(labels, 10)
    assert np.bincount(labels[idx]).tolist() == [6, 3, 1]
    assert (np.diff(idx) > 0).all()
    assert idx.tolist() == [0, 1, 2, 3, 4, 5, 60, 61, 62, 90]


def test_subset_of_real_mnist_is_deterministic(data_dir):
    a = data.load("mnist", data_dir, subset=2000)
    b = data._load_cached.__wrapped__("mnist", data_dir, 2000, True, None)
    assert len(a.y_train) == 2000 and len(a.y_test) == 2000
    assert np.array_equal(a.y_train, b.y_train)
    counts = np.bincount(a.y_train, minlength=10)
    assert counts.min() >= 180 and counts.max() <= 230  # proportional to MNIST's counts


def test_explicit_data_dir_is_the_only_place_looked(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, data_dir)  # holds mnist: never used when a dir is given
    assert data.locate("mnist", tmp_path) is None
    assert [why for why, _ in data.search_dirs(tmp_path)] == ["--data-dir"]
    assert [why for why, _ in data.search_dirs()] == [f"${data.ENV_VAR}", "Keras cache"]
    assert data.locate("mnist")[0].parent == data.Path(data_dir)
    for given, why in ((tmp_path, "it holds no mnist.npz"), (tmp_path / "typo", "no such dir")):
        with pytest.raises(data.DataError) as err:
            data.load("mnist", given)  # downloads allowed, and still refused
        msg = str(err.value)
        assert f"not found in {given}, given as data_dir= ({why}" in msg  # API words: errors.py
        assert "only place looked" in msg
        assert data_dir not in msg


def test_truncated_file_names_the_file(tmp_path, data_dir):
    src = data.Path(data_dir) / "mnist.npz"
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(src.read_bytes()[: 200_000])
    with pytest.raises(data.DataError) as err:
        data.load("mnist", tmp_path, allow_download=False)
    assert str(bad) in str(err.value) and "corrupt or truncated" in str(err.value)


def test_wrong_arrays_are_refused(tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((5, 28, 28)), y_train=np.zeros(5))
    with pytest.raises(data.DataError, match="arrays .*x_test.* missing"):
        data.load("mnist", tmp_path, allow_download=False)


def test_missing_everywhere_lists_every_place(tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    monkeypatch.setattr(data, "KERAS_CACHE", tmp_path / "cache")
    with pytest.raises(data.DataError) as err:
        data.load("fashion_mnist", allow_download=False)
    msg = str(err.value)
    for place in ("$SWEEPLAB_DATA", str(tmp_path / "env"), "Keras cache", "data_dir=DIR"):
        assert place in msg, place


def test_describe_reports_counts(tmp_path, data_dir):
    shutil.copy(data.Path(data_dir) / "mnist.npz", tmp_path / "mnist.npz")
    row = data.describe("mnist", tmp_path)
    assert row["test_counts"] == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert row["train_shape"] == (60000, 28, 28, 1)


def test_unknown_dataset():
    with pytest.raises(data.DataError, match="Allowed: cifar10, cifar100, fashion_mnist, mnist"):
        data.load("imagenet")
