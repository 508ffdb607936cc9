"""The report: every study in a store, with its plots, numbers, uncertainty and verdicts.

Three steps, each testable on its own:

1. :func:`build_report` reads the store (never trains) and returns a :class:`Report`:
   sections made of plain blocks (text, tables, code, plot records). Every number
   and sentence in it is computed here, from :mod:`sweeplab.stats`.
2. :func:`render_html` / :func:`render_markdown` turn a report into text. Every
   string is escaped on the way out, so names and labels from a store or a study
   file can never inject markup. Plots are drawn here, by :mod:`sweeplab.plots`.
3. :func:`write_report` does both and writes one self-contained HTML file (PNG
   images as data URIs, an embedded stylesheet, no scripts, no network) or a
   Markdown file with its PNGs beside it.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import math
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sweeplab import __version__, plots, stats
from sweeplab import data as data_mod
from sweeplab import spec as S
from sweeplab.names import safe_name
from sweeplab.results import RunResult
from sweeplab.store import Store, StudyConfigRow
from sweeplab.study import ASSIGNMENT_ORDER, BUILTIN, format_value, study_to_dict

__all__ = [
    "Code",
    "Plot",
    "Report",
    "Section",
    "Table",
    "Text",
    "build_report",
    "render_html",
    "render_markdown",
    "resolve_studies",
    "write_report",
]

FORMATS = ("html", "md")
CONFIDENCE = 0.95
CIFAR_INTRO = "cifar-intro"
Q7_SUMMARY = "q7-steps"
Q10_SUMMARY = "q10-steps"
_Q7 = ("q7a", "q7b", "q7c", "q7d")
_Q10 = ("q9", "q10a", "q10b", "q10c", "q10d", "q10e")


# ----------------------------------------------------------------------- the blocks


@dataclass(frozen=True)
class Text:
    """A paragraph of plain text (escaped when rendered)."""

    text: str  # plain text, no markup
    kind: str = "p"  # "p", "note" (how to read), "warn" (missing runs), "finding" (a verdict)


@dataclass(frozen=True)
class Bullets:
    """A list of plain-text items."""

    items: tuple[str, ...]
    kind: str = "p"  # as Text.kind
    fold: str = ""  # when set, HTML shows the list folded under this summary line


@dataclass(frozen=True)
class Code:
    """A command the reader can copy."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table of plain strings; the first column names the row."""

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, eq=False)
class Plot:
    """A plot record with the function that draws it."""

    name: str  # file stem, unique in the report
    caption: str  # one sentence under the figure (also its alt text)
    record: Any  # a sweeplab.plots record
    draw: Callable[[Any], Any]  # record -> matplotlib Figure


Block = Text | Bullets | Code | Table | Plot


@dataclass(frozen=True)
class Section:
    """One study (or a summary across studies)."""

    id: str  # HTML anchor, e.g. "q6"
    title: str  # heading
    status: str  # "complete", "partial", "not run", "summary"
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Report:
    """Everything the report shows, before rendering."""

    title: str
    store_path: str  # the store it was built from
    created: str  # ISO time
    sections: tuple[Section, ...]


# ------------------------------------------------------------------- number format


def _pct(x: float, digits: int = 2) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f}%"


def _pts(x: float, digits: int = 2) -> str:
    return "n/a" if not math.isfinite(x) else f"{100 * x:+.{digits}f}"


def _summary_cell(s: stats.Summary | None) -> str:
    if s is None:
        return "no runs"
    if s.n < 2:
        return f"{_pct(s.mean)} (n=1, no spread)"
    return (f"{_pct(s.mean)} ± {100 * s.std:.2f} "
            f"[{100 * s.ci_low:.2f}, {100 * s.ci_high:.2f}]")


def _p(p: float) -> str:
    if not math.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3g}"


# ------------------------------------------------------------------ what a study has


@dataclass(frozen=True)
class _Config:
    row: StudyConfigRow  # label, axes, hash
    config: S.Config | None  # None when the store lacks the config row
    runs: tuple[RunResult, ...]  # finished runs, by seed
    missing: tuple[int, ...]  # seeds of the definition not finished
    failed: tuple[tuple[int, str], ...]  # (seed, last error line)
    engines: tuple[str, ...]  # engines of the finished runs

    @property
    def label(self) -> str:
        return self.row.label


@dataclass(frozen=True)
class _Study:
    name: str
    definition: dict[str, Any]
    configs: tuple[_Config, ...]
    in_store: bool  # False: a built-in study the store has never seen
    kind: str  # the built-in's name when its layout is the built-in's, else "generic"

    @property
    def axes(self) -> list[dict[str, Any]]:
        return list(self.definition.get("axes", []))

    @property
    def dataset(self) -> str:
        return str(self.definition.get("dataset", "mnist"))

    @property
    def class_names(self) -> tuple[str, ...]:
        meta = data_mod.DATASETS.get(self.dataset)
        return meta.class_names if meta else tuple(str(i) for i in range(10))

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.definition.get("seeds", [])]

    @property
    def with_runs(self) -> list[_Config]:
        return [c for c in self.configs if c.runs]

    @property
    def baseline(self) -> _Config | None:
        label = self.definition.get("baseline")
        for c in self.configs:
            if c.label == label:
                return c
        return self.configs[0] if self.configs else None

    @property
    def status(self) -> str:
        total = sum(len(c.runs) for c in self.configs)
        if total == 0:
            return "not run"
        return "partial" if any(c.missing for c in self.configs) else "complete"


def _kind(name: str, definition: dict[str, Any]) -> str:
    builtin = BUILTIN.get(name)
    if builtin is None:
        return "generic"
    names = [a.get("name") for a in definition.get("axes", [])]
    return name if names == [a.name for a in builtin.axes] else "generic"


