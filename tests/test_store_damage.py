"""A damaged store never lies (issue 34): single bits flipped and files cut short across a
real store, each copy read through the API, the CLI and the report and compared with the
undamaged store's reads: no traceback, no wrong number, every damage named; then
``check --repair`` and ``run`` train exactly the damaged runs back to the same numbers.

The store is built once per session (2 widths x 2 seeds, 1 epoch, 300 images, the fast
engine). The suite draws SWEEPLAB_DAMAGE_CASES copies (default 40); bench/store_damage.py
draws hundreds with the same code.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import traceback
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import sweeplab
from sweeplab import cli
from sweeplab.readout import DamagedRecord
from sweeplab.store import CHECKSUMMED, Store, StoreError

CASES = int(os.environ.get("SWEEPLAB_DAMAGE_CASES", "40"))
SEED = 34  # the draw of damaged copies: the same cases every time
# What a rerun may change: when and where it ran, and how long it took.
TIMING = ("started_at", "finished_at", "wall_seconds", "node", "seconds")


def study() -> sweeplab.Study:
    return sweeplab.Study.build(
        "dmg", model="mlp-softmax-ce", dataset="mnist", seeds=2, epochs=1, subset=300,
        axes=[sweeplab.Axis("width", "layers.1.units", (4, 16), scale="log2")])


def build_store(path: Path, data_dir: str) -> Path:
    sweeplab.run(study(), store=path, data_dir=data_dir, engine="fast", progress=False)
    con = sqlite3.connect(path)  # every write into the file itself: the store is one file
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    wal = Path(f"{path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    return path


def damage(src: Path, dest: Path, case: int) -> str:
    """Copy ``src`` with one bit flipped or cut short at an offset drawn from ``case``."""
    rng = np.random.default_rng([SEED, case])
    data = bytearray(src.read_bytes())
    offset = int(rng.integers(len(data)))
    if case % 2:
        dest.write_bytes(bytes(data[:offset]))
        return f"cut at {offset}"
    bit = int(rng.integers(8))
    data[offset] ^= 1 << bit
    dest.write_bytes(bytes(data))
    return f"bit {bit} of byte {offset} flipped"


@dataclass
class Read:
    """What one copy read as through the API: the frames, or the one-line refusal."""

    runs: object = None  # runs() DataFrame
    epochs: object = None  # epochs() DataFrame
    summary: object = None  # summary() DataFrame
    error: str | None = None  # a StoreError's line
    crash: str | None = None  # a traceback: always a defect
    named: set = field(default_factory=set)  # (config hash, seed) of the damaged runs named
    named_runs: list = field(default_factory=list)  # the same, each time (runs with no key)
    lines: list = field(default_factory=list)  # every damaged record's line


def read(path: Path) -> Read:
    out = Read()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = sweeplab.open(path)
            out.runs, out.epochs, out.summary = res.runs(), res.epochs(), res.summary()
        except StoreError as err:
            out.error = str(err)
        except Exception:  # noqa: BLE001 (any other exception is what this test looks for)
            out.crash = traceback.format_exc()
    damaged = [w.message for w in caught if issubclass(w.category, DamagedRecord)]
    out.lines = list(dict.fromkeys(str(d) for d in damaged))
    runs = {str(d): (d.config_hash, d.seed) for d in damaged if d.what == "run"}
    out.named_runs = list(runs.values())
    out.named = set(out.named_runs)
    return out


def _rows(df, cols=None) -> dict:
    cols = [c for c in (df.columns if cols is None else cols) if c not in TIMING]
    return {(r["config_hash"], r["seed"], r.get("epoch")): tuple(r[c] for c in cols)
            for r in df.to_dict("records")}


def _same(a: tuple, b: tuple) -> bool:
    return all(x == y or (isinstance(x, float) and isinstance(y, float)
                          and math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True))


def judge(ref: Read, got: Read) -> str:
    """'intact' (read as the undamaged store), 'named' (damaged runs named and left out,
    every other number as before), 'refused' (one line); else a description of the defect."""
    if got.crash:
        return f"TRACEBACK {got.crash.strip().splitlines()[-1]}"
    if got.error is not None:
        return "refused" if "\n" not in got.error.strip() else f"MULTI-LINE {got.error!r}"
    want, have = _rows(ref.runs), _rows(got.runs, ref.runs.columns)
    if list(got.runs.columns) != list(ref.runs.columns):
        return f"WRONG columns {list(got.runs.columns)}"
    for key, row in have.items():
        if key not in want or not _same(row, want[key]):
            return f"WRONG run {key}: {row} (undamaged: {want.get(key)})"
    missing = {k[:2] for k in want} - {k[:2] for k in have}
    hashes = {k[0] for k in want}
    orphans = sum(h not in hashes for h, _ in got.named_runs)
    if len(missing - got.named) > orphans:
        return f"UNNAMED runs missing: {sorted(missing - got.named)}"
    present = {k[:2] for k in have}
    want_e = {k: v for k, v in _rows(ref.epochs).items() if k[:2] in present}
    have_e = _rows(got.epochs, ref.epochs.columns)
    if have_e.keys() != want_e.keys() or not all(_same(have_e[k], want_e[k]) for k in want_e):
        return "WRONG epochs"
    # The summaries: n counts the runs read, the mean is theirs (the undamaged values).
    e = ref.epochs[[(h, s) in present for h, s in zip(ref.epochs.config_hash, ref.epochs.seed,
                                                      strict=True)]]
    for row in got.summary.to_dict("records"):
        vals = e[(e.config_hash == row["config_hash"]) & (e.epoch == row["epoch"])][
            row["metric"]].dropna().to_numpy()
        # A mean of n <= 2 float64 values summed in another order: a few ulp apart at most.
        if row["n"] != len(vals) or not math.isclose(row["mean"], vals.mean(), rel_tol=1e-12):
            return f"WRONG summary {row} (undamaged runs read: {vals})"
    if missing or got.lines:
        return "named"
    return "intact"


def cli_reads(path: Path, capsys) -> str | None:
    """`ls` and `show` on the copy: None when each exits 0, 1 or 2 with no traceback and
    every error a single line; else what went wrong."""
    for argv in (["ls", "--store", str(path)], ["show", "dmg", "--store", str(path)]):
        try:
            code = cli.main(argv)
        except Exception:  # noqa: BLE001
            return f"{argv[0]}: TRACEBACK {traceback.format_exc().strip().splitlines()[-1]}"
        err = capsys.readouterr().err
        errors = [x for x in err.splitlines() if ": error: " in x]
        if code not in (0, 1, 2) or len(errors) > 1 or "Traceback" in err:
            return f"{argv[0]}: exit {code}, {err!r}"
    return None


@pytest.fixture(scope="session")
def clean(tmp_path_factory, data_dir) -> tuple[Path, Read]:
    path = build_store(tmp_path_factory.mktemp("damage") / "clean.db", data_dir)
    ref = read(path)
    assert ref.error is None and ref.crash is None and not ref.named
    assert len(ref.runs) == 4 and set(ref.summary.n) == {2}
    return path, ref


def test_the_undamaged_store_checks_clean(clean):
    path, _ = clean
    found = sweeplab.open(path).check()
    assert found.ok and found.checksummed and found.damaged == [] and found.problems == []
    with Store(path, readonly=True) as store:  # a checksum on every finished run
        assert all(r["checksum"] for r in store._query("SELECT checksum FROM runs"))


def test_damaged_copies_never_lie(clean, tmp_path, capsys):
    path, ref = clean
    outcomes: dict[str, int] = {}
    defects = []
    for case in range(CASES):
        copy = tmp_path / f"c{case}.db"
        how = damage(path, copy, case)
        got = read(copy)
        verdict = judge(ref, got)
        outcomes[verdict.split()[0]] = outcomes.get(verdict.split()[0], 0) + 1
        if verdict not in ("intact", "named", "refused"):
            defects.append(f"case {case} ({how}): {verdict}")
            continue
        problem = cli_reads(copy, capsys)
        if problem:
            defects.append(f"case {case} ({how}): CLI {problem}")
        # check is clean only where every read was as the undamaged store's
        try:
            found = sweeplab.api.check(copy)
        except StoreError as err:
            assert "\n" not in str(err)
            found = None
        if found is not None and found.ok and verdict != "intact":
            defects.append(f"case {case} ({how}): check says ok, the read was {verdict}")
        if verdict == "named" and (found is None or found.ok):
            defects.append(f"case {case} ({how}): named on read but check found nothing")
        for p in tmp_path.glob(f"c{case}.db*"):
            p.unlink()
    print(f"{CASES} damaged copies: {outcomes}")
    assert not defects, "\n".join(defects)
    # the sample reaches every outcome: damage in unused space, in a record, in the pages
    assert {"intact", "named", "refused"} <= outcomes.keys(), outcomes


def _record_damaged(path: Path, dest: Path, seed: int) -> None:
    """Copy with one bit flipped inside the confusion matrix of width=16's run ``seed``."""
    with Store(path, readonly=True) as store:
        h = store.study_configs("dmg")[1].config_hash
        conf = store._query("SELECT confusion FROM runs WHERE config_hash=? AND seed=?",
                            (h, seed))[0]["confusion"].encode()
    data = bytearray(path.read_bytes())
    at = data.index(conf) + conf.index(b"]") - 1  # the last digit of the first row
    data[at] ^= 1  # a digit stays a digit: the JSON still parses, the numbers are wrong
    dest.write_bytes(bytes(data))


