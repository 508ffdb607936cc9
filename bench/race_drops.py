"""How often the race's drop test drops a challenger, three ways (sweeplab.analysis.race).

One step of a race, simulated: an incumbent and five challengers on n shared seeds, each
seed's accuracy normal with sd 0.25 points (q7b's seeds vary 0.15-0.47); three challengers
1 point down, one `gap` points down, one as good as the incumbent whose seeds vary `spread`
times as much as the others'. Holm over the five at 5%, as `race.decide` tests them. For
each test: the share of steps dropping the wide one (a false drop: it is as good) and the
`gap` one (power).

- own: each challenger's own paired t-test (the race before 2026-12-07);
- pooled: the variance of a seed's difference pooled over the challengers;
- race.paired_p: pooled, never below the challenger's own (the race now).

    PYTHONPATH=src .venv/bin/python bench/race_drops.py
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import stdtr

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sweeplab.analysis import race  # noqa: E402

SD = 0.0025


def own(inc, chs):
    return [race.paired_p(inc, [c])[0] for c in chs]


def pooled(inc, chs):
    """The pooled test without the floor at a challenger's own variance."""
    d = [np.subtract(inc[:len(c)], c) for c in chs]
    df = sum(len(x) - 1 for x in d)
    var = sum(((x - x.mean()) ** 2).sum() for x in d) / df
    return [float(stdtr(df, -x.mean() / math.sqrt(var / len(x)))) for x in d]


def rates(test, n: int, spread: float, gap: float, reps: int, rng) -> tuple[float, float]:
    wide = worse = 0
    for _ in range(reps):
        inc = list(rng.normal(0.97, SD, n))
        chs = [list(rng.normal(0.96, SD, n)) for _ in range(3)]
        chs.append(list(rng.normal(0.97 - gap / 100, SD, n)))
        chs.append(list(rng.normal(0.97, spread * SD, n)))
        reject, _ = race.holm_reject(np.array(test(inc, chs)), race.ALPHA)
        worse += bool(reject[3])
        wide += bool(reject[4])
    return wide / reps, worse / reps


def main() -> None:
    reps, gap = 4000, 0.5
    t0 = time.perf_counter()
    print(f"{reps} simulated steps per cell; seed sd {100 * SD} points; one challenger "
          f"{gap} points down, one as good but `spread` times as wide")
    print(f"{'test':<16} {'seeds':>5} | false drops of the wide one, spread 1 / 2 / 4 | "
          f"drops of the one {gap} down")
    for name, test in (("own", own), ("pooled", pooled), ("race.paired_p", race.paired_p)):
        for n in (2, 3, 5):
            rng = np.random.default_rng(n)
            cells = [rates(test, n, s, gap, reps, rng) for s in (1, 2, 4)]
            print(f"{name:<16} {n:>5} | " + " / ".join(f"{w:.3f}" for w, _ in cells)
                  + f"{'':>24} | {cells[0][1]:.3f}")
    print(f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
