"""Does an engine agree statistically with the reference? Final test accuracies over seeds.

For q5 ("mlp-softmax-ce", MNIST) and q9 ("cnn-base", CIFAR-10), trains N seeds with the
reference engine and with the engine compared (fast by default, or --engine jax), with
shuffling and each engine's own randomness, as a study would, and compares the final test
accuracies: mean, standard error, difference in standard errors of the difference, and
Welch's two-sample t-test. Each engine trains in its own process (Keras has one backend
per process: reference and fast on TensorFlow, jax on JAX). Not a CI test; prints its
verdict.

    .venv/bin/python bench/equivalence.py                       # defaults below
    .venv/bin/python bench/equivalence.py --cases q5 --q5-epochs 20 --q5-subset 0
    .venv/bin/python bench/equivalence.py --engine jax --seeds 6 --q9-subset 2000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import subprocess
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


def _child(args: argparse.Namespace) -> None:
    """Train one engine on one case and print the final test accuracies as one JSON line."""
    from sweeplab import data, spec
    from sweeplab.engines import get_engine

    preset, dataset = CASES[args.case]
    engine = get_engine(args.child)
    ds = data.load(dataset, args.data_dir, subset=getattr(args, f"{args.case}_subset") or None)
    cfg = dataclasses.replace(spec.preset(preset), epochs=getattr(args, f"{args.case}_epochs"))
    acc = [r.final.test_acc for r in engine(cfg, list(range(args.seeds)), ds)]
    print(json.dumps({"acc": acc}))


def _train(engine: str, case: str, args: argparse.Namespace) -> list[float]:
    cmd = [sys.executable, __file__, "--child", engine, "--case", case, "--seeds",
           str(args.seeds), "--data-dir", args.data_dir,
           f"--{case}-epochs", str(getattr(args, f"{case}_epochs")),
           f"--{case}-subset", str(getattr(args, f"{case}_subset"))]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{engine}/{case} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["acc"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--engine", default="fast", choices=("fast", "jax"),
                   help="the engine compared with the reference (default: fast)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--case", help=argparse.SUPPRESS)
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
    if args.child:
        _child(args)
        return

    from sweeplab import data

    other = args.engine
    verdicts = []
    for case in args.cases.split(","):
        preset, dataset = CASES[case]
        epochs = getattr(args, f"{case}_epochs")
        subset = getattr(args, f"{case}_subset") or None
        ds = data.load(dataset, args.data_dir, subset=subset)
        print(f"\n{case}: {preset} on {dataset} ({len(ds.x_train)} train / {len(ds.x_test)} test "
              f"images), {epochs} epochs, seeds 0..{args.seeds - 1} per engine", flush=True)
        acc: dict[str, list[float]] = {}
        for engine in ("reference", other):
            t0 = time.perf_counter()
            acc[engine] = _train(engine, case, args)
            a = acc[engine]
            se = statistics.stdev(a) / math.sqrt(len(a))
            print(f"  {engine:9s} mean {statistics.mean(a):.4f}  sd {statistics.stdev(a):.4f}  "
                  f"se {se:.4f}  n={len(a)}  ({time.perf_counter() - t0:.0f} s)", flush=True)
        r, f = acc["reference"], acc[other]
        diff = statistics.mean(f) - statistics.mean(r)
        se_diff = math.sqrt(statistics.variance(r) / len(r) + statistics.variance(f) / len(f))
        t, df, pval = _welch(f, r)
        within = abs(diff) <= 2 * se_diff
        verdicts.append((case, within))
        print(f"  {other} - reference = {diff:+.4f} (se of difference {se_diff:.4f}, "
              f"{abs(diff) / se_diff if se_diff else 0:.2f} se); Welch t = {t:.2f}, df = {df:.1f}, "
              f"p = {pval:.3f} -> {'AGREE' if within else 'DIFFER'} (|difference| "
              f"{'<=' if within else '>'} 2 se)", flush=True)
    print("\nverdict: " + ", ".join(f"{c} {'agree' if ok else 'DIFFER'}" for c, ok in verdicts))


if __name__ == "__main__":
    main()