def test_repair_then_run_trains_exactly_the_damaged_runs(clean, tmp_path, data_dir, capsys):
    path, ref = clean
    copy = tmp_path / "s.db"
    _record_damaged(path, copy, seed=1)
    got = read(copy)
    assert judge(ref, got) == "named" and len(got.runs) == 3
    (h, seed), = got.named
    assert seed == 1 and h == ref.runs.config_hash[ref.runs.config == "width=16"].iloc[0]
    assert cli.main(["check", "--store", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "seed 1: checksum mismatch" in out and "width=16" not in out.split("seed 1")[1]
    assert cli.main(["check", "--store", str(copy), "--repair"]) == 0
    assert "ok: pages sound" in capsys.readouterr().out
    with Store(copy, readonly=True) as store:  # kept aside, not deleted
        kept = store._query("SELECT what, record FROM damaged")
        assert len(kept) == 1 and "seed 1" in kept[0]["what"] and "confusion" in kept[0]["record"]
    res = sweeplab.run(study(), store=copy, data_dir=data_dir, engine="fast", progress=False)
    assert res.last.trained == 1 and res.last.skipped == 3
    after = read(copy)
    assert judge(ref, after) == "intact"  # the same numbers as the undamaged store
    assert sweeplab.open(copy).check().ok
    with Store(path, readonly=True) as a, Store(copy, readonly=True) as b:  # and predictions
        for h, _ in a.configs():
            for x, y in zip(a.results(h), b.results(h), strict=True):
                assert x.seed == y.seed and np.array_equal(x.predictions, y.predictions)
                assert np.array_equal(x.confusion, y.confusion)


def test_an_older_store_reads_as_before_and_gains_checksums(clean, tmp_path):
    """A store written before checksums (schema 4) reads as before; check says it has none;
    --repair adds them."""
    path, ref = clean
    old = tmp_path / "old.db"
    shutil.copy(path, old)
    con = sqlite3.connect(old)
    for table in ("runs", "configs", "studies", "meta"):
        con.execute(f"ALTER TABLE {table} DROP COLUMN checksum")
    con.execute("DROP TABLE damaged")
    con.execute(f"PRAGMA user_version={CHECKSUMMED - 1}")
    con.commit()
    con.close()
    assert judge(ref, read(old)) == "intact"
    found = sweeplab.api.check(old)
    assert found.ok and not found.checksummed
    assert any("written before checksums" in line for line in found.lines())
    fixed = sweeplab.api.check(old, repair=True)
    assert fixed.ok and fixed.checksummed
    assert judge(ref, read(old)) == "intact"


def test_report_export_and_check_name_the_damage(clean, tmp_path, capsys):
    """The report and the CSV export of damaged copies: one line or the damage named, the
    numbers those of the runs read; check on a file SQLite cannot read says which runs it
    still can."""
    path, ref = clean
    seen: dict[str, int] = {}
    for case in range(200):
        copy = tmp_path / f"c{case}.db"
        damage(path, copy, case)
        got = read(copy)
        verdict = judge(ref, got)
        if verdict == "intact" or seen.get(verdict, 0) >= (2 if verdict == "named" else 1):
            continue
        seen[verdict] = seen.get(verdict, 0) + 1
        out = tmp_path / f"r{case}"
        code = cli.main(["report", "--format", "md", "--out", str(out), "--store", str(copy)])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        if verdict == "refused":
            assert code == 2 and err.count("error:") == 1, err
            found = sweeplab.api.check(copy)
            assert not found.ok and "\n" not in found.problems[0]
            if found.readable is not None:  # SQLite cannot read it whole: what it still can
                assert set(found.readable) <= {(h, s) for h, s in zip(
                    ref.runs.config_hash, ref.runs.seed, strict=True)}
                assert "can still be read" in found.lines()[-1]
                # the runs it cannot read: counted among the runs it held, or "not known"
                assert found.unreadable is None or \
                    len(found.readable) + found.unreadable <= len(ref.runs)
            continue
        assert code == 0, err
        text = (out / "report.md").read_text()
        for h, seed in got.named:
            assert f"({h[:10]}) seed {seed}: " in text or f"config {h[:10]} seed" in text
            assert f"seed {seed}: " in err  # and on stderr, one warning line each
        assert cli.main(["export", "csv", str(tmp_path / f"x{case}"), "--store",
                         str(copy)]) == 0
        capsys.readouterr()
        rows = (tmp_path / f"x{case}" / "runs.csv").read_text().strip().splitlines()
        assert len(rows) - 1 == len(got.runs)
        if seen.get("named") == 2 and seen.get("refused") == 1:
            break
    assert seen == {"named": 2, "refused": 1}


def test_exports_and_the_dashboard_name_the_damaged_run(clean, tmp_path, capsys):
    """One run's record damaged: the TensorBoard and MLflow exports and the dashboard (a real
    `sweeplab serve` process on 127.0.0.1) leave it out and say so; every other run is
    there with its number."""
    path, ref = clean
    copy = tmp_path / "s.db"
    _record_damaged(path, copy, seed=1)
    h = ref.runs.config_hash[ref.runs.config == "width=16"].iloc[0]
    pytest.importorskip("tensorboard")
    assert cli.main(["export", "tensorboard", str(tmp_path / "tb"), "--store", str(copy)]) == 0
    out, err = capsys.readouterr()
    assert "tensorboard: 3 run(s) added" in out
    assert f"({h[:10]}) seed 1: checksum mismatch" in err and err.count("warning:") == 1, err
    assert sorted(p.name for p in (tmp_path / "tb" / "dmg" / "width=16").glob("seed_*")) == [
        "seed_0"]
    pytest.importorskip("mlflow")
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    assert cli.main(["export", "mlflow", uri, "--store", str(copy)]) == 0
    out, err = capsys.readouterr()
    assert "mlflow: 3 run(s) added" in out and f"({h[:10]}) seed 1: " in err, (out, err)
    pytest.importorskip("starlette")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "serve.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "sweeplab", "serve", "--store", str(copy),
                                 "--port", str(port)], stdout=fh, stderr=fh)
    try:
        deadline, page = time.monotonic() + 120, None
        while page is None and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/study?name=dmg",
                                            timeout=60) as r:
                    page = json.loads(r.read())
            except OSError:
                time.sleep(0.5)
        assert page is not None, log.read_text()
    finally:
        proc.kill()
        proc.wait(timeout=30)
    n = {c["config"]: c["n"] for c in page["configs"]}
    assert n == {"width=4": 2, "width=16": 1}
    assert page["progress"]["damaged"] == 1
    assert len(page["damaged"]) == 1 and f"({h[:10]}) seed 1: checksum mismatch" in \
        page["damaged"][0]
    want = ref.runs[(ref.runs.config == "width=16") & (ref.runs.seed == 0)].test_acc.iloc[0]
    mean = next(c["mean"] for c in page["configs"] if c["config"] == "width=16")
    assert mean == pytest.approx(want, rel=1e-12)  # the undamaged run's own number


