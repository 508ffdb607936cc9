"""What the tests in tests/ share: tiny real stores trained once per test run, a copy of one
for a test that writes, and one way to run the command line.

The stores are built at most once per ``pytest`` run: under pytest-xdist (``make test``) the
first worker that asks builds a store while holding a lock in the run's shared temporary
directory, and every other worker reads what it built. A test only reads a shared store; a
test that writes into one (trains more, damages or rewrites it) takes :func:`store_copy`.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

TINY_SUBSET = 300  # images per split of the tiny stores: every run is scored on 300 images
TINY_WIDTHS = (4, 16, 64)
TINY_SEEDS = 3


class CliResult(NamedTuple):
    rc: int  # exit status
    out: str  # what it printed on stdout
    err: str  # what it printed on stderr


def _run_cli(*argv: str | os.PathLike) -> CliResult:
    from sweeplab import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main([str(a) for a in argv])
    return CliResult(rc, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., CliResult]:
    """``run_cli(*argv)``: ``sweeplab ARGV`` in this process -> (exit status, stdout, stderr).

    Tests of the real process (start-up, signals, several processes on one store) use a
    subprocess instead.
    """
    return _run_cli


def tiny_study():
    """Study "tiny": q1's MLP (softmax, cross-entropy) at widths 4, 16 and 64, 3 seeds,
    1 epoch on 300 MNIST images."""
    from sweeplab import study as st

    return st.study_from_dict({
        "name": "tiny", "dataset": "mnist", "seeds": TINY_SEEDS, "epochs": 1,
        "subset": TINY_SUBSET, "model": {"preset": "mlp-softmax-ce"},
        "axes": [{"name": "width", "paths": ["layers.1.units"], "values": list(TINY_WIDTHS)}],
    })


def _shared_root(factory: pytest.TempPathFactory) -> Path:
    # Under xdist every worker has its own base temp directory inside the run's one.
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _built_once(factory: pytest.TempPathFactory, name: str,
                build: Callable[[Path], None]) -> Path:
    """The folder ``name`` that ``build(folder)`` fills, built once per test run."""
    root = _shared_root(factory)
    folder, done = root / f"shared-{name}", root / f"shared-{name}.done"
    with open(root / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a failed build left
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


def _checkpoint(db: Path) -> None:
    """Fold the write-ahead log into the file: the .db file alone is the whole store."""
    with contextlib.closing(sqlite3.connect(db)) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@pytest.fixture(scope="session")
def q1_store(tmp_path_factory, data_dir) -> Path:
    """q1 (one config, "base"), seeds 0 and 1, 1 epoch on 300 images; no saved models.
    Read only: copy it (:func:`store_copy`) to write."""
    import sweeplab

    def build(folder: Path) -> None:
        sweeplab.run("q1", store=folder / "s.db", seeds=2, epochs=1, subset=TINY_SUBSET,
                     data_dir=data_dir, progress=False)
        _checkpoint(folder / "s.db")

    return _built_once(tmp_path_factory, "q1", build) / "s.db"


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory, data_dir) -> Path:
    """Study "tiny" (:func:`tiny_study`, 9 runs) on the fast engine, every model saved.
    Read only: copy it (:func:`store_copy`) to write."""
    import sweeplab

    def build(folder: Path) -> None:
        sweeplab.run(tiny_study(), store=folder / "s.db", data_dir=data_dir, engine="fast",
                     progress=False, save_models=True)
        _checkpoint(folder / "s.db")

    return _built_once(tmp_path_factory, "tiny", build) / "s.db"


@pytest.fixture
def store_copy(tmp_path) -> Callable[[Path], Path]:
    """``store_copy(store)``: a copy of a shared store (its saved models too) in this test's
    temporary directory, to write into."""

    def copy(store: Path) -> Path:
        dest = tmp_path / "copy"
        shutil.copytree(store.parent, dest)
        return dest / store.name

    return copy
