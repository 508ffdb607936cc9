"""Errors raised through the Python API speak Python (``data_dir=``, ``path=``, the public
function's own name); the same errors from the CLI keep its flags (``--data-dir``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import sweeplab
from sweeplab import data as data_mod

SMALL = dict(seeds=1, epochs=1, subset=300, progress=False)


@pytest.fixture(scope="module")
def trained(q1_store):
    """The shared q1 store (tests/conftest.py): finished runs, no saved model."""
    return sweeplab.open(q1_store)


def _python_error(call, exc=Exception) -> str:
    with pytest.raises(exc) as err:
        call()
    text = str(err.value)
    assert "--" not in text, text  # no CLI flag in a Python error
    assert "\n" not in text  # one line
    return text


def test_missing_store_names_open_s_argument(tmp_path):
    text = _python_error(lambda: sweeplab.open(tmp_path / "nope.db"), sweeplab.api.StoreError)
    assert text.startswith(f"No store at {tmp_path / 'nope.db'}") and "path=PATH" in text


def test_wrong_keyword_names_sweeplab_run(tmp_path):
    text = _python_error(lambda: sweeplab.run("q1", store=tmp_path / "s.db", data="x"),
                         TypeError)
    assert text == ("sweeplab.run() got an unexpected keyword argument 'data'. "
                    "Did you mean data_dir=?")
    assert not (tmp_path / "s.db").exists()


def test_explicit_data_dir_missing_the_dataset_is_refused(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv(data_mod.ENV_VAR, data_dir)  # has MNIST: must not be used instead
    text = _python_error(lambda: sweeplab.run("q1", store=tmp_path / "s.db",
                                              data_dir=tmp_path / "typo", **SMALL),
                         data_mod.DataError)
    assert f"not found in {tmp_path / 'typo'}, given as data_dir= (no such directory)" in text
    assert "Fix: pass data_dir=DIR with a directory holding mnist.npz" in text
    assert not (tmp_path / "s.db").exists()  # refused before the store was created


def test_bad_until_ci_names_the_argument(tmp_path, data_dir):
    text = _python_error(lambda: sweeplab.run("q1", store=tmp_path / "s.db", data_dir=data_dir,
                                              until_ci=-1.0, **SMALL), ValueError)
    assert text.startswith("until_ci= must be > 0") and "Received: -1.0" in text


def test_results_methods_speak_python(trained):
    config = trained.configs("q1").config_hash[0]
    text = _python_error(lambda: trained.model_path(config, 0))
    assert "save_models=True" in text
    text = _python_error(lambda: trained.runs(studyy="q1"), TypeError)
    assert text == "Results.runs() got an unexpected keyword argument 'studyy'"


def test_cli_keeps_its_flags(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "sweeplab", "run", "q1", "--store",
                           str(tmp_path / "s.db"), "--data-dir", str(tmp_path / "typo")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "given as --data-dir (no such directory)" in proc.stderr
    assert "Fix: pass --data-dir DIR" in proc.stderr and "data_dir=" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "sweeplab", "ls", "--store",
                           str(tmp_path / "nope.db")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "pass --store PATH" in proc.stderr
