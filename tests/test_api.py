"""The Python API on real (tiny) trainings: DataFrames against the store, the CLI against the
API, resumption, saved models against the stored confusion matrices, Study round-trips,
progress output, the README's Python example."""

from __future__ import annotations

import dataclasses
import io
import math
import os
import pty
import re
import select
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import sweeplab
from sweeplab import cli
from sweeplab import data as data_mod
from sweeplab import study as st
from sweeplab.analysis import stats
from sweeplab.progress import Progress
from sweeplab.results import confusion_matrix
from sweeplab.saved_models import ModelError
from sweeplab.store import Store

ROOT = Path(__file__).resolve().parents[1]
SUBSET = 300
WIDTHS = (4, 16)


def _study(seeds=2) -> sweeplab.Study:
    return sweeplab.Study.build(
        "tiny", model="mlp-softmax-ce", dataset="mnist", seeds=seeds, epochs=2, subset=SUBSET,
        axes=[sweeplab.Axis("width", "layers.1.units", WIDTHS, scale="log2")])


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    """One tiny study (2 widths x 2 seeds x 2 epochs, 300 images) trained with saved models."""
    db = tmp_path_factory.mktemp("api") / "s.db"
    res = sweeplab.run(_study(), store=db, data_dir=data_dir, engine="reference",
                       progress=False, save_models=True)
    return res


def _store_runs(db):
    with Store(db, readonly=True) as store:
        return {(c.label, r.seed): r for c in store.study_configs("tiny")
                for r in store.results(c.config_hash)}


def test_run_returns_results_and_what_it_did(trained):
    assert isinstance(trained, sweeplab.Results)
    assert (trained.last.total, trained.last.trained, trained.last.skipped) == (4, 4, 0)
    df = trained.studies()
    assert df.to_dict("records") == [{
        "study": "tiny", "title": "", "dataset": "mnist", "configs": 2, "seeds": 2,
        "epochs": 2, "subset": SUBSET, "runs_done": 4, "runs_total": 4}]
    assert trained.study("tiny") == _study()


def test_runs_frame_is_the_store(trained):
    df = trained.runs("tiny")
    runs = _store_runs(trained.path)
    assert len(df) == len(runs) == 4
    assert list(df.columns[:4]) == ["study", "config", "config_hash", "width"]
    for row in df.itertuples():
        r = runs[(row.config, row.seed)]
        assert row.width == int(row.config.split("=")[1])  # the axis value, as a number
        assert (row.config_hash, row.epochs) == (r.config_hash, 2)
        assert (row.test_acc, row.test_loss) == (r.final.test_acc, r.final.test_loss)
        assert (row.train_acc, row.train_loss) == (r.final.train_acc, r.final.train_loss)
        assert (row.engine, row.backend, row.device) == ("reference", r.backend, r.device)
        assert row.model_path == r.model_path == f"s_models/{r.config_hash[:12]}/seed{r.seed}.keras"
    # selection by config, three spellings
    for sel in (dict(study="tiny", config="width=16"), dict(config="tiny:width=16"),
                dict(config=runs[("width=16", 0)].config_hash[:8])):
        assert sorted(trained.runs(**sel)["test_acc"]) == sorted(
            r.final.test_acc for (lab, _), r in runs.items() if lab == "width=16")


def test_epochs_frame_is_the_store(trained):
    df = trained.epochs("tiny")
    runs = _store_runs(trained.path)
    assert len(df) == 4 * 3  # epoch 0 (untrained) + 2 per run
    for row in df.itertuples():
        e = runs[(row.config, row.seed)].epochs[row.epoch]
        assert (row.test_acc, row.test_loss) == (e.test_acc, e.test_loss)
        if row.epoch == 0:
            assert math.isnan(row.train_acc) and math.isnan(row.train_loss)
        else:
            assert (row.train_acc, row.train_loss) == (e.train_acc, e.train_loss)


def test_summary_is_stats_over_the_store(trained):
    df = trained.summary("tiny")
    runs = _store_runs(trained.path)
    # 2 configs x (3 epochs x 2 test metrics + 2 epochs x 2 train metrics)
    assert len(df) == 2 * (3 * 2 + 2 * 2)
    for row in df.itertuples():
        vals = [getattr(r.epochs[row.epoch], row.metric) for (lab, _), r in runs.items()
                if lab == row.config]
        bounds = (0.0, 1.0) if row.metric.endswith("acc") else (0.0, math.inf)
        s = stats.summarize(vals, n_boot=0, bounds=bounds)
        assert (row.n, row.mean, row.ci_low, row.ci_high) == (2, s.mean, s.ci_low, s.ci_high)
        assert row.std == s.std
    final = trained.final("tiny", metrics=["test_acc"])
    assert list(final["epoch"]) == [2, 2] and list(final["config"]) == ["width=4", "width=16"]


