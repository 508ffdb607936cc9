"""What the store's checksums cost (issue 34): the store before them (git REF, default
34b10e4: main just before 9ec5600) and after (``--after REF``, e.g. 9ec5600, which added them
and nothing else; default the working tree), side by side in one invocation, alternating.

    PYTHONPATH=src .venv/bin/python bench/store_checksums.py [--store q6.db] [--ref 34b10e4]
        [--after 9ec5600] [--train]

1. Writing, in-process: the same N finished runs (q6-sized: 11 epochs, a 10x10 confusion
   matrix, probes, diagnostics, 10,000 predictions) stored by the old and the new
   ``Store.finish_run``, each into a fresh store, in turns; milliseconds per run.
2. Reading, in-process: every run of ``--store`` read whole by the old and the new
   ``Store`` (``results`` of every config).
3. The commands, each in its own process with that version's code (``git archive REF
   src``), in turns: ``sweeplab run q6 --seeds 10 --epochs 10`` on the full store (every
   run done: it opens the store, plans, skips all 80 runs and prints the summary) and
   ``sweeplab report --format md``. With ``--train``: ``sweeplab run q6 --seeds 11
   --epochs 10 --engine fast`` once each on a fresh copy (trains and writes seed 10 of
   the 8 widths into the full store).

``--store`` is copied first (sqlite3 backup: its -wal included). The old code reads the
copy with the checksums taken off (schema 4, as the old code wrote it: the same rows);
the new code reads a copy with them (a schema-4 source is upgraded first).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def old_sources(ref: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
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


def copy_store(src: Path, dest: Path, checksums: bool) -> None:
    """``src`` copied whole (its -wal too); without ``checksums``, as the code before them
    wrote it: schema 4, the checksum columns and the ``damaged`` table taken off."""
    dest.unlink(missing_ok=True)
    s = sqlite3.connect(f"file:{src.resolve()}?mode=ro", uri=True)
    d = sqlite3.connect(dest)
    s.backup(d)
    s.close()
    if not checksums and d.execute("PRAGMA user_version").fetchone()[0] >= 5:
        for table in ("runs", "configs", "studies", "meta"):
            d.execute(f"ALTER TABLE {table} DROP COLUMN checksum")
        d.execute("DROP TABLE damaged")
        d.execute("PRAGMA user_version=4")
        d.commit()
        d.execute("VACUUM")
    d.close()


def sweeplab_cmd(srcdir: Path, argv: list[str], cwd: Path) -> float:
    """Seconds of ``python -m sweeplab ARGV`` with the code in ``srcdir``, its own process."""
    env = {**os.environ, "PYTHONPATH": str(srcdir)}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "sweeplab", *argv], env=env, cwd=cwd,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"sweeplab {' '.join(argv)} ({srcdir}): exit {done.returncode}\n"
                         f"{done.stderr[-2000:]}")
    return time.perf_counter() - t0


def report(what: str, repeats: int, t_old: list[float], t_new: list[float]) -> None:
    mo, mn = statistics.median(t_old), statistics.median(t_new)
    print(f"{what} (own process each), median of {repeats}: before {mo:.2f} s, checksums "
          f"{mn:.2f} s, ratio {mn / mo:.2f}x (before {', '.join(f'{x:.2f}' for x in t_old)}; "
          f"after {', '.join(f'{x:.2f}' for x in t_new)})")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--store", default="/work/stores/q6.db")
    p.add_argument("--ref", default="34b10e4")
    p.add_argument("--after", default=None, help="git REF of the code with checksums (e.g. "
                   "9ec5600, the commit that added them alone); default: the working tree")
    p.add_argument("--runs", type=int, default=80)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--reports", type=int, default=3)
    p.add_argument("--data-dir", default=os.environ.get("SWEEPLAB_TEST_DATA"))
    p.add_argument("--train", action="store_true", help="also train seed 10 of q6 into "
                   "the full store, once each")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old_src = old_sources(args.ref, (tmp / "before").resolve())
        new_src = old_sources(args.after, (tmp / "after").resolve()) if args.after else \
            ROOT / "src"
        print(f"before: {args.ref}; after: {args.after or 'the working tree'}")
        old = load_store_module(old_src, "store_before")
        new = load_store_module(new_src, "store_now")
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
        copy_store(Path(args.store), before, checksums=False)
        copy_store(Path(args.store), after, checksums=True)
        with new.Store(after):  # a schema-4 source is upgraded here: checksums added
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
        sides = ((old_src, before), (new_src, after))
        data = ["--data-dir", args.data_dir] if args.data_dir else []
        noop = ["run", "q6", "--seeds", "10", "--epochs", "10", "--engine", "fast", "--quiet",
                *data]
        commands = [("run q6 (all 80 runs done)", noop, args.reports),
                    ("report --format md", ["report", "--format", "md"], args.reports)]
        for what, argv, repeats in commands:
            t_old, t_new = [], []
            for i in range(repeats):
                turn = list(zip(sides, (t_old, t_new), strict=True))
                for (srcdir, path), acc in turn[:: 1 if i % 2 == 0 else -1]:
                    shutil.rmtree(tmp / "r", ignore_errors=True)
                    out = ["--out", str(tmp / "r")] if argv[0] == "report" else []
                    acc.append(sweeplab_cmd(srcdir, [*argv, *out, "--store", str(path)], tmp))
            report(what, repeats, t_old, t_new)
        if args.train:  # writing: seed 10 of every width trained into a fresh full copy
            t_old, t_new = [], []
            for (srcdir, path), acc in list(zip(sides, (t_old, t_new), strict=True)):
                fresh = tmp / f"train-{path.name}"
                copy_store(path, fresh, checksums=path is after)
                argv = ["run", "q6", "--seeds", "11", "--epochs", "10", "--engine", "fast",
                        "--quiet", *data, "--store", str(fresh)]
                acc.append(sweeplab_cmd(srcdir, argv, tmp))
            report("run q6 --seeds 11 (trains and writes 8 runs)", 1, t_old, t_new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
