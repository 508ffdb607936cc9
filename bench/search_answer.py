"""The search's final answer with and without the test set's sampling, on a stored grid.

A grid's seeds stand in for a search's: seeds 0-4 are the race (the top ``--finalists``
configs by their mean test accuracy go on), seeds 5-9 the fresh round. The metric is
test_acc (q7b has no validation split), so P(best) resamples the test examples too.

    PYTHONPATH=src .venv/bin/python bench/search_answer.py --store /work/stores/q7b.db

``--time R``: P(best) over seeds and examples (``outcomes.two_way_best``) against the same
bootstrap drawing each resample's example counts with NumPy's ``multinomial`` over M
categories (as it did before 2a0b221), R times each, alternating, side by side.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sweeplab import readout
from sweeplab.analysis import outcomes, race
from sweeplab.store import Store


def two_way_best_multinomial(corrects: list[np.ndarray], n_boot: int = 2000, rng_seed: int = 0,
                             chunk: int = 200) -> np.ndarray:
    """``outcomes.two_way_best`` as it was: the example counts from ``rng.multinomial``."""
    cs = [np.asarray(c, np.float64) for c in corrects]
    k, m = cs[0].shape
    rng = np.random.default_rng(rng_seed)
    wins = np.zeros(len(cs), np.int64)
    for start in range(0, n_boot, chunk):
        r = min(chunk, n_boot - start)
        w = rng.multinomial(k, np.full(k, 1 / k), size=r) / k
        we = rng.multinomial(m, np.full(m, 1 / m), size=r)
        means = np.stack([np.einsum("rm,rm->r", w @ c, we) / m for c in cs])
        wins += np.bincount(means.argmax(axis=0), minlength=len(cs))
    return wins / n_boot


def side_by_side(corrects: list[np.ndarray], repeats: int) -> None:
    fns = {"bincount (now)": outcomes.two_way_best, "multinomial (before)":
           two_way_best_multinomial}
    times: dict[str, list[float]] = {n: [] for n in fns}
    for i in range(repeats):
        for name in (list(fns) if i % 2 == 0 else list(fns)[::-1]):
            t0 = time.perf_counter()
            p = fns[name](corrects)
            times[name].append(time.perf_counter() - t0)
            if i == 0:
                print(f"  {name}: P(best) {np.round(p, 3).tolist()}")
    med = {n: float(np.median(t)) for n, t in times.items()}
    k, m = corrects[0].shape
    print(f"two_way_best, {len(corrects)} configs x {k} seeds x {m} examples, 2,000 resamples, "
          f"median of {repeats} alternating: " + ", ".join(f"{n} {t:.3f} s" for n, t in
                                                            med.items())
          + f"; before / now {med['multinomial (before)'] / med['bincount (now)']:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--study", default="q7b")
    ap.add_argument("--finalists", type=int, default=3)
    ap.add_argument("--time", type=int, default=0, metavar="R",
                    help="also time two_way_best against its multinomial form, R times each")
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
    if args.time:
        side_by_side([correct[h] for h in top], args.time)


if __name__ == "__main__":
    main()