def test_final_is_the_views_summary_without_a_diverged_run(trained, tmp_path):
    """A diverged run's loss (stored as inf) is left out of the final summary, as it is of
    the per-epoch one: final is summary's last epoch, n counting the finite runs."""
    db = tmp_path / "diverged.db"
    with sqlite3.connect(trained.path) as a, sqlite3.connect(db) as b:
        a.backup(b)
    run = _store_runs(db)[("width=16", 1)]
    *before, last = run.epochs
    with sqlite3.connect(db) as con:  # the run taken out, then stored again diverged
        con.execute("DELETE FROM epochs WHERE run_id IN (SELECT id FROM runs WHERE "
                    "config_hash = ? AND seed = 1)", (run.config_hash,))
        con.execute("DELETE FROM runs WHERE config_hash = ? AND seed = 1", (run.config_hash,))
    with Store(db) as store:
        store.finish_run(dataclasses.replace(run, epochs=(
            *before, dataclasses.replace(last, test_loss=math.nan))), {})
    res = sweeplab.open(db)
    final = res.final("tiny", metrics=["test_loss"]).set_index("config")
    last = res.summary("tiny", metrics=["test_loss"]).query("epoch == 2").set_index("config")
    assert final.equals(last)
    kept = _store_runs(db)[("width=16", 0)].final.test_loss
    assert (final.loc["width=16", "n"], final.loc["width=16", "mean"]) == (1, kept)
    assert final.loc["width=4", "n"] == 2 and res.runs("tiny")["seed"].size == 4


def test_cli_and_api_give_the_same_numbers(trained, run_cli):
    db = str(trained.path)
    # show: per-epoch mean +- std, in percent with 2 decimals for accuracies
    rc, text, err = run_cli("show", "tiny:width=16", "--store", db)
    assert rc == 0, err
    summ = trained.summary("tiny", config="width=16").set_index(["epoch", "metric"])
    rows = [line.split() for line in text.splitlines() if re.match(r"\s+\d+\s", line)]
    assert [int(r[0]) for r in rows] == [0, 1, 2]
    for r in rows[1:]:
        e = int(r[0])
        pairs = re.findall(r"(-?\d+\.\d+) \+- (\d+\.\d+)", " ".join(r[1:]))
        for (mean, sd), metric in zip(pairs, ("train_loss", "train_acc", "test_loss",
                                              "test_acc"), strict=True):
            scale, d = (100, 2) if metric.endswith("acc") else (1, 4)
            assert mean == f"{scale * summ.loc[(e, metric), 'mean']:.{d}f}"
            assert sd == f"{scale * summ.loc[(e, metric), 'std']:.{d}f}"
    # Seeds or test set? Once, by the split's test (the runs kept their predictions).
    assert "test set vs distribution: " in text and "test-set noise:" not in text
    # compare: the same object the API returns
    rc, text, err = run_cli("compare", "tiny:width=4", "tiny:width=16", "--store", db)
    assert rc == 0, err
    c = trained.compare("tiny:width=4", "tiny:width=16")
    assert f"{100 * c.summary_a.mean:.3f}" in text and f"{100 * c.summary_b.mean:.3f}" in text
    assert re.search(r"mean difference\s+(\S+)", text)[1] == f"{100 * c.comparison.diff:+.3f}"
    assert c.text in text and c.selected == ""  # a grid: no race selected on its seeds
    assert c.comparison.diff == pytest.approx(c.summary_b.mean - c.summary_a.mean, abs=1e-12)


def test_resuming_trains_nothing_twice(trained, data_dir, tmp_path):
    db = tmp_path / "s.db"
    shutil.copy(trained.path, db)
    again = sweeplab.run(_study(), store=db, data_dir=data_dir, engine="reference",
                         progress=False)
    assert (again.last.trained, again.last.skipped) == (0, 4)
    with sqlite3.connect(db) as con:
        before = con.execute("SELECT config_hash, seed, finished_at FROM runs").fetchall()
    more = sweeplab.run(_study(), seeds=3, store=db, data_dir=data_dir, engine="reference",
                        progress=False)
    assert (more.last.trained, more.last.skipped) == (2, 4)  # seed 2 of each config only
    with sqlite3.connect(db) as con:
        after = con.execute("SELECT config_hash, seed, finished_at FROM runs").fetchall()
    assert set(before) <= set(after) and len(after) == 6  # the first four untouched
    assert sorted(more.runs("tiny")["seed"]) == [0, 0, 1, 1, 2, 2]