def _load_study(store: Store, name: str) -> _Study:
    row = store.study(name)
    if row is None:  # a built-in the store has not seen: every run is missing
        from sweeplab.study import expand

        study = BUILTIN[name]
        configs = tuple(
            _Config(StudyConfigRow(name, p.hash, p.position, p.label, p.axes), p.config, (),
                    tuple(study.seeds), (), ())
            for p in expand(study))
        return _Study(name, study_to_dict(study), configs, False, name)
    definition = row.definition
    seeds = [int(s) for s in definition.get("seeds", [])]
    configs = []
    for cr in store.study_configs(name):
        try:
            cfg: S.Config | None = S.config_from_dict(store.config(cr.config_hash)[1])
        except Exception:  # an unreadable config still gets its runs reported
            cfg = None
        runs = tuple(store.results(cr.config_hash))
        done = {r.seed for r in runs}
        rows = store.run_rows(cr.config_hash)
        failed = tuple((r.seed, ((r.error or "").strip().splitlines() or [""])[-1])
                       for r in rows if r.status == "failed" and r.seed in seeds)
        configs.append(_Config(
            cr, cfg, tuple(r for r in runs if r.seed in seeds) or runs,
            tuple(s for s in seeds if s not in done),
            failed,
            tuple(sorted({_trained_by(r) for r in runs if r.engine}))))
    return _Study(name, definition, tuple(configs), True, _kind(name, definition))


def _trained_by(r: RunResult) -> str:
    """'ENGINE (BACKEND, DEVICE)' as far as the run recorded them."""
    where = ", ".join(x for x in (r.backend, r.device) if x)
    return f"{r.engine} ({where})" if where else r.engine


def resolve_studies(store: Store, studies: Sequence[str] | None = None) -> list[str]:
    """The study names a report covers, in assignment order, then others alphabetically.

    ``None`` means every study in the store. A built-in study that is not in the store
    is allowed (its section says how to run it).

    Raises:
        ValueError: names that are neither in the store nor built in.
    """
    in_store = [s.name for s in store.studies()]
    if studies is None:
        wanted = list(in_store)
    else:
        wanted = list(dict.fromkeys(studies))
        unknown = [n for n in wanted if n not in in_store and n not in BUILTIN]
        if unknown:
            raise ValueError(
                f"Unknown stud{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}: not "
                f"in {store.path} (it has: {', '.join(in_store) or 'no studies'}) and not "
                f"built in ({', '.join(ASSIGNMENT_ORDER)}).")
    order = {n: i for i, n in enumerate(ASSIGNMENT_ORDER)}
    return sorted(wanted, key=lambda n: (0, order[n], "") if n in order else (1, 0, n))


# ------------------------------------------------------------------------ commands


def _seeds_are_count(seeds: Sequence[int]) -> bool:
    return list(seeds) == list(range(len(seeds)))


def run_command(sd: _Study, store_path: str, data_dir: str | None = None) -> str:
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


def _summary(runs: Sequence[RunResult], split: str) -> stats.Summary | None:
    if not runs:
        return None
    return stats.summarize(list(plots.final_values(runs, split).values()), CONFIDENCE,
                           n_boot=0, bounds=plots.RANGE)


def _config_table(sd: _Study) -> Table:
    rows = []
    for c in sd.configs:
        test = plots.final_values(c.runs, "test") if c.runs else {}
        if test:
            best = max(test, key=lambda s: (test[s], -s))
            worst = min(test, key=lambda s: (test[s], s))
            best_s, worst_s = (f"seed {best}: {_pct(test[best])}",
                               f"seed {worst}: {_pct(test[worst])}")
        else:
            best_s = worst_s = "-"
        n = f"{len(c.runs)}" + (f" of {len(c.runs) + len(c.missing)}" if c.missing else "")
        rows.append((c.label, n, _summary_cell(_summary(c.runs, "train")),
                     _summary_cell(_summary(c.runs, "test")), best_s, worst_s))
    return Table(
        "Final accuracy per configuration: mean ± std over seeds [95% t-interval of the mean]",
        ("configuration", "n", "final train accuracy", "final test accuracy", "best seed (test)",
         "worst seed (test)"), tuple(rows))


def _spread_statement(sd: _Study) -> Text | None:
    """What the seeds alone do: the largest range of final test accuracy in one config."""
    ranged = [(c, plots.final_values(c.runs, "test")) for c in sd.with_runs if len(c.runs) >= 2]
    if not ranged:
        return None
    c, vals = max(ranged, key=lambda cv: max(cv[1].values()) - min(cv[1].values()))
    lo, hi = min(vals.values()), max(vals.values())
    s = _summary(c.runs, "test")
    assert s is not None  # ranged configs have runs
    where = "" if len(sd.configs) == 1 else f" in {c.label} (the widest spread of the study),"
    head = "Runs differ because their initial weights and batch order differ (one seed " \
        "decides both, and any dropout masks):"
    return Text(f"{head}{where} final test accuracy ranges from {_pct(lo)} to {_pct(hi)} over "
                f"{len(vals)} seeds, a spread of {100 * (hi - lo):.2f} points (mean "
                f"{_pct(s.mean)}, 95% CI {_pct(s.ci_low)} to {_pct(s.ci_high)}).", "finding")


def _verdict(row: stats.ComparisonRow) -> str:
    c = row.comparison
    if not math.isfinite(c.p_t):
        return "too few runs"
    if c.ci_low == c.ci_high == c.diff == 0.0:
        return "identical on every seed"
    if row.distinguishable:
        return "distinguishable"
    return "within seed-to-seed spread"


