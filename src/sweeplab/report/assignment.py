"""The assignment's questions: which built-in study gets which figures and statements,
and the summaries across studies (did each Q7 / Q10 step help?). The built-in studies'
ids that the report treats specially live here, and only here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from sweeplab import data as data_mod
from sweeplab import plots
from sweeplab.readout import ConfigView, StudyView
from sweeplab.report.blocks import Block, Bullets, Plot, Section, Text, pct, summary_cell
from sweeplab.report.sections import (
    best_config,
    comparison_table,
    comparisons,
    generic_figures,
    loss_name,
    one_axis_plots,
    runs_plots,
    sentences,
    two_axis_plots,
)

CIFAR_INTRO = "cifar-intro"

Q7_SUMMARY = "q7-steps"

Q10_SUMMARY = "q10-steps"

Q7 = ("q7a", "q7b", "q7c", "q7d", "q7s")

Q10 = ("q9", "q10a", "q10b", "q10c", "q10d", "q10e")
INTRO = "intro"  # the one-run walk-through: its own confusion matrix, no seed-averaged one
WHY = ("q1",)  # "why does each run behave differently?"
LEARN = ("q2", "q3", "q4", "q5", "q8", "q9", "q7d", "q10b", "q10c", "q10d", "q10e")  # "do
# all runs learn the task?"


def figure_blocks(sd: StudyView, base: ConfigView, pid: Callable[[str], str],
                  data_dir: str | None) -> list[Block]:
    """The figures (and their statements) of a study's section: its question's own, or
    those of its shape (sections.generic_figures) for any other study."""
    kind = sd.kind
    if kind == INTRO:
        return intro_blocks(sd, base, data_dir, pid)
    if kind == "q1":
        return runs_plots(sd, base, ("train",), "accuracy", pid, "Q1")
    if kind in ("q2", "q3", "q4", "q5"):
        return runs_plots(sd, base, ("train", "test"), "error", pid, kind.upper())
    if kind == "q6":
        return one_axis_plots(sd, pid, curves=False)
    if kind in ("q7a", "q7c", "q10a"):
        return one_axis_plots(sd, pid, splits=("test",))
    if kind == "q7b":
        return two_axis_plots(sd, pid)
    if kind in ("q7d", "q10b", "q10c", "q10d", "q10e"):
        return runs_plots(sd, base, ("test",), "accuracy", pid, kind.upper(), per_run=False)
    if kind == "q8":
        return q8_blocks(sd, base, pid)
    if kind == "q9":
        return runs_plots(sd, base, ("train", "test"), "accuracy", pid, "Q9")
    return generic_figures(sd, base, pid)


def q8_blocks(sd: StudyView, base: ConfigView, pid: Callable[[str], str]) -> list[Block]:
    """Q8: one configuration's curves, the sweep, and its train-test gap."""
    blocks = runs_plots(sd, base, ("train", "test"), "accuracy", pid, f"Q8 {base.label}")
    blocks += one_axis_plots(sd, pid, curves=False, splits=("test",))
    s_tr, s_te = base.summary("train_acc"), base.summary("test_acc")
    if s_tr and s_te:
        blocks.append(Text(f"{base.label}: mean final training accuracy {summary_cell(s_tr)}"
                           f", mean final test accuracy {summary_cell(s_te)} over "
                           f"{s_te.n} seeds; the gap is {100 * (s_tr.mean - s_te.mean):.2f} "
                           "points.", "finding"))
    return blocks


def summaries_after(name: str, names: Sequence[str], loaded: dict[str, StudyView]
                    ) -> list[Section]:
    """The summary sections that follow study ``name`` (the last Q7 or Q10 one reported)."""
    out = []
    if name == max((x for x in names if x in Q7), default=None, key=Q7.index):
        out.append(q7_section(loaded))
    if name == max((x for x in names if x in Q10), default=None, key=Q10.index):
        out.append(q10_section(loaded))
    return [s for s in out if s is not None]


def _dataset(name: str, data_dir: str | None, subset: int | None):
    # The stratified subset keeps the original order and the first images of every
    # class, so the first 10 images (and the first test image) are those of the full set.
    return data_mod.load(name, data_dir, subset=subset or 1000, allow_download=False)

def intro_blocks(sd: StudyView, c: ConfigView, data_dir: str | None, pid) -> list[Block]:
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
    out.append(Text(f"The untrained model (seed {run.seed}) scores {pct(e0.test_acc)} on the "
                    f"test set (loss {e0.test_loss:.4f}); chance is {pct(chance, 0)}.",
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
                    plots.twin_curves(run, f"{sd.name}: accuracy and loss", loss_name(c)),
                    plots.draw_twin_curves))
    out.append(Plot(pid("confusion"), "Test-set confusion matrix of the trained model, counts: "
                    "rows are the true class, columns the predicted class.",
                    plots.confusion_counts(run, names, f"Confusion matrix after training "
                                           f"(seed {run.seed}, counts)"), plots.draw_confusion))
    f = run.final
    out.append(Text(f"After training: test accuracy {pct(f.test_acc)}, "
                    f"{int(np.trace(run.confusion))} of {int(run.confusion.sum())} test images "
                    "on the diagonal.", "finding"))
    return out

