"""The sections every study gets, whatever its question: what was run (and what is
missing), the generic figures of its shape (no axis, one axis, two axes), the final
accuracy table, the spread over seeds, the comparisons and the confusion matrices."""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable, Sequence

from sweeplab import plots
from sweeplab import spec as S
from sweeplab.analysis import stats
from sweeplab.analysis.stats import CONFIDENCE
from sweeplab.readout import ConfigView, StudyView
from sweeplab.report.blocks import (
    Block,
    Bullets,
    Code,
    Plot,
    Table,
    Text,
    p_value,
    pct,
    pts,
    summary_cell,
)
from sweeplab.report.search import base_model
from sweeplab.study import BUILTIN, format_value

Row = tuple[ConfigView, ConfigView, stats.ComparisonRow]  # a, b, b - a


# ------------------------------------------------------------------------ commands


def _seeds_are_count(seeds: Sequence[int]) -> bool:
    return list(seeds) == list(range(len(seeds)))

def run_command(sd: StudyView, store_path: str, data_dir: str | None = None) -> str:
    """The command that trains what a study is missing (the runner skips what is done).

    ``data_dir``: where the report found the data; passed on so the command runs as is.
    """
    d = sd.definition
    target = sd.name if sd.name in BUILTIN else f"{sd.name}.toml"
    parts = ["sweeplab", "run", target, "--store", str(store_path)]
    if sd.seeds:  # --seeds N means seeds 0..N-1; other sets are listed
        parts += ["--seeds", str(len(sd.seeds)) if _seeds_are_count(sd.seeds)
                  else ",".join(str(s) for s in sd.seeds)]
    parts += ["--epochs", str(d.get("epochs", ""))]
    if d.get("subset") is not None:
        parts += ["--subset", str(d["subset"])]
    if data_dir:
        parts += ["--data-dir", str(data_dir)]
    return " ".join(shlex.quote(p) for p in parts)


# --------------------------------------------------------------------- the numbers


def config_table(sd: StudyView) -> Table:
    rows = []
    for c in sd.configs:
        test = c.final()
        if test:
            best = max(test, key=lambda s: (test[s], -s))
            worst = min(test, key=lambda s: (test[s], s))
            best_s, worst_s = (f"seed {best}: {pct(test[best])}",
                               f"seed {worst}: {pct(test[worst])}")
        else:
            best_s = worst_s = "-"
        n = f"{len(c.runs)}" + (f" of {len(c.runs) + len(c.missing)}" if c.missing else "")
        rows.append((c.label, n, summary_cell(c.summary("train_acc")),
                     summary_cell(c.summary("test_acc")), best_s, worst_s))
    return Table(
        "Final accuracy per configuration: mean ± std over seeds [95% t-interval of the mean]",
        ("configuration", "n", "final train accuracy", "final test accuracy", "best seed (test)",
         "worst seed (test)"), tuple(rows))

def spread_statement(sd: StudyView) -> Text | None:
    """What the seeds alone do: the largest range of final test accuracy in one config."""
    ranged = [(c, c.final()) for c in sd.with_runs if len(c.runs) >= 2]
    if not ranged:
        return None
    c, vals = max(ranged, key=lambda cv: max(cv[1].values()) - min(cv[1].values()))
    lo, hi = min(vals.values()), max(vals.values())
    s = c.summary("test_acc")
    assert s is not None  # ranged configs have runs
    where = "" if len(sd.configs) == 1 else f" in {c.label} (the widest spread of the study),"
    head = "Runs differ because their initial weights and batch order differ (one seed " \
        "decides both, and any dropout masks):"
    return Text(f"{head}{where} final test accuracy ranges from {pct(lo)} to {pct(hi)} over "
                f"{len(vals)} seeds, a spread of {100 * (hi - lo):.2f} points (mean "
                f"{pct(s.mean)}, 95% CI {pct(s.ci_low)} to {pct(s.ci_high)}).", "finding")

