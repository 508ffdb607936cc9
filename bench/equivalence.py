"""Do the two engines agree statistically? Final test accuracies over seeds, per engine.

For q5 ("mlp-softmax-ce", MNIST) and q9 ("cnn-base", CIFAR-10), trains N seeds with each
engine (with shuffling and each engine's own randomness, as a study would) and compares
the final test accuracies: mean, standard error, difference in standard errors of the
difference, and Welch's two-sample t-test. Not a CI test; prints its verdict.

    .venv/bin/python bench/equivalence.py                       # defaults below
    .venv/bin/python bench/equivalence.py --cases q5 --q5-epochs 20 --q5-subset 0
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

CASES = {"q5": ("mlp-softmax-ce", "mnist"), "q9": ("cnn-base", "cifar10")}


def _welch(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """t statistic, Welch-Satterthwaite degrees of freedom, two-sided p-value."""
    from scipy import stats

    res = stats.ttest_ind(a, b, equal_var=False)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if va + vb else math.inf
    return float(res.statistic), df, float(res.pvalue)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="q5,q9")
    p.add_argument("--seeds", type=int, default=10, help="seeds per engine")
    p.add_argument("--q5-epochs", type=int, default=3)
    p.add_argument("--q5-subset", type=int, default=10000, help="0 = full MNIST")
    p.add_argument("--q9-epochs", type=int, default=2)
    p.add_argument("--q9-subset", type=int, default=5000, help="0 = full CIFAR-10")
    p.add_argument("--data-dir", default=os.environ.get(
        "SWEEPLAB_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data")),
        help="directory with the datasets (default: $SWEEPLAB_DATA or ../shared/data)")
    args = p.parse_args()

    from sweeplab import data, spec
    from sweeplab.engines import get_engine

    verdicts = []
    for case in args.cases.split(","):
        preset, dataset = CASES[case]
        epochs = getattr(args, f"{case}_epochs")
        subset = getattr(args, f"{case}_subset") or None
        ds = data.load(dataset, args.data_dir, subset=subset)
        cfg = dataclasses.replace(spec.preset(preset), epochs=epochs)
        print(f"\n{case}: {preset} on {dataset} ({len(ds.x_train)} train / {len(ds.x_test)} test "
              f"images), {epochs} epochs, seeds 0..{args.seeds - 1} per engine", flush=True)
        acc: dict[str, list[float]] = {}
        for engine in ("reference", "fast"):
            t0 = time.perf_counter()
            acc[engine] = [r.final.test_acc for r in
                           get_engine(engine)(cfg, list(range(args.seeds)), ds)]
            a = acc[engine]
            se = statistics.stdev(a) / math.sqrt(len(a))
            print(f"  {engine:9s} mean {statistics.mean(a):.4f}  sd {statistics.stdev(a):.4f}  "
                  f"se {se:.4f}  n={len(a)}  ({time.perf_counter() - t0:.0f} s)", flush=True)
        r, f = acc["reference"], acc["fast"]
        diff = statistics.mean(f) - statistics.mean(r)
        se_diff = math.sqrt(statistics.variance(r) / len(r) + statistics.variance(f) / len(f))
        t, df, pval = _welch(f, r)
        within = abs(diff) <= 2 * se_diff
        verdicts.append((case, within))
        print(f"  fast - reference = {diff:+.4f} (se of difference {se_diff:.4f}, "
              f"{abs(diff) / se_diff if se_diff else 0:.2f} se); Welch t = {t:.2f}, df = {df:.1f}, "
              f"p = {pval:.3f} -> {'AGREE' if within else 'DIFFER'} (|difference| "
              f"{'<=' if within else '>'} 2 se)", flush=True)
    print("\nverdict: " + ", ".join(f"{c} {'agree' if ok else 'DIFFER'}" for c, ok in verdicts))


if __name__ == "__main__":
    main()
