"""Every plot of the assignment: a pure record from stored results, then a drawing.

Each kind has a pure function returning a small frozen record (tests assert on it) and a
``draw_*`` turning it into a matplotlib :class:`Figure` (Agg, no pyplot state; drawing
computes no statistics). Accuracies are fractions in records, percent when drawn; curves
cover epochs 1..E; bands are Student-t 95% intervals over seeds. Okabe-Ito for lines,
viridis / cividis for maps (colour-blind safe).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # never a display: reports are built on headless machines

import numpy as np  # noqa: E402
from matplotlib import colormaps  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from sweeplab.analysis import stats  # noqa: E402
from sweeplab.analysis.seeds import ScoreDistribution  # noqa: E402
from sweeplab.results import RunResult  # noqa: E402

__all__ = [
    "OKABE_ITO", "ConfusionPlot", "CurvesByValue", "EnsemblePlot", "ExampleGrid",
    "FinalSeries", "GridHeatmap", "ImageGrid",
    "ParamSweep", "ProbeOutputs", "RunCurves", "TwinCurves", "confusion_counts", "confusion_rates",
    "curves_by_value", "draw_confusion", "draw_curves_by_value", "draw_ensemble",
    "draw_examples", "draw_heatmap", "draw_images", "ensemble_plot",
    "draw_param_sweep", "draw_probe", "draw_run_curves", "draw_twin_curves", "final_values",
    "first_images", "grid_heatmap", "metric_values", "param_sweep", "probe_outputs", "run_curves",
    "to_png", "twin_curves"
]

# Okabe & Ito (2008), ordered so the first colours read well on white; yellow last.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
             "#F0E442")
SPLITS = ("train", "test")
METRICS = ("accuracy", "error")
_SPLIT_NAME = {"train": "training", "test": "test"}

# The numbers drawn over seeds are the view's (sweeplab.readout.ConfigView, which computes
# them once): a plot is given them, it does not summarise runs itself.
Curve = Sequence[tuple[int, Any]]  # ConfigView.curve("{split}_acc"): (epoch, Summary)
Finals = tuple[str, Any, Any]  # (value label, ConfigView.summary("train_acc"), ...("test_acc"))
Curves = tuple[str, Curve]  # (value label, ConfigView.curve("{split}_acc"))


# ------------------------------------------------------------------------- helpers


def _check(name: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}. Received: {name}={value!r}")
    return value


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, dtype=float)
    arr.setflags(write=False)
    return arr


def metric_values(run: RunResult, split: str = "test", metric: str = "accuracy") -> np.ndarray:
    """One run's per-epoch ``split`` ("train", "test") ``metric`` ("accuracy", "error") for
    epochs 1..E, shape (E,).

    Raises:
        ValueError: a bad split/metric, or a run without trained epochs.
    """
    _check("split", split, SPLITS)
    _check("metric", metric, METRICS)
    values = [getattr(e, f"{split}_acc") for e in run.epochs if e.epoch >= 1]
    if not values or any(v is None for v in values):
        raise ValueError(f"run {run.config_hash[:8]}/seed {run.seed} has no {split} accuracy "
                         "for epochs 1..E")
    arr = np.asarray(values, dtype=float)
    return 1.0 - arr if metric == "error" else arr


def _matrix(runs: Sequence[RunResult], split: str, metric: str) -> np.ndarray:
    """(n_runs, E) per-epoch metric; runs cut to the shortest common length."""
    rows = [metric_values(r, split, metric) for r in runs]
    length = min(len(r) for r in rows)
    return np.stack([r[:length] for r in rows])


def final_values(runs: Sequence[RunResult], split: str = "test",
                 metric: str = "accuracy") -> dict[int, float]:
    """Seed -> final-epoch metric, the input of :func:`sweeplab.analysis.stats.compare`."""
    return {r.seed: float(metric_values(r, split, metric)[-1]) for r in runs}


def _in_metric(s: Any, metric: str) -> tuple[float, float, float]:
    """(mean, ci_low, ci_high) of an accuracy Summary, as ``metric``."""
    if metric == "error":
        return 1.0 - s.mean, 1.0 - s.ci_high, 1.0 - s.ci_low
    return s.mean, s.ci_low, s.ci_high


def _curve_epochs(curve: Curve, epochs: int, runs: int | None = None) -> list[Any]:
    """The curve's summaries of epochs 1..``epochs``, each over ``runs`` runs if given.

    Raises:
        ValueError: an epoch missing, or summarised over other runs.
    """
    by_epoch = dict(curve)
    out = []
    for e in range(1, epochs + 1):
        s = by_epoch.get(e)
        if s is None or (runs is not None and s.n != runs):
            got = "no summary" if s is None else f"a summary of {s.n} runs"
            raise ValueError(f"curve has {got} at epoch {e}; expected one of "
                             f"{runs or 'the'} runs for every epoch 1..{epochs}")
        out.append(s)
    return out


def _axis_label(split: str, metric: str) -> str:
    return f"{_SPLIT_NAME[split]} {metric} (%)"


def _axis_numbers(labels: Sequence[str], scale: str) -> tuple[np.ndarray, bool]:
    """x positions for axis labels: their numbers for linear/log2 axes, else 0..k-1."""
    if scale in ("linear", "log2"):
        try:
            x = np.array([float(v) for v in labels])
            if scale == "linear" or np.all(x > 0):
                return x, True
        except ValueError:
            pass
    return np.arange(len(labels), dtype=float), False


def line_colours(k: int) -> list:
    if k <= len(OKABE_ITO):
        return list(OKABE_ITO[:k])
    cmap = colormaps["viridis"]
    return [cmap(v) for v in np.linspace(0.0, 0.9, k)]


def _epoch_axis(ax, epochs: np.ndarray) -> None:
    """Integer epoch ticks; a single epoch gets a readable axis instead of 0.96..1.04."""
    if len(epochs) <= 20:
        ax.set_xticks(epochs)
    else:
        ax.xaxis.get_major_locator().set_params(integer=True)
    if len(epochs) == 1:
        ax.set_xlim(epochs[0] - 0.5, epochs[0] + 0.5)


def _clamp_percent(ax, *arrays: np.ndarray) -> None:
    """Keep a percent axis on [-1, 101] when few-seed intervals reach past 0 or 100."""
    seen = np.concatenate([np.ravel(a) for a in arrays]) * 100
    seen = seen[np.isfinite(seen)]
    if seen.size == 0:
        return
    pad = 0.05 * max(float(seen.max() - seen.min()), 1.0)
    ax.set_ylim(max(float(seen.min()) - pad, -1.0), min(float(seen.max()) + pad, 101.0))


def to_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


# ---------------------------------------------------------------- the first images


@dataclass(frozen=True, eq=False)
class ImageGrid:
    """The first training images of a dataset with their labels."""

    title: str  # e.g. "MNIST: the first 10 training images"
    images: np.ndarray  # (n, H, W, C) floats in [0, 1]
    labels: tuple[int, ...]  # integer label per image
    names: tuple[str, ...]  # class name per image ("7", "frog")


def first_images(dataset, n: int = 10, title: str | None = None) -> ImageGrid:
    """The first ``n`` training images of a :class:`sweeplab.data.Dataset`."""
    if n < 1:
        raise ValueError(f"n must be >= 1. Received: n={n!r}")
    x = np.asarray(dataset.x_train[:n], dtype=float)
    y = tuple(int(v) for v in dataset.y_train[:n])
    names = tuple(dataset.class_names[v] for v in y)
    title = title or f"{dataset.name}: the first {len(y)} training images"
    return ImageGrid(title, _readonly(x), y, names)


def _image_grid(images: np.ndarray, titles: Sequence[str], cols: int, size: tuple[float, float],
                pad: float, fontsize: float) -> Figure:
    """One image per cell (grey for one channel), each with its title, no ticks."""
    rows = math.ceil(len(titles) / cols)
    fig = Figure(figsize=(size[0] * cols, size[1] * rows + pad))
    for i, title in enumerate(titles):
        ax = fig.add_subplot(rows, cols, i + 1)
        img = images[i]
        if img.shape[-1] == 1:
            ax.imshow(img[..., 0], cmap="gray_r", vmin=0.0, vmax=1.0)
        else:
            ax.imshow(np.clip(img, 0.0, 1.0))
        ax.set_title(title, fontsize=fontsize)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def draw_images(rec: ImageGrid) -> Figure:
    titles = [name if name == str(lab) else f"{name} ({lab})"
              for name, lab in zip(rec.names, rec.labels, strict=True)]
    fig = _image_grid(rec.images, titles, min(len(titles), 10), (1.25, 1.55), 0.4, 9)
    fig.suptitle(rec.title, fontsize=11)
    return fig


# ------------------------------------------------------------------ probe outputs


@dataclass(frozen=True)
class ProbeOutputs:
    """The raw outputs of the network for one test image, before and after training."""

    title: str  # what is shown
    class_names: tuple[str, ...]  # output i is class_names[i]
    untrained: tuple[float, ...]  # raw outputs of the freshly initialised model
    trained: tuple[float, ...]  # raw outputs after the last epoch
    predicted_untrained: int  # argmax of untrained
    predicted_trained: int  # argmax of trained
    true_label: int | None = None  # the image's label, when the data was available
    seed: int | None = None  # the run shown


def probe_outputs(run: RunResult, class_names: Sequence[str], true_label: int | None = None,
                  title: str = "Raw outputs for the first test image") -> ProbeOutputs:
    """The probe outputs recorded by a run (untrained and trained).

    Raises:
        ValueError: the run recorded no probe outputs.
    """
    if not run.probe_untrained or not run.probe_trained:
        raise ValueError(f"run {run.config_hash[:8]}/seed {run.seed} recorded no probe outputs")
    u = tuple(float(v) for v in run.probe_untrained)
    t = tuple(float(v) for v in run.probe_trained)
    return ProbeOutputs(title, tuple(class_names), u, t, int(np.argmax(u)), int(np.argmax(t)),
                        true_label, run.seed)


def draw_probe(rec: ProbeOutputs) -> Figure:
    fig = Figure(figsize=(10, 3.2))
    axes = fig.subplots(1, 2, sharey=True)
    x = np.arange(len(rec.class_names))
    for ax, (name, values, pred) in zip(
        axes,
        (("untrained", rec.untrained, rec.predicted_untrained),
         ("after training", rec.trained, rec.predicted_trained)),
        strict=True,
    ):
        colours = [OKABE_ITO[1] if i == pred else OKABE_ITO[0] for i in x]
        ax.bar(x, values, color=colours)
        ax.set_xticks(x, rec.class_names, rotation=45 if len(rec.class_names[0]) > 2 else 0,
                      ha="right" if len(rec.class_names[0]) > 2 else "center")
        ax.set_xlabel("output (class)")
        ax.set_title(f"{name}: predicted {rec.class_names[pred]}", fontsize=10)
        ax.axhline(0.0, color="0.6", lw=0.8)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("raw output value")
    truth = f" (true class: {rec.class_names[rec.true_label]})" if rec.true_label is not None \
        else ""
    fig.suptitle(f"{rec.title}{truth}; orange = predicted class", fontsize=11)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------- twin-axis curves


@dataclass(frozen=True, eq=False)
class TwinCurves:
    """One run's accuracy and loss per epoch, training and test."""

    title: str  # what is shown
    seed: int  # the run
    epochs: np.ndarray  # (E,) epochs 1..E
    train_acc: np.ndarray  # (E,) fractions
    train_loss: np.ndarray  # (E,)
    test_acc: np.ndarray  # (E,) fractions
    test_loss: np.ndarray  # (E,)
    loss_name: str = "loss"  # e.g. "squared error"