def _verdict(row: stats.ComparisonRow) -> str:
    c = row.comparison
    if not math.isfinite(c.p_t):
        return "too few runs"
    if c.ci_low == c.ci_high == c.diff == 0.0:
        return "identical on every seed"
    if row.distinguishable:
        return "distinguishable"
    return "within seed-to-seed spread"

def comparisons(pairs: Sequence[tuple[ConfigView, ConfigView]], label: Callable[[str, str], str]
                 ) -> list[Row]:
    family = [(label(a.label, b.label), a.final(),
               b.final()) for a, b in pairs if a.runs and b.runs]
    kept = [(a, b) for a, b in pairs if a.runs and b.runs]
    if not family:
        return []
    rows = stats.compare_many(family, alpha=1 - CONFIDENCE, confidence=CONFIDENCE)
    return [(a, b, r) for (a, b), r in zip(kept, rows, strict=True)]

def comparison_table(caption: str, rows: Sequence[Row]
                      ) -> Table:
    out = []
    for _, _, r in rows:
        c = r.comparison
        design = f"{c.n_pairs} paired" if c.paired else f"{c.n_a}+{c.n_b} unpaired"
        out.append((r.label, design, pts(c.diff), f"{pts(c.ci_low)} to {pts(c.ci_high)}",
                    p_value(c.p_t), p_value(r.p_adjusted), _verdict(r)))
    if any(r.comparison.n_pairs < 5 for *_, r in rows):
        caption += (". Some comparisons rest on fewer than 5 seeds: their intervals are wide, "
                    "and equal differences on every seed give a zero-width interval")
    return Table(caption, ("comparison (b vs a)", "seeds", "b - a (points)",
                           "95% CI (points, unadjusted)", "p", "Holm p", "verdict (Holm)"),
                 tuple(out))

def sentences(rows: Sequence[Row],
               a_name: Callable[[ConfigView], str] = lambda c: c.label,
               b_name: Callable[[ConfigView], str] = lambda c: c.label) -> Bullets:
    return Bullets(tuple(
        stats.describe_difference(r.comparison, "final test accuracy", a_label=a_name(a),
                                  b_label=b_name(b), p_adjusted=r.p_adjusted,
                                  n_comparisons=len(rows))
        for a, b, r in rows), "finding", fold=f"The {len(rows)} comparisons in words")

def _neighbour_statement(axis: str, rows: Sequence[Row]
                         ) -> Text:
    def step(a: ConfigView, b: ConfigView, r: stats.ComparisonRow) -> str:
        c = r.comparison
        return (f"{a.axes.get(axis, a.label)} → {b.axes.get(axis, b.label)} "
                f"({pts(c.diff)} points, CI {pts(c.ci_low)} to {pts(c.ci_high)})")

    yes = [step(a, b, r) for a, b, r in rows if r.distinguishable]
    no = [step(a, b, r) for a, b, r in rows if not r.distinguishable]
    parts = []
    if yes:
        parts.append(f"Neighbouring {axis} values that are distinguishable in final test "
                     f"accuracy (Holm-corrected over {len(rows)} steps): {'; '.join(yes)}.")
    if no:
        parts.append("Not distinguishable once the family of comparisons is accounted for "
                     "(the difference is within seed-to-seed spread; an unadjusted interval "
                     f"may still exclude 0): {'; '.join(no)}.")
    return Text(" ".join(parts), "finding")

