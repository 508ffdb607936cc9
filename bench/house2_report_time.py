"""Wall time of ``sweeplab report STUDY --format md`` under two source trees, alternated.

    python bench/house2_report_time.py BEFORE AFTER --study q6 --store /work/stores/q6.db -n 3

BEFORE, AFTER: git refs or ``src`` folders (as bench/house2_identity.py). Each repeat runs
both, in alternating order, on private copies of the store; prints each time and the median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from house2_identity import DATA, PY, snapshot, tree


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--study", default="q6")
    ap.add_argument("--store", default="/work/stores/q6.db")
    ap.add_argument("-n", type=int, default=3)
    ap.add_argument("--repo", default=str(Path(__file__).resolve().parents[1]))
    args = ap.parse_args()
    times: dict[str, list[float]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="house2_time_") as tmp:
        work = Path(tmp)
        srcs = {}
        for side in ("before", "after"):
            (work / side).mkdir()
            srcs[side] = tree(getattr(args, side), work / side, args.repo)
            snapshot(args.store, work / side / "store.db")
        for i in range(args.n):
            for side in (("before", "after") if i % 2 == 0 else ("after", "before")):
                env = dict(os.environ, PYTHONPATH=str(srcs[side]))
                t0 = time.perf_counter()
                subprocess.run([PY, "-m", "sweeplab", "report", args.study, "--store",
                                str(work / side / "store.db"), "--format", "md", "--out",
                                str(work / side / f"report{i}"), "--data-dir", DATA],
                               env=env, check=True, capture_output=True)
                times[side].append(time.perf_counter() - t0)
                print(f"{side:6s} {times[side][-1]:6.1f} s", flush=True)
    for side, t in times.items():
        print(f"{side}: median {statistics.median(t):.1f} s over {len(t)} "
              f"({', '.join(f'{x:.1f}' for x in t)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