def twin_curves(run: RunResult, title: str = "Accuracy and loss per epoch",
                loss_name: str = "loss") -> TwinCurves:
    """Training and test accuracy and loss of one run, epochs 1..E."""
    eps = [e for e in run.epochs if e.epoch >= 1]
    if not eps:
        raise ValueError(f"run {run.config_hash[:8]}/seed {run.seed} has no trained epochs")
    return TwinCurves(
        title, run.seed, _readonly([e.epoch for e in eps]),
        _readonly([e.train_acc for e in eps]), _readonly([e.train_loss for e in eps]),
        _readonly([e.test_acc for e in eps]), _readonly([e.test_loss for e in eps]), loss_name)


def draw_twin_curves(rec: TwinCurves) -> Figure:
    fig = Figure(figsize=(10, 3.6))
    axes = fig.subplots(1, 2)
    marker = "o" if len(rec.epochs) <= 20 else None
    for ax, split, acc, loss in ((axes[0], "training", rec.train_acc, rec.train_loss),
                                 (axes[1], "test", rec.test_acc, rec.test_loss)):
        ax2 = ax.twinx()
        la = ax.plot(rec.epochs, 100 * acc, color=OKABE_ITO[0], marker=marker,
                     label=f"{split} accuracy")
        ll = ax2.plot(rec.epochs, loss, color=OKABE_ITO[1], marker=marker, ls="--",
                      label=f"{split} {rec.loss_name}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{split} accuracy (%)", color=OKABE_ITO[0])
        ax2.set_ylabel(f"{split} {rec.loss_name}", color=OKABE_ITO[1])
        ax.set_title(f"{split.capitalize()} set", fontsize=10)
        ax.grid(alpha=0.3)
        _epoch_axis(ax, rec.epochs)
        ax.legend(la + ll, [h.get_label() for h in la + ll], loc="best", fontsize=8)
    fig.suptitle(f"{rec.title} (seed {rec.seed})", fontsize=11)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------- per-run curves