def comparison_blocks(sd: StudyView) -> list[Block]:
    if len(sd.configs) < 2:
        return []
    out: list[Block] = []
    base = sd.baseline
    if base is None:  # a search: its own section compares the finalists on fresh seeds
        return out
    others = [c for c in sd.configs if c is not base]
    rows = comparisons([(base, c) for c in others], lambda a, b: f"{b} vs {a}")
    if rows:
        out.append(comparison_table(
            f"Final test accuracy against the baseline {base.label}, paired on shared seeds, "
            f"Holm-corrected over {len(rows)} comparisons", rows))
        n_yes = sum(r.distinguishable for *_, r in rows)
        out.append(Text(
            f"{n_yes} of {len(rows)} configurations are distinguishable from the baseline "
            f"{base.label}; the other {len(rows) - n_yes} differ from it by less than the "
            "seed-to-seed spread can resolve.", "finding"))
        out.append(sentences(rows))
    elif not base.runs:
        out.append(Text(f"The baseline {base.label} has no finished runs yet, so nothing is "
                        "compared against it.", "warn"))
    axes = sd.axes
    if len(axes) == 1 and axes[0].get("scale") in ("linear", "log2"):
        name = axes[0]["name"]
        pairs = [(sd.configs[i], sd.configs[j]) for i, j in stats.neighbour_pairs(sd.configs)]
        nrows = comparisons(pairs, lambda a, b: f"{b} vs {a}")
        if nrows:
            out.append(comparison_table(
                f"Neighbouring {name} values: final test accuracy, paired on shared seeds, "
                f"Holm-corrected over {len(nrows)} steps", nrows))
            out.append(_neighbour_statement(name, nrows))
            out.append(sentences(nrows))
    return out

def best_config(sd: StudyView) -> ConfigView | None:
    scored = [(c.summary("test_acc"), c) for c in sd.with_runs]
    if not scored:
        return None
    return max(scored, key=lambda sc: sc[0].mean)[1]  # type: ignore[union-attr]

def confusion_blocks(sd: StudyView, pid: Callable[[str], str]) -> list[Block]:
    picks: list[tuple[str, ConfigView]] = []
    base, best = sd.baseline, best_config(sd)
    if len(sd.configs) == 1 and base is not None and base.runs:
        picks.append(("", base))
    else:
        if base is not None and base.runs:
            picks.append(("baseline", base))
        if best is not None and best is not base:
            picks.append(("best mean final test accuracy", best))
    out: list[Block] = []
    names = sd.class_names
    for why, c in picks:
        avg = c.confusion
        rec = plots.confusion_rates(
            avg, names, title=f"{sd.name} {c.label}: rate per true class, "
            f"mean{' ± std' if len(c.runs) > 1 else ''} over {len(c.runs)} seed(s)")
        who = f"{c.label} ({why})" if why else c.label
        out.append(Plot(pid("confusion"), f"Seed-averaged, row-normalised test confusion of "
                        f"{who}: cell (true t, predicted p) is the share of class t predicted "
                        "as p, in percent, ± its std across seeds.", rec, plots.draw_confusion))
        top = stats.top_confusions(avg, k=5)
        if top:
            out.append(Text(f"Most frequent confusions of {who} that hold in every seed:"))
            out.append(Bullets(tuple(
                f"true {names[t.true_class]} → predicted {names[t.predicted_class]}: "
                f"{100 * t.mean_rate:.1f}%"
                + (f" ± {100 * t.std_rate:.1f}" if math.isfinite(t.std_rate) else "")
                + f" of class {names[t.true_class]} (among the top 5 in {t.seeds_held} of "
                f"{t.n_seeds} seeds)" for t in top)))
        else:
            out.append(Text(f"{who}: no confusion is among the top 5 in every seed."))
    return out


# ----------------------------------------------------------------- what was run, figures


