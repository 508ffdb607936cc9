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
import socket
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """``free_port()``: a TCP port on 127.0.0.1 that nothing listened on when asked (bound,
    then let go: a server started on it right after gets it)."""
    return _free_port


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


REPORT_TRICKY = '<b>bold</b> & "q"'  # markup in the user study's strings: shown as text


@pytest.fixture(scope="session")
def report_store(tmp_path_factory, data_dir) -> Path:
    """intro (1 epoch, 300 images), q1, q6 at widths 4, 32, 64 and q7d (2 seeds, 1 epoch,
    300 images each), a user study "mine" (a category axis, markup in its strings) and q3
    half run (seed 0 trained, seeds 0 and 1 asked for): the report's tests read it."""
    import dataclasses

    from sweeplab import runner
    from sweeplab import study as st
    from sweeplab.store import Store

    small = {"seeds": 2, "epochs": 1, "subset": TINY_SUBSET}
    q6 = st.BUILTIN["q6"]
    q6 = dataclasses.replace(q6, axes=(dataclasses.replace(q6.axes[0], values=(4, 32, 64)),))
    mine = st.study_from_dict({
        "name": "mine", "title": f"Mine {REPORT_TRICKY}", "dataset": "mnist", "seeds": 2,
        "epochs": 1, "subset": TINY_SUBSET, "model": {"preset": "mlp-softmax-ce"},
        "axes": [{"name": "lr", "path": "optimizer.learning_rate", "values": [0.001, 0.01],
                  "labels": ["slow<i>", "fast&x"]}],
    })

    def build(folder: Path) -> None:
        with Store(folder / "s.db") as s:
            runner.run_study(st.with_overrides(st.BUILTIN["intro"], epochs=1,
                                               subset=TINY_SUBSET), s,
                             data_dir=data_dir, quiet=True)
            for study in (st.BUILTIN["q1"], q6, st.BUILTIN["q7d"]):
                runner.run_study(st.with_overrides(study, **small), s, data_dir=data_dir,
                                 quiet=True)
            runner.run_study(mine, s, data_dir=data_dir, quiet=True)
            runner.run_study(st.with_overrides(st.BUILTIN["q3"], seeds=[0], epochs=1,
                                               subset=TINY_SUBSET), s,
                             data_dir=data_dir, quiet=True)
            # The definition now asks for seeds 0 and 1; only seed 0 is trained: partial.
            runner.prepare(st.with_overrides(st.BUILTIN["q3"], **small), s)
        _checkpoint(folder / "s.db")

    return _built_once(tmp_path_factory, "report", build) / "s.db"


@pytest.fixture(scope="session")
def export_study(tmp_path_factory, data_dir, run_cli):
    """The export tests' study (tests/export_study.py) trained through the CLI with live MLflow
    and TensorBoard logging, once per session (per xdist worker: the tests export into its
    live targets). Read only: tests that add runs copy its store."""
    import export_study

    return export_study.train(tmp_path_factory.mktemp("export_study"), data_dir, run_cli)


@pytest.fixture
def store_copy(tmp_path) -> Callable[[Path], Path]:
    """``store_copy(store)``: a copy of a shared store (its saved models too) in this test's
    temporary directory, to write into."""

    def copy(store: Path) -> Path:
        dest = tmp_path / "copy"
        shutil.copytree(store.parent, dest)
        return dest / store.name

    return copy