def cifar_intro(data_dir: str | None) -> Section:
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


def _comparable(a: ConfigView, b: ConfigView) -> str:
    """'' when two configs were trained alike (dataset, epochs, subset), else why not."""
    if a.spec is None or b.spec is None:
        return "a config is missing from the store"
    for key in ("dataset", "epochs", "subset"):
        va, vb = getattr(a.spec, key), getattr(b.spec, key)
        if va != vb:
            return f"{key} differs ({va} vs {vb})"
    return ""

def _step_section(sid: str, title: str, intro: str,
                  steps: Sequence[tuple[str, ConfigView, ConfigView]],
                  notes: Sequence[str]) -> Section:
    blocks: list[Block] = [Text(intro)]
    usable, skipped = [], []
    for label, a, b in steps:
        why = _comparable(a, b)
        if why:
            skipped.append(f"{label}: not compared, {why}; train both alike to compare.")
        else:
            usable.append((label, a, b))
    rows = comparisons([(a, b) for _, a, b in usable],
                        lambda x, y: next(lab for lab, a, b in usable
                                          if a.label == x and b.label == y))
    labels = {id(r): lab for (lab, _, _), (_, _, r) in zip(usable, rows, strict=False)}
    if rows:
        tab = comparison_table(f"Final test accuracy, each step against its reference, paired "
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
        blocks.append(sentences(rows))
    else:
        blocks.append(Text("No step can be compared yet: the studies it needs have no runs "
                           "that were trained alike.", "warn"))
    if skipped:
        blocks.append(Bullets(tuple(skipped), "warn"))
    blocks += [Text(n, "note") for n in notes]
    return Section(sid, title, "summary", tuple(blocks))

def _relabel(c: ConfigView, study: str) -> ConfigView:
    return replace(c, label=f"{study} {c.label}" if c.label != "base" else study)

def q7_section(loaded: dict[str, StudyView]) -> Section | None:
    refs = []  # Q5's model at Q7's training length, where it was trained
    for name, label in (("q6", "width=32"), ("q7a", "depth=1")):
        sd = loaded.get(name)
        ref = next((c for c in sd.configs if c.label == label and c.runs), None) if sd else None
        if ref is not None:
            refs.append(_relabel(ref, name))
    candidates = []
    for name in ("q7a", "q7b", "q7c"):
        sd = loaded.get(name)
        best = best_config(sd) if sd is not None else None
        if best is not None:
            candidates.append((f"best of {name} ({best.label})", _relabel(best, name)))
    if "q7d" in loaded and loaded["q7d"].with_runs:
        candidates.append(("q7d (the chosen model)", _relabel(loaded["q7d"].with_runs[0], "q7d")))
    searched = _search_answer(loaded.get("q7s"))
    if searched is not None:
        candidates.append((f"q7s's answer ({searched.label}, fresh seeds)", searched))
    if not refs or not candidates:
        return None
    steps = []
    for lab, c in candidates:
        others = [r for r in refs if r.config_hash != c.config_hash]
        if others:  # the first reference trained like the candidate, else the first one
            ref = next((r for r in others if not _comparable(r, c)), others[0])
            steps.append((f"{lab} vs {ref.label}", ref, c))
    grid = {name: c for name, c in ((n, next((c for lab, c in candidates
                                               if lab.startswith(p)), None))
                                    for n, p in (("q7b", "best of q7b"), ("q7d", "q7d ")))
            if c is not None}
    for name, c in grid.items():  # the search's answer against the grids' answers
        if searched is not None and c.config_hash != searched.config_hash:
            steps.append((f"q7s's answer vs {name}'s", c, searched))
    return _step_section(
        Q7_SUMMARY, "Q7: did each exploration step help?",
        "Each Q7 candidate against the Q5-like reference (one hidden layer of 32, softmax, "
        "Adam: Q6's width=32, else Q7a's depth=1), on final test accuracy.", steps,
        ["A 'best of' configuration is picked on the same runs that measure it, so its "
         "advantage is optimistic; train it again on new seeds to confirm."])

def _search_answer(sd: StudyView | None) -> ConfigView | None:
    """q7s's best candidate with only its fresh seeds (which the race never saw)."""
    from sweeplab.readout import search_answer

    answer = search_answer(sd) if sd is not None and sd.search is not None else None
    if answer is None:
        return None
    c = next(c for c in sd.configs if c.config_hash == answer.best.key)
    fresh = sd.search_seeds[1]
    return _relabel(replace(c, runs=tuple(r for r in c.runs if r.seed in fresh)),
                    "q7s")


def q10_section(loaded: dict[str, StudyView]) -> Section | None:
    chain: list[tuple[str, ConfigView]] = []
    if "q9" in loaded and loaded["q9"].with_runs:
        chain.append(("q9 cnn-base", _relabel(loaded["q9"].with_runs[0], "q9")))
    if "q10a" in loaded:
        best = best_config(loaded["q10a"])
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
