"""Why runs differ: per-run diagnostics turned into statements with their uncertainty.

A statement is made only when the numbers support it: the cost of a silent class (slope
of final accuracy on silent classes, stated when its t interval excludes 0, with its R^2);
runs that did not learn and runs that learned as two groups, each with a bootstrap
interval of its mean, so "n=10, 4 collapsed" is never hidden behind one mean +- CI; flags
that name the runs and the numbers behind them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from sweeplab.analysis import stats
from sweeplab.analysis.diagnostics import RunDiagnostics, diagnose
from sweeplab.analysis.outcomes import Outcomes, VarianceSplit
from sweeplab.analysis.seeds import runs_floor, unresolved
from sweeplab.analysis.stats import CONFIDENCE
from sweeplab.results import RunResult

__all__ = [
    "ConfigExplanation", "Group", "Slope", "explain", "flags", "learn_statement", "hidden_slope",
    "hidden_statement", "silent_slope", "sweep_statement", "trend_p", "why_statement"
]

N_BOOT = 2000  # bootstrap resamples of a group mean (deterministic: rng seed 0)
DEAD_LAYER_FLAG = 0.25  # a hidden ReLU layer with >= 25% dead units is flagged


@dataclass(frozen=True)
class Group:
    """Final test accuracy of a group of runs: n, mean and a bootstrap interval of the mean."""

    label: str  # e.g. "no silent class", "collapsed"
    seeds: tuple[int, ...]  # its runs
    mean: float  # mean final test accuracy, in [0, 1]
    boot_low: float  # 95% percentile-bootstrap interval of the mean (nan when n < 2)
    boot_high: float
    low: float  # smallest value
    high: float  # largest value

    @property
    def n(self) -> int:
        return len(self.seeds)


@dataclass(frozen=True)
class Slope:
    """Least squares of final test accuracy on a per-run count (e.g. silent classes)."""

    n: int  # runs
    slope: float  # accuracy change per unit of the count (fraction per class)
    ci_low: float  # Student-t 95% interval of the slope (n - 2 degrees of freedom)
    ci_high: float
    p: float  # two-sided p-value of slope = 0
    r2: float  # share of the variance of final test accuracy the count explains

    @property
    def supported(self) -> bool:
        """The interval excludes 0: the data show an effect."""
        return self.ci_high < 0 or self.ci_low > 0


@dataclass(frozen=True)
class ConfigExplanation:
    """Everything :func:`why_statement` and :func:`learn_statement` say about one config."""

    label: str  # configuration label
    runs: tuple[RunDiagnostics, ...]  # by seed
    summary: stats.Summary  # final test accuracy over all runs (t interval)
    by_silent: tuple[tuple[int, Group], ...]  # (number of silent classes, its runs)
    slope: Slope | None  # accuracy on silent classes; None: fewer than 3 runs or one count
    hidden: Slope | None  # learning runs' accuracy on dead hidden units (see hidden_slope)
    learning: Group | None  # runs that learned (None when there are none)
    not_learning: Group | None  # collapsed, at chance or diverged (None when none)


def _group(label: str, runs: Sequence[RunDiagnostics]) -> Group:
    vals = [r.final_test_acc for r in runs]
    s = stats.summarize(vals, CONFIDENCE, n_boot=N_BOOT, rng_seed=0, bounds=(0.0, 1.0))
    return Group(label, tuple(r.seed for r in runs), s.mean, s.boot_low, s.boot_high,
                 s.min, s.max)


def _slope(x: np.ndarray, y: np.ndarray) -> Slope | None:
    """Least squares of y on x with a Student-t interval (None: < 3 points or x constant)."""
    n = len(x)
    sxx = float(((x - x.mean()) ** 2).sum()) if n else 0.0
    if n < 3 or sxx == 0.0:
        return None
    b = float(((x - x.mean()) * (y - y.mean())).sum()) / sxx
    resid = y - (y.mean() + b * (x - x.mean()))
    sse = float((resid ** 2).sum())
    sst = float(((y - y.mean()) ** 2).sum())
    se = math.sqrt(sse / (n - 2) / sxx)
    if se == 0.0:
        return Slope(n, b, b, b, 0.0 if b else 1.0, 1.0 if sst else 0.0)
    t = float(_st.t.ppf(0.5 + CONFIDENCE / 2, n - 2))
    p = float(2 * _st.t.sf(abs(b) / se, n - 2))
    return Slope(n, b, b - t * se, b + t * se, p, 1.0 - sse / sst if sst else 0.0)


def silent_slope(runs: Sequence[RunDiagnostics]) -> Slope | None:
    """Final test accuracy regressed on the number of silent classes (None when there are
    fewer than 3 runs or every run has the same number)."""
    return _slope(np.array([r.silent for r in runs], float),
                  np.array([r.final_test_acc for r in runs], float))


def hidden_slope(runs: Sequence[RunDiagnostics]) -> Slope | None:
    """Final test accuracy of the learning runs regressed on their dead hidden ReLU units
    (None: fewer than 3 such runs with liveness recorded, or all with the same count)."""
    rec = [r for r in runs if r.learning and r.hidden]
    return _slope(np.array([r.hidden_dead for r in rec], float),
                  np.array([r.final_test_acc for r in rec], float))


def explain(label: str, runs: Sequence[RunResult]) -> ConfigExplanation:
    """Diagnose every run of one configuration and group them.

    Raises:
        ValueError: no runs.
    """
    if not runs:
        raise ValueError(f"{label}: no finished runs to explain")
    diags = tuple(sorted((diagnose(r) for r in runs), key=lambda d: d.seed))
    summary = stats.summarize([d.final_test_acc for d in diags], CONFIDENCE, n_boot=0,
                              bounds=(0.0, 1.0))
    counts = sorted({d.silent for d in diags})
    by_silent = tuple((k, _group(f"{k} silent", [d for d in diags if d.silent == k]))
                      for k in counts)
    yes = [d for d in diags if d.learning]
    no = [d for d in diags if not d.learning]
    return ConfigExplanation(label, diags, summary, by_silent, silent_slope(diags),
                             hidden_slope(diags),
                             _group("learning", yes) if yes else None,
                             _group("did not learn", no) if no else None)


# --------------------------------------------------------------------------- words


def pct(x: float, digits: int = 2) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f}%"


def _pts(x: float) -> str:
    return f"{100 * x:+.2f}"


def _names(idx: Sequence[int], class_names: Sequence[str]) -> str:
    return ", ".join(class_names[i] if i < len(class_names) else str(i) for i in idx)


def seeds_text(seeds: Sequence[int]) -> str:
    return f"seed{'s' if len(seeds) != 1 else ''} {', '.join(map(str, seeds))}"


def group_text(g: Group) -> str:
    """"mean 25.73% over 6 runs (95% bootstrap CI ...; range ...)", or "10.00% in each of 4
    runs"."""
    if g.n == 1:
        return f"{pct(g.mean)} (1 run)"
    if g.low == g.high:
        return f"{pct(g.mean)} in each of the {g.n} runs"
    # A percentile bootstrap of 2-4 values covers less than its nominal 95%: say so.
    few = "; too few runs for the interval to be trusted" if g.n < 5 else ""
    return (f"mean {pct(g.mean)} over {g.n} runs (95% bootstrap CI {pct(g.boot_low)} to "
            f"{pct(g.boot_high)}{few}; range {pct(g.low)} to {pct(g.high)})")


