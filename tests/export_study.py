"""One tiny real study for the export tests (tests/test_export_*.py), trained once per session.

2 configs (width 4, 16) x 2 seeds x 2 epochs on 300 real MNIST images, trained through the
CLI with live MLflow and TensorBoard logging (`sweeplab run --mlflow URI --tensorboard DIR`),
so the live targets and the store come from one real training (:func:`train`; the
``export_study`` fixture of tests/conftest.py trains it once per session). Tests that add runs
work on a copy of the store (:func:`copy_store`); the original is only read.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sweeplab import study as st
from sweeplab.results import EpochRecord, RunResult
from sweeplab.store import Store

STUDY = "tiny_export"
WIDTHS = (4, 16)
SEEDS = (0, 1)
EPOCHS = 2
STUDY_TOML = f"""
name = "{STUDY}"
dataset = "mnist"
seeds = {len(SEEDS)}
epochs = {EPOCHS}
subset = 300

[model]
preset = "mlp-softmax-ce"

[[axes]]
name = "width"
paths = ["layers.1.units"]
values = [{", ".join(str(w) for w in WIDTHS)}]
"""
# (name in the targets, EpochRecord field): the metrics every export writes per epoch
METRICS = (("train/loss", "train_loss"), ("train/accuracy", "train_acc"),
           ("test/loss", "test_loss"), ("test/accuracy", "test_acc"))


@dataclass(frozen=True)
class Trained:
    root: Path  # session directory
    toml: Path  # the study file
    store: Path  # the store trained into (read only by the tests)
    live_mlflow: str  # tracking URI the run logged to live
    live_tb: Path  # TensorBoard directory the run logged to live
    data_dir: str


def train(root: Path, data_dir: str, run_cli) -> Trained:
    """Train the study into ``root`` through ``run_cli`` (tests/conftest.py) with live logging.

    The ``export_study`` fixture (tests/conftest.py) calls it once per session.
    """
    toml = root / "study.toml"
    toml.write_text(STUDY_TOML)
    t = Trained(root, toml, root / "s.db", f"sqlite:///{root / 'live_mlflow.db'}",
                root / "live_tb", data_dir)
    rc, _, err = run_cli("run", toml, "--store", t.store, "--data-dir", data_dir, "--quiet",
                         "--mlflow", t.live_mlflow, "--tensorboard", t.live_tb)
    assert rc == 0, err
    # live logging reports its own failures on stderr and carries on: there must be none
    assert "live logging stopped" not in err, err
    return t


def copy_store(src: Path, dst: Path) -> Path:
    """A consistent copy of a store (SQLite's backup API: the WAL is included)."""
    with contextlib.closing(sqlite3.connect(src)) as a, contextlib.closing(
            sqlite3.connect(dst)) as b:
        a.backup(b)
    return dst


def add_seed(t: Trained, store: Path, seed: int, width: int) -> RunResult:
    """Train one more seed of one config into ``store`` (the study gains exactly one run)."""
    from sweeplab.runner import run_study

    study = st.with_overrides(st.load_study_file(t.toml), seeds=[*SEEDS, seed])
    (planned,) = [p for p in st.expand(study) if p.axes["width"] == str(width)]
    with Store(store) as s:
        summary = run_study(study, s, data_dir=t.data_dir, quiet=True, only={planned.config_hash})
        assert summary.trained == 1 and summary.ok
        return next(r for r in s.results(planned.config_hash) if r.seed == seed)


def store_runs(store: Path) -> dict[tuple[str, int], tuple[str, RunResult]]:
    """(config hash, seed) -> (config label, finished run), as the store has them."""
    out = {}
    with Store(store, readonly=True) as s:
        for c in s.study_configs(STUDY):
            for r in s.results(c.config_hash):
                out[(c.config_hash, r.seed)] = (c.label, r)
    return out


def metric_steps(epochs: tuple[EpochRecord, ...], field: str) -> dict[int, float]:
    """step -> value of one metric as the store holds it (epoch 0 has no training numbers)."""
    return {e.epoch: getattr(e, field) for e in epochs if getattr(e, field) is not None}
