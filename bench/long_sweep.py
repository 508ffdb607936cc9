"""Memory maps and resident memory of one process over a long sweep (not CI).

    SWEEPLAB_TEST_DATA=../shared/data .venv/bin/python bench/long_sweep.py [CONFIGS] [ENGINE]

A study of CONFIGS distinct widths (mlp-softmax-ce, 1 seed, 1 epoch, 64 images) trained by
ENGINE (default fast) in this process; prints maps and RSS every 5 configs. The kernel's
vm.max_map_count (65,530 by default) is where a growing maps count ends the process.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from sweeplab import study as st
from sweeplab.runner import run_study
from sweeplab.store import Store


def maps_and_rss_mb() -> tuple[int, float]:
    with open("/proc/self/maps") as f:
        maps = sum(1 for _ in f)
    with open("/proc/self/status") as f:
        rss = next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:"))
    return maps, rss / 1024


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    engine = sys.argv[2] if len(sys.argv) > 2 else "fast"
    study = st.study_from_dict({
        "name": "long", "dataset": "mnist", "seeds": 1, "epochs": 1, "subset": 64,
        "model": {"preset": "mlp-softmax-ce"},
        "axes": [{"name": "width", "paths": ["layers.1.units"],
                  "values": list(range(4, 4 + n))}]})
    done: list[tuple[int, float]] = []

    class Meter:
        def epoch(self, *args) -> None:
            pass

        def run_done(self, *args) -> None:
            done.append(maps_and_rss_mb())
            if len(done) % 5 == 0:
                print(f"config {len(done):>4}: {done[-1][0]} maps, {done[-1][1]:.0f} MB",
                      flush=True)

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, Store(os.path.join(tmp, "s.db")) as store:
        run_study(study, store, data_dir=os.environ.get("SWEEPLAB_TEST_DATA"), engine=engine,
                  quiet=True, listeners=[Meter()])
    (m5, r5), (m, r) = done[min(4, len(done) - 1)], done[-1]
    per = max(1, len(done) - 5)
    print(f"{engine}, {len(done)} configs, {time.perf_counter() - t0:.0f} s: maps "
          f"{(m - m5) / per:+.1f}/config, RSS {(r - r5) / per:+.2f} MB/config after the fifth")


if __name__ == "__main__":
    main()