def _why_not(d: RunDiagnostics, class_names: Sequence[str]) -> str:
    if d.diverged_epoch is not None:
        return f"seed {d.seed} diverged (non-finite loss) at epoch {d.diverged_epoch}"
    if d.collapsed:
        share = d.predicted_share[d.top_class]
        return (f"seed {d.seed} predicts {_names([d.top_class], class_names)} for "
                f"{pct(share, 1)} of the test images")
    return f"seed {d.seed} ends at {pct(d.final_test_acc)}, which guessing reaches"


def _hidden_range(runs: Sequence[RunDiagnostics]) -> str | None:
    rec = [d for d in runs if d.hidden]
    if not rec:
        return None
    dead = [d.hidden_dead for d in rec]
    units = rec[0].hidden_units
    lo, hi = min(dead), max(dead)  # type: ignore[type-var]
    span = f"{lo}" if lo == hi else f"{lo}-{hi}"
    return f"{span} of {units}"


def groups_statement(e: ConfigExplanation, class_names: Sequence[str]) -> str | None:
    """Two groups (did not learn / learned), each with its n, mean and bootstrap CI; None
    when all runs are in one group."""
    if e.learning is None or e.not_learning is None:
        return None
    n = len(e.runs)
    bad = [d for d in e.runs if not d.learning]
    good = [d for d in e.runs if d.learning]
    collapsed = sum(d.collapsed for d in bad)
    what = ("collapsed onto one class" if collapsed == len(bad) else "did not learn")
    parts = [f"The runs fall into two groups: {len(bad)} of {n} {what} "
             f"({'; '.join(_why_not(d, class_names) for d in bad)}): final test accuracy "
             f"{group_text(e.not_learning)}. The {len(good)} learning runs "
             f"({seeds_text(e.learning.seeds)}): final test accuracy {group_text(e.learning)}."]
    hb, hg = _hidden_range(bad), _hidden_range(good)
    if hb and hg:
        parts.append(f"Hidden ReLU units that are zero on every test image: {hb} in the runs "
                     f"that did not learn, {hg} in the learning runs.")
    parts.append(f"The mean over all {n} runs, {pct(e.summary.mean)} (95% t-interval "
                 f"{pct(e.summary.ci_low)} to {pct(e.summary.ci_high)}), describes neither "
                 "group.")
    return " ".join(parts)


