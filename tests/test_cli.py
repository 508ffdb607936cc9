"""The command line, run as real processes against a real store."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from sweeplab import cli
from sweeplab.store import Store

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def sweeplab(*args, check=True, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "sweeplab", *args], capture_output=True,
                          text=True, env=ENV, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_run_twice_trains_nothing_the_second_time(tmp_path, data_dir):
    db = str(tmp_path / "s.db")
    args = ["run", "q1", "--seeds", "3", "--epochs", "2", "--subset", "500", "--store", db,
            "--data-dir", data_dir, "--engine", "reference"]
    first = sweeplab(*args)
    assert "trained 3 runs" in first.stdout
    # TensorFlow's C++ start-up notices (absl, oneDNN) are held back; the bar is all.
    assert "absl::InitializeLog" not in first.stderr, first.stderr
    assert "oneDNN custom operations" not in first.stderr, first.stderr
    second = sweeplab(*args)
    assert "nothing to train, all 3 runs are already in" in second.stdout
    ls = sweeplab("ls", "--store", db)
    assert "q1: 3/3 runs done" in ls.stdout
    show = sweeplab("show", "q1", "--store", db)
    assert "n=3 seeds" in show.stdout and "    2 " in show.stdout
    with Store(db, readonly=True) as store:
        (row,) = store.study_configs("q1")
        assert len(store.run_rows(row.config_hash)) == 3


def test_sigkill_mid_run_then_resume(tmp_path, data_dir):
    """Kill -9 while a run trains: finished runs stay, the killed one is trained again."""
    db = tmp_path / "s.db"
    args = [sys.executable, "-m", "sweeplab", "run", "q1", "--seeds", "3", "--epochs", "4",
            "--subset", "1000", "--store", str(db), "--data-dir", data_dir, "--quiet",
            "--engine", "reference"]
    proc = subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    state = None
    try:
        while time.time() < deadline:
            time.sleep(0.05)
            if not db.exists():
                continue
            try:
                con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
                rows = con.execute("SELECT seed, status FROM runs").fetchall()
                con.close()
            except sqlite3.Error:
                continue
            status = dict(rows)
            if list(status.values()).count("done") >= 1 and "running" in status.values():
                state = status
                break
        assert state is not None, "never saw a finished run beside a running one"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL

    with Store(db, readonly=True) as store:
        (row,) = store.study_configs("q1")
        before = {r.seed: r for r in store.run_rows(row.config_hash)}
    done_before = {s for s, r in before.items() if r.status == "done"}
    killed = {s for s, r in before.items() if r.status == "running"}
    assert done_before and killed and not done_before & killed
    ls = sweeplab("ls", "--store", str(db))  # the killed run's process is gone
    assert f"{len(done_before)}/3 done, {len(killed)} interrupted" in ls.stdout, ls.stdout
    assert "running" not in ls.stdout and "trains them again" in ls.stdout

    resumed = sweeplab(*args[3:])
    assert f"trained {3 - len(done_before)} runs" in resumed.stdout
    assert f"{len(done_before)} were already done" in resumed.stdout
    with Store(db, readonly=True) as store:
        after = {r.seed: r for r in store.run_rows(row.config_hash)}
        assert sorted(after) == [0, 1, 2] and all(r.status == "done" for r in after.values())
        for s in done_before:  # kept, not retrained
            assert after[s].finished_at == before[s].finished_at
        for r in store.results(row.config_hash):
            assert [e.epoch for e in r.epochs] == [0, 1, 2, 3, 4]  # no duplicate epochs


BAD_STUDIES = {
    "unknown key": ('name = "bad"\ndataset = "mnist"\nepochz = 3\n', "'epochz'"),
    "dropout 1.5": ('name = "bad"\n[model]\npreset = "mlp-softmax-ce"\nlayers = '
                    '[{type = "flatten"}, {type = "dropout", rate = 1.5}]\n',
                    "model.layers[1].rate must be a number in [0.0, 1.0). Received: "
                    "model.layers[1].rate=1.5"),
    "conv after flatten": ('name = "bad"\n[model]\nlayers = [{type = "flatten"}, '
                           '{type = "conv2d", filters = 8}]\n', "before flatten"),
    "bad axis path": ('name = "bad"\n[model]\npreset = "mlp-softmax-ce"\n[[axes]]\n'
                      'name = "w"\npaths = ["layers.5.units"]\nvalues = [1, 2]\n',
                      "that list has 2 items"),
    "bad toml": ('name = "bad\n', "not valid TOML"),
    "model neither preset nor table": ('name = "bad"\nmodel = "models.py:build"\n',
                                       "model must be a preset's name (cifar-mlp, cnn-4block,"),
}


@pytest.mark.parametrize("case", sorted(BAD_STUDIES))
def test_bad_study_file_fails_before_any_training(tmp_path, case, run_cli):
    text, words = BAD_STUDIES[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    db = tmp_path / "s.db"
    code, _, err = run_cli("run", path, "--store", db)
    assert code == 2
    assert words in err and str(path) in err, err
    assert not db.exists()  # refused before the store was even created


def test_foreign_store_refused_by_cli(tmp_path, data_dir, run_cli):
    path = tmp_path / "mine.db"
    path.write_bytes(b"not a database at all" * 50)
    before = path.read_bytes()
    code, _, err = run_cli("run", "q1", "--seeds", "1", "--epochs", "1", "--subset", "100",
                           "--store", path, "--data-dir", data_dir)
    assert code == 2 and "not a sweeplab store" in err and err.count("\n") == 1
    assert path.read_bytes() == before


def test_missing_data_is_one_clear_line(tmp_path, monkeypatch, run_cli):
    monkeypatch.setenv("SWEEPLAB_DATA", str(tmp_path / "nothing"))
    monkeypatch.setattr("sweeplab.data.KERAS_CACHE", tmp_path / "cache")
    monkeypatch.setattr("sweeplab.data._download",
                        lambda name: (_ for _ in ()).throw(OSError("no network")))
    code, _, err = run_cli("run", "q9", "--store", str(tmp_path / "s.db"))
    assert code == 2 and "Dataset 'cifar10' not found" in err and "no network" in err
    assert not (tmp_path / "s.db").exists()

    # `assignment --seeds 2` (the README's quick line) gets as far as the data: the built-in
    # search q7s keeps its own seeds instead of refusing the whole assignment
    code, _, err = run_cli("assignment", "--seeds", "2", "--epochs", "1",
                           "--store", str(tmp_path / "a.db"))
    assert code == 2 and "Dataset 'mnist' not found" in err, err
    assert not (tmp_path / "a.db").exists()


def test_studies_lists_all_and_prints_runnable_toml(tmp_path):
    code = cli.main(["studies"])
    assert code == 0
    from sweeplab import study as st

    for name, s in st.BUILTIN.items():
        text = st.study_to_toml(s)
        p = tmp_path / f"{name}.toml"
        p.write_text(text)
        assert st.load_study_file(p) == s


def test_run_summary_gives_spread_only_when_there_is_one(tmp_path, data_dir, capsys):
    db = str(tmp_path / "s.db")
    base = ["run", "q1", "--epochs", "1", "--subset", "300", "--store", db,
            "--data-dir", data_dir, "--quiet"]
    assert cli.main([*base, "--seeds", "1"]) == 0
    one = capsys.readouterr().out
    assert "(n=1: no spread yet, run more seeds)" in one and "+-" not in one
    assert cli.main([*base, "--seeds", "3"]) == 0
    three = capsys.readouterr().out
    assert "trained 2 runs in" in three and "1 were already done" in three
    line = next(x for x in three.splitlines() if "final test accuracy" in x)
    assert "+- " in line and "(n=3, 95% CI " in line
    low, high = (float(v) for v in line.split("95% CI ")[1].rstrip(")").split("-"))
    assert 0.0 <= low <= high <= 100.0  # clipped to what an accuracy can be


def test_two_processes_on_one_store_share_the_work(tmp_path, data_dir):
    """Two `sweeplab run`s at once: every run trained exactly once, both exit 0."""
    db = str(tmp_path / "s.db")
    args = [sys.executable, "-m", "sweeplab", "run", "q1", "--seeds", "6", "--epochs", "2",
            "--subset", "2000", "--store", db, "--data-dir", data_dir, "--engine", "reference",
            "--quiet"]
    procs = []
    for _ in range(2):
        procs.append(subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
        time.sleep(0.3)
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    trained = 0
    for out, err in outs:
        assert "FAILED" not in out and "already done" not in err, (out, err)
        if "nothing to train" not in out:
            trained += int(out.split("trained ")[1].split(" runs")[0])
    assert trained == 6  # no run trained twice, none lost
    with Store(db, readonly=True) as store:
        (row,) = store.study_configs("q1")
        rows = store.run_rows(row.config_hash)
        assert sorted(r.seed for r in rows) == list(range(6))
        assert all(r.status == "done" for r in rows)