def test_a_live_tensorboard_directory_is_checked_before_the_store_opens(tmp_path, capsys,
                                                                         data_dir):
    (tmp_path / "tb").write_text("a file, not a directory")
    db = tmp_path / "new.db"
    code = cli.main(["run", "q1", "--seeds", "1", "--epochs", "1", "--subset", "200",
                     "--quiet", "--data-dir", data_dir, "--tensorboard", str(tmp_path / "tb"),
                     "--store", str(db)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "TensorBoard log directory" in err[0] and "is a file" in err[0]
    assert not db.exists() and not Path(f"{db}-wal").exists()


def test_check_of_a_file_cut_short_never_counts_runs_it_did_not_hold(clean, tmp_path):
    path, ref = clean
    for keep in (4096, len(path.read_bytes()) // 4, len(path.read_bytes()) // 2):
        cut = tmp_path / f"cut{keep}.db"
        cut.write_bytes(path.read_bytes()[:keep])
        found = sweeplab.api.check(cut)
        assert not found.ok
        if found.readable is None:  # SQLite still opens it: the damage is named per record
            continue
        assert set(found.readable) <= set(zip(ref.runs.config_hash, ref.runs.seed, strict=True))
        assert found.unreadable is None or \
            len(found.readable) + found.unreadable <= len(ref.runs), found.lines()
        assert "could not" in found.lines()[-1] or "not known" in found.lines()[-1]


def test_a_real_schema_2_store_checks_as_unsealed_and_repair_keeps_its_numbers(tmp_path):
    """tests/data/q1_schema2.db, written by sweeplab before per-example predictions and
    checksums: `check` reads it without writing, says it has no checksums yet and is
    otherwise clean; `check --repair` seals it and every number reads as before."""
    old = tmp_path / "old.db"
    shutil.copy(Path(__file__).parent / "data" / "q1_schema2.db", old)
    before = old.read_bytes()
    found = sweeplab.api.check(old)
    assert found.ok and not found.checksummed and old.read_bytes() == before
    assert any("written before checksums" in line for line in found.lines())
    runs = sweeplab.open(old).runs()
    assert len(runs) == 10
    fixed = sweeplab.api.check(old, repair=True)
    assert fixed.ok and fixed.checksummed and fixed.damaged == []
    again = sweeplab.open(old).runs()
    cols = [c for c in runs.columns if c not in TIMING]
    assert again[cols].equals(runs[cols])
    with Store(old, readonly=True) as store:
        assert all(r["checksum"] for r in store._query("SELECT checksum FROM runs"))


def test_a_damaged_schema_is_refused_in_one_line(clean, tmp_path, run_cli):
    """bench/store_damage.py's case 178: a bit flipped in the SQL of the schema; SQLite's
    message quotes that SQL, newlines and all. Refused in one line all the same."""
    path, ref = clean
    copy = tmp_path / "c178.db"
    assert damage(path, copy, 178) == "bit 1 of byte 2071 flipped"
    got = read(copy)
    assert judge(ref, got) == "refused" and "malformed database schema" in got.error
    rc, _, err = run_cli("ls", "--store", copy)
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