def _slope_text(s: Slope) -> str:
    if s.slope <= 0:
        return (f"each silent class costs {-100 * s.slope:.2f} points of final test accuracy "
                f"(95% CI {-100 * s.ci_high:.2f} to {-100 * s.ci_low:.2f}, least squares over "
                f"{s.n} runs)")
    return (f"each silent class goes with {100 * s.slope:+.2f} points of final test accuracy "
            f"(95% CI {_pts(s.ci_low)} to {_pts(s.ci_high)}, least squares over {s.n} runs)")


def _nearly_dead(rec: Sequence[RunDiagnostics], n_alive: int, k: int, head: str) -> str:
    """The silent classes whose output unit is not dead: how rarely it is non-zero."""
    shares = [d.output_active_share[c] for d in rec if d.output_active_share is not None
              for c in d.never_predicted if c not in (d.dead_outputs or ())]
    if not shares:
        return f"{head} {n_alive} silent classes' output units still fire on some images."
    return (f"{head} {n_alive} silent classes' output units are nearly dead: non-zero on at "
            f"most {100 * max(shares):.2f}% of the test images (a class is about "
            f"{100 / k:.0f}% of them), and never the largest output.")


def hidden_statement(e: ConfigExplanation) -> str | None:
    """What each dead hidden ReLU unit costs the learning runs; None unless the slope's
    interval excludes 0."""
    h = e.hidden
    if h is None or not h.supported:
        return None
    units = next(d.hidden_units for d in e.runs if d.hidden)
    cost = (f"costs {-100 * h.slope:.2f} points of final test accuracy (95% CI "
            f"{-100 * h.ci_high:.2f} to {-100 * h.ci_low:.2f}" if h.slope < 0 else
            f"goes with {100 * h.slope:+.2f} points (95% CI {_pts(h.ci_low)} to "
            f"{_pts(h.ci_high)}")
    return (f"Among the {h.n} learning runs, each hidden ReLU unit (of {units}) that is zero on "
            f"every test image {cost}, least squares); dead hidden units explain "
            f"{100 * h.r2:.0f}% of their variance.")


