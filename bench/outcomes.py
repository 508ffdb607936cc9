"""Per-example outcomes on a full-size store (issue 32): per config the three numbers (the
binomial floor, Jordan's test-set part, the distribution-wise std), the ensemble curve and
churn, all read through the one reader (readout.ConfigView); and what keeping the
predictions costs: bytes per run, and the file with and without them (a copy with the
predictions and test labels dropped, then VACUUMed; the given store is only read).

    PYTHONPATH=src .venv/bin/python bench/outcomes.py STORE [STUDY ...] [--storage]
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import tempfile
from pathlib import Path

import numpy as np

from sweeplab import readout
from sweeplab.store import Store


def numbers(store: Path, studies: list[str]) -> None:
    with Store(store, readonly=True) as s:
        names = studies or [st.name for st in s.studies()]
        for name in names:
            view = readout.read_study(s, name)
            print(f"{name}: config, seeds, n_test, mean %, seeds' std, binomial floor, "
                  "test-set part, distribution-wise std [95% upper], churn %, "
                  "vote of N seeds % (N = 1, 2, ...)")
            for c in view.configs:
                v, e = c.variance_split, c.ensemble
                if v is None or e is None:
                    print(f"  {c.label}: {c.outcomes_lack or 'fewer than 2 seeds'}")
                    continue
                never = int(c.outcomes.never_right.sum())
                split = int(c.outcomes.split.sum())
                print(f"  {c.label}: {v.n_seeds} seeds, {v.n_test} test, {100 * v.mean:.2f}, "
                      f"{100 * v.seeds_std:.3f}, {100 * v.binomial_std:.3f}, "
                      f"{100 * v.test_set_std:.3f}, {100 * v.distribution_std:.3f} "
                      f"[{100 * v.distribution_high:.3f}], {100 * c.churn:.2f}, "
                      + " ".join(f"{100 * a:.2f}" for a in e.accuracy)
                      + f"; never right {never}, split {split}")
                print(f"    {v.sentence()}")


def storage(store: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "copy.db"
        with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as a, \
                contextlib.closing(sqlite3.connect(copy)) as b:
            a.backup(b)  # consistent, WAL included
        with contextlib.closing(sqlite3.connect(copy)) as con:
            con.execute("VACUUM")
            with_size = copy.stat().st_size
            runs, pred = con.execute("SELECT count(*), sum(length(predictions)) FROM runs "
                                     "WHERE predictions IS NOT NULL").fetchone()
            per = [r[0] for r in con.execute("SELECT length(predictions) FROM runs "
                                             "WHERE predictions IS NOT NULL")]
            sets, labels = con.execute("SELECT count(*), sum(length(labels)) FROM "
                                       "test_labels").fetchone()
            con.execute("UPDATE runs SET predictions = NULL, labels_key = NULL")
            con.execute("DELETE FROM test_labels")
            con.commit()
            con.execute("VACUUM")
        without = copy.stat().st_size
    print(f"{store.name}: {runs} runs with predictions: {pred} bytes "
          f"({pred / runs:.0f} per run, min {min(per)}, max {max(per)}); "
          f"{sets} test label set(s), {labels} bytes")
    print(f"  file (VACUUMed): {with_size} bytes with predictions, {without} without "
          f"(+{with_size - without} bytes, +{100 * (with_size - without) / without:.0f}%; "
          f"{(with_size - without) / runs:.0f} bytes per run)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", type=Path)
    ap.add_argument("studies", nargs="*")
    ap.add_argument("--storage", action="store_true", help="also measure the storage cost")
    args = ap.parse_args()
    np.set_printoptions(precision=4)
    numbers(args.store, args.studies)
    if args.storage:
        storage(args.store)


if __name__ == "__main__":
    main()