def _comparisons(pairs: Sequence[tuple[_Config, _Config]], label: Callable[[str, str], str]
                 ) -> list[tuple[_Config, _Config, stats.ComparisonRow]]:
    family = [(label(a.label, b.label), plots.final_values(a.runs, "test"),
               plots.final_values(b.runs, "test")) for a, b in pairs if a.runs and b.runs]
    kept = [(a, b) for a, b in pairs if a.runs and b.runs]
    if not family:
        return []
    rows = stats.compare_many(family, alpha=1 - CONFIDENCE, confidence=CONFIDENCE)
    return [(a, b, r) for (a, b), r in zip(kept, rows, strict=True)]


def _comparison_table(caption: str, rows: Sequence[tuple[_Config, _Config, stats.ComparisonRow]]
                      ) -> Table:
    out = []
    for _, _, r in rows:
        c = r.comparison
        design = f"{c.n_pairs} paired" if c.paired else f"{c.n_a}+{c.n_b} unpaired"
        out.append((r.label, design, _pts(c.diff), f"{_pts(c.ci_low)} to {_pts(c.ci_high)}",
                    _p(c.p_t), _p(r.p_adjusted), _verdict(r)))
    if any(r.comparison.n_pairs < 5 for *_, r in rows):
        caption += (". Some comparisons rest on fewer than 5 seeds: their intervals are wide, "
                    "and equal differences on every seed give a zero-width interval")
    return Table(caption, ("comparison (b vs a)", "seeds", "b - a (points)",
                           "95% CI (points, unadjusted)", "p", "Holm p", "verdict (Holm)"),
                 tuple(out))


def _sentences(rows: Sequence[tuple[_Config, _Config, stats.ComparisonRow]],
               a_name: Callable[[_Config], str] = lambda c: c.label,
               b_name: Callable[[_Config], str] = lambda c: c.label) -> Bullets:
    return Bullets(tuple(
        stats.describe_difference(r.comparison, "final test accuracy", a_label=a_name(a),
                                  b_label=b_name(b), p_adjusted=r.p_adjusted,
                                  n_comparisons=len(rows))
        for a, b, r in rows), "finding", fold=f"The {len(rows)} comparisons in words")


def _neighbour_statement(axis: str, rows: Sequence[tuple[_Config, _Config, stats.ComparisonRow]]
                         ) -> Text:
    def step(a: _Config, b: _Config, r: stats.ComparisonRow) -> str:
        c = r.comparison
        return (f"{a.row.axes.get(axis, a.label)} → {b.row.axes.get(axis, b.label)} "
                f"({_pts(c.diff)} points, CI {_pts(c.ci_low)} to {_pts(c.ci_high)})")

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


def _comparison_blocks(sd: _Study) -> list[Block]:
    if len(sd.configs) < 2:
        return []
    out: list[Block] = []
    base = sd.baseline
    assert base is not None
    others = [c for c in sd.configs if c is not base]
    rows = _comparisons([(base, c) for c in others], lambda a, b: f"{b} vs {a}")
    if rows:
        out.append(_comparison_table(
            f"Final test accuracy against the baseline {base.label}, paired on shared seeds, "
            f"Holm-corrected over {len(rows)} comparisons", rows))
        n_yes = sum(r.distinguishable for *_, r in rows)
        out.append(Text(
            f"{n_yes} of {len(rows)} configurations are distinguishable from the baseline "
            f"{base.label}; the other {len(rows) - n_yes} differ from it by less than the "
            "seed-to-seed spread can resolve.", "finding"))
        out.append(_sentences(rows))
    elif not base.runs:
        out.append(Text(f"The baseline {base.label} has no finished runs yet, so nothing is "
                        "compared against it.", "warn"))
    axes = sd.axes
    if len(axes) == 1 and axes[0].get("scale") in ("linear", "log2"):
        name = axes[0]["name"]
        pairs = [(sd.configs[i], sd.configs[j]) for i, j in stats.neighbour_pairs(sd.configs)]
        nrows = _comparisons(pairs, lambda a, b: f"{b} vs {a}")
        if nrows:
            out.append(_comparison_table(
                f"Neighbouring {name} values: final test accuracy, paired on shared seeds, "
                f"Holm-corrected over {len(nrows)} steps", nrows))
            out.append(_neighbour_statement(name, nrows))
            out.append(_sentences(nrows))
    return out


def _best(sd: _Study) -> _Config | None:
    scored = [(_summary(c.runs, "test"), c) for c in sd.with_runs]
    if not scored:
        return None
    return max(scored, key=lambda sc: sc[0].mean)[1]  # type: ignore[union-attr]


def _confusion_blocks(sd: _Study, pid: Callable[[str], str]) -> list[Block]:
    picks: list[tuple[str, _Config]] = []
    base, best = sd.baseline, _best(sd)
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
        rec, avg = plots.confusion_rates(
            c.runs, names, title=f"{sd.name} {c.label}: rate per true class, "
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


# ------------------------------------------------------------------------ sections


def _what_was_run(sd: _Study, store_path: str, data_dir: str | None = None) -> list[Block]:
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
    base = sd.baseline
    if base is not None and base.config is not None:
        if sd.axes:
            ax = "; ".join(
                f"{a.get('name')} in {{{', '.join(map(str, a.get('labels') or [format_value(v) for v in a.get('values', [])]))}}}"  # noqa: E501
                f" (scale {a.get('scale', 'category')})" for a in sd.axes)
            out.append(Text(f"Swept: {ax}. Baseline configuration {base.label}:"))
        else:
            out.append(Text("Model:"))
        out.append(Code(S.describe(base.config)))
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
    if list(seeds) == list(range(len(seeds))) and len(seeds) > 1:
        return f"{len(seeds)} seeds (0-{len(seeds) - 1})"
    shown = ", ".join(map(str, seeds[:12])) + (" ..." if len(seeds) > 12 else "")
    return f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''} ({shown})"


def _loss_name(c: _Config) -> str:
    if c.config is None:
        return "loss"
    return "squared-error loss" if c.config.loss == "squared_error" else "cross-entropy loss"