def test_saved_model_predicts_the_stored_confusion(trained, data_dir):
    """The reloaded .keras model on the same test images gives the run's stored confusion
    matrix exactly: same weights, same inputs, same CPU kernels, so the same argmax."""
    data = data_mod.load("mnist", data_dir, SUBSET)
    for row in trained.runs("tiny").itertuples():
        ref = f"tiny:{row.config}"
        outputs = trained.predict(ref, row.seed, data.x_test)
        conf = confusion_matrix(data.y_test, outputs.argmax(axis=1), 10)
        stored = trained.confusion(ref, seed=row.seed)
        np.testing.assert_array_equal(conf, stored.to_numpy())
        assert np.trace(conf) / len(data.y_test) == pytest.approx(row.test_acc, abs=1e-6)
    # the seed-averaged confusion is stats.average_confusion of the stored matrices
    runs = _store_runs(trained.path)
    avg = stats.average_confusion([runs[("width=16", s)].confusion for s in (0, 1)])
    np.testing.assert_array_equal(trained.confusion("tiny:width=16").to_numpy(), avg.mean)


def test_fast_engine_models_saved_from_its_weights_predict_its_confusion(tmp_path, data_dir):
    """The fast engine trains several seeds in one program and evaluates them there; the
    model rebuilt from its per-run weights must still give each run's stored confusion.
    Its evaluation sums in another order than Keras' predict, so outputs may differ in the
    last float32 bits; an argmax flips only on a near-exact tie between two classes, which
    these 300 images do not have (the check is deterministic: same data, same seeds)."""
    study = sweeplab.Study.build("f", model="mlp-softmax-ce", seeds=2, epochs=1, subset=SUBSET)
    res = sweeplab.run(study, store=tmp_path / "s.db", data_dir=data_dir, engine="fast",
                       progress=False, save_models=tmp_path / "m")
    data = data_mod.load("mnist", data_dir, SUBSET)
    assert res.runs("f")["engine"].tolist() == ["fast", "fast"]
    for seed in (0, 1):
        pred = res.predict("f:base", seed, data.x_test).argmax(axis=1)
        np.testing.assert_array_equal(confusion_matrix(data.y_test, pred, 10),
                                      res.confusion("f:base", seed=seed).to_numpy())


def _point(db, seed: int, path: str) -> None:
    """Record ``path`` as the saved model of every config's run ``seed`` (through the store,
    which seals the record anew: a bare UPDATE would read as damage)."""
    with Store(db) as store:
        for h, _ in store.configs():
            store.set_model_path(h, seed, path)


