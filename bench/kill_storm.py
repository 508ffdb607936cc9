#!/usr/bin/env python
"""Kill storm: a study run under repeated SIGKILLs, restarted each time, until it completes.

Every kill lands at a random moment: half at a random time after the process starts
(start-up, data loading, training), half just as the store's write-ahead log changes for
the k-th time (k random: a claim, a run's commit), so writes are hit on purpose. After
every kill the runs already finished are compared with what they were when first seen (a
finished run that changed was trained, or written, twice) and with the uninterrupted run.
When a restarted process completes the study before its kill moment, the study starts over
in a new store, so that every kill lands on unfinished work. At the end:

- every run of the study is in the store exactly once, done, with every epoch (0..E);
- no run is left 'running', none failed;
- its numbers equal an uninterrupted run of the same seeds (same engine, same group size,
  same machine: the same float operations in the same order, so equal to the last bit),
  its per-example predictions and test labels (issue 32) included;
- at every kill, no run is done without its predictions and test labels, and no run that
  is not done has any.

    python bench/kill_storm.py --kills 50 --data-dir ../shared/data

Exits 1 when a check fails. tests/test_kill_storm.py runs a 5-kill storm in CI.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

STUDY = """
name = "storm"
title = "kill storm: two widths of the q1 MLP"
dataset = "mnist"
seeds = 3
epochs = 3
subset = 1000

[model]
preset = "mlp-relu-mse"

[[axes]]
name = "width"
path = "layers.1.units"
values = [16, 32]
"""
RUNS = 6  # 2 widths x 3 seeds
EPOCHS = 3


@dataclass
class Storm:
    kills: int = 0
    by_time: int = 0
    on_write: int = 0
    finished_early: int = 0  # a process that completed the study before its kill moment
    restarts: int = 0
    trained_twice: list[str] = field(default_factory=list)
    seconds: float = 0.0


def command(toml: Path, store: Path, data_dir: str, engine: str) -> list[str]:
    # --parallel 1: each run is its own group and commit, so a storm makes progress
    return [sys.executable, "-m", "sweeplab", "run", str(toml), "--store", str(store),
            "--data-dir", data_dir, "--engine", engine, "--parallel", "1", "--quiet"]


def snapshot(store: Path) -> dict[tuple[str, int], tuple]:
    """Finished runs: (config, seed) -> everything stored about them."""
    if not store.exists():
        return {}
    con = sqlite3.connect(f"file:{store.resolve()}?mode=ro", uri=True, timeout=30)
    try:
        if not con.execute("SELECT 1 FROM sqlite_master WHERE name='runs'").fetchone():
            return {}
        out = {}
        for rid, h, seed, started, finished, conf, pred, labels in con.execute(
                "SELECT r.id, r.config_hash, r.seed, r.started_at, r.finished_at, r.confusion,"
                " r.predictions, t.labels FROM runs r LEFT JOIN test_labels t "
                "ON t.key = r.labels_key WHERE r.status='done'"):
            epochs = tuple(con.execute(
                "SELECT epoch, train_loss, train_acc, test_loss, test_acc FROM epochs "
                "WHERE run_id=? ORDER BY epoch", (rid,)))
            # the per-example outcomes (issue 32) belong to the run: compared like its numbers
            out[(h, int(seed))] = (started, finished, conf, epochs, pred, labels)
        return out
    finally:
        con.close()


def outcome_faults(store: Path) -> dict[str, int]:
    """Runs done without their per-example outcomes (predictions and test labels), and
    outcomes kept for a run that is not done: both must be 0 at every kill."""
    if not store.exists():
        return {"done_without_outcomes": 0, "outcomes_without_done": 0}
    con = sqlite3.connect(f"file:{store.resolve()}?mode=ro", uri=True, timeout=30)
    try:
        if not con.execute("SELECT 1 FROM sqlite_master WHERE name='runs'").fetchone():
            return {"done_without_outcomes": 0, "outcomes_without_done": 0}
        without = con.execute(
            "SELECT count(*) FROM runs r LEFT JOIN test_labels t ON t.key = r.labels_key "
            "WHERE r.status='done' AND (r.predictions IS NULL OR t.labels IS NULL)"
        ).fetchone()[0]
        orphan = con.execute("SELECT count(*) FROM runs WHERE status!='done' AND "
                             "(predictions IS NOT NULL OR labels_key IS NOT NULL)").fetchone()[0]
        return {"done_without_outcomes": without, "outcomes_without_done": orphan}
    finally:
        con.close()


def statuses(store: Path) -> dict[str, int]:
    con = sqlite3.connect(f"file:{store.resolve()}?mode=ro", uri=True, timeout=30)
    try:
        return dict(con.execute("SELECT status, count(*) FROM runs GROUP BY status"))
    finally:
        con.close()


def _wal_state(store: Path) -> tuple[int, int] | None:
    wal = store.with_name(store.name + "-wal")
    try:
        st = wal.stat()
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns


def kill_one(cmd: list[str], store: Path, rng: random.Random, window: float, storm: Storm
             ) -> bool:
    """Start the run and SIGKILL it at a random moment; True when it finished first."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        by_time = rng.random() < 0.5
        deadline = time.monotonic() + (rng.uniform(0.2, 1.0) * window if by_time else window)
        writes_left = rng.randint(1, 4)
        last = _wal_state(store)
        while time.monotonic() < deadline and proc.poll() is None:
            if not by_time:
                now = _wal_state(store)
                if now != last:
                    last = now
                    writes_left -= 1
                    if writes_left == 0:
                        break
            time.sleep(0.001 if not by_time else 0.01)
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            if proc.returncode != 0:
                raise RuntimeError(f"sweeplab run exited {proc.returncode}: {err[-2000:]}")
            storm.finished_early += 1
            return True
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        storm.kills += 1
        storm.by_time += by_time
        storm.on_write += not by_time
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        if proc.stderr:
            proc.stderr.close()