def what_was_run(sd: StudyView, store_path: str, data_dir: str | None = None) -> list[Block]:
    d = sd.definition
    out: list[Block] = []
    if d.get("description"):
        out.append(Text(str(d["description"])))
    seeds = sd.seeds
    facts = [f"dataset {sd.dataset}", _seeds_text(seeds),
             f"{d.get('epochs')} epoch(s)"]
    facts.append(f"subset of {d['subset']} images per split" if d.get("subset") is not None
                 else "the full dataset")
    engines = sorted({e for c in sd.configs for e in c.engines})
    if engines:
        facts.append(f"engine(s) recorded: {', '.join(engines)}")
    out.append(Text("What was run: " + "; ".join(facts) + "."))
    intro, base = base_model(sd) if sd.is_search else ("", sd.baseline)
    if base is not None and base.spec is not None:
        if intro:
            out.append(Text(intro))
        elif sd.axes:
            ax = "; ".join(
                f"{a.get('name')} in {{{', '.join(map(str, a.get('labels') or [format_value(v) for v in a.get('values', [])]))}}}"  # noqa: E501
                f" (scale {a.get('scale', 'category')})" for a in sd.axes)
            out.append(Text(f"Swept: {ax}. Baseline configuration {base.label}:"))
        else:
            out.append(Text("Model:"))
        out.append(Code(S.describe(base.spec)))
        from sweeplab.usermodels import describe_lines  # a user's model and data (issue 20)

        out += [Code("\n".join(x)) for x in [describe_lines(base.config)] if x]
    missing = [(c, c.missing) for c in sd.configs if c.missing]
    if missing:
        n_missing = sum(len(m) for _, m in missing)
        total = sum(len(c.runs) + len(c.missing) for c in sd.configs)
        lines = [f"{c.label}: seeds {', '.join(map(str, m))}" for c, m in missing[:20]]
        if len(missing) > 20:
            lines.append(f"... and {len(missing) - 20} more configurations")
        head = ("Nothing of this study has been trained yet" if sd.status == "not run"
                else f"This study is incomplete: {n_missing} of {total} runs are missing, and "
                "the numbers below use only the finished runs")
        out.append(Text(f"{head}. Missing runs:", "warn"))
        out.append(Bullets(tuple(lines), "warn"))
        failed = [(c.label, s, e) for c in sd.configs for s, e in c.failed]
        if failed:
            out.append(Text(f"{len(failed)} run(s) failed; the last error: "
                            f"{failed[-1][0]} seed {failed[-1][1]}: {failed[-1][2]}", "warn"))
        out.append(Text("This command trains exactly what is missing (finished runs are kept):",
                        "warn"))
        out.append(Code(run_command(sd, store_path, data_dir)))
    return out

def _seeds_text(seeds: Sequence[int]) -> str:
    if not seeds:
        return "no seeds"
    if _seeds_are_count(seeds) and len(seeds) > 1:
        return f"{len(seeds)} seeds (0-{len(seeds) - 1})"
    shown = ", ".join(map(str, seeds[:12])) + (" ..." if len(seeds) > 12 else "")
    return f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''} ({shown})"

def loss_name(c: ConfigView) -> str:
    if c.spec is None:
        return "loss"
    return "squared-error loss" if c.spec.loss == "squared_error" else "cross-entropy loss"

def runs_plots(sd: StudyView, c: ConfigView, splits: Sequence[str], metric: str, pid, title: str,
                band_too: bool = True, per_run: bool = True) -> list[Block]:
    recs = [plots.run_curves(c.runs, s, metric, title=f"{s.replace('train', 'Training').replace('test', 'Test')} {metric}, {len(c.runs)} runs", curve=c.curve(f"{s}_acc"))  # noqa: E501
            for s in splits]
    what = " and ".join(f"{'training' if s == 'train' else 'test'} {metric}" for s in splits)
    out: list[Block] = []
    if per_run:
        out.append(Plot(pid("runs"), f"{title}: {what} per epoch, every run in its own colour.",
                        recs, lambda r, t=title: plots.draw_run_curves(r, band=False,
                                                                         suptitle=t)))
    if band_too:
        out.append(Plot(pid("band"), f"{title}: {what} per epoch, mean over seeds (thick) with "
                        "its 95% t-interval (band) over the faint individual runs.", recs,
                        lambda r, t=title: plots.draw_run_curves(r, band=True,
                                                                   suptitle=t + " (mean and CI)")))
    return out

def _label(c: ConfigView, axis: str) -> str:
    return c.axes.get(axis, c.label)