def why_statement(e: ConfigExplanation, class_names: Sequence[str]) -> str:
    """Why the runs of one configuration differ, as far as the diagnostics show it."""
    n = len(e.runs)
    silent = [d for d in e.runs if d.silent and d.learning]
    parts: list[str] = []
    if silent:
        per = "; ".join(f"seed {d.seed} never predicts {_names(d.never_predicted, class_names)}"
                        f" ({pct(d.final_test_acc)})" for d in silent)
        parts.append(f"{len(silent)} of {n} runs end with silent classes, classes they never "
                     f"predict on the test set: {per}.")
        rec = [d for d in silent if d.dead_outputs is not None]
        if rec:
            total = sum(d.silent for d in rec)
            dead = [(d.seed, [c for c in d.never_predicted if c in (d.dead_outputs or ())])
                    for d in rec]
            n_dead = sum(len(c) for _, c in dead)
            was = sum(len(set(c) & set(d.dead_outputs_untrained or ())) for d, (_, c)
                      in zip(rec, dead, strict=True))
            if n_dead:
                where = "; ".join(f"seed {s}: {_names(c, class_names)}" for s, c in dead if c)
                born = ("none of them was dead before training, they died while training"
                        if was == 0 else f"{was} of them already dead before training")
                parts.append(f"{n_dead} of these {total} silent classes have a dead ReLU "
                             f"output unit, zero on every test image ({where}); {born}. A "
                             "ReLU unit that is zero on every image gets no gradient from them, "
                             "so once dead it stays dead.")
            if n_dead < total:
                parts.append(_nearly_dead(rec, total - n_dead, len(class_names),
                                          "The other" if n_dead else "None of them has a dead "
                                          "output unit, but the"))
    if e.learning is None:
        parts.append(f"None of the {n} runs learned: "
                     f"{'; '.join(_why_not(d, class_names) for d in e.runs)}.")
    elif not silent and all(d.learning for d in e.runs):
        parts.append(f"Every one of the {n} runs predicts all {len(class_names)} classes: "
                     "no silent classes, so they do not explain the spread.")
    groups = groups_statement(e, class_names)
    if groups:
        parts.append(groups)
    s = e.slope
    if s is not None and e.not_learning is None:
        if s.supported:
            text = _slope_text(s)
            parts.append(f"{text[0].upper()}{text[1:]}; the number of silent classes explains "
                         f"{100 * s.r2:.0f}% of the seed-to-seed variance of final test "
                         "accuracy.")
        else:
            parts.append(f"The data do not show that silent classes cost accuracy: "
                         f"{_slope_text(s)}, an interval that includes 0.")
    hidden = hidden_statement(e)
    if hidden:
        parts.append(hidden)
    if len(e.by_silent) > 1 and e.not_learning is None:
        parts.append("Final test accuracy by number of silent classes: " + "; ".join(
            f"{k} silent ({seeds_text(g.seeds)}): {group_text(g)}" for k, g in e.by_silent) + ".")
    parts.append("Underneath, the runs differ only in their seed, which decides the initial "
                 "weights and the batch order (and any dropout masks).")
    return " ".join(parts)


def learn_statement(e: ConfigExplanation, class_names: Sequence[str]) -> str:
    """Do all runs learn the task? Which do not, which learn only part of it."""
    n = len(e.runs)
    k = len(class_names)
    bad = [d for d in e.runs if not d.learning]
    part = [d for d in e.runs if d.learning and d.silent]
    if not bad and not part:
        return (f"All {n} runs learn the whole task: each predicts every one of the {k} "
                f"classes (no silent classes) and ends above chance, lowest final test "
                f"accuracy {pct(min(d.final_test_acc for d in e.runs))}.")
    out = []
    if bad:
        out.append(f"{len(bad)} of {n} runs do not learn the task: "
                   f"{'; '.join(_why_not(d, class_names) for d in bad)}.")
    if part:
        out.append(f"{len(part)} of {n} runs learn only part of the task: "
                   + "; ".join(f"seed {d.seed} never predicts "
                               f"{_names(d.never_predicted, class_names)}" for d in part)
                   + f", so every test image of {'those classes' if len(part) > 1 else 'it'} "
                   "is wrong.")
    full = n - len(bad) - len(part)
    out.append(f"{full} of {n} runs predict all {k} classes.")
    return " ".join(out)


def flags(e: ConfigExplanation) -> list[str]:
    """Dead units, divergence and over-fitting in a configuration's runs, in words."""
    out = []
    n = len(e.runs)
    dead_out = [d for d in e.runs if d.dead_outputs]
    if dead_out:
        out.append(f"dead output units in {len(dead_out)} of {n} runs ("
                   + "; ".join(f"seed {d.seed}: unit {', '.join(map(str, d.dead_outputs or ()))}"
                               for d in dead_out) + ")")
    heavy = [(d, h) for d in e.runs for h in (d.hidden or ()) if h.fraction >= DEAD_LAYER_FLAG]
    if heavy:
        seeds = sorted({d.seed for d, _ in heavy})
        worst = max(heavy, key=lambda dh: dh[1].fraction)[1]
        out.append(f"hidden ReLU layers with at least {100 * DEAD_LAYER_FLAG:.0f}% dead units in "
                   f"{len(seeds)} of {n} runs (up to {worst.dead} of {worst.units} in layer "
                   f"{worst.layer})")
    div = [d for d in e.runs if d.diverged_epoch is not None]
    if div:
        out.append(f"diverged (non-finite loss) in {len(div)} of {n} runs ("
                   + ", ".join(f"seed {d.seed} at epoch {d.diverged_epoch}" for d in div) + ")")
    over = [d for d in e.runs if d.overfit_onset is not None]
    if over:
        onsets = sorted(d.overfit_onset for d in over)  # type: ignore[type-var]
        span = (f"epoch {onsets[0]}" if onsets[0] == onsets[-1]
                else f"epochs {onsets[0]}-{onsets[-1]}")
        out.append(f"over-fitting in {len(over)} of {n} runs: test loss rises from {span} "
                   "while training loss still falls")
    if e.not_learning is not None:
        out.append(f"{e.not_learning.n} of {n} runs did not learn "
                   f"({seeds_text(e.not_learning.seeds)})")
    return out


