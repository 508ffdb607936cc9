"""What the store's checksums cost (issue 34): the store before them (git REF, default
bcc5a7f: main just before, with issue 32's per-example predictions) and now, side by
side in one invocation, alternating.

    PYTHONPATH=src .venv/bin/python bench/store_checksums.py [--store q6.db] [--ref bcc5a7f]

1. Writing: the same N finished runs (q6-sized: 11 epochs, a 10x10 confusion matrix,
   probes, diagnostics, 10,000 predictions) stored by the old and the new
   ``Store.finish_run``, each into a fresh store, in turns; seconds per run.
2. Reading: every study of ``--store`` (a copy: the new code upgrades it) read whole by
   the old and the new ``Store`` (``results`` of every config), in-process; then
   ``sweeplab report --format md`` of it, each in its own process with that version's code
   (``git archive REF src``), in turns. The copy read by the old code is the store as it
   was; the new code reads a copy it upgraded (checksums added) first.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def old_sources(ref: str, dest: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src"


def load_store_module(src: Path, name: str):  # noqa: ANN201
    spec = importlib.util.spec_from_file_location(name, src / "sweeplab" / "store.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def fake_runs(n: int, epochs: int = 10) -> list:
    from sweeplab.results import EpochRecord, RunResult

    rng = np.random.default_rng(0)
    labels = rng.integers(10, size=10_000)  # MNIST's test set: 10,000 predictions a run
    out = []
    for i in range(n):
        eps = tuple(EpochRecord(e, test_loss=float(rng.random()), test_acc=float(rng.random()),
                                train_loss=None if e == 0 else float(rng.random()),
                                train_acc=None if e == 0 else float(rng.random()),
                                seconds=float(rng.random())) for e in range(epochs + 1))
        diag = {"dead": [{"layer": j, "units": 32, "dead": int(rng.integers(5))}
                         for j in range(3)], "predicted": rng.integers(1000, size=10).tolist()}
        out.append(RunResult(f"{i // 10:016x}", i % 10, "fast", eps,
                             rng.integers(100, size=(10, 10)), tuple(rng.random(10).tolist()),
                             tuple(rng.random(10).tolist()), 1.0, diagnostics=diag,
                             predictions=rng.integers(10, size=10_000), test_labels=labels))
    return out


def time_writes(mod, runs: list, path: Path) -> float:  # noqa: ANN001
    path.unlink(missing_ok=True)
    with mod.Store(path) as store:
        hashes = sorted({r.config_hash for r in runs})
        store.save_study("s", {"name": "s"}, [(h, f'{{"h": "{h}"}}', h, {}) for h in hashes])
        t0 = time.perf_counter()
        for r in runs:
            store.finish_run(r, {"sweeplab": "x"})
        return (time.perf_counter() - t0) / len(runs)


def time_reads(mod, path: Path) -> float:  # noqa: ANN001
    t0 = time.perf_counter()
    with mod.Store(path, readonly=True) as store:
        n = sum(len(store.results(h)) for h, _ in store.configs())
    assert n > 0
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--store", default="/work/stores/q6.db")
    p.add_argument("--ref", default="bcc5a7f")
    p.add_argument("--runs", type=int, default=80)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--reports", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old_src = old_sources(args.ref, tmp)
        old = load_store_module(old_src, "store_before")
        new = load_store_module(ROOT / "src", "store_now")
        runs = fake_runs(args.runs)
        w_old, w_new = [], []
        for i in range(args.repeats):
            for mod, acc in ((old, w_old), (new, w_new))[:: 1 if i % 2 == 0 else -1]:
                acc.append(time_writes(mod, runs, tmp / "w.db"))
        mo, mn = statistics.median(w_old), statistics.median(w_new)
        print(f"write: {args.runs} q6-sized runs, finish_run each, median of {args.repeats}: "
              f"before {1e3 * mo:.2f} ms/run, checksums {1e3 * mn:.2f} ms/run, ratio "
              f"{mn / mo:.2f}x")
        before, after = tmp / "before.db", tmp / "after.db"
        src = __import__("sqlite3").connect(f"file:{args.store}?mode=ro", uri=True)
        for dest in (before, after):
            con = __import__("sqlite3").connect(dest)
            src.backup(con)
            con.close()
        src.close()
        with new.Store(after):  # upgraded: checksums added
            pass
        r_old, r_new = [], []
        for i in range(args.repeats):
            for mod, path, acc in ((old, before, r_old), (new, after, r_new))[
                    :: 1 if i % 2 == 0 else -1]:
                acc.append(time_reads(mod, path))
        mo, mn = statistics.median(r_old), statistics.median(r_new)
        print(f"read: every run of {args.store} ({before.stat().st_size // 1024} KB), median "
              f"of {args.repeats}: before {1e3 * mo:.1f} ms, checksums {1e3 * mn:.1f} ms, "
              f"ratio {mn / mo:.2f}x")
        rep_old, rep_new = [], []
        for i in range(args.reports):
            for srcdir, path, acc in ((old_src, before, rep_old), (ROOT / "src", after, rep_new))[
                    :: 1 if i % 2 == 0 else -1]:
                out = tmp / f"r{i}"
                shutil.rmtree(out, ignore_errors=True)
                env = {**os.environ, "PYTHONPATH": str(srcdir)}
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "sweeplab", "report", "--format", "md",
                                "--out", str(out), "--store", str(path)], check=True, env=env,
                               capture_output=True)
                acc.append(time.perf_counter() - t0)
        mo, mn = statistics.median(rep_old), statistics.median(rep_new)
        print(f"report --format md (own process each), median of {args.reports}: before "
              f"{mo:.2f} s, checksums {mn:.2f} s, ratio {mn / mo:.2f}x "
              f"(before {', '.join(f'{x:.2f}' for x in rep_old)}; "
              f"after {', '.join(f'{x:.2f}' for x in rep_new)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
