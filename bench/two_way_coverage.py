"""How often ``outcomes.two_way``'s 95% interval covers the distribution's true mean.

Simulated worlds whose truth is known: each example's expected correctness p_i ~ U(0.3, 0.9)
(the distribution's mean accuracy 0.6), each seed shifting every p_i by its own N(0, sd);
a test set draws M examples, K seeds of A and K of B (B 1 point better on every example)
are scored on it. Prints the share of test sets whose interval covers the truth, for one
config's accuracy and for the difference B - A.

    PYTHONPATH=src .venv/bin/python bench/two_way_coverage.py 3,500,0.02 3,10000,0.002
"""

from __future__ import annotations

import argparse

import numpy as np

from sweeplab.analysis import outcomes as O


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("worlds", nargs="+", help="K,M,seed_sd (seeds, examples, sd of a seed)")
    ap.add_argument("--reps", type=int, default=1000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    for world in args.worlds:
        k, m, sd = (f(v) for f, v in zip((int, int, float), world.split(","), strict=True))
        one = diff = 0
        for _ in range(args.reps):
            p = rng.uniform(0.3, 0.9, m)
            a = rng.random((k, m)) < p[None, :] + rng.normal(0, sd, k)[:, None]
            b = rng.random((k, m)) < (p + 0.01)[None, :] + rng.normal(0, sd, k)[:, None]
            t = O.two_way(None, a)
            one += t.low <= 0.6 <= t.high
            t2 = O.two_way(a, b)
            diff += t2.low <= 0.01 <= t2.high
        print(f"K={k} M={m} seed sd={sd}: coverage one config {one / args.reps:.3f}, "
              f"difference {diff / args.reps:.3f} ({args.reps} test sets)")


if __name__ == "__main__":
    main()