def run_line(d: RunDiagnostics, class_names: Sequence[str]) -> str:
    """One line per run for ``sweeplab show`` / ``diagnose``."""
    parts = [f"seed {d.seed:>3}: test {pct(d.final_test_acc):>7}"]
    parts.append(f"silent {_names(d.never_predicted, class_names) or '-'}")
    if d.dead_outputs is not None:
        parts.append(f"dead outputs {', '.join(map(str, d.dead_outputs)) or '-'}")
    if d.hidden is not None:
        parts.append("dead hidden " + (", ".join(f"{h.dead}/{h.units}" for h in d.hidden)
                                       or "n/a (no hidden ReLU layer)"))
    else:
        parts.append("liveness not recorded")
    if d.collapsed:
        parts.append(f"COLLAPSED onto {_names([d.top_class], class_names)}")
    elif d.near_chance:
        parts.append("AT CHANCE")
    if d.diverged_epoch is not None:
        parts.append(f"DIVERGED at epoch {d.diverged_epoch}")
    parts.append(f"best epoch {d.best_epoch}")
    if d.overfit_onset is not None:
        parts.append(f"over-fits from epoch {d.overfit_onset}")
    if d.error:
        parts.append(f"(measurement failed: {d.error})")
    return "; ".join(parts)


def report_lines(label: str, runs: Sequence[RunResult], class_names: Sequence[str],
                 width: int = 100, split: VarianceSplit | None = None) -> list[str]:
    """``sweeplab diagnose``'s text for one configuration: a line per run, then why the runs
    differ, whether they learn, and the flags, wrapped to ``width``. Seeds or test set: the
    variance ``split``'s test (:mod:`sweeplab.analysis.outcomes`) where the runs kept their
    predictions, else the binomial noise floor's."""
    import textwrap

    if not runs:
        return [f"{label}: no finished runs."]
    e = explain(label, runs)
    s = e.summary
    spread = (f", 95% t-interval {pct(s.ci_low)} to {pct(s.ci_high)}" if s.n > 1 else "")
    out = [f"{label}: {s.n} runs, final test accuracy mean {pct(s.mean)}{spread}"]
    out += [f"  {run_line(d, class_names)}" for d in e.runs]

    def para(head: str, text: str) -> list[str]:
        return textwrap.wrap(f"{head}: {text}", width, initial_indent="  ",
                             subsequent_indent="    ")

    out += para("why", why_statement(e, class_names))
    floor = runs_floor(runs)
    if split is not None:
        out += para("noise", split.sentence())
    elif floor is not None and floor.n_runs > 1:
        out += para("noise", floor.sentence())
    out += para("learn", learn_statement(e, class_names))
    f = flags(e)
    out += para("flags", "; ".join(f) + "." if f else "none.")
    return out


def _share_steps(labels: Sequence[str], hits: Sequence[int], totals: Sequence[int]
                 ) -> list[tuple[str, str, float, float]]:
    """Neighbouring configurations whose shares hits/totals differ: Fisher's exact test per
    step, Holm-corrected over the steps; (a, b, share a, share b) for those with p < 0.05."""
    steps = []
    for i in range(len(labels) - 1):
        table = [[hits[i], totals[i] - hits[i]], [hits[i + 1], totals[i + 1] - hits[i + 1]]]
        steps.append(float(_st.fisher_exact(table).pvalue))
    if not steps:
        return []
    adjusted = stats.holm(steps)
    return [(labels[i], labels[i + 1], hits[i] / totals[i], hits[i + 1] / totals[i + 1])
            for i, p in enumerate(adjusted) if p < 1 - CONFIDENCE]