@dataclass(frozen=True, eq=False)
class RunCurves:
    """Per-run curves of one metric, with the mean over runs and its interval."""

    title: str  # panel title
    split: str  # "train" or "test"
    metric: str  # "accuracy" or "error"
    epochs: np.ndarray  # (E,) epochs 1..E
    seeds: tuple[int, ...]  # one per run, in row order
    values: np.ndarray  # (n_runs, E) fractions
    mean: np.ndarray  # (E,) mean over runs
    ci_low: np.ndarray  # (E,) t-interval of the mean, lower end (nan with one run)
    ci_high: np.ndarray  # (E,) upper end
    confidence: float = 0.95  # coverage of the interval


def run_curves(runs: Sequence[RunResult], split: str = "test", metric: str = "accuracy",
               title: str = "", *, curve: Curve) -> RunCurves:
    """Every run's per-epoch metric, and the mean with a t-interval over seeds from
    ``curve``: the view's ``curve(f"{split}_acc")`` of these runs (runs cut to the
    shortest common length).

    Raises:
        ValueError: no runs, a bad split/metric, a curve not of these runs.
    """
    if not runs:
        raise ValueError("runs must contain at least one run")
    m = _matrix(runs, split, metric)
    sums = _curve_epochs(curve, m.shape[1], len(runs))
    mean, low, high = (np.array(v) for v in zip(*(_in_metric(s, metric) for s in sums),
                                                  strict=True))
    title = title or f"{_SPLIT_NAME[split].capitalize()} {metric}, {len(runs)} runs"
    return RunCurves(title, split, metric, _readonly(np.arange(1, m.shape[1] + 1)),
                     tuple(r.seed for r in runs), _readonly(m), _readonly(mean),
                     _readonly(low), _readonly(high), sums[0].confidence)


