"""The search's final answer with and without the test set's sampling, on a stored grid.

A grid's seeds stand in for a search's: seeds 0-4 are the race (the top ``--finalists``
configs by their mean test accuracy go on), seeds 5-9 the fresh round. The metric is
test_acc (q7b has no validation split), so P(best) resamples the test examples too.

    PYTHONPATH=src .venv/bin/python bench/search_answer.py --store /work/stores/q7b.db
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sweeplab import readout
from sweeplab.analysis import race
from sweeplab.store import Store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--study", default="q7b")
    ap.add_argument("--finalists", type=int, default=3)
    args = ap.parse_args()
    with Store(args.store, readonly=True) as s:
        view = readout.read_study(s, args.study)
    cs = {c.config_hash: c for c in view.configs}
    race_means = {h: float(np.mean([r.final.test_acc for r in c.runs if r.seed < 5]))
                  for h, c in cs.items()}
    top = sorted(cs, key=lambda h: -race_means[h])[:args.finalists]
    fresh = range(5, 10)
    acc = {h: [cs[h].final()[s] for s in fresh] for h in top}
    labels = {h: cs[h].label for h in top}
    means = {h: race_means[h] for h in top}
    t0 = time.perf_counter()
    plain = race.answer(labels, means, acc, acc, "test_acc")
    t1 = time.perf_counter()
    correct = readout._correct([cs[h] for h in top], fresh, "test")
    both = race.answer(labels, means, acc, acc, "test_acc", metric_correct=correct,
                       test_correct=correct, metric_split="test")
    t2 = time.perf_counter()
    print("seeds only:", plain.sentence)
    print("with test: ", both.sentence)
    for f in both.finalists:
        tw = f.two_way
        extra = (f"; new test set {100 * tw.low:.2f}-{100 * tw.high:.2f} (width "
                 f"{100 * (tw.high - tw.low):.2f}, the test set's se {100 * tw.test_set_se:.3f}"
                 f" of {100 * tw.se:.3f})" if tw else "")
        print(f"  {f.label}: test {100 * f.test_mean:.2f}, t-interval {100 * f.test_low:.2f}-"
              f"{100 * f.test_high:.2f} (width {100 * (f.test_high - f.test_low):.2f}){extra}; "
              f"P(best) seeds only {f.p_best_seeds:.3f}, two-way {f.p_best:.3f}")
    print(f"answer: {t1 - t0:.2f} s seeds only, {t2 - t1:.2f} s with the test set's sampling")


if __name__ == "__main__":
    main()