def trend_p(hits: Sequence[int], totals: Sequence[int]) -> float:
    """Two-sided p-value of the Cochran-Armitage test for a linear trend of the share
    hits/totals over the configurations' order (scores 0, 1, 2, ...); 1 when no variation."""
    from statsmodels.stats.contingency_tables import Table

    x = np.asarray(hits, float)
    n = np.asarray(totals, float)
    if x.sum() in (0.0, n.sum()) or len(x) < 2:
        return 1.0  # one outcome throughout: nothing can trend
    table = Table(np.column_stack([x, n - x]), shift_zeros=False)
    z = table.test_ordinal_association(row_scores=np.arange(len(x), dtype=float),
                                       col_scores=np.array([0.0, 1.0])).zscore
    # statsmodels' linear-by-linear statistic divides by N - 1 where Cochran-Armitage
    # divides by N: z_CA = z * sqrt(N / (N - 1)).
    return float(2 * _st.norm.sf(abs(z) * math.sqrt(n.sum() / (n.sum() - 1))))


def ordered_axes(definition: dict) -> bool:
    """Whether a study's configurations lie along one ordered axis (linear or log2 scale)."""
    axes = definition.get("axes", [])
    return len(axes) == 1 and axes[0].get("scale") in ("linear", "log2")


def sweep_statement(configs: Sequence[ConfigExplanation], ordered: bool = False,
                    steps: bool = True) -> str | None:
    """How often runs fail to learn or go silent along a sweep, and which neighbouring steps
    change that share beyond chance (Fisher's exact test, Holm-corrected); with ``ordered``
    also whether the share trends along the axis (Cochran-Armitage). ``steps=False``: the
    configs are no sequence (a search's candidates), so only those with such runs are named
    and nothing is tested between them. None when no configuration has such runs."""
    if len(configs) < 2:
        return None
    labels = [e.label for e in configs]
    totals = [len(e.runs) for e in configs]
    out = []
    for what, count in (("did not learn (collapsed, at chance or diverged)",
                         lambda e: sum(not d.learning for d in e.runs)),
                        ("learned but never predict some class",
                         lambda e: sum(d.learning and d.silent > 0 for d in e.runs))):
        hits = [count(e) for e in configs]
        if not any(hits):
            continue
        if not steps:
            named = [f"{lab} {h}/{t}" for lab, h, t in zip(labels, hits, totals, strict=True)
                     if h]
            out.append(f"Runs that {what}: {sum(hits)} of {sum(totals)}, in {len(named)} of "
                       f"{len(configs)} configurations: {', '.join(named)}.")
            continue
        shares = ", ".join(f"{lab} {h}/{t}" for lab, h, t in zip(labels, hits, totals,
                                                                 strict=True))
        changed = _share_steps(labels, hits, totals)
        if changed:
            verdict = "; ".join(f"{a} → {b} ({100 * sa:.0f}% → {100 * sb:.0f}%)"
                                for a, b, sa, sb in changed)
            verdict = (f"Distinguishable steps between neighbouring configurations (Fisher "
                       f"exact, Holm-corrected over {len(configs) - 1}): {verdict}.")
        else:
            verdict = ("No step between neighbouring configurations changes this share beyond "
                       f"what chance gives with these seeds (Fisher exact, Holm-corrected over "
                       f"{len(configs) - 1} steps).")
        if ordered and len(configs) >= 3:
            p = trend_p(hits, totals)
            if p < 1 - CONFIDENCE:
                verdict += (f" Along the axis the share trends from {100 * hits[0] / totals[0]:.0f}"
                            f"% to {100 * hits[-1] / totals[-1]:.0f}% (Cochran-Armitage trend "
                            f"test over the {len(configs)} configurations, "
                            f"{'p<0.001' if p < 0.001 else f'p={p:.2g}'}).")
            else:
                verdict += (" No trend along the axis is distinguishable (Cochran-Armitage, "
                            f"p={p:.2g}).")
        out.append(f"Runs that {what}, per configuration: {shares}. {verdict}")
    if out and not steps:
        out.append("A search's candidates are no sequence: no step between them is tested.")
    return " ".join(out) or None


def sweep_lines(configs: Sequence[tuple[str, Sequence[RunResult]]], ordered: bool = False,
                width: int = 100, outcomes: Sequence[Outcomes | None] | None = None,
                steps: bool = True) -> list[str]:
    """``sweeplab diagnose STUDY``'s closing lines for a sweep (empty when nothing to say);
    ``outcomes``: each config's per-example outcomes, where kept; ``steps`` as
    :func:`sweep_statement` (without them no neighbouring means are compared either)."""
    import textwrap

    text = sweep_statement([explain(label, runs) for label, runs in configs if runs], ordered,
                           steps)
    text = " ".join(t for t in (text, unresolved(configs, outcomes) if steps else None) if t)
    return textwrap.wrap(f"across the sweep: {text}", width, subsequent_indent="  ") if text \
        else []