def draw_run_curves(records: RunCurves | Sequence[RunCurves], band: bool = False,
                    suptitle: str = "") -> Figure:
    """Panels side by side, one per record.

    ``band=False`` draws each run in its own colour, as the assignment does;
    ``band=True`` draws the runs faint and the mean with its confidence band over them.
    """
    recs = [records] if isinstance(records, RunCurves) else list(records)
    fig = Figure(figsize=(5.2 * len(recs), 3.8))
    axes = np.atleast_1d(fig.subplots(1, len(recs), squeeze=False)[0])
    for ax, rec in zip(axes, recs, strict=True):
        n = len(rec.seeds)
        marker = "o" if len(rec.epochs) <= 3 else None
        if band:
            for row in rec.values:
                ax.plot(rec.epochs, 100 * row, color="0.55", lw=0.8, alpha=0.5, marker=marker,
                        ms=3)
            ax.plot([], [], color="0.55", lw=0.8, label=f"each run (n={n})")
            ci_label = f"{100 * rec.confidence:g}% CI of the mean"
            if n >= 2 and len(rec.epochs) == 1:  # a band needs two epochs: draw a bar
                ax.errorbar(rec.epochs, 100 * rec.mean,
                            yerr=[100 * (rec.mean - rec.ci_low), 100 * (rec.ci_high - rec.mean)],
                            color=OKABE_ITO[0], alpha=0.5, lw=6, capsize=0, ls="none",
                            label=ci_label)
            elif n >= 2:
                ax.fill_between(rec.epochs, 100 * rec.ci_low, 100 * rec.ci_high,
                                color=OKABE_ITO[0], alpha=0.25, lw=0, label=ci_label)
            ax.plot(rec.epochs, 100 * rec.mean, color=OKABE_ITO[0], lw=2.2, marker=marker,
                    label="mean")
            _clamp_percent(ax, rec.values, rec.ci_low, rec.ci_high)
        else:
            colours = line_colours(n)
            for row, seed, c in zip(rec.values, rec.seeds, colours, strict=True):
                ax.plot(rec.epochs, 100 * row, color=c, lw=1.3, marker=marker, ms=4,
                        label=f"seed {seed}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(_axis_label(rec.split, rec.metric))
        ax.set_title(rec.title, fontsize=10)
        ax.grid(alpha=0.3)
        _epoch_axis(ax, rec.epochs)
        if band or n <= 10:
            ax.legend(fontsize=7, ncol=2 if (not band and n > 5) else 1,
                      title=None if band else "run")
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return fig


# --------------------------------------------------------- final metric vs a parameter


@dataclass(frozen=True, eq=False)
class FinalSeries:
    """Final-epoch metric per parameter value: mean and t-interval over seeds."""

    n: tuple[int, ...]  # runs per value (0 = none yet)
    mean: np.ndarray  # (k,) nan where n == 0
    ci_low: np.ndarray  # (k,) nan where n < 2
    ci_high: np.ndarray  # (k,)
    std: np.ndarray  # (k,) sample std, nan where n < 2


def _final_series(groups: Sequence[Finals], split: str, metric: str) -> FinalSeries:
    ns, mean, low, high, std = [], [], [], [], []
    for group in groups:
        s = group[1 + SPLITS.index(split)]
        ns.append(s.n if s is not None else 0)
        if s is not None:
            m, lo, hi = _in_metric(s, metric)
            mean.append(m)
            low.append(lo)
            high.append(hi)
            std.append(s.std)
        else:
            mean.append(math.nan)
            low.append(math.nan)
            high.append(math.nan)
            std.append(math.nan)
    return FinalSeries(tuple(ns), _readonly(mean), _readonly(low), _readonly(high),
                       _readonly(std))


@dataclass(frozen=True, eq=False)
class ParamSweep:
    """Final training and test metric against one swept parameter."""

    title: str  # figure title
    param: str  # axis name, e.g. "width"
    scale: str  # "linear", "log2" or "category"
    labels: tuple[str, ...]  # value labels in sweep order
    x: np.ndarray  # (k,) positions: the values for numeric axes, else 0..k-1
    numeric: bool  # whether x are the parameter's own values
    metric: str  # "accuracy" or "error"
    train: FinalSeries  # final training metric
    test: FinalSeries  # final test metric
    confidence: float = 0.95


def param_sweep(groups: Sequence[Finals], param: str, scale: str = "category",
                metric: str = "accuracy", title: str = "") -> ParamSweep:
    """Mean final metric (train and test) per value of one parameter, with t-intervals.

    Args:
        groups: (value label, final train-accuracy Summary, final test-accuracy Summary)
            in sweep order: the view's ``summary("train_acc")``, ``summary("test_acc")``;
            None where a value has no runs yet.
        scale: "log2" and "linear" place values at their numbers, "category" evenly.
    """
    _check("metric", metric, METRICS)
    labels = tuple(g[0] for g in groups)
    x, numeric = _axis_numbers(labels, scale)
    title = title or f"Final {metric} against {param}"
    confidence = next((s.confidence for g in groups for s in g[1:] if s is not None), 0.95)
    return ParamSweep(title, param, scale, labels, _readonly(x), numeric, metric,
                      _final_series(groups, "train", metric),
                      _final_series(groups, "test", metric), confidence)


def draw_param_sweep(rec: ParamSweep, splits: Sequence[str] = SPLITS) -> Figure:
    fig = Figure(figsize=(5.2 * len(splits), 3.8))
    axes = fig.subplots(1, len(splits), squeeze=False)[0]
    for ax, split, colour in zip(axes, splits, (OKABE_ITO[0], OKABE_ITO[1]), strict=False):
        series: FinalSeries = getattr(rec, split)
        ok = np.array(series.n) > 0
        y = 100 * series.mean
        lo = np.where(np.isnan(series.ci_low), series.mean, series.ci_low)
        hi = np.where(np.isnan(series.ci_high), series.mean, series.ci_high)
        yerr = 100 * np.vstack([series.mean - lo, hi - series.mean])
        ax.errorbar(rec.x[ok], y[ok], yerr=yerr[:, ok], color=colour, marker="o", capsize=4,
                    lw=1.6, label=f"mean over seeds, {100 * rec.confidence:g}% CI")
        if rec.scale == "log2" and rec.numeric:
            ax.set_xscale("log", base=2)
        ax.set_xticks(rec.x, rec.labels)
        ax.minorticks_off()
        ax.set_xlabel(rec.param)
        ax.set_ylabel(f"final {_axis_label(split, rec.metric)}")
        ns = sorted({n for n in series.n if n})
        nt = f"n={ns[0]}" if len(ns) == 1 else f"n={ns[0]}-{ns[-1]}" if ns else "no runs"
        ax.set_title(f"Final {_SPLIT_NAME[split]} {rec.metric} vs {rec.param} ({nt} per point)",
                     fontsize=10)
        _clamp_percent(ax, series.mean, series.ci_low, series.ci_high)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(rec.title, fontsize=11)
    fig.tight_layout()
    return fig


# -------------------------------------------------------- one line per parameter value


@dataclass(frozen=True, eq=False)
class CurvesByValue:
    """Mean per-epoch metric, one line per value of a parameter, with t-bands."""

    title: str  # figure title
    param: str  # axis name, e.g. "depth"
    split: str  # "train" or "test"
    metric: str  # "accuracy" or "error"
    labels: tuple[str, ...]  # value labels with runs, in sweep order
    n: tuple[int, ...]  # runs per value
    epochs: np.ndarray  # (E,) epochs 1..E (shortest common length)
    mean: np.ndarray  # (k, E)
    ci_low: np.ndarray  # (k, E) nan where n < 2
    ci_high: np.ndarray  # (k, E)
    confidence: float = 0.95


def curves_by_value(groups: Sequence[Curves], param: str, split: str = "test",
                    metric: str = "accuracy", title: str = "") -> CurvesByValue:
    """Per value of ``param``: the mean curve over its runs and a t-band, from the
    view's ``curve(f"{split}_acc")`` of each value (cut to the epochs every value's runs
    reached). Values without trained epochs are left out.

    Raises:
        ValueError: no value has runs.
    """
    _check("split", split, SPLITS)
    _check("metric", metric, METRICS)
    kept = [(label, dict(curve)) for label, curve in groups
            if any(e >= 1 for e, _ in curve)]
    if not kept:
        raise ValueError("no value of the parameter has runs")
    # the epochs every run reached: each value's runs all count at its first epoch
    length = min(max(e for e, s in c.items() if s.n == c[1].n) for _, c in kept)
    sums = [_curve_epochs(c.items(), length, c[1].n) for _, c in kept]
    lines = [list(zip(*(_in_metric(s, metric) for s in ss), strict=True)) for ss in sums]
    title = title or f"Mean {_SPLIT_NAME[split]} {metric} per epoch, one line per {param}"
    return CurvesByValue(
        title, param, split, metric, tuple(label for label, _ in kept),
        tuple(c[1].n for _, c in kept), _readonly(np.arange(1, length + 1)),
        _readonly([m for m, _, _ in lines]), _readonly([lo for _, lo, _ in lines]),
        _readonly([hi for _, _, hi in lines]), sums[0][0].confidence)


def draw_curves_by_value(rec: CurvesByValue) -> Figure:
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    marker = "o" if len(rec.epochs) <= 3 else None
    for i, (label, c) in enumerate(zip(rec.labels, line_colours(len(rec.labels)),
                                       strict=True)):
        if rec.n[i] >= 2:
            ax.fill_between(rec.epochs, 100 * rec.ci_low[i], 100 * rec.ci_high[i], color=c,
                            alpha=0.15, lw=0)
        ax.plot(rec.epochs, 100 * rec.mean[i], color=c, lw=1.8, marker=marker,
                label=f"{label} (n={rec.n[i]})")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"mean {_axis_label(rec.split, rec.metric)}")
    ax.set_title(f"{rec.title}\nbands: {100 * rec.confidence:g}% CI of the mean over seeds",
                 fontsize=10)
    ax.grid(alpha=0.3)
    _epoch_axis(ax, rec.epochs)
    _clamp_percent(ax, rec.mean, rec.ci_low, rec.ci_high)
    ax.legend(title=rec.param, fontsize=8, title_fontsize=9, loc="center left",
              bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ 2-D grid heat map


@dataclass(frozen=True, eq=False)
class GridHeatmap:
    """Mean final metric over a 2-D grid of two swept parameters."""

    title: str  # figure title
    row_param: str  # parameter along the rows (y)
    col_param: str  # parameter along the columns (x)
    row_labels: tuple[str, ...]
    col_labels: tuple[str, ...]
    split: str  # "train" or "test"
    metric: str  # "accuracy" or "error"
    mean: np.ndarray  # (rows, cols), nan where a cell has no runs
    std: np.ndarray  # (rows, cols), nan where n < 2
    n: np.ndarray  # (rows, cols) runs per cell
    best: tuple[int, int] | None  # (row, col) of the best mean (highest accuracy, lowest error)


def grid_heatmap(cells: Mapping[tuple[str, str], Any], row_param: str,
                 col_param: str, row_labels: Sequence[str], col_labels: Sequence[str],
                 split: str = "test", metric: str = "accuracy", title: str = "") -> GridHeatmap:
    """Mean final metric per (row value, column value) cell; the best cell marked.

    ``cells``: (row label, column label) -> the view's final ``summary(f"{split}_acc")``
    of that config (None or absent: no runs yet)."""
    _check("split", split, SPLITS)
    _check("metric", metric, METRICS)
    mean = np.full((len(row_labels), len(col_labels)), np.nan)
    std = mean.copy()
    n = np.zeros(mean.shape, dtype=int)
    for i, r in enumerate(row_labels):
        for j, c in enumerate(col_labels):
            s = cells.get((r, c))
            if s is not None:
                mean[i, j], std[i, j], n[i, j] = _in_metric(s, metric)[0], s.std, s.n
    best = None
    if np.any(~np.isnan(mean)):
        pick = np.nanargmax(mean) if metric == "accuracy" else np.nanargmin(mean)
        best = tuple(int(v) for v in np.unravel_index(pick, mean.shape))
    title = title or f"Mean final {_SPLIT_NAME[split]} {metric}: {row_param} x {col_param}"
    n.setflags(write=False)
    return GridHeatmap(title, row_param, col_param, tuple(row_labels), tuple(col_labels), split,
                       metric, _readonly(mean), _readonly(std), n, best)


def draw_heatmap(rec: GridHeatmap) -> Figure:
    fig = Figure(figsize=(1.2 * len(rec.col_labels) + 3.0, 0.9 * len(rec.row_labels) + 1.8))
    ax = fig.add_subplot(1, 1, 1)
    data = 100 * rec.mean
    im = ax.imshow(np.ma.masked_invalid(data), cmap="cividis", aspect="auto")
    fig.colorbar(im, ax=ax, label=f"mean final {_axis_label(rec.split, rec.metric)}")
    lo, hi = (np.nanmin(data), np.nanmax(data)) if np.any(~np.isnan(data)) else (0, 1)
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            if np.isnan(data[i, j]):
                ax.text(j, i, "no runs", ha="center", va="center", fontsize=7, color="0.4")
                continue
            light = (data[i, j] - lo) / (hi - lo + 1e-12) > 0.6
            sd = f"\n±{100 * rec.std[i, j]:.1f}" if not np.isnan(rec.std[i, j]) else ""
            ax.text(j, i, f"{data[i, j]:.1f}{sd}", ha="center", va="center", fontsize=8,
                    color="black" if light else "white")
    if rec.best is not None:
        bi, bj = rec.best
        ax.add_patch(Rectangle((bj - 0.5, bi - 0.5), 1, 1, fill=False,
                                                  edgecolor=OKABE_ITO[1], lw=3))
    ax.set_xticks(range(len(rec.col_labels)), rec.col_labels)
    ax.set_yticks(range(len(rec.row_labels)), rec.row_labels)
    ax.set_xlabel(rec.col_param)
    ax.set_ylabel(rec.row_param)
    ns = sorted({int(v) for v in rec.n.ravel() if v})
    nt = (f"n={ns[0]}" if len(ns) == 1 else f"n={ns[0]}-{ns[-1]}") if ns else "no runs"
    ax.set_title(f"{rec.title}\nmean ± std over seeds ({nt} per cell); "
                 "outlined: best mean", fontsize=10)
    fig.tight_layout()
    return fig


# -------------------------------------------------------------- confusion matrices


@dataclass(frozen=True, eq=False)
class ConfusionPlot:
    """A confusion matrix: counts of one run, or row-normalised rates averaged over seeds."""

    title: str  # figure title
    class_names: tuple[str, ...]  # tick labels
    values: np.ndarray  # (k, k) counts, or mean rates; rows = true, columns = predicted
    std: np.ndarray | None  # (k, k) std of the rate over seeds (averaged form only)
    normalised: bool  # True: rates per true class; False: counts
    n_seeds: int  # matrices behind it


def confusion_counts(run: RunResult, class_names: Sequence[str],
                     title: str = "") -> ConfusionPlot:
    """One run's test-set confusion matrix as counts."""
    m = np.asarray(run.confusion, dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] != len(class_names):
        raise ValueError(f"confusion matrix has shape {m.shape}; expected "
                         f"({len(class_names)}, {len(class_names)})")
    return ConfusionPlot(title or f"Test-set confusion matrix (counts, seed {run.seed})",
                         tuple(class_names), _readonly(m), None, False, 1)


def confusion_rates(avg: stats.AveragedConfusion, class_names: Sequence[str],
                    title: str = "") -> ConfusionPlot:
    """Row-normalised confusion averaged over seeds (a view's ``confusion``)."""
    if avg.n_classes != len(class_names):
        raise ValueError(f"confusion matrices are {avg.n_classes}x{avg.n_classes}; "
                         f"{len(class_names)} class names given")
    title = title or f"Test-set confusion, rate per true class, mean over {avg.n_seeds} seeds"
    return ConfusionPlot(title, tuple(class_names), _readonly(avg.mean),
                         None if avg.n_seeds < 2 else _readonly(avg.std), True,
                         avg.n_seeds)


def draw_confusion(rec: ConfusionPlot) -> Figure:
    k = len(rec.class_names)
    long_names = max(len(c) for c in rec.class_names) > 2
    size = 0.5 * k + 1.6 if rec.std is None else 0.62 * k + 1.6
    fig = Figure(figsize=(size + 1.0, size))
    ax = fig.add_subplot(1, 1, 1)
    vals = rec.values * (100 if rec.normalised else 1)
    im = ax.imshow(vals, cmap="viridis", vmin=0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04,
                 label="% of the true class" if rec.normalised else "test images")
    top = np.nanmax(vals) if vals.size else 1.0
    for i in range(k):
        for j in range(k):
            v = vals[i, j]
            if np.isnan(v):
                continue
            text = f"{v:.0f}" if not rec.normalised else f"{v:.1f}"
            if rec.std is not None and not np.isnan(rec.std[i, j]) and v > 0:
                text += f"\n±{100 * rec.std[i, j]:.1f}"
            ax.text(j, i, text, ha="center", va="center",
                    fontsize=6 if rec.std is not None else 7,
                    color="black" if v > 0.6 * top else "white")
    ax.set_xticks(range(k), rec.class_names, rotation=45 if long_names else 0,
                  ha="right" if long_names else "center")
    ax.set_yticks(range(k), rec.class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(rec.title, fontsize=10)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------- per-example outcomes


@dataclass(frozen=True, eq=False)
class EnsemblePlot:
    """Majority-vote accuracy against the number of seeds voting, one line per config."""

    title: str
    labels: tuple[str, ...]  # one per config
    sizes: tuple[tuple[int, ...], ...]  # N = 1..K per config
    accuracy: tuple[tuple[float, ...], ...]  # mean vote accuracy per N (fractions)
    low: tuple[tuple[float, ...], ...]  # least and most over the subsets of N seeds
    high: tuple[tuple[float, ...], ...]


def ensemble_plot(curves: Sequence[tuple[str, object]], title: str) -> EnsemblePlot:
    """From (label, sweeplab.analysis.outcomes.EnsembleCurve) pairs."""
    return EnsemblePlot(title, tuple(lab for lab, _ in curves),
                        *(tuple(tuple(getattr(c, f)) for _, c in curves)
                          for f in ("sizes", "accuracy", "low", "high")))


def draw_ensemble(rec: EnsemblePlot) -> Figure:
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    for lab, n, acc, lo, hi, c in zip(rec.labels, rec.sizes, rec.accuracy, rec.low, rec.high,
                                      line_colours(len(rec.labels)), strict=True):
        ax.fill_between(n, 100 * np.asarray(lo), 100 * np.asarray(hi), color=c, alpha=0.15,
                        lw=0)
        ax.plot(n, 100 * np.asarray(acc), color=c, lw=1.8, marker="o", label=lab)
    ax.set_xlabel("seeds voting (N)")
    ax.set_ylabel("majority-vote test accuracy (%)")
    ax.set_title(f"{rec.title}\nN = 1: the mean single seed; band: least to most over "
                 "subsets of N seeds", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


@dataclass(frozen=True, eq=False)
class ExampleGrid:
    """Test examples with a caption each (label and the seeds' votes)."""

    title: str
    images: np.ndarray  # (n, H, W, C) floats in [0, 1]
    captions: tuple[str, ...]  # one per image


def draw_examples(rec: ExampleGrid) -> Figure:
    fig = _image_grid(rec.images, rec.captions, min(len(rec.captions), 6), (1.9, 2.0), 0.5, 7)
    fig.suptitle(rec.title, fontsize=10)
    fig.tight_layout()
    return fig


def draw_score_distribution(rec: ScoreDistribution) -> Figure:
    """Step curves with their bootstrap bands (a matplotlib Figure)."""
    fig = Figure(figsize=(6.4, 3.9))
    ax = fig.subplots()
    colours = line_colours(len(rec.labels))
    x = 100 * rec.thresholds
    for i, label in enumerate(rec.labels):
        c = colours[i]
        ax.fill_between(x, rec.low[i], rec.high[i], step="post", color=c, alpha=0.18, lw=0)
        ax.step(x, rec.share[i], where="post", color=c, lw=1.8,
                label=f"{label} (n={rec.n[i]})")
    ax.set_xlabel("final test accuracy (%)")
    ax.set_ylabel("share of runs at or above")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(f"{rec.title} ({100 * rec.confidence:g}% bootstrap band)", fontsize=10)
    fig.tight_layout()
    return fig
