"""Names are data, never paths: studies, axes and labels named like absolute paths, ``../``,
slashes or 10,000 characters go through every writer (live MLflow and TensorBoard logging,
saved models, the MLflow, TensorBoard and CSV exports, the HTML and Markdown reports) and
nothing is created outside each writer's destination."""

from __future__ import annotations

from pathlib import Path

import pytest

import sweeplab
from sweeplab import outputs


def _hostile(outside: Path) -> list[str]:
    return [str(outside / "abs"), "../../../outside/rel", "a/b/c", "x/../" * 2000]


def test_safe_names_are_one_component_distinct_and_bounded(tmp_path):
    texts = _hostile(tmp_path) + [".", "..", "", "/", "width=32, depth=2", "é/ü"]
    made = [outputs.safe_name(t) for t in texts]
    for t, m in zip(texts, made, strict=True):
        assert "/" not in m and m not in ("", ".", "..") and len(m) <= outputs.MAX_COMPONENT, t
        assert outputs.child(tmp_path, t).parent == tmp_path
    assert len(set(made)) == len(made)  # a hash keeps names apart that the slug merged
    assert outputs.safe_name("width=32, depth=2") == "width=32,depth=2"  # readable stays so
    with pytest.raises(outputs.UnsafePathError):
        outputs.within(tmp_path / "d", tmp_path / "d" / ".." / "e")


def test_mlflow_names_and_keys_pass_mlflows_own_checks():
    pytest.importorskip("mlflow")
    from mlflow.utils import validation as v

    for text in ("a/b/c", "../x", "k" * 10_000, "width=32, depth=2", ".", "//"):
        v._validate_param_name(outputs.mlflow_key(text))
        v._validate_tag_name(outputs.mlflow_key(text))
        v._validate_experiment_name(outputs.mlflow_name(text))
        assert len(outputs.mlflow_name(text)) <= v.MAX_EXPERIMENT_NAME_LENGTH
    assert outputs.mlflow_key("width") == "width"


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_hostile_names_through_every_writer_stay_inside(tmp_path, data_dir, monkeypatch):
    pytest.importorskip("mlflow")
    pytest.importorskip("tensorboard")
    outside = tmp_path / "outside"
    dest = tmp_path / "work" / "deep" / "dest"
    cwd = tmp_path / "work" / "deep" / "cwd"
    for d in (outside, dest, cwd):
        d.mkdir(parents=True)
    monkeypatch.chdir(cwd)  # a relative name would land here (or above it)
    store = dest / "s.db"
    before = _files(tmp_path)
    for i, name in enumerate(_hostile(outside)):
        # A distinct width per study: each trains one run, so every live writer sees it.
        study = sweeplab.Study.build(
            name, model="mlp-softmax-ce", dataset="mnist", seeds=1, epochs=1, subset=64,
            axes=[{"name": "../ax/is" if i % 2 else name[:300], "paths": "layers.1.units",
                   "values": [4 + i], "labels": [name[:500]]}])
        res = sweeplab.run(study, store=store, data_dir=data_dir, engine="fast",
                           progress=False, save_models=dest / "models",
                           mlflow=f"sqlite:///{dest / 'live' / 'm.db'}",
                           tensorboard=dest / "live_tb")
        assert res.last.trained == 1 and res.last.ok
    res = sweeplab.open(store, data_dir=data_dir)
    assert res.export("mlflow", f"sqlite:///{dest / 'mlflow.db'}").added == 4
    assert res.export("tensorboard", dest / "tb").added == 4
    res.export("csv", dest / "tables")
    res.report(dest / "report.html")
    md = res.report(dest / "md", fmt="md")
    assert md == dest / "md" / "report.md" and len(list((dest / "md" / "img").iterdir())) >= 4
    new = _files(tmp_path) - before
    stray = sorted(str(p) for p in new if dest not in p.parents)
    assert not stray, stray[:5]
    assert not list(outside.iterdir()) and not list(cwd.iterdir())
    # The full names are kept where MLflow has room for them: as the experiment's tag.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{dest / 'mlflow.db'}")
    tags = {e.tags.get("sweeplab.study") for e in client.search_experiments()}
    assert {n[:8000] for n in _hostile(outside)} <= tags
