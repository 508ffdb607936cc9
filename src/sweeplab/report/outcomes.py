"""The report's per-example blocks (issue 32), read from the view (ConfigView.outcomes and
the numbers memoised beside it): the seeds' variance split into the test set's sampling and
the distribution-wise part (Jordan 2024) next to the binomial floor, what ensembling the
seeds buys, churn, and the test examples no seed gets right or the seeds split on (as images
with their labels and votes). A store written before predictions were kept says so."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sweeplab import data as data_mod
from sweeplab import plots
from sweeplab.analysis import outcomes as O
from sweeplab.readout import ConfigView, StudyView
from sweeplab.report.blocks import Block, Bullets, Plot, Table, Text

__all__ = ["outcome_blocks", "votes_text"]

HARD = 12  # examples shown per kind


def votes_text(votes: np.ndarray, names: Sequence[str], most: int = 3) -> str:
    """"7×4, 2×6": the classes the seeds voted for, most votes first."""
    order = np.argsort(-votes, kind="stable")[:most]
    return ", ".join(f"{names[i]}×{int(votes[i])}" for i in order if votes[i])


def _test_images(c: ConfigView, data_dir: str | None) -> np.ndarray | None:
    """The config's test examples as images, when its data can be read here and its labels
    are the ones its runs were scored against."""
    spec, o = c.spec, c.outcomes
    if spec is None or o is None:
        return None
    try:
        if spec.data is not None:
            ds = data_mod.arrays_for(c.config["data"]).subset(spec.subset)
        else:
            ds = data_mod.load(spec.dataset, data_dir, subset=spec.subset, allow_download=False)
    except (data_mod.DataError, OSError, KeyError):
        return None
    if ds.x_test.ndim != 4 or not np.array_equal(ds.y_test, o.labels):
        return None
    return ds.x_test


def _split_row(label: str, v: O.VarianceSplit, churn: float, vote: float, gain: float
               ) -> tuple[str, ...]:
    """One row of the numbers table: a VarianceSplit in points, churn, the vote of all."""
    return (label, str(v.n_seeds), f"{100 * v.mean:.2f}", f"{100 * v.seeds_std:.3f}",
            f"{100 * v.binomial_std:.3f}", f"{100 * v.test_set_std:.3f}",
            f"{100 * v.distribution_std:.3f} [≤ {100 * v.distribution_high:.3f}]",
            f"{100 * churn:.2f}", f"{100 * vote:.2f} ({100 * gain:+.2f})")


def _numbers_table(cs: Sequence[ConfigView]) -> Table:
    rows = []
    for c in cs:
        v, e = c.variance_split, c.ensemble
        if v is None or e is None:
            continue
        rows.append(_split_row(c.label, v, c.churn, e.accuracy[-1], e.gain))
        w = c.val_variance_split
        if w is not None:  # the same numbers on the validation split's examples
            rows.append(_split_row(f"{c.label} (validation)", w, c.val_churn, c.val_vote,
                                   c.val_vote - w.mean))
    return Table(
        "The test set's variance, separated (final test accuracy, points): the seeds' std, "
        "the binomial floor (every test example an independent coin flip), the part of the "
        "seeds' variance that is the test set's sampling, and the distribution-wise std, "
        "Jordan's (2024) unbiased estimate of how much the seeds differ on new data from the "
        "same distribution (with its one-sided 95% upper bound); churn: the share of test examples "
        "two seeds predict differently, mean over pairs; vote of all: the majority vote of "
        "every seed (its gain over one seed on average). A row labelled (validation) gives "
        "the same on the validation split's examples (final val_acc; its sampling in the "
        "test-set column)",
        ("config", "seeds", "mean %", "seeds' std", "binomial floor", "test-set part",
         "distribution-wise std", "churn %", "vote of all % (gain)"), tuple(rows))


def _hard_blocks(sd: StudyView, c: ConfigView, pid: Callable[[str], str],
                 data_dir: str | None) -> list[Block]:
    o = c.outcomes
    assert o is not None
    names = sd.class_names
    never, split = O.hard_examples(o, HARD)
    n_never, n_split = int(o.never_right.sum()), int(o.split.sum())
    k = len(o.seeds)
    by_class = Counter(names[int(y)] for y in o.labels[o.never_right])
    out: list[Block] = [Text(
        f"{c.label}: {n_never} of {len(o.labels)} test examples are wrong in all {k} seeds"
        + (f" (by true class: {', '.join(f'{n} {cls}' for cls, n in by_class.most_common(5))})"
           if n_never else "")
        + f"; the seeds split on {n_split} more, which a single run gets right or wrong by "
        "its seed.", "finding")]
    images = _test_images(c, data_dir)
    for kind, idx in (("never right", never), ("split", split)):
        if not idx:
            continue
        captions = tuple(f"#{i} true {names[int(o.labels[i])]}\n{votes_text(o.votes[i], names)}"
                         for i in idx)
        what = (f"test examples no seed of {c.label} gets right" if kind == "never right" else
                f"test examples the seeds of {c.label} split on most evenly")
        if images is not None:
            rec = plots.ExampleGrid(f"{sd.name} {c.label}: {what}", images[idx], captions)
            out.append(Plot(pid("hard-examples"), f"The {what} (first {len(idx)}), with the "
                            "true class and the seeds' votes (class×seeds).", rec,
                            plots.draw_examples))
        else:
            out.append(Bullets(tuple(cap.replace("\n", ": votes ") for cap in captions),
                               fold=f"The {what} (first {len(idx)}; images not shown: the "
                               "data is not readable here)"))
    return out


def outcome_blocks(sd: StudyView, pid: Callable[[str], str], data_dir: str | None,
                   pick: ConfigView | None) -> list[Block]:
    """The per-example blocks of one study; ``pick``: the config whose hard examples are
    shown (the baseline of a single config, else the best)."""
    cs = [c for c in sd.with_runs if len(c.runs) >= 2]
    if not cs:
        return []
    have = [c for c in cs if c.outcomes is not None]
    lacking = [c for c in cs if c.outcomes is None]
    out: list[Block] = []
    if lacking:
        out.append(Text("Per-example numbers (the test set's variance, seed ensembles, churn, "
                        f"hard examples) are not available for {len(lacking)} of {len(cs)} "
                        f"configurations: {lacking[0].label}: {lacking[0].outcomes_lack}.",
                        "warn"))
    if not have:
        return out
    out.append(_numbers_table(have))
    main = pick if pick in have else have[0]
    v = main.variance_split
    if v is not None and len(cs) > 2:  # with 1 or 2, "Seeds or test set?" gives it already
        out.append(Text(f"{main.label}: {v.sentence()}", "finding"))
    e = main.ensemble
    if e is not None:
        out.append(Text(f"{main.label}: {e.sentence()}", "finding"))
    curves: list[tuple[str, Any]] = [(c.label, c.ensemble) for c in have]
    out.append(Plot(pid("ensemble"), "What ensembling the seeds buys: the majority vote's test "
                    "accuracy against the number of seeds voting (ties count as a random pick "
                    "among the tied classes), mean over subsets of N seeds.",
                    plots.ensemble_plot(curves[:8], f"{sd.name}: seed ensembles"),
                    plots.draw_ensemble))
    out += _hard_blocks(sd, main, pid, data_dir)
    return out
