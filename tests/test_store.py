"""The SQLite run store: crash safety, refusing foreign or newer files."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from sweeplab.results import EpochRecord, RunResult
from sweeplab.store import SCHEMA_VERSION, Store, StoreError, holds_store


def _result(h="abc", seed=0, acc=0.5):
    epochs = (EpochRecord(0, 2.3, 0.1), EpochRecord(1, 1.0, acc, 1.2, acc - 0.1, 0.5))
    conf = np.arange(4).reshape(2, 2)
    return RunResult(h, seed, "reference", epochs, conf, (0.1, 0.9), (0.2, 0.8), 1.5)


def _save(store, h="abc"):
    store.save_study("s", {"name": "s", "seeds": [0, 1]}, [(h, '{"x":1}', "base", {})])


def test_round_trip_and_done_only_after_finish(tmp_path):
    with Store(tmp_path / "s.db") as store:
        _save(store)
        store.start_run("abc", 0, "reference")
        assert store.done_seeds("abc") == set()
        assert store.run_rows("abc")[0].status == "running"
        store.finish_run(_result(), {"keras": "3"})
        assert store.done_seeds("abc") == {0}
        (r,) = store.results("abc")
        assert r.epochs == _result().epochs
        assert r.confusion.tolist() == [[0, 1], [2, 3]] and r.probe_trained == (0.2, 0.8)
        with pytest.raises(StoreError, match="already done"):
            store.start_run("abc", 0, "reference")


def test_interrupted_run_is_cleared_and_retrained(tmp_path):
    path = tmp_path / "s.db"
    with Store(path) as store:
        _save(store)
        store.start_run("abc", 1, "reference")  # the process dies here
    with Store(path) as store:
        assert store.done_seeds("abc") == set()
        store.start_run("abc", 1, "reference")
        store.finish_run(_result(seed=1), {})
        assert store.done_seeds("abc") == {1}
        assert len(store.run_rows("abc")) == 1


def test_failed_finish_leaves_nothing_finished(tmp_path):
    with Store(tmp_path / "s.db") as store:
        _save(store)
        store.start_run("abc", 0, "reference")
        bad = RunResult("abc", 0, "reference", (EpochRecord(0, 1.0, 0.1), EpochRecord(0, 1, 1)),
                        np.zeros((2, 2)))  # duplicate epoch: the transaction fails midway
        with pytest.raises(sqlite3.IntegrityError):
            store.finish_run(bad, {})
        assert store.done_seeds("abc") == set()
        assert store.results("abc") == []


def test_not_a_store_is_refused_untouched(tmp_path):
    text = tmp_path / "notes.db"
    text.write_bytes(b"my thesis notes\n" * 100)
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.execute("INSERT INTO t VALUES (1)")
    con.commit()
    con.close()
    for path, why in ((text, "not an SQLite database"), (other, "not a sweeplab store")):
        before = path.read_bytes()
        with pytest.raises(StoreError, match=why):
            Store(path)
        assert path.read_bytes() == before
        assert not path.with_name(path.name + "-wal").exists()


def test_newer_schema_is_refused_untouched(tmp_path):
    path = tmp_path / "s.db"
    Store(path).close()
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer sweeplab"):
        Store(path)
    assert path.read_bytes() == before


def test_damaged_store_is_refused(tmp_path):
    path = tmp_path / "s.db"
    with Store(path) as store:
        _save(store)
    raw = bytearray(path.read_bytes())
    raw[100:4096] = b"\xff" * (4096 - 100)  # smash the schema page after the header
    path.write_bytes(bytes(raw))
    with pytest.raises(StoreError, match="damaged"):
        with Store(path) as store:
            store.studies()


def test_locked_store_says_so(tmp_path, monkeypatch):
    import sweeplab.store as store_mod

    monkeypatch.setattr(store_mod, "BUSY_TIMEOUT_S", 0.2)
    path = tmp_path / "s.db"
    with Store(path) as a:
        _save(a)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with Store(path) as b:
            with pytest.raises(StoreError, match="locked by another process"):
                b.start_run("abc", 0, "reference")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_readonly_missing_store(tmp_path):
    with pytest.raises(StoreError, match="No store at"):
        Store(tmp_path / "none.db", readonly=True)


def test_a_store_a_killed_run_left_empty_becomes_a_store(tmp_path, data_dir):
    """A run killed before its first write leaves an empty file, or an SQLite database in WAL
    mode with no tables (the kill storm met the second: the next run's read of the study
    failed with "no such table: studies"). Readers say it holds nothing yet; the next run
    makes it a store."""
    empty, bare = tmp_path / "empty.db", tmp_path / "bare.db"
    empty.touch()
    con = sqlite3.connect(bare)
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    assert bare.read_bytes().startswith(b"SQLite format 3\x00")
    for path in (empty, bare):
        assert not holds_store(path)
        with pytest.raises(StoreError, match="holds no runs yet"):
            Store(path, readonly=True)
    p = subprocess.run([sys.executable, "-m", "sweeplab", "run", "q1", "--seeds", "1",
                        "--epochs", "1", "--subset", "64", "--store", str(bare), "--data-dir",
                        str(data_dir), "--engine", "fast", "--quiet"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert holds_store(bare)
    with Store(bare, readonly=True) as store:
        hashes = [c.config_hash for c in store.study_configs("q1")]
        assert [len(store.results(h)) for h in hashes] == [1]


def test_running_rows_of_a_gone_process_count_as_interrupted(tmp_path):
    db = tmp_path / "s.db"
    with Store(db) as store:
        _save(store, "live")
        _save(store, "gone")
        store.start_run("live", 0, "fast")  # this process: still alive
    code = ("import sys; from sweeplab.store import Store\n"
            "with Store(sys.argv[1]) as s: s.start_run('gone', 1, 'fast')\n")
    subprocess.run([sys.executable, "-c", code, str(db)], check=True, timeout=120)
    with Store(db, readonly=True) as store:
        counts = store.counts(["live", "gone"])
    assert counts == {"live": {"running": 1}, "gone": {"interrupted": 1}}


def test_claim_leaves_a_run_to_the_live_process_training_it(tmp_path):
    db = tmp_path / "s.db"
    with Store(db) as store:
        _save(store)
    code = ("import sys, time; from sweeplab.store import Store\n"
            "with Store(sys.argv[1]) as s: s.start_run('abc', 0, 'fast')\n"
            "print('claimed', flush=True); time.sleep(60)\n")
    other = subprocess.Popen([sys.executable, "-c", code, str(db)], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert other.stdout.readline().strip() == "claimed"
        with Store(db) as store:
            assert store.claim_run("abc", 0, "fast") == "busy"  # alive: not ours to train
            assert store.run_rows("abc")[0].status == "running"
            assert store.claim_run("abc", 1, "fast") == "claimed"
            store.finish_run(_result(seed=1), {})
            assert store.claim_run("abc", 1, "fast") == "done"  # finished: never again
        other.kill()
        other.wait(timeout=30)
        with Store(db) as store:  # its process is gone: the run is free again
            assert store.claim_run("abc", 0, "fast") == "claimed"
    finally:
        if other.poll() is None:
            other.kill()


def test_a_store_created_by_another_process_while_this_one_waits(tmp_path, monkeypatch):
    """Two processes open a new store at once: both read version 0, one creates it, and the
    other, once it has the write lock, finds it made (it once failed: `index runs_by_status
    already exists`) and stores its runs beside the first one's."""
    path = tmp_path / "s.db"
    write = Store._write
    raced = []

    def first_the_other(self):  # noqa: ANN001, ANN202
        if not raced:  # the other connection wins the write lock between read and write
            raced.append(True)
            with Store(path) as other:
                _save(other)
        return write(self)

    monkeypatch.setattr(Store, "_write", first_the_other)
    with Store(path) as store:
        assert raced and store._con.execute("PRAGMA user_version").fetchone()[0] == \
            SCHEMA_VERSION
        _save(store)
        store.start_run("abc", 0, "reference")
        store.finish_run(_result(), {"keras": "3"})
        assert [r.seed for r in store.results("abc")] == [0] and store.check().ok