def test_missing_and_foreign_model_files_are_one_line(trained, tmp_path, capsys):
    db = tmp_path / "s.db"
    shutil.copy(trained.path, db)
    (tmp_path / "foreign.keras").write_text("not a model")
    other = trained.model_path("tiny:width=4", 0)
    _point(db, 0, "foreign.keras")
    _point(db, 1, "gone.keras")
    res = sweeplab.open(db)
    with pytest.raises(ModelError, match="not a .keras model file"):
        res.model("tiny:width=16", 0)
    with pytest.raises(ModelError, match="gone.keras does not exist"):
        res.model("tiny:width=16", 1)
    _point(db, 0, str(other))  # width=4's model recorded for a width=16 run
    with pytest.raises(ModelError, match="another architecture"):
        res.model("tiny:width=16", 0)
    np.save(tmp_path / "x.npy", np.zeros((2, 28, 28), np.uint8))
    assert cli.main(["predict", "tiny:width=16", "--seed", "1", str(tmp_path / "x.npy"),
                     "--store", str(db)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sweeplab predict: error: saved model ")


def test_predict_command_prints_the_models_classes(trained, data_dir, tmp_path, run_cli):
    data = data_mod.load("mnist", data_dir, SUBSET)
    x = np.round(data.x_test[:5] * 255).astype(np.uint8)  # as a user's .npy would hold them
    np.save(tmp_path / "x.npy", x)
    rc, text, err = run_cli("predict", "tiny:width=16", "--seed", "0", tmp_path / "x.npy",
                            "--store", trained.path)
    assert rc == 0, err
    got = [int(m) for m in re.findall(r"class (\d+)", text)]
    want = trained.predict("tiny:width=16", 0, data.x_test[:5]).argmax(axis=1)
    assert got == list(want)


def test_figures_are_the_reports(trained, tmp_path):
    fig = trained.plot("tiny", "sweep")
    for ax, metric in zip(fig.axes, ("train_acc", "test_acc"), strict=True):
        final = trained.final("tiny", metrics=[metric])
        line = ax.lines[0]  # errorbar's data line (its caps come after it)
        np.testing.assert_allclose(line.get_xdata(), WIDTHS)
        # the figure's points are the summary's means, in percent (float rounding only)
        np.testing.assert_allclose(line.get_ydata(), 100 * final["mean"].to_numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="has no 'heatmap' figure. It has: by-value, sweep"):
        trained.plot("tiny", "heatmap")
    out = trained.report(tmp_path / "r.html")
    assert out.is_file() and "tiny" in out.read_text()


def test_study_round_trips_through_toml_for_every_builtin():
    for name, study in st.BUILTIN.items():
        assert st.Study.from_toml(study.to_toml()) == study, name


def test_study_built_in_python_is_validated():
    s = _study()
    assert s == st.study_from_dict({
        "name": "tiny", "dataset": "mnist", "seeds": 2, "epochs": 2, "subset": SUBSET,
        "model": {"preset": "mlp-softmax-ce"},
        "axes": [{"name": "width", "paths": ["layers.1.units"], "values": list(WIDTHS),
                  "scale": "log2"}]})
    # a study file names a preset as the Python call does: model = "mlp-softmax-ce"
    assert (st.Study.from_toml('name = "p"\nseeds = 2\nmodel = "mlp-softmax-ce"\n')
            == st.Study.from_toml('name = "p"\nseeds = 2\n[model]\npreset = "mlp-softmax-ce"\n')
            == sweeplab.Study.build("p", model="mlp-softmax-ce", seeds=2))
    with pytest.raises(sweeplab.SpecError, match="Received: model.batch_size=0"):
        sweeplab.Study.build("b", model="mlp-softmax-ce", batch_size=0)
    with pytest.raises(sweeplab.SpecError, match="path 'layers.5.units' indexes 'layers.5'"):
        sweeplab.Study.build("b", model="mlp-softmax-ce",
                             axes=[sweeplab.Axis("w", "layers.5.units", (1, 2))])
    cnn = sweeplab.Study.build("c", layers=[sweeplab.Conv2D(4), sweeplab.MaxPool(),
                                            sweeplab.Flatten(), sweeplab.Dense(8)],
                               optimizer=sweeplab.Optimizer("sgd", 0.01), seeds=[3, 7])
    assert cnn.seeds == (3, 7) and cnn.base.optimizer.name == "sgd"
    assert st.Study.from_toml(cnn.to_toml()) == cnn
    # a hand-made Study is checked when it is run
    bad = sweeplab.Study("h", sweeplab.Config(layers=(sweeplab.Dense(0),)), (0,))
    with pytest.raises(sweeplab.SpecError, match=r"units must be an integer in \[1, 65536\]"):
        sweeplab.run(bad, store="never-created.db")
    assert not Path("never-created.db").exists()
    # plain values where the dataclass wants its parts: a count of seeds is accepted, a
    # preset name as the base is refused with what is expected
    plain = sweeplab.Study("p", sweeplab.Config(layers=(sweeplab.Flatten(),)), 3)
    assert plain.validated().seeds == (0, 1, 2)
    with pytest.raises(sweeplab.SpecError, match="must be made of a Config base"):
        sweeplab.Study("p", "mlp-softmax-ce", (0,)).validated()


def test_progress_is_one_line_off_a_terminal_and_rich_on_one():
    plain = io.StringIO()
    p = Progress("q1", 4, stream=plain)  # a StringIO is not a terminal: plain mode
    assert p.mode == "plain"
    p.start(2)
    for e in (1, 2):
        p.epoch("base", 0, e, 2)
    p.run_done()
    p.skip(1, 2)
    p.close()
    lines = plain.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("q1: 1/1 runs, 2/2 model-epochs in ")
    term = io.StringIO()
    p = Progress("q1", 2, stream=term, mode="terminal")
    p.start(1)
    p.epoch("width=4", 3, 1, 2)
    p.close()
    text = term.getvalue()
    assert "━" in text and "runs 0/1" in text and "width=4 seed 3 epoch 1/2" in text


def _readme_python() -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"## Python\n.*?```python\n(.*?)```", text, re.S)
    assert m, "README.md has no ## Python section with a ```python block"
    return m.group(1)


def test_readme_python_example_works_as_written(tmp_path, data_dir, monkeypatch):
    code = _readme_python()
    assert len(code.strip().splitlines()) == 5
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(data_mod.ENV_VAR, data_dir)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 (the README, verbatim)
    res = scope["res"]
    assert (tmp_path / "sweeplab.db").is_file()
    assert res.runs("q1")["seed"].tolist() == [0, 1, 2]


def _tty_run(argv, timeout=300) -> tuple[int, str]:
    """Run sweeplab with stdout and stderr on a pseudo-terminal; returns (status, output)."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm-256color"}
    proc = subprocess.Popen([sys.executable, "-m", "sweeplab", *argv], stdin=follower,
                            stdout=follower, stderr=follower, env=env, close_fds=True)
    os.close(follower)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=30), b"".join(chunks).decode("utf-8", "replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)


def test_cli_run_in_a_terminal_draws_rich_and_saves_models(tmp_path, data_dir):
    db, models = tmp_path / "s.db", tmp_path / "models"
    code, out = _tty_run(["run", "q1", "--seeds", "2", "--epochs", "1", "--subset", "200",
                          "--store", str(db), "--data-dir", data_dir, "--engine", "reference",
                          "--save-models", str(models)])
    assert code == 0, out
    assert "━" in out and "2/2 model-epochs" in out and "runs 2/2" in out
    assert "base seed 1 epoch 1/1" in out
    res = sweeplab.open(db)
    paths = [res.model_path("q1:base", s) for s in (0, 1)]
    assert paths == [models.resolve() / f"{res.runs('q1').config_hash[0][:12]}" /
                     f"seed{s}.keras" for s in (0, 1)] and all(p.is_file() for p in paths)


def test_cli_run_into_a_log_prints_one_progress_line(tmp_path, data_dir):
    db = tmp_path / "s.db"
    proc = subprocess.run(
        [sys.executable, "-m", "sweeplab", "run", "q1", "--seeds", "2", "--epochs", "1",
         "--subset", "200", "--store", str(db), "--data-dir", data_dir, "--engine",
         "reference", "--until-ci", "100", "--min-seeds", "2"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    progress = [x for x in proc.stderr.splitlines() if "model-epochs" in x]
    assert len(progress) == 1 and progress[0].startswith("q1: 2/2 runs, 2/2 model-epochs in ")
    assert "\r" not in proc.stderr and "━" not in proc.stderr
    assert "q1: 1 round(s), trained 2 runs. Stopped: every configuration's" in proc.stdout
    assert sweeplab.open(db).runs("q1")["seed"].tolist() == [0, 1]


def test_one_confidence_and_import_stays_free_of_scipy():
    """The API's default interval is analysis.stats.CONFIDENCE (the report's and explain's);
    the API keeps its own copy only so that `import sweeplab` does not load scipy."""
    import inspect

    from sweeplab import api

    assert api.CONFIDENCE == stats.CONFIDENCE == 0.95
    default = inspect.signature(api.Results.summary).parameters["confidence"].default
    assert default == stats.CONFIDENCE
    code = "import sys, sweeplab; print(sorted(m for m in ('scipy', 'keras') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_config_reference_matches_axis_values_by_value(tiny_store):
    """``STUDY:NAME=VALUE`` names a config by its axis value, not only by its label's text
    (``tiny:width=16.0`` is the config labelled width=16); a value no config has is refused
    with the labels there are, and a label without its study with the name to use."""
    res = sweeplab.open(tiny_store)
    for ref in ("tiny:width=16", "tiny:width=16.0", "tiny:width=1.6e1"):
        assert [c.label for c in res.config_views(ref)] == ["width=16"], ref
    assert res.compare("tiny:width=4.0", "tiny:width=16").b.name == "tiny width=16"
    for ref in ("tiny:width=16.5", "tiny:depth=16", "tiny:width=16,width=16"):
        with pytest.raises(ValueError, match=r"has no config .*Allowed: width=4, width=16"):
            res.config_views(ref)
    # a label alone (as a frame's `config` column holds it) is refused with the name to use
    with pytest.raises(ValueError, match=r"^'width=16' is a config's label: name it with its "
                       r"study, as 'tiny:width=16'$"):
        res.config_views("width=16")