def _runs_plots(sd: _Study, c: _Config, splits: Sequence[str], metric: str, pid, title: str,
                band_too: bool = True, per_run: bool = True) -> list[Block]:
    recs = [plots.run_curves(c.runs, s, metric, title=f"{s.replace('train', 'Training').replace('test', 'Test')} {metric}, {len(c.runs)} runs")  # noqa: E501
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


def _groups(sd: _Study, axis: str) -> list[tuple[str, list[RunResult]]]:
    return [(c.row.axes.get(axis, c.label), list(c.runs)) for c in sd.configs]


def _one_axis_plots(sd: _Study, pid, curves: bool = True, sweep: bool = True,
                    splits: Sequence[str] = plots.SPLITS) -> list[Block]:
    a = sd.axes[0]
    name, scale = a["name"], a.get("scale", "category")
    groups = _groups(sd, name)
    out: list[Block] = []
    if curves and any(r for _, r in groups):
        rec = plots.curves_by_value(groups, name, "test",
                                    title=f"{sd.name}: mean test accuracy per epoch by {name}")
        out.append(Plot(pid("by-value"), f"Mean test accuracy per epoch, one line per {name}, "
                        "with 95% t-bands over seeds.", rec, plots.draw_curves_by_value))
    if sweep and any(r for _, r in groups):
        rec2 = plots.param_sweep(groups, name, scale,
                                 title=f"{sd.name}: final accuracy against {name}")
        out.append(Plot(pid("sweep"), f"Mean final {' and '.join(splits)} accuracy against "
                        f"{name}, error bars: 95% t-interval of the mean over seeds"
                        f"{' (log2 axis)' if scale == 'log2' else ''}.", rec2,
                        lambda r, s=tuple(splits): plots.draw_param_sweep(r, s)))
    return out


def _two_axis_plots(sd: _Study, pid) -> list[Block]:
    ra, ca = sd.axes[0], sd.axes[1]
    rl = [str(x) for x in (ra.get("labels") or [format_value(v) for v in ra["values"]])]
    cl = [str(x) for x in (ca.get("labels") or [format_value(v) for v in ca["values"]])]
    cells = {(c.row.axes.get(ra["name"]), c.row.axes.get(ca["name"])): list(c.runs)
             for c in sd.configs}
    rec = plots.grid_heatmap(cells, ra["name"], ca["name"], rl, cl,
                             title=f"{sd.name}: mean final test accuracy")
    out: list[Block] = [Plot(pid("heatmap"), f"Mean final test accuracy (%) for every "
                             f"({ra['name']}, {ca['name']}) pair, ± std over seeds; the best "
                             "mean is outlined.", rec, plots.draw_heatmap)]
    if rec.best is not None:
        bi, bj = rec.best
        best = next(c for c in sd.configs if (c.row.axes.get(ra["name"]),
                                              c.row.axes.get(ca["name"])) == (rl[bi], cl[bj]))
        s = _summary(best.runs, "test")
        assert s is not None
        text = (f"Best pair by mean final test accuracy: {ra['name']}={rl[bi]}, "
                f"{ca['name']}={cl[bj]} with {_summary_cell(s)} over {s.n} seeds.")
        ranked = sorted((c for c in sd.with_runs if c is not best),
                        key=lambda c: -_summary(c.runs, "test").mean)  # type: ignore[union-attr]
        if ranked:
            second = ranked[0]
            cmp = stats.compare(plots.final_values(second.runs, "test"),
                                plots.final_values(best.runs, "test"), CONFIDENCE)
            text += " " + stats.describe_difference(
                cmp, "final test accuracy", a_label=second.label, b_label=best.label)
            text += (f" The best of {len(sd.with_runs)} cells is picked on the same runs that "
                     "measure it, so its lead is optimistic.")
        out.append(Text(text, "finding"))
    return out


def _study_section(sd: _Study, store_path: str, data_dir: str | None) -> Section:
    title = str(sd.definition.get("title") or sd.name)
    counter = [0]

    def pid(kind: str) -> str:
        counter[0] += 1
        return f"{sd.name}-{counter[0]:02d}-{kind}"

    blocks: list[Block] = _what_was_run(sd, store_path, data_dir)
    if not sd.with_runs:
        return Section(sd.name, title, sd.status, tuple(blocks))
    kind = sd.kind
    base = sd.baseline if sd.baseline and sd.baseline.runs else sd.with_runs[0]
    if kind == "intro":
        blocks += _intro_blocks(sd, base, data_dir, pid)
    elif kind == "q1":
        blocks += _runs_plots(sd, base, ("train",), "accuracy", pid, "Q1")
    elif kind in ("q2", "q3", "q4", "q5"):
        blocks += _runs_plots(sd, base, ("train", "test"), "error", pid, kind.upper())
    elif kind == "q6":
        blocks += _one_axis_plots(sd, pid, curves=False)
    elif kind in ("q7a", "q7c", "q10a"):
        blocks += _one_axis_plots(sd, pid, splits=("test",))
    elif kind == "q7b":
        blocks += _two_axis_plots(sd, pid)
    elif kind in ("q7d", "q10b", "q10c", "q10d", "q10e"):
        blocks += _runs_plots(sd, base, ("test",), "accuracy", pid, kind.upper(),
                              per_run=False)
    elif kind == "q8":
        blocks += _runs_plots(sd, base, ("train", "test"), "accuracy", pid,
                              f"Q8 {base.label}")
        blocks += _one_axis_plots(sd, pid, curves=False, splits=("test",))
        s_tr, s_te = _summary(base.runs, "train"), _summary(base.runs, "test")
        if s_tr and s_te:
            blocks.append(Text(f"{base.label}: mean final training accuracy {_summary_cell(s_tr)}"
                               f", mean final test accuracy {_summary_cell(s_te)} over "
                               f"{s_te.n} seeds; the gap is {100 * (s_tr.mean - s_te.mean):.2f} "
                               "points.", "finding"))
    elif kind == "q9":
        blocks += _runs_plots(sd, base, ("train", "test"), "accuracy", pid, "Q9")
    elif not sd.axes:
        blocks += _runs_plots(sd, base, ("train", "test"), "accuracy", pid, sd.name)
    elif len(sd.axes) == 1:
        blocks += _one_axis_plots(sd, pid)
    elif len(sd.axes) == 2:
        blocks += _two_axis_plots(sd, pid)
    else:
        blocks.append(Text(f"{len(sd.axes)} axes: no plot is drawn for more than two; the "
                           "table holds every configuration."))
    blocks.append(_config_table(sd))
    spread = _spread_statement(sd)
    if spread:
        blocks.append(spread)
    # Why runs differ, whether they learn (silent classes, collapse), flags: issue 14.
    from sweeplab.report_diagnostics import diagnostic_blocks  # imports this module

    blocks += diagnostic_blocks(sd, pid)
    blocks += _comparison_blocks(sd)
    if kind != "intro":
        blocks += _confusion_blocks(sd, pid)
    return Section(sd.name, title, sd.status, tuple(blocks))


def _dataset(name: str, data_dir: str | None, subset: int | None):
    # The stratified subset keeps the original order and the first images of every
    # class, so the first 10 images (and the first test image) are those of the full set.
    return data_mod.load(name, data_dir, subset=subset or 1000, allow_download=False)


def _intro_blocks(sd: _Study, c: _Config, data_dir: str | None, pid) -> list[Block]:
    out: list[Block] = []
    run = c.runs[0]
    names = sd.class_names
    true_label = None
    try:
        ds = _dataset(sd.dataset, data_dir, sd.definition.get("subset"))
        out.append(Plot(pid("images"), f"The first 10 training images of {sd.dataset} with "
                        "their labels.", plots.first_images(ds, 10,
                                                            f"{sd.dataset}: the first 10 "
                                                            "training images"),
                        plots.draw_images))
        true_label = int(ds.y_test[0])
    except (data_mod.DataError, OSError) as err:
        out.append(Text(f"The training images cannot be shown: {err}", "warn"))
    chance = 1.0 / len(names)
    e0 = run.epochs[0]
    out.append(Text(f"The untrained model (seed {run.seed}) scores {_pct(e0.test_acc)} on the "
                    f"test set (loss {e0.test_loss:.4f}); chance is {_pct(chance, 0)}.",
                    "finding"))
    if run.probe_untrained and run.probe_trained:
        rec = plots.probe_outputs(run, names, true_label)
        truth = f" (its true class is {names[true_label]})" if true_label is not None else ""
        out.append(Text(
            f"The first test image{truth}: the untrained model predicts "
            f"{names[rec.predicted_untrained]}; after {len(run.epochs) - 1} epochs it predicts "
            f"{names[rec.predicted_trained]}"
            + ("" if true_label is None else
               (" (correct)." if rec.predicted_trained == true_label else " (wrong).")),
            "finding"))
        out.append(Plot(pid("probe"), "Raw outputs of the network for the first test image, "
                        "before and after training; the predicted class is highlighted.", rec,
                        plots.draw_probe))
    out.append(Plot(pid("twin"), "Accuracy (left axis) and loss (right axis) per epoch, "
                    "training set and test set side by side.",
                    plots.twin_curves(run, f"{sd.name}: accuracy and loss", _loss_name(c)),
                    plots.draw_twin_curves))
    out.append(Plot(pid("confusion"), "Test-set confusion matrix of the trained model, counts: "
                    "rows are the true class, columns the predicted class.",
                    plots.confusion_counts(run, names, f"Confusion matrix after training "
                                           f"(seed {run.seed}, counts)"), plots.draw_confusion))
    f = run.final
    out.append(Text(f"After training: test accuracy {_pct(f.test_acc)}, "
                    f"{int(np.trace(run.confusion))} of {int(run.confusion.sum())} test images "
                    "on the diagonal.", "finding"))
    return out


def _cifar_intro(data_dir: str | None) -> Section:
    blocks: list[Block] = []
    try:
        ds = _dataset("cifar10", data_dir, None)
        blocks.append(Plot(f"{CIFAR_INTRO}-images", "The first 10 CIFAR-10 training images "
                           "with their class names.",
                           plots.first_images(ds, 10, "CIFAR-10: the first 10 training images"),
                           plots.draw_images))
        status = "complete"
    except (data_mod.DataError, OSError) as err:
        blocks.append(Text(f"The CIFAR-10 data was not found, so its first images cannot be "
                           f"shown: {err}", "warn"))
        status = "not run"
    return Section(CIFAR_INTRO, "CIFAR-10 intro: the first 10 training images", status,
                   tuple(blocks))


# ------------------------------------------------------------- steps across studies


def _comparable(a: _Config, b: _Config) -> str:
    """'' when two configs were trained alike (dataset, epochs, subset), else why not."""
    if a.config is None or b.config is None:
        return "a config is missing from the store"
    for key in ("dataset", "epochs", "subset"):
        va, vb = getattr(a.config, key), getattr(b.config, key)
        if va != vb:
            return f"{key} differs ({va} vs {vb})"
    return ""


def _step_section(sid: str, title: str, intro: str,
                  steps: Sequence[tuple[str, _Config, _Config]], notes: Sequence[str]) -> Section:
    blocks: list[Block] = [Text(intro)]
    usable, skipped = [], []
    for label, a, b in steps:
        why = _comparable(a, b)
        if why:
            skipped.append(f"{label}: not compared, {why}; train both alike to compare.")
        else:
            usable.append((label, a, b))
    rows = _comparisons([(a, b) for _, a, b in usable],
                        lambda x, y: next(lab for lab, a, b in usable
                                          if a.label == x and b.label == y))
    labels = {id(r): lab for (lab, _, _), (_, _, r) in zip(usable, rows, strict=False)}
    if rows:
        tab = _comparison_table(f"Final test accuracy, each step against its reference, paired "
                                f"on shared seeds, Holm-corrected over {len(rows)} comparisons",
                                rows)
        blocks.append(tab)
        helped = [labels[id(r)] for *_, r in rows if r.distinguishable and r.comparison.diff > 0]
        hurt = [labels[id(r)] for *_, r in rows if r.distinguishable and r.comparison.diff < 0]
        unclear = [labels[id(r)] for *_, r in rows if not r.distinguishable]
        parts = []
        if helped:
            parts.append(f"Helped (interval above zero): {'; '.join(helped)}.")
        if hurt:
            parts.append(f"Hurt (interval below zero): {'; '.join(hurt)}.")
        if unclear:
            parts.append("Not distinguishable from seed-to-seed spread, so the data cannot say "
                         f"whether it helped: {'; '.join(unclear)}.")
        blocks.append(Text(" ".join(parts), "finding"))
        blocks.append(Bullets(tuple(
            stats.describe_difference(r.comparison, "final test accuracy", a_label=a.label,
                                      b_label=b.label, p_adjusted=r.p_adjusted,
                                      n_comparisons=len(rows))
            for a, b, r in rows), "finding", fold=f"The {len(rows)} comparisons in words"))
    else:
        blocks.append(Text("No step can be compared yet: the studies it needs have no runs "
                           "that were trained alike.", "warn"))
    if skipped:
        blocks.append(Bullets(tuple(skipped), "warn"))
    blocks += [Text(n, "note") for n in notes]
    return Section(sid, title, "summary", tuple(blocks))


def _relabel(c: _Config, study: str) -> _Config:
    row = c.row
    return _Config(StudyConfigRow(row.study, row.config_hash, row.position,
                                  f"{study} {row.label}" if row.label != "base" else study,
                                  row.axes), c.config, c.runs, c.missing, c.failed, c.engines)


def _q7_section(loaded: dict[str, _Study]) -> Section | None:
    refs = []  # Q5's model at Q7's training length, where it was trained
    for name, label in (("q6", "width=32"), ("q7a", "depth=1")):
        sd = loaded.get(name)
        ref = next((c for c in sd.configs if c.label == label and c.runs), None) if sd else None
        if ref is not None:
            refs.append(_relabel(ref, name))
    candidates = []
    for name in ("q7a", "q7b", "q7c"):
        sd = loaded.get(name)
        best = _best(sd) if sd is not None else None
        if best is not None:
            candidates.append((f"best of {name} ({best.label})", _relabel(best, name)))
    if "q7d" in loaded and loaded["q7d"].with_runs:
        candidates.append(("q7d (the chosen model)", _relabel(loaded["q7d"].with_runs[0], "q7d")))
    if not refs or not candidates:
        return None
    steps = []
    for lab, c in candidates:
        others = [r for r in refs if r.row.config_hash != c.row.config_hash]
        if others:  # the first reference trained like the candidate, else the first one
            ref = next((r for r in others if not _comparable(r, c)), others[0])
            steps.append((f"{lab} vs {ref.label}", ref, c))
    return _step_section(
        Q7_SUMMARY, "Q7: did each exploration step help?",
        "Each Q7 candidate against the Q5-like reference (one hidden layer of 32, softmax, "
        "Adam: Q6's width=32, else Q7a's depth=1), on final test accuracy.", steps,
        ["A 'best of' configuration is picked on the same runs that measure it, so its "
         "advantage is optimistic; train it again on new seeds to confirm."])


def _q10_section(loaded: dict[str, _Study]) -> Section | None:
    chain: list[tuple[str, _Config]] = []
    if "q9" in loaded and loaded["q9"].with_runs:
        chain.append(("q9 cnn-base", _relabel(loaded["q9"].with_runs[0], "q9")))
    if "q10a" in loaded:
        best = _best(loaded["q10a"])
        if best is not None:
            chain.append((f"q10a best ({best.label})", _relabel(best, "q10a")))
    for name in ("q10b", "q10c", "q10d", "q10e"):
        if name in loaded and loaded[name].with_runs:
            chain.append((name, _relabel(loaded[name].with_runs[0], name)))
    if len(chain) < 2:
        return None
    steps = [(f"{b_lab} vs {a_lab}", a, b)
             for (a_lab, a), (b_lab, b) in zip(chain, chain[1:], strict=False)]
    return _step_section(
        Q10_SUMMARY, "Q10: did each step help?",
        "The reference sequence cnn-base (Q9) → best dropout (Q10a) → four conv blocks (Q10b) → "
        "two Dense(128) (Q10c) → batch normalisation (Q10d) → dropout 0.2 (Q10e); each step "
        "against the step before it, on final test accuracy.", steps,
        ["Q10a's best dropout rate is picked on the same runs that measure it, so the step "
         "into Q10a is optimistic and the step out of it pessimistic."])


# --------------------------------------------------------------------------- build


def build_report(store: Store, studies: Sequence[str] | None = None,
                 data_dir: str | None = None) -> Report:
    """Everything the report shows, as data. Reads the store; never trains.

    Raises:
        ValueError: unknown study names (see :func:`resolve_studies`).
    """
    names = resolve_studies(store, studies)
    store_path = str(store.path)
    loaded = {n: _load_study(store, n) for n in names}
    sections: list[Section] = []
    cifar = studies is None or any(sd.dataset == "cifar10" for sd in loaded.values())
    cifar_done = False
    for n in names:
        sd = loaded[n]
        if cifar and not cifar_done and (sd.dataset == "cifar10" or n not in BUILTIN):
            sections.append(_cifar_intro(data_dir))
            cifar_done = True
        sections.append(_study_section(sd, store_path, data_dir))
        if n == max((x for x in names if x in _Q7), default=None, key=_Q7.index):
            sec = _q7_section(loaded)
            if sec:
                sections.append(sec)
        if n == max((x for x in names if x in _Q10), default=None, key=_Q10.index):
            sec = _q10_section(loaded)
            if sec:
                sections.append(sec)
    if cifar and not cifar_done:
        sections.append(_cifar_intro(data_dir))
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return Report("sweeplab report", store_path, created, tuple(sections))


# -------------------------------------------------------------------------- render

_CSS = """
:root { --ink:#1d232b; --mute:#5b6672; --line:#d9dee4; --bg:#ffffff; --soft:#f5f7f9;
        --blue:#0072B2; --warn:#a24a00; --warnbg:#fff4e5; --ok:#00694d; }
* { box-sizing:border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
       font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
main { max-width:1180px; margin:0 auto; padding:24px 28px 80px; }
header h1 { margin:0 0 4px; font-size:28px; }
header p { margin:2px 0; color:var(--mute); }
nav { background:var(--soft); border:1px solid var(--line); border-radius:8px;
      padding:12px 18px; margin:18px 0 28px; }
nav h2 { margin:0 0 6px; font-size:16px; }
nav ol { margin:0; padding-left:22px; columns:2; column-gap:36px; }
nav li { margin:2px 0; break-inside:avoid; }
a { color:var(--blue); text-decoration:none; } a:hover { text-decoration:underline; }
section { border-top:2px solid var(--line); padding-top:10px; margin-top:36px; }
section h2 { font-size:22px; margin:6px 0 10px; }
.badge { display:inline-block; font-size:12px; font-weight:600; padding:1px 8px;
         border-radius:10px; margin-left:8px; vertical-align:middle; background:var(--soft);
         color:var(--mute); border:1px solid var(--line); }
.badge.complete { color:var(--ok); border-color:#9fd3c3; background:#eef8f4; }
.badge.partial, .badge.not-run { color:var(--warn); border-color:#f0c48f;
                                 background:var(--warnbg); }
p { margin:8px 0; }
p.note { color:var(--mute); font-size:14px; }
p.warn, ul.warn { color:var(--warn); }
div.warnbox { background:var(--warnbg); border-left:4px solid #e69f00; padding:6px 14px;
              margin:10px 0; border-radius:4px; }
.finding { border-left:4px solid var(--blue); background:#f1f7fc; padding:6px 12px;
           margin:8px 0; border-radius:4px; }
ul.finding { padding-left:30px; }
ul.finding li { margin:3px 0; }
pre { background:var(--soft); border:1px solid var(--line); border-radius:6px;
      padding:8px 12px; overflow-x:auto; font-size:13px; white-space:pre-wrap;
      word-break:break-word; }
code { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; }
figure { margin:14px 0; text-align:center; }
figure img { max-width:100%; height:auto; border:1px solid var(--line); border-radius:4px; }
figure.confusion img { max-width:min(100%, 680px); }
details { margin:8px 0; } summary { cursor:pointer; color:var(--blue); }
figcaption { color:var(--mute); font-size:13px; margin-top:4px; }
.tablewrap { overflow-x:auto; margin:12px 0; }
table { border-collapse:collapse; font-size:13px; min-width:60%; }
caption { text-align:left; font-weight:600; padding:4px 0; color:var(--ink); }
th, td { border:1px solid var(--line); padding:4px 8px; text-align:right;
         font-variant-numeric:tabular-nums; white-space:nowrap; }
th { background:var(--soft); }
td:first-child, th:first-child { text-align:left; }
tr:nth-child(even) td { background:#fafbfc; }
td.v-distinguishable { color:var(--ok); font-weight:600; }
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _png(plot: Plot) -> bytes:
    fig = plot.draw(plot.record)
    try:
        return plots.to_png(fig)
    finally:
        fig.clear()


def _block_html(b: Block) -> str:
    if isinstance(b, Text):
        if b.kind == "warn":
            return f'<div class="warnbox"><p class="warn">{_e(b.text)}</p></div>'
        cls = f' class="{b.kind}"' if b.kind != "p" else ""
        return f"<p{cls}>{_e(b.text)}</p>"
    if isinstance(b, Bullets):
        cls = f' class="{b.kind}"' if b.kind != "p" else ""
        ul = f"<ul{cls}>" + "".join(f"<li>{_e(i)}</li>" for i in b.items) + "</ul>"
        return f"<details><summary>{_e(b.fold)}</summary>{ul}</details>" if b.fold else ul
    if isinstance(b, Code):
        return f"<pre><code>{_e(b.text)}</code></pre>"
    if isinstance(b, Table):
        head = "".join(f"<th>{_e(h)}</th>" for h in b.header)
        body = []
        for row in b.rows:
            cells = []
            for v in row:
                cls = ' class="v-distinguishable"' if v == "distinguishable" else ""
                cells.append(f"<td{cls}>{_e(v)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        return (f'<div class="tablewrap"><table><caption>{_e(b.caption)}</caption>'
                f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")
    if isinstance(b, Plot):
        data = base64.b64encode(_png(b)).decode("ascii")
        cls = ' class="confusion"' if "confusion" in b.name else ""
        return (f'<figure id="{_e(b.name)}"{cls}><img src="data:image/png;base64,{data}" '
                f'alt="{_e(b.caption)}"><figcaption>{_e(b.caption)}</figcaption></figure>')
    raise TypeError(f"unknown block {b!r}")


def _wrap_warnings(blocks: Sequence[Block]) -> list[str]:
    """HTML for blocks, with consecutive warnings (text, list, command) in one box."""
    out: list[str] = []
    box: list[str] = []
    for i, b in enumerate(blocks):
        is_warn = getattr(b, "kind", None) == "warn" or (
            isinstance(b, Code) and i > 0 and getattr(blocks[i - 1], "kind", None) == "warn")
        if is_warn:
            if isinstance(b, Text):
                box.append(f'<p class="warn">{_e(b.text)}</p>')
            else:
                box.append(_block_html(b))
            continue
        if box:
            out.append('<div class="warnbox">' + "".join(box) + "</div>")
            box = []
        out.append(_block_html(b))
    if box:
        out.append('<div class="warnbox">' + "".join(box) + "</div>")
    return out


def render_html(report: Report) -> str:
    """One self-contained HTML page: embedded CSS and PNGs, no scripts, no network."""
    toc = "".join(
        f'<li><a href="#{_e(s.id)}">{_e(s.title)}</a>'
        + (f' <span class="badge {_e(s.status.replace(" ", "-"))}">{_e(s.status)}</span>'
           if s.status != "summary" else "") + "</li>"
        for s in report.sections)
    body = []
    for s in report.sections:
        badge = (f' <span class="badge {_e(s.status.replace(" ", "-"))}">{_e(s.status)}</span>'
                 if s.status != "summary" else "")
        body.append(f'<section id="{_e(s.id)}"><h2>{_e(s.title)}{badge}</h2>'
                    + "\n".join(_wrap_warnings(s.blocks)) + "</section>")
    how = ("How to read: accuracies are in percent; mean ± std is over seeds (sample std), "
           "[a, b] is the 95% Student-t interval of the mean. Comparisons use final test "
           "accuracy, paired on the seeds both configurations share, with Holm-corrected "
           "p-values within each table; 'within seed-to-seed spread' means the data cannot "
           "tell the two apart. Error = 1 - accuracy.")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(report.title)}</title><style>{_CSS}</style></head><body><main>"
        f"<header><h1>{_e(report.title)}</h1><p>Store: <code>{_e(report.store_path)}</code>"
        f"</p><p>Built {_e(report.created)} by sweeplab {_e(__version__)}.</p></header>"
        f'<p class="note">{_e(how)}</p>'
        f"<nav><h2>Contents</h2><ol>{toc}</ol></nav>"
        + "\n".join(body) + "</main></body></html>\n")


def _md(text: Any) -> str:
    return html.escape(str(text), quote=False)


def render_markdown(report: Report, image_dir: str = "img") -> tuple[str, dict[str, bytes]]:
    """Markdown text and the PNG files it links to (name -> bytes, under ``image_dir``)."""
    files: dict[str, bytes] = {}
    lines = [f"# {_md(report.title)}", "", f"Store: `{_md(report.store_path)}`  ",
             f"Built {_md(report.created)} by sweeplab {__version__}.", "", "## Contents", ""]
    lines += [f"{i}. [{_md(s.title)}](#{_md(s.id)}) ({_md(s.status)})"
              for i, s in enumerate(report.sections, 1)]
    for s in report.sections:
        lines += ["", f'<a id="{_e(s.id)}"></a>', "", f"## {_md(s.title)} ({_md(s.status)})", ""]
        for b in s.blocks:
            if isinstance(b, Text):
                prefix = "> **Missing:** " if b.kind == "warn" else "> " if b.kind == "finding" \
                    else ""
                lines += [prefix + _md(b.text), ""]
            elif isinstance(b, Bullets):
                lines += [f"- {_md(i)}" for i in b.items] + [""]
            elif isinstance(b, Code):
                lines += ["```", b.text.replace("```", "'''"), "```", ""]
            elif isinstance(b, Table):

                def cell(v: str) -> str:
                    return _md(v).replace("|", "\\|")

                lines += [f"**{_md(b.caption)}**", "",
                          "| " + " | ".join(cell(h) for h in b.header) + " |",
                          "|" + "|".join(["---"] + ["---:"] * (len(b.header) - 1)) + "|"]
                lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in b.rows]
                lines.append("")
            elif isinstance(b, Plot):
                fname = f"{safe_name(b.name)}.png"  # a study's name is data, not a path
                files[fname] = _png(b)
                alt = _md(b.caption).replace("[", "(").replace("]", ")")
                lines += [f"![{alt}]({image_dir}/{fname})", "", f"*{_md(b.caption)}*", ""]
    return "\n".join(lines) + "\n", files


def write_report(store: Store, out: str | Path, studies: Sequence[str] | None = None,
                 fmt: str = "html", data_dir: str | None = None) -> Path:
    """Build the report of ``studies`` (None = every study in the store) and write it.

    Args:
        out: the HTML file for ``fmt="html"``. For ``fmt="md"``: a ``.md`` file (its PNGs
            go to ``<stem>_files/`` beside it) or a folder (``report.md`` and ``img/``).
        fmt: "html" or "md".
        data_dir: where the datasets are, for the first training images.

    Returns:
        The path of the HTML or Markdown file written.

    Raises:
        ValueError: unknown study names, or a bad ``fmt``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}. Received: fmt={fmt!r}")
    out = Path(out)
    report = build_report(store, studies, data_dir)
    if fmt == "html":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_html(report), encoding="utf-8")
        return out
    if out.suffix == ".md":
        md_path, image_dir = out, out.parent / f"{out.stem}_files"
    else:
        md_path, image_dir = out / "report.md", out / "img"
    image_dir.mkdir(parents=True, exist_ok=True)
    text, files = render_markdown(report, image_dir.name)
    for name, content in files.items():
        (image_dir / name).write_bytes(content)
    md_path.write_text(text, encoding="utf-8")
    return md_path
