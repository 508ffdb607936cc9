"""Damaged inputs that are not study files: one line naming what is wrong, exit 2, and the
damaged file left byte for byte as it was (nothing the user computed is ever lost)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from sweeplab.cli import main
from sweeplab.store import SCHEMA_VERSION

# One more seed than the shared q1 store holds, on its subset: a run that has work to do.
RUN = ["run", "q1", "--seeds", "3", "--epochs", "1", "--subset", "300", "--quiet"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"sweeplab {command}: error: "), err
    return err


@pytest.fixture(scope="module")
def store(q1_store) -> Path:
    """A real store, one file (its write-ahead log folded in): the shared q1 store, 2 runs.
    Only read or copied here."""
    return q1_store


@pytest.mark.parametrize("command", ["ls", "run"])
def test_a_file_that_is_not_sqlite(tmp_path, capsys, data_dir, command):
    bad = tmp_path / "notes.db"
    bad.write_text("my thesis notes, not a database\n")
    before = digest(bad)
    extra = RUN[1:] + ["--data-dir", data_dir] if command == "run" else []
    assert main([command, *extra, "--store", str(bad)]) == 2
    err = one_error_line(capsys, command)
    assert "not a sweeplab store (not an SQLite database)" in err and "untouched" in err
    assert digest(bad) == before


def test_a_truncated_store(store, tmp_path, capsys, data_dir):
    cut = tmp_path / "cut.db"
    cut.write_bytes(store.read_bytes()[: store.stat().st_size // 2])
    before = digest(cut)
    assert main(["ls", "--store", str(cut)]) == 2
    assert "is damaged" in one_error_line(capsys, "ls")
    assert main([*RUN, "--data-dir", data_dir, "--store", str(cut)]) == 2
    assert "is damaged" in one_error_line(capsys, "run")
    assert digest(cut) == before


def test_a_store_from_a_newer_schema(store, tmp_path, capsys, data_dir):
    newer = tmp_path / "newer.db"
    shutil.copy(store, newer)
    with sqlite3.connect(newer) as con:
        con.execute("PRAGMA user_version=99")
    before = digest(newer)
    assert main([*RUN, "--data-dir", data_dir, "--store", str(newer)]) == 2
    err = one_error_line(capsys, "run")
    assert f"store schema 99; this version reads up to {SCHEMA_VERSION}" in err
    assert "upgrade" in err
    assert digest(newer) == before


@contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """Make files and directories truly read-only: by mode for a user; for root, whom modes
    do not stop, with the immutable attribute (``chattr +i``, which stops root too)."""
    root = os.getuid() == 0
    if root and shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: nothing can make a file read-only")
    done: list[Path] = []
    try:
        for p in paths:
            if root:
                subprocess.run(["chattr", "+i", str(p)], check=True, timeout=10)
            else:
                p.chmod(0o555 if p.is_dir() else 0o444)
            done.append(p)
        yield
    finally:
        for p in reversed(done):
            if root:
                subprocess.run(["chattr", "-i", str(p)], check=True, timeout=10)
            else:
                p.chmod(0o755 if p.is_dir() else 0o644)


def test_a_read_only_store_is_refused_before_training_and_still_read(store, tmp_path,
                                                                      capsys, data_dir):
    shared = tmp_path / "shared"
    shared.mkdir()
    shutil.copy(store, shared / "s.db")
    before = digest(shared / "s.db")
    with read_only(shared / "s.db", shared):
        for name, why in [("s.db", "s.db is read-only: runs cannot be stored in it"),
                          ("new.db", "new.db: its directory is read-only")]:
            assert main([*RUN, "--data-dir", data_dir, "--store", str(shared / name)]) == 2
            assert why in one_error_line(capsys, "run")
        # reading it needs no write: opened as immutable (no -shm beside it)
        assert main(["ls", "--store", str(shared / "s.db")]) == 0
        assert "2/2 runs done" in capsys.readouterr().out
    assert digest(shared / "s.db") == before
    assert sorted(p.name for p in shared.iterdir()) == ["s.db"]


def _damaged_mnist(tmp_path: Path, data_dir: str, how: str) -> Path:
    folder = tmp_path / how
    folder.mkdir()
    src = Path(data_dir) / "mnist.npz"
    if how == "truncated":
        (folder / "mnist.npz").write_bytes(src.read_bytes()[:1_000_000])
    else:
        with np.load(src) as d:
            arrays = {k: d[k] for k in d.files}
        if how == "flattened":
            arrays["x_train"] = arrays["x_train"].reshape(len(arrays["x_train"]), -1)
        else:  # labels that do not match the images
            arrays["y_train"] = arrays["y_train"][:100]
        np.savez(folder / "mnist.npz", **arrays)
    return folder


@pytest.mark.parametrize("how, words", [
    ("truncated", ["corrupt or truncated", "BadZipFile", "Replace it with a good copy"]),
    ("flattened", ["x(60000, 784)", "expected x(N, 28, 28) and y(N,) for mnist"]),
    ("mislabelled", ["y(100,)", "expected x(N, 28, 28) and y(N,) for mnist"]),
])
def test_a_damaged_dataset_file(tmp_path, capsys, data_dir, how, words):
    folder = _damaged_mnist(tmp_path, data_dir, how)
    before = digest(folder / "mnist.npz")
    store = tmp_path / "s.db"
    assert main([*RUN, "--data-dir", str(folder), "--store", str(store)]) == 2
    err = one_error_line(capsys, "run")
    for w in words:
        assert w in err, (w, err)
    assert str(folder / "mnist.npz") in err
    assert not store.exists()  # refused before a store was made
    assert digest(folder / "mnist.npz") == before
