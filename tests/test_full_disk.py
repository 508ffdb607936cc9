"""A real full disk (a small tmpfs, mounted when the tests run as root) under the store, saved
models, live logging, the MLflow and TensorBoard exports and the report: one line naming the
path and that it is full, finished runs kept, and no half-written or temporary file left."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import sweeplab
from sweeplab.store import Store


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("a real full disk needs a tmpfs mount, which needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte with one file; returns it (remove it to free space)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:  # unbuffered: nothing left to flush at close
        for size in (2**16, 1):  # then the last partial block, byte by byte
            with contextlib.suppress(OSError):
                while f.write(bytes(size)):
                    pass
    return filler


def _study(width: int) -> sweeplab.Study:
    # one study name per definition: another definition under a stored name is refused
    return sweeplab.Study.build(f"full{width}", model="mlp-softmax-ce", dataset="mnist", seeds=1,
                                epochs=1, subset=64,
                                axes=[{"name": "width", "paths": "layers.1.units",
                                       "values": [width]}])


def _leftovers(root: Path) -> list[str]:
    """Temporary or empty files a failed write left behind."""
    return sorted(str(p) for p in root.rglob("*") if p.is_file() and p.name != "filler" and (
        p.name.endswith(".tmp") or ".partial" in p.name or p.stat().st_size == 0))


def test_a_store_on_a_full_disk(tmp_path, data_dir, run_cli):
    with tmpfs(tmp_path / "disk", "8m") as disk:
        store = disk / "s.db"
        first = sweeplab.run(_study(4), store=store, data_dir=data_dir, engine="fast",
                             progress=False)
        assert first.last.trained == 1
        filler = fill(disk)
        toml = tmp_path / "w8.toml"
        toml.write_text(_study(8).to_toml())
        rc, _, err = run_cli("run", str(toml), "--store", str(store), "--data-dir", data_dir,
                             "--quiet", "--engine", "fast")
        err = err.strip().splitlines()
        assert rc == 2 and len(err) == 1, err
        assert str(store) in err[0] and "disk is full" in err[0]
        filler.unlink()
        with sqlite3.connect(store) as con:
            assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        with Store(store) as s:  # the finished run is kept; the other runs when space is back
            assert sum(r.status == "done" for r in s.run_rows()) == 1
        again = sweeplab.run(_study(8), store=store, data_dir=data_dir, engine="fast",
                             progress=False)
        assert again.last.trained == 1 and again.last.ok


def test_saved_models_on_a_full_disk(tmp_path, data_dir, run_cli):
    store = tmp_path / "s.db"
    with tmpfs(tmp_path / "disk", "1m") as disk:
        fill(disk)
        toml = tmp_path / "w4.toml"
        toml.write_text(_study(4).to_toml())
        rc, _, err = run_cli("run", str(toml), "--store", str(store), "--data-dir", data_dir,
                             "--quiet", "--engine", "fast", "--save-models",
                             str(disk / "models"))
        err = err.strip().splitlines()
        assert rc == 2 and len(err) == 1, err
        assert str(disk / "models") in err[0] and "the disk is full" in err[0]
        assert _leftovers(disk) == []
    with Store(store) as s:  # the run is kept; no model path was recorded for a missing file
        rows = s.run_rows()
        assert [r.status for r in rows] == ["done"]
        assert all(not r.model_path for r in s.results(rows[0].config_hash))


def test_live_logging_on_a_full_disk_stops_with_one_line_and_training_goes_on(
        tmp_path, data_dir, capsys):
    pytest.importorskip("tensorboard")
    with tmpfs(tmp_path / "disk", "1m") as disk:
        (disk / "tb").mkdir()
        fill(disk)
        res = sweeplab.run(_study(4), store=tmp_path / "s.db", data_dir=data_dir,
                           engine="fast", progress=False, tensorboard=disk / "tb")
        assert res.last.trained == 1 and res.last.ok
        err = [ln for ln in capsys.readouterr().err.splitlines() if "live logging" in ln]
        assert len(err) == 1 and "the disk is full" in err[0], err
        assert _leftovers(disk) == []


@pytest.fixture(scope="module")
def trained(q1_store) -> Path:
    """The shared q1 store (tests/conftest.py): only read here."""
    return q1_store


# Each writer's words: the report and MLflow's SQLite say the disk is full, the file exports
# pass on the OS's own words.
@pytest.mark.parametrize("what, words", [
    ("mlflow", "the disk is full"), ("tensorboard", "No space left on device"),
    ("csv", "No space left on device"), ("report", "the disk is full"),
    ("md", "the disk is full")])
def test_exports_and_reports_on_a_full_disk(trained, tmp_path, what, words, run_cli):
    if what in ("mlflow", "tensorboard"):
        pytest.importorskip(what)
    with tmpfs(tmp_path / "disk", "1m") as disk:
        fill(disk)
        if what == "report":
            argv = ["report", "--out", str(disk / "r.html")]
        elif what == "md":
            argv = ["report", "--format", "md", "--out", str(disk / "r.md")]
        elif what == "mlflow":
            argv = ["export", "mlflow", f"sqlite:///{disk / 'm.db'}"]
        else:
            argv = ["export", what, str(disk / "out")]
        rc, _, err = run_cli(*argv, "--store", str(trained))
        err = err.strip().splitlines()
        assert rc == 2 and len(err) == 1, err
        assert str(disk) in err[0] and words in err[0], err
        assert _leftovers(disk) == []
        assert [p.name for p in disk.iterdir() if p.is_file()] in (["filler"], [])


@pytest.mark.parametrize("fmt", ["html", "md"])
def test_an_earlier_report_stays_whole_on_a_full_disk(trained, tmp_path, fmt, run_cli):
    """A report written over an earlier one on a full disk: one line, and the earlier file
    byte for byte as it was (written to a temporary name and renamed, never in place)."""
    with tmpfs(tmp_path / "disk", "1m") as disk:
        out = disk / f"r.{fmt}"
        earlier = b"<p>the earlier report</p>\n"  # smaller than the new one: truncating it in
        out.write_bytes(earlier)                  # place would not free the room it needs
        fill(disk)
        rc, _, err = run_cli("report", "--format", fmt, "--out", str(out), "--store",
                             str(trained))
        err = err.strip().splitlines()
        assert rc == 2 and len(err) == 1, err
        assert out.read_bytes() == earlier
        assert _leftovers(disk) == []
