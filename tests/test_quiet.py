"""Quiet by default: no TensorFlow/absl start-up or C++ log lines in a command's output
unless --verbose; live TensorBoard logs whose wall times never go back."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

# what TensorFlow's and absl's C++ logging writes ("E0000 00:00:17.. 12 onednn.cc:34] ...")
NATIVE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:|absl::InitializeLog|oneDNN|"
                    r"This TensorFlow binary is optimized|To enable the following instructions",
                    re.M)


def _sweeplab(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "sweeplab", *args], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def live(tmp_path_factory, data_dir):
    """One study trained with live TensorBoard logging: (store, log dir, run's stderr)."""
    pytest.importorskip("tensorboard")
    tmp = tmp_path_factory.mktemp("quiet")
    proc = _sweeplab("run", "q1", "--seeds", "2", "--epochs", "2", "--subset", "300",
                     "--store", str(tmp / "s.db"), "--data-dir", data_dir,
                     "--tensorboard", str(tmp / "tb"))
    return tmp / "s.db", tmp / "tb", proc.stderr


def test_run_export_and_report_print_no_native_log_lines(live, tmp_path, data_dir):
    store, _, run_err = live
    assert not NATIVE.search(run_err), run_err
    for args in (["export", "tensorboard", str(tmp_path / "tb")],
                 ["report", "--out", str(tmp_path / "r.html"), "--data-dir", data_dir]):
        err = _sweeplab(*args, "--store", str(store)).stderr
        assert not NATIVE.search(err), err
    # a run with --verbose shows them: the lines are there to be hidden (a run imports
    # TensorFlow; the exports and the report may not need it at all)
    err = _sweeplab("run", "q1", "--seeds", "1", "--epochs", "1", "--subset", "300",
                    "--store", str(tmp_path / "v.db"), "--data-dir", data_dir,
                    "--verbose").stderr
    assert NATIVE.search(err), err


def test_live_tensorboard_wall_times_never_go_back(live):
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    _, logdir, _ = live
    runs = sorted({p.parent for p in Path(logdir).rglob("events.out.tfevents.*")})
    assert len(runs) == 2  # q1: one config x two seeds
    for run in runs:
        points = [(e.step, e.wall_time) for f in sorted(run.glob("events.out.tfevents.*"))
                  for e in EventFileLoader(str(f)).Load()
                  if any(v.tag == "test/accuracy" for v in e.summary.value)]
        steps = [s for s, _ in points]
        walls = [w for _, w in points]
        assert steps == [0, 1, 2], (run, points)
        assert walls == sorted(walls), (run, points)  # step 0 before steps 1 and 2
