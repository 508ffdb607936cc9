"""Every output destination is checked before work: one line, exit 2, nothing written."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def store(q1_store) -> Path:
    """The shared q1 store (tests/conftest.py): one config, seeds 0 and 1. Only read here."""
    return q1_store


def _digest(path: Path) -> str:
    with sqlite3.connect(path) as con:  # the WAL included: read through SQLite
        return hashlib.sha256(repr(list(con.iterdump())).encode()).hexdigest()


@pytest.fixture
def refused(run_cli):
    """``refused(*argv)``: the one line ``sweeplab ARGV`` refuses with (exit 2, no output)."""

    def one_line(*argv: str) -> str:
        rc, out, err = run_cli(*argv)
        lines = err.strip().splitlines()
        assert rc == 2 and len(lines) == 1 and not out, (rc, lines, out)
        return lines[0]

    return one_line


def test_report_destinations(store, tmp_path, refused):
    d = tmp_path / "a_dir"
    d.mkdir()
    assert "is a directory" in refused("report", "--out", str(d), "--store", str(store))
    if os.path.exists("/dev/full"):
        assert "the disk is full" in refused("report", "--out", "/dev/full", "--store",
                                              str(store))
    f = tmp_path / "a_file"
    f.write_text("mine")
    assert "is a file" in refused("report", "--format", "md", "--out", str(f), "--store",
                                   str(store))
    assert f.read_text() == "mine" and [p.name for p in tmp_path.iterdir()] == ["a_dir",
                                                                                  "a_file"]
    assert not list(d.iterdir())


def test_export_destinations(store, tmp_path, refused):
    before = _digest(store)
    d = tmp_path / "a_dir"
    d.mkdir()
    if importlib.util.find_spec("mlflow"):
        assert "names a directory" in refused("export", "mlflow", f"sqlite:///{d}",
                                               "--store", str(store))
        assert "is the sweeplab store itself" in refused(
            "export", "mlflow", f"sqlite:///{store}", "--store", str(store))
    f = tmp_path / "a_file"
    f.write_text("mine")
    for target in ("tensorboard", "csv"):
        assert "is a file" in refused("export", target, str(f), "--store", str(store))
    assert _digest(store) == before and f.read_text() == "mine" and not list(d.iterdir())


def test_save_models_onto_a_file_is_refused_before_the_store_is_made(tmp_path, data_dir,
                                                                     refused):
    f = tmp_path / "a_file"
    f.write_text("mine")
    toml = tmp_path / "s.toml"
    toml.write_text('name = "x"\ndataset = "mnist"\nseeds = 1\nepochs = 1\nsubset = 64\n'
                    '[model]\npreset = "mlp-softmax-ce"\n')
    line = refused("run", str(toml), "--store", str(tmp_path / "s.db"), "--data-dir",
                    data_dir, "--quiet", "--save-models", str(f))
    assert "is a file" in line and not (tmp_path / "s.db").exists()


def test_an_export_killed_mid_way_adds_nothing_twice(store, tmp_path, run_cli):
    """SIGKILL after a parent's summary metrics are logged and before its seeds tag is set
    (while its plots are drawn), then a second export: one summary point per step."""
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    code = ("import sys; from sweeplab import cli; "
            f"sys.exit(cli.main(['export', 'mlflow', {uri!r}, '--store', {str(store)!r}]))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(sqlite3.Error), contextlib.closing(
                    sqlite3.connect(tmp_path / "m.db", timeout=0.1)) as con:
                if con.execute("SELECT 1 FROM metrics WHERE key='n_seeds'").fetchone():
                    break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    client = MlflowClient(uri)
    (parent,) = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                   "tags.`sweeplab.kind` = 'config'")
    if "sweeplab.seeds" in parent.data.tags:
        pytest.skip("the export finished before the kill landed in its window")
    rc, out, err = run_cli("export", "mlflow", uri, "--store", store)
    assert rc == 0 and out.startswith("mlflow:"), (rc, out, err)
    history = client.get_metric_history(parent.info.run_id, "final_test_accuracy_mean")
    assert [m.step for m in history] == [2], history  # one point, at 2 seeds
    assert client.get_run(parent.info.run_id).data.tags["sweeplab.seeds"] == "0,1"

