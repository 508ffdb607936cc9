"""The report's diagnostics: why runs differ (Q1 and one-config studies), whether all runs
learn (Q2-Q5, Q8, Q9), and a table flagging configs with dead units, divergence,
over-fitting or runs that did not learn (sweeps).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from sweeplab.analysis import explain as X
from sweeplab.analysis.diagnostics import RunDiagnostics
from sweeplab.plots import OKABE_ITO, RunCurves, run_curves
from sweeplab.report.assignment import INTRO, LEARN, WHY
from sweeplab.report.blocks import Block, Bullets, Plot, Text

__all__ = [
    "LivenessPlot", "MarkedCurves", "SilentPlot", "diagnostic_blocks", "draw_liveness",
    "draw_marked_curves", "draw_silent", "liveness", "marked_curves", "silent_plot"
]



# ----------------------------------------------------------------------- records


@dataclass(frozen=True, eq=False)
class LivenessPlot:
    """Per run (rows) and output unit / class (columns): is the unit alive, is it predicted."""

    title: str
    class_names: tuple[str, ...]
    seeds: tuple[int, ...]  # one row per run
    values: np.ndarray  # (runs, classes): share of test images, see ``measure``
    measure: str  # "active": unit output > 0 (ReLU outputs); "predicted": argmax share
    dead: np.ndarray  # (runs, classes) bool: output unit zero on every test image
    silent: np.ndarray  # (runs, classes) bool: class never predicted
    final_acc: tuple[float, ...]  # per run, final test accuracy


def liveness(runs: Sequence[RunDiagnostics], class_names: Sequence[str],
             title: str = "") -> LivenessPlot:
    """The liveness record of a configuration's runs (by seed)."""
    runs = sorted(runs, key=lambda d: d.seed)
    k = len(class_names)
    active = all(d.output_active_share is not None and d.dead_outputs is not None for d in runs)
    vals = np.array([d.output_active_share if active else d.predicted_share for d in runs],
                    float).reshape(len(runs), k)
    dead = np.zeros((len(runs), k), bool)
    silent = np.zeros((len(runs), k), bool)
    for i, d in enumerate(runs):
        dead[i, list(d.dead_outputs or ())] = True
        silent[i, list(d.never_predicted)] = True
    return LivenessPlot(title or "Output units per run", tuple(class_names),
                        tuple(d.seed for d in runs), vals, "active" if active else "predicted",
                        dead, silent, tuple(d.final_test_acc for d in runs))


def draw_liveness(rec: LivenessPlot) -> Figure:
    n, k = rec.values.shape
    fig = Figure(figsize=(0.55 * k + 3.2, 0.36 * n + 1.9))
    ax = fig.add_subplot(1, 1, 1)
    top = float(np.nanmax(rec.values)) if rec.values.size else 1.0
    im = ax.imshow(100 * rec.values, cmap="cividis", vmin=0, vmax=100 * max(top, 1e-9),
                   aspect="auto")  # to the largest share: dead (0) stands out, contrast kept
    label = ("% of test images on which the unit is > 0" if rec.measure == "active"
             else "% of test images predicted as the class")
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.12, label=label)
    for i in range(n):
        for j in range(k):
            if rec.dead[i, j]:
                ax.text(j, i, "×", ha="center", va="center", color="#D55E00", fontsize=13,
                        fontweight="bold")
            elif rec.silent[i, j]:
                ax.text(j, i, "–", ha="center", va="center", color="#D55E00", fontsize=13,
                        fontweight="bold")
    long_names = max(len(c) for c in rec.class_names) > 2
    ax.set_xticks(range(k), rec.class_names, rotation=45 if long_names else 0,
                  ha="right" if long_names else "center")
    ax.set_yticks(range(n), [f"seed {s}" for s in rec.seeds])
    ax.set_xlabel("output unit (class)")
    right = ax.secondary_yaxis("right")
    right.set_yticks(range(n), [f"{100 * a:.1f}%" for a in rec.final_acc])
    right.set_ylabel("final test accuracy")
    ax.set_title(rec.title, fontsize=10)
    fig.tight_layout()
    return fig


@dataclass(frozen=True, eq=False)
class SilentPlot:
    """Final test accuracy of each run against its number of silent classes."""

    title: str
    seeds: tuple[int, ...]
    silent: tuple[int, ...]  # classes never predicted, per run
    acc: tuple[float, ...]  # final test accuracy, per run
    learning: tuple[bool, ...]  # False: collapsed, at chance or diverged
    line: tuple[float, float] | None  # (intercept, slope) when the slope is supported


def silent_plot(e: X.ConfigExplanation, title: str = "") -> SilentPlot:
    """The per-run record behind the cost of a silent class."""
    runs = e.runs
    line = None
    s = e.slope
    if s is not None and s.supported and e.not_learning is None:
        x = np.array([d.silent for d in runs], float)
        y = np.array([d.final_test_acc for d in runs], float)
        line = (float(y.mean() - s.slope * x.mean()), s.slope)
    return SilentPlot(title or f"{e.label}: final test accuracy by silent classes",
                      tuple(d.seed for d in runs), tuple(d.silent for d in runs),
                      tuple(d.final_test_acc for d in runs), tuple(d.learning for d in runs),
                      line)


