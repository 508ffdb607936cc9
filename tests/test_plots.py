"""Plot records from known stored numbers (values, not images), and that drawing works."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import stats as st

from sweeplab import plots
from sweeplab.readout import ConfigView
from sweeplab.results import EpochRecord, RunResult


def make_run(seed: int, test_acc, train_acc=None, confusion=None, h: str = "abc",
             probe=((0.1,) * 10, (0.0,) * 10)) -> RunResult:
    """A run with given per-epoch accuracies (epochs 1..E); epoch 0 at 10%."""
    train_acc = train_acc if train_acc is not None else [a - 0.01 for a in test_acc]
    epochs = [EpochRecord(0, test_loss=2.3, test_acc=0.1)]
    epochs += [EpochRecord(i + 1, test_loss=1.0 / (i + 1), test_acc=te, train_loss=2.0 / (i + 1),
                           train_acc=tr)
               for i, (te, tr) in enumerate(zip(test_acc, train_acc, strict=True))]
    conf = np.eye(3, dtype=np.int64) * 10 if confusion is None else np.asarray(confusion)
    return RunResult(h, seed, "reference", tuple(epochs), conf, probe[0], probe[1], 1.0)


RUNS = [make_run(0, [0.5, 0.7, 0.80]), make_run(1, [0.4, 0.6, 0.90]),
        make_run(2, [0.6, 0.8, 0.85])]


def view(runs) -> ConfigView:
    """The readout view of ``runs``: the numbers a plot is given are its."""
    return ConfigView(None, "abc", "abc", {}, {}, {}, None, tuple(runs), None)


def curve(runs, split: str = "test"):
    return view(runs).curve(f"{split}_acc")


def finals(label: str, runs):
    v = view(runs)
    return label, v.summary("train_acc"), v.summary("test_acc")


def t_interval(values):
    x = np.asarray(values, float)
    half = st.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return x.mean() - half, x.mean() + half


def test_metric_values_error_is_one_minus_accuracy_and_skips_epoch0():
    np.testing.assert_allclose(plots.metric_values(RUNS[0], "test"), [0.5, 0.7, 0.8])
    np.testing.assert_allclose(plots.metric_values(RUNS[0], "test", "error"), [0.5, 0.3, 0.2])
    np.testing.assert_allclose(plots.metric_values(RUNS[0], "train"), [0.49, 0.69, 0.79])
    with pytest.raises(ValueError, match="split must be one of train, test"):
        plots.metric_values(RUNS[0], "valid")


def test_final_values_by_seed():
    assert plots.final_values(RUNS) == {0: 0.80, 1: 0.90, 2: 0.85}


def test_run_curves_mean_and_t_band_over_seeds():
    rec = plots.run_curves(RUNS, "test", "error", curve=curve(RUNS))
    assert rec.seeds == (0, 1, 2)
    np.testing.assert_array_equal(rec.epochs, [1, 2, 3])
    np.testing.assert_allclose(rec.values[1], [0.6, 0.4, 0.1])
    np.testing.assert_allclose(rec.mean, [0.5, 0.3, 0.15])
    lo, hi = t_interval([0.2, 0.1, 0.15])
    assert rec.ci_low[-1] == pytest.approx(lo)
    assert rec.ci_high[-1] == pytest.approx(hi)
    single = plots.run_curves(RUNS[:1], "train", curve=curve(RUNS[:1], "train"))
    assert np.all(np.isnan(single.ci_low))  # one run: no interval, never a zero-width one
    fig = plots.draw_run_curves([rec, plots.run_curves(RUNS, "train", curve=curve(RUNS, "train"))],
                                band=True)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert fig.axes[0].get_ylabel() == "test error (%)"
    assert plots.to_png(fig)[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_curves_cut_to_common_length():
    runs = [RUNS[0], make_run(5, [0.3, 0.5])]
    rec = plots.run_curves(runs, curve=curve(runs))
    assert rec.values.shape == (2, 2)
    np.testing.assert_allclose(rec.mean, [0.4, 0.6])
    with pytest.raises(ValueError, match="curve has a summary of 3 runs at epoch 1; expected"):
        plots.run_curves(runs, curve=curve(RUNS))  # a curve of other runs is refused


def test_param_sweep_log2_positions_and_empty_value():
    groups = [finals("2", RUNS[:2]), finals("8", RUNS), finals("32", [])]
    rec = plots.param_sweep(groups, "width", "log2")
    assert rec.numeric and list(rec.x) == [2.0, 8.0, 32.0]
    assert rec.test.n == (2, 3, 0)
    assert rec.test.mean[0] == pytest.approx(0.85)
    assert rec.test.mean[1] == pytest.approx(0.85)
    assert math.isnan(rec.test.mean[2])
    lo, hi = t_interval([0.80, 0.90, 0.85])
    assert (rec.test.ci_low[1], rec.test.ci_high[1]) == (pytest.approx(lo), pytest.approx(hi))
    assert rec.train.mean[1] == pytest.approx(0.84)
    fig = plots.draw_param_sweep(rec)
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_xlabel() == "width"
    assert "final training accuracy (%)" == fig.axes[0].get_ylabel()


def test_param_sweep_category_axis_uses_positions():
    rec = plots.param_sweep([finals("relu", RUNS), finals("tanh", RUNS)], "activation", "log2")
    assert not rec.numeric and list(rec.x) == [0.0, 1.0]


def test_curves_by_value_drops_values_without_runs():
    rec = plots.curves_by_value([("0", curve(RUNS[:2])), ("1", curve([])), ("2", curve(RUNS))],
                                "depth")
    assert rec.labels == ("0", "2") and rec.n == (2, 3)
    np.testing.assert_allclose(rec.mean[0], [0.45, 0.65, 0.85])
    lo, hi = t_interval([0.5, 0.4])  # 2 runs: -0.185 .. 1.085, past what accuracy can be
    assert lo < 0 and rec.ci_low[0][0] == 0.0  # the band is clipped to [0, 1]
    assert rec.ci_high[0][0] == pytest.approx(min(hi, 1.0))
    fig = plots.draw_curves_by_value(rec)
    assert fig.axes[0].get_legend().get_title().get_text() == "depth"
    with pytest.raises(ValueError, match="no value"):
        plots.curves_by_value([("0", curve([]))], "depth")


def test_grid_heatmap_best_cell_and_missing_cells():
    hi = [make_run(s, [0.95]) for s in range(2)]
    lo = [make_run(s, [0.5 + 0.1 * s]) for s in range(2)]
    cells = {("8", "8"): view(lo).summary("test_acc"), ("8", "32"): view(hi).summary("test_acc")}
    rec = plots.grid_heatmap(cells, "w1", "w2", ["8", "32"], ["8", "32"])
    assert rec.best == (0, 1)
    assert rec.mean[0, 0] == pytest.approx(0.55)
    assert rec.std[0, 0] == pytest.approx(np.std([0.5, 0.6], ddof=1))
    assert np.isnan(rec.mean[1, 0]) and rec.n[1, 1] == 0
    err = plots.grid_heatmap(cells, "w1", "w2", ["8"], ["8", "32"], metric="error")
    assert err.best == (0, 1)  # lowest error is the same best cell
    fig = plots.draw_heatmap(rec)
    assert fig.axes[0].get_xlabel() == "w2" and fig.axes[0].get_ylabel() == "w1"


def test_confusion_counts_and_seed_averaged_rates():
    a = make_run(0, [0.8], confusion=[[8, 2, 0], [0, 10, 0], [0, 5, 5]])
    b = make_run(1, [0.8], confusion=[[6, 4, 0], [0, 10, 0], [0, 5, 5]])
    rec = plots.confusion_counts(a, ("x", "y", "z"))
    assert not rec.normalised and rec.values[2, 1] == 5
    v = view([a, b])
    assert v.confusion is v.confusion  # computed once per view
    rates = plots.confusion_rates(v.confusion, ("x", "y", "z"))
    assert rates.values[0, 1] == pytest.approx(0.3)
    assert rates.std[0, 1] == pytest.approx(np.std([0.2, 0.4], ddof=1))
    assert rates.n_seeds == 2
    fig = plots.draw_confusion(rec)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted", "true")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y", "z"]
    with pytest.raises(ValueError, match="expected"):
        plots.confusion_counts(a, ("x", "y"))


def test_probe_outputs_argmax_and_twin_curves():
    run = make_run(3, [0.5, 0.9], probe=((0.1, 0.5, 0.2), (0.0, 0.1, 0.9)))
    rec = plots.probe_outputs(run, ("a", "b", "c"), true_label=2)
    assert (rec.predicted_untrained, rec.predicted_trained) == (1, 2)
    assert isinstance(plots.draw_probe(rec), Figure)
    tw = plots.twin_curves(run)
    np.testing.assert_allclose(tw.test_acc, [0.5, 0.9])
    np.testing.assert_allclose(tw.train_loss, [2.0, 1.0])
    fig = plots.draw_twin_curves(tw)
    assert len(fig.axes) == 4  # two panels, each with a twin y-axis
    with pytest.raises(ValueError, match="no probe"):
        plots.probe_outputs(make_run(0, [0.5], probe=((), ())), ("a",))


def test_first_images_labels_use_class_names():
    ds = SimpleNamespace(name="toy", x_train=np.zeros((12, 4, 4, 3)),
                         y_train=np.array([1, 0, 2] * 4), class_names=("cat", "dog", "frog"))
    rec = plots.first_images(ds)
    assert rec.images.shape == (10, 4, 4, 3)
    assert rec.names[:3] == ("dog", "cat", "frog") and rec.labels[:3] == (1, 0, 2)
    fig = plots.draw_images(rec)
    assert fig.axes[0].get_title() == "dog (1)"