def one_axis_plots(sd: StudyView, pid, curves: bool = True, sweep: bool = True,
                    splits: Sequence[str] = plots.SPLITS) -> list[Block]:
    a = sd.axes[0]
    name, scale = a["name"], a.get("scale", "category")
    out: list[Block] = []
    has_runs = any(c.runs for c in sd.configs)
    if curves and has_runs:
        rec = plots.curves_by_value([(_label(c, name), c.curve("test_acc"))
                                     for c in sd.configs], name, "test",
                                    title=f"{sd.name}: mean test accuracy per epoch by {name}")
        out.append(Plot(pid("by-value"), f"Mean test accuracy per epoch, one line per {name}, "
                        "with 95% t-bands over seeds.", rec, plots.draw_curves_by_value))
    if sweep and has_runs:
        rec2 = plots.param_sweep([(_label(c, name), c.summary("train_acc"),
                                   c.summary("test_acc")) for c in sd.configs], name, scale,
                                 title=f"{sd.name}: final accuracy against {name}")
        out.append(Plot(pid("sweep"), f"Mean final {' and '.join(splits)} accuracy against "
                        f"{name}, error bars: 95% t-interval of the mean over seeds"
                        f"{' (log2 axis)' if scale == 'log2' else ''}.", rec2,
                        lambda r, s=tuple(splits): plots.draw_param_sweep(r, s)))
    return out

def two_axis_plots(sd: StudyView, pid) -> list[Block]:
    ra, ca = sd.axes[0], sd.axes[1]
    rl = [str(x) for x in (ra.get("labels") or [format_value(v) for v in ra["values"]])]
    cl = [str(x) for x in (ca.get("labels") or [format_value(v) for v in ca["values"]])]
    cells = {(c.axes.get(ra["name"]), c.axes.get(ca["name"])): c.summary("test_acc")
             for c in sd.configs}
    rec = plots.grid_heatmap(cells, ra["name"], ca["name"], rl, cl,
                             title=f"{sd.name}: mean final test accuracy")
    out: list[Block] = [Plot(pid("heatmap"), f"Mean final test accuracy (%) for every "
                             f"({ra['name']}, {ca['name']}) pair, ± std over seeds; the best "
                             "mean is outlined.", rec, plots.draw_heatmap)]
    if rec.best is not None:
        bi, bj = rec.best
        best = next(c for c in sd.configs if (c.axes.get(ra["name"]),
                                              c.axes.get(ca["name"])) == (rl[bi], cl[bj]))
        s = best.summary("test_acc")
        assert s is not None
        text = (f"Best pair by mean final test accuracy: {ra['name']}={rl[bi]}, "
                f"{ca['name']}={cl[bj]} with {summary_cell(s)} over {s.n} seeds.")
        ranked = sorted((c for c in sd.with_runs if c is not best),
                        key=lambda c: -c.summary("test_acc").mean)  # type: ignore[union-attr]
        if ranked:
            second = ranked[0]
            cmp = stats.compare(second.final(),
                                best.final(), CONFIDENCE)
            text += " " + stats.describe_difference(
                cmp, "final test accuracy", a_label=second.label, b_label=best.label)
            text += (f" The best of {len(sd.with_runs)} cells is picked on the same runs that "
                     "measure it, so its lead is optimistic.")
        out.append(Text(text, "finding"))
    return out


def generic_figures(sd: StudyView, base: ConfigView, pid: Callable[[str], str]) -> list[Block]:
    """The figures of a study by its shape: runs without axes, a sweep, a grid."""
    if not sd.axes:
        return runs_plots(sd, base, ("train", "test"), "accuracy", pid, sd.name)
    if len(sd.axes) == 1:
        return one_axis_plots(sd, pid)
    if len(sd.axes) == 2:
        return two_axis_plots(sd, pid)
    return [Text(f"{len(sd.axes)} axes: no plot is drawn for more than two; the table holds "
                 "every configuration.")]