def draw_silent(rec: SilentPlot) -> Figure:
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    x = np.array(rec.silent, float)
    y = 100 * np.array(rec.acc, float)
    # Runs with the same count are spread sideways in seed order, so none hides another.
    offs = np.zeros_like(x)
    for v in np.unique(x):
        idx = np.flatnonzero(x == v)
        offs[idx] = np.linspace(-0.12, 0.12, len(idx)) if len(idx) > 1 else 0.0
    learn = np.array(rec.learning, bool)
    clean = learn & (x == 0)
    for mask, colour, marker, name in ((clean, OKABE_ITO[0], "o", "no silent class"),
                                       (learn & (x > 0), OKABE_ITO[1], "o",
                                        "silent classes"),
                                       (~learn, "#000000", "X", "did not learn")):
        if mask.any():
            ax.scatter(x[mask] + offs[mask], y[mask], color=colour, marker=marker, s=46,
                       label=name, zorder=3)
    for xi, yi, s in zip(x + offs, y, rec.seeds, strict=True):
        ax.annotate(str(s), (xi, yi), textcoords="offset points", xytext=(5, 3), fontsize=7,
                    color="#5b6672")
    if rec.line is not None:
        xs = np.array([x.min(), x.max()])
        ax.plot(xs, 100 * (rec.line[0] + rec.line[1] * xs), color="#5b6672", lw=1, ls="--",
                label="least-squares line", zorder=2)
    ax.set_xticks(sorted({int(v) for v in x}))
    ax.set_xlabel("classes the run never predicts (silent classes)")
    ax.set_ylabel("final test accuracy (%)")
    ax.set_title(rec.title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


@dataclass(frozen=True, eq=False)
class MarkedCurves:
    """Per-run test accuracy curves with each run's diagnosis, to mark the affected runs."""

    title: str
    curves: RunCurves  # sweeplab.plots.run_curves(..., "test", "accuracy")
    tags: tuple[str, ...]  # per run (curves.seeds order): "" healthy, else the diagnosis
    learning: tuple[bool, ...]  # per run: False = collapsed, at chance or diverged


def _tag(d: RunDiagnostics, class_names: Sequence[str]) -> str:
    if d.diverged_epoch is not None:
        return f"diverged at epoch {d.diverged_epoch}"
    if d.collapsed:
        return f"collapsed onto {class_names[d.top_class]}"
    if d.near_chance:
        return "at chance"
    if d.silent:
        return f"never predicts {', '.join(class_names[c] for c in d.never_predicted)}"
    return ""


def marked_curves(runs: Sequence[Any], diags: Sequence[RunDiagnostics],
                  class_names: Sequence[str], title: str = "", *,
                  curve: Sequence[tuple[int, Any]]) -> MarkedCurves:
    """The record: ``runs`` (RunResult) and their diagnostics, matched by seed;
    ``curve``: their view's ``curve("test_acc")``."""
    by_seed = {d.seed: d for d in diags}
    curves = run_curves(runs, "test", "accuracy", title=title or "Test accuracy per run",
                        curve=curve)
    ds = [by_seed[s] for s in curves.seeds]
    return MarkedCurves(curves.title, curves, tuple(_tag(d, class_names) for d in ds),
                        tuple(d.learning for d in ds))


def draw_marked_curves(rec: MarkedCurves) -> Figure:
    c = rec.curves
    fig = Figure(figsize=(7.6, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    marker = "o" if len(c.epochs) <= 3 else None
    for row, seed, tag, learn in zip(c.values, c.seeds, rec.tags, rec.learning, strict=True):
        if not tag:
            style = dict(color=OKABE_ITO[0], lw=1.2, ls="-")
        elif learn:
            style = dict(color=OKABE_ITO[1], lw=1.4, ls="--")
        else:
            style = dict(color="#000000", lw=1.4, ls=":")
        label = f"seed {seed}" + (f": {tag}" if tag else "")
        ax.plot(c.epochs, 100 * row, marker=marker, ms=4, label=label, **style)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(rec.title, fontsize=10)
    ax.grid(alpha=0.3)
    if len(c.epochs) <= 20:
        ax.set_xticks(c.epochs)
    ax.legend(fontsize=6.5, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------ blocks


def _liveness_caption(rec: LivenessPlot, label: str, runs: Sequence[RunDiagnostics]) -> str:
    if rec.measure == "active":
        what = "colour: share of test images on which the output unit is non-zero"
    else:
        why = ("output liveness was not recorded for every run"
               if not all(d.recorded for d in runs) else
               "a non-ReLU output, e.g. softmax, is never exactly zero, so no unit is dead")
        what = f"colour: share of test images predicted as the class ({why})"
    return (f"Output units of {label}, one row per run: {what}; × = a dead output unit (zero "
            "on every test image), – = a class the run never predicts. Right: final test "
            "accuracy.")


def _not_recorded(runs: Sequence[RunDiagnostics]) -> Text | None:
    missing = [d.seed for d in runs if not d.recorded]
    if not missing:
        return None
    return Text(f"Dead units were not recorded for {len(missing)} of {len(runs)} runs (trained "
                "before sweeplab measured them, or the measurement failed); silent classes, "
                "collapse and over-fitting are derived from their stored confusion matrices and "
                "curves.", "note")


def _flags_list(sd: Any) -> list[Block]:
    items = []
    explained = []
    for c in sd.configs:
        if not c.runs:
            continue
        e = c.explanation
        explained.append(e)
        f = X.flags(e)
        silent = [d.seed for d in e.runs if d.silent and d.learning]
        if silent:
            f.insert(0, f"silent classes (never predicted) in {len(silent)} of {len(e.runs)} "
                        f"runs ({X.seeds_text(silent)})")
        if f:
            items.append(f"{c.label}: {'; '.join(f)}.")
    if not items:
        return [Text("Diagnostics: no configuration has dead units, silent classes, "
                     "divergence, over-fitting or runs that did not learn.", "finding")]
    out: list[Block] = [
        Text(f"Diagnostics flag {len(items)} of {len(sd.configs)} configurations (dead = zero on "
             "every test image; over-fitting = test loss more than 1% above its minimum at the "
             "end while training loss still falls):", "finding"),
        Bullets(tuple(items), "finding", fold=f"The {len(items)} flagged configurations")]
    sweep = X.sweep_statement(explained, X.ordered_axes(sd.definition), not sd.is_search)
    if sweep:
        out.append(Text(sweep, "finding"))
    return out


def diagnostic_blocks(sd: Any, pid: Callable[[str], str]) -> list[Block]:
    """The diagnostics blocks of one study section (``sd``: a readout.StudyView)."""
    names = tuple(sd.class_names)
    with_runs = sd.with_runs
    if not with_runs:
        return []
    out: list[Block] = []
    base = sd.baseline if sd.baseline is not None and sd.baseline.runs else with_runs[0]
    e = base.explanation
    single = len(sd.configs) == 1
    who = "" if single else f" ({base.label})"
    if sd.kind == INTRO:
        rec = liveness(e.runs, names, f"{sd.name}: output units")
        out.append(Text(X.learn_statement(e, names), "finding"))
        out.append(Plot(pid("liveness"), _liveness_caption(rec, sd.name, e.runs), rec,
                        draw_liveness))
        return out
    if sd.kind in WHY or (single and sd.kind == "generic"):
        out.append(Text(f"Why does each run behave differently{who}? "
                        + X.why_statement(e, names), "finding"))
    if single or sd.kind in LEARN:
        out.append(Text(f"Do all runs learn the task{who}? " + X.learn_statement(e, names),
                        "finding"))
        if sd.kind not in WHY and not (single and sd.kind == "generic"):
            for text in (X.groups_statement(e, names), X.hidden_statement(e)):
                if text:
                    out.append(Text(text, "finding"))
    if sd.kind in WHY or sd.kind in LEARN or single:
        if any(_tag(d, names) for d in e.runs):
            mrec = marked_curves(base.runs, e.runs, names,
                                 f"{sd.name} {base.label}: test accuracy per run, diagnosed",
                                 curve=base.curve("test_acc"))
            out.append(Plot(pid("marked"), "Test accuracy per epoch of every run; solid: runs "
                            "that predict every class, dashed: runs with silent classes, "
                            "dotted black: runs that did not learn (the legend says why).",
                            mrec, draw_marked_curves))
        rec = liveness(e.runs, names, f"{sd.name} {base.label}: output units per run")
        out.append(Plot(pid("liveness"),
                        _liveness_caption(rec, f"{sd.name} {base.label}", e.runs), rec,
                        draw_liveness))
        if len(e.runs) >= 3 and len({d.silent for d in e.runs}) > 1:
            srec = silent_plot(e, f"{sd.name} {base.label}: final test accuracy by silent "
                                  "classes")
            out.append(Plot(pid("silent"), "Final test accuracy of each run (seed beside it) "
                            "against the number of classes it never predicts; runs that did "
                            "not learn are black crosses"
                            + ("; dashed: the least-squares line" if srec.line else "") + ".",
                            srec, draw_silent))
    if single:
        f = X.flags(e)
        if f:
            out.append(Bullets(tuple(f"{base.label}: {x}" for x in f), "finding",
                               fold=f"Diagnostics flags ({len(f)})"))
    else:
        out += _flags_list(sd)
    note = _not_recorded([d for c in with_runs for d in c.explanation.runs])
    if note:
        out.append(note)
    return out