def run_storm(kills: int, seed: int, data_dir: str, engine: str, workdir: Path,
              log=print) -> dict:  # noqa: ANN001
    rng = random.Random(seed)
    toml = workdir / "storm.toml"
    toml.write_text(STUDY)
    ref, store = workdir / "reference.db", workdir / "storm.db"

    t0 = time.monotonic()
    subprocess.run(command(toml, ref, data_dir, engine), check=True, timeout=900,
                   stdout=subprocess.DEVNULL)
    window = time.monotonic() - t0  # one whole uninterrupted run, start-up included
    log(f"uninterrupted run: {window:.1f} s for {RUNS} runs x {EPOCHS} epochs")

    expected = snapshot(ref)
    storm = Storm()
    faults = {"done_without_outcomes": 0, "outcomes_without_done": 0}
    seen: dict[tuple[str, int], tuple] = {}
    unequal: set[str] = set()
    t0 = time.monotonic()
    while storm.kills < kills:
        storm.restarts += 1
        finished = kill_one(command(toml, store, data_dir, engine), store, rng, window, storm)
        now = snapshot(store)
        for k, v in outcome_faults(store).items():
            faults[k] += v
        for key, value in now.items():
            if key in seen and seen[key] != value:
                storm.trained_twice.append(f"{key[0][:10]}/seed {key[1]}")
            seen.setdefault(key, value)
            if value[2:] != expected[key][2:]:  # every finished run, at every kill
                unequal.add(f"{key[0][:10]}/seed {key[1]}")
        if any(k not in now for k in seen):
            storm.trained_twice.append("a finished run disappeared")
        if finished:  # the study completed before this kill (its runs were checked above):
            # start it again in a new store, so that every kill lands on unfinished work
            log(f"  study completed after {storm.kills} kills; starting over in a new store")
            store.unlink()
            for suffix in ("-wal", "-shm"):
                Path(f"{store}{suffix}").unlink(missing_ok=True)
            seen.clear()
        if storm.kills and storm.kills % 10 == 0 and not finished:
            log(f"  {storm.kills} kills, {len(now)}/{RUNS} runs done")
    # the last, unkilled run finishes the study
    subprocess.run(command(toml, store, data_dir, engine), check=True, timeout=900,
                   stdout=subprocess.DEVNULL)
    storm.seconds = time.monotonic() - t0
    final = snapshot(store)
    for key, value in final.items():
        if key in seen and seen[key] != value:
            storm.trained_twice.append(f"{key[0][:10]}/seed {key[1]}")

    counts = statuses(store)
    complete = [k for k, v in final.items() if [e[0] for e in v[3]] == list(range(EPOCHS + 1))]
    unequal |= {f"{k[0][:10]}/seed {k[1]}" for k in expected
                if k not in final or final[k][2:] != expected[k][2:]}
    lost = RUNS - len(final)
    return {
        "kills": storm.kills, "kills_by_time": storm.by_time,
        "kills_on_write": storm.on_write, "restarts": storm.restarts,
        "completed_before_kill": storm.finished_early, "storm_seconds": round(storm.seconds, 1),
        "runs_expected": RUNS, "runs_done": counts.get("done", 0),
        "runs_running": counts.get("running", 0), "runs_failed": counts.get("failed", 0),
        "runs_lost": lost, "runs_with_every_epoch": len(complete),
        "trained_twice": len(storm.trained_twice), "trained_twice_runs": storm.trained_twice,
        "studies_completed": storm.finished_early + 1,
        "unequal_to_uninterrupted": sorted(unequal),
        **{k: v + outcome_faults(store)[k] for k, v in faults.items()},
    }


def ok(result: dict) -> bool:
    return (result["runs_done"] == result["runs_expected"] == result["runs_with_every_epoch"]
            and result["runs_lost"] == 0 and result["runs_running"] == 0
            and result["runs_failed"] == 0 and result["trained_twice"] == 0
            and not result["unequal_to_uninterrupted"]
            and result["done_without_outcomes"] == result["outcomes_without_done"] == 0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=50)
    p.add_argument("--seed", type=int, default=0, help="seeds the kill moments")
    p.add_argument("--engine", default="fast", choices=["fast", "reference"])
    p.add_argument("--data-dir", default=os.environ.get("SWEEPLAB_DATA", "../shared/data"))
    p.add_argument("--workdir", help="keep the stores here (default: a temporary directory)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="kill-storm-") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        result = run_storm(args.kills, args.seed, args.data_dir, args.engine, workdir)
    for k, v in result.items():
        print(f"{k:28s} {v}")
    verdict = ok(result)
    print("PASS: every run exactly once, every epoch, equal to the uninterrupted run"
          if verdict else "FAIL")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
