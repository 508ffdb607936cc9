"""The report's "what the seeds can tell" blocks: test-set noise per config, P(b > a), power
and test-set resolution for the comparisons a section makes, and score distributions when
a config's runs split into groups. Numbers from :mod:`sweeplab.analysis.seeds`,
deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from sweeplab import plots
from sweeplab.analysis import outcomes, seeds, stats
from sweeplab.report.blocks import Block, Plot, Table, Text

__all__ = ["seed_blocks"]


def _noise_text(sd: Any) -> Text | None:
    """Seeds or test set? One test per config: against the test set's own part where the
    runs kept their per-example predictions (the variance split's), else against the
    binomial floor (the noise floor's, conservative: it overstates the test set's part)."""
    cs = [(c, seeds.runs_floor(c.runs), c.variance_split) for c in sd.configs
          if len(c.runs) >= 2]
    if not cs:
        return None
    if len(cs) <= 2:
        many = len(sd.configs) > 1
        said = [f.sentence(c.label if many else "") if v is None else
                (f"{c.label}: " if many else "") + v.sentence() for c, f, v in cs]
        text = " ".join(said)
        return Text(f"Seeds or test set? {text[0].upper()}{text[1:]}", "finding")
    over = [(c.label, f.beyond if v is None else v.p_value < 0.05) for c, f, v in cs]
    beyond, within = ([label for label, b in over if b is want] for want in (True, False))
    floors = [f.floor for _, f, _ in cs]
    parts = [f"Seeds or test set? The {cs[0][1].n_test} test images alone give each "
             f"configuration's final test accuracy a binomial standard error of "
             f"{100 * min(floors):.2f} to {100 * max(floors):.2f} points."]
    own = [v.test_set_std for _, _, v in cs if v is not None]
    if own:
        parts.append(f"The runs' per-example predictions put the test set's own part of the "
                     f"seeds' spread at {100 * min(own):.2f} to {100 * max(own):.2f} points "
                     f"(std, Jordan 2024) in {len(own)} of {len(cs)} configurations.")
    against = ("the binomial floor" if not own else "the test set's own part" if
               len(own) == len(cs) else "the test set's own part where known, else the "
               "binomial floor")
    if beyond:
        parts.append(f"The seeds spread the runs beyond test-set noise in {len(beyond)} of "
                     f"{len(cs)} configurations (chi-square test of the variance against "
                     f"{against}, p < 0.05): {'; '.join(beyond)}.")
    if within:
        parts.append(f"In {'; '.join(within)} the runs are indistinguishable beyond test-set "
                     "noise: they differ by about which test images each happens to get right.")
    return Text(" ".join(parts), "finding")


def _pairs(sd: Any) -> list[tuple[Any, Any]]:
    """The comparisons the section's paired tables make: baseline vs each, then neighbours."""
    base = sd.baseline
    out = [(base, c) for c in sd.configs if base is not None and c is not base]
    axes = sd.axes
    if len(axes) == 1 and axes[0].get("scale") in ("linear", "log2"):
        out += [(sd.configs[i], sd.configs[j]) for i, j in stats.neighbour_pairs(sd.configs)
                if (sd.configs[i], sd.configs[j]) not in out]
    return [(a, b) for a, b in out if a.runs and b.runs]


def _power_table(sd: Any) -> list[Block]:
    rows, small, how = [], [], set()
    for a, b in _pairs(sd):
        va, vb = a.final(), b.final()
        pw, imp = seeds.power(va, vb), seeds.prob_improvement(va, vb)
        fa, fb = seeds.runs_floor(a.runs), seeds.runs_floor(b.runs)
        assert fa is not None and fb is not None  # both have runs
        edge, measured = seeds.pair_edge(fa, fb, outcomes.difference(a.outcomes, b.outcomes))
        how.add(seeds.edge_source(measured))
        diff = fb.mean - fa.mean
        ci = f" [{imp.low:.2f}, {imp.high:.2f}]" if math.isfinite(imp.low) else ""
        need = ("-" if math.isnan(pw.seeds_needed) else "never (0)" if pw.diff == 0
                else seeds.seed_count(pw.seeds_needed))
        resolves = "yes" if abs(diff) >= edge else f"not sure (< {100 * edge:.2f})"
        if abs(diff) < edge:
            small.append(f"{b.label} vs {a.label}")
        rows.append((f"{b.label} vs {a.label}",
                     f"{pw.n} paired" if pw.paired else f"{pw.n} unpaired",
                     f"{100 * pw.diff:+.2f}", f"{imp.prob:.2f}{ci}",
                     f"{100 * pw.mdd:.2f}" if math.isfinite(pw.mdd) else "-", need, resolves))
    if not rows:
        return []
    out: list[Block] = [Table(
        "What these seeds can tell, per comparison (final test accuracy, points): P(b > a) is "
        "the share of seeds on which b beats a (unpaired: of all pairs of runs) with its 95% "
        "bootstrap interval (exact binomial where b wins or loses on every seed); "
        "'detectable' is the smallest difference a t-test at alpha 0.05 "
        "finds with 80% power with these seeds; 'seeds needed' detect the observed difference "
        "so (paired: shared seeds, unpaired: per configuration); 'beyond test-set noise' "
        "compares the difference with what the test set's own noise can produce "
        f"({'; '.join(sorted(how))})",
        ("comparison (b vs a)", "seeds", "b - a", "P(b > a) [95% CI]", "detectable (80%)",
         "seeds needed", "beyond test-set noise"), tuple(rows))]
    if small:
        out.append(Text(f"{len(small)} of {len(rows)} differences are within what the test "
                        f"set's own noise can produce ({'; '.join(small)}): more seeds shrink "
                        "the seed-to-seed uncertainty, not this.", "finding"))
    return out


def _splits(c: Any) -> bool:
    """Whether a config's runs fall into groups: some did not learn, or silent classes
    differ between runs."""
    if len(c.runs) < 3:
        return False
    e = c.explanation
    return (e.learning is not None and e.not_learning is not None) or len(e.by_silent) > 1


def _distribution(sd: Any, pid: Callable[[str], str]) -> list[Block]:
    if not any(_splits(c) for c in sd.configs if c.runs):
        return []
    groups = [(c.label, list(c.final().values())) for c in sd.configs
              if c.runs]
    rec = seeds.score_distribution(groups, f"{sd.name}: share of runs at or above each final "
                                   "test accuracy")
    return [Plot(pid("score-distribution"),
                 "Score distribution: for each final test accuracy, the share of runs that "
                 "reach it, one curve per configuration, with a 95% pointwise bootstrap band; "
                 "a mean and its interval hide the groups a step in a curve shows.",
                 rec, plots.draw_score_distribution)]


def seed_blocks(sd: Any, pid: Callable[[str], str]) -> Sequence[Block]:
    """Noise floor, power and P(b > a), score distributions of one study (``sd``:
    report._Study)."""
    out: list[Block] = []
    noise = _noise_text(sd)
    if noise:
        out.append(noise)
    out += _power_table(sd)
    out += _distribution(sd, pid)
    return out
