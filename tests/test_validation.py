"""The validation split: a stratified hold-out of the training split, the same for every
seed, part of the config's identity, measured every epoch beside the test set, its final
per-example predictions kept with each run."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

import sweeplab
from sweeplab import data as data_mod
from sweeplab import spec as S
from sweeplab import study as st
from sweeplab.runner import load_data
from sweeplab.store import Store, pack_classes, unpack_classes


def test_hold_out_takes_from_training_only_stratified_and_fixed(data_dir):
    ds = data_mod.load("mnist", data_dir, 1000)
    held = data_mod.hold_out(ds, 0.1)
    idx = data_mod.validation_indices(ds.y_train, 0.1)
    # the validation examples are training examples; none of them stays in training
    np.testing.assert_array_equal(held.x_val, ds.x_train[idx])
    np.testing.assert_array_equal(held.y_val, ds.y_train[idx])
    rest = np.setdiff1d(np.arange(len(ds.y_train)), idx)
    np.testing.assert_array_equal(held.x_train, ds.x_train[rest])
    assert len(held.y_val) + len(held.y_train) == len(ds.y_train)
    # the test split is the test split: the same arrays, no validation example in it
    assert held.x_test is ds.x_test and held.y_test is ds.y_test
    # stratified: each class gives round(10%) of its training examples
    counts = np.bincount(ds.y_train, minlength=10)
    assert np.bincount(held.y_val, minlength=10).tolist() == [round(0.1 * c) for c in counts]
    # drawn by its own fixed seed: the same examples every time (so for every run's seed)
    again = data_mod.hold_out(data_mod.load("mnist", data_dir, 1000), 0.1)
    np.testing.assert_array_equal(again.x_val, held.x_val)


def test_validation_is_part_of_the_config_identity():
    base = S.preset("mlp-softmax-ce")
    assert "validation" not in S.config_to_dict(base)  # built-in hashes unchanged
    with_val = S.config_from_dict({**S.config_to_dict(base), "validation": 0.1})
    assert with_val.validation == 0.1
    assert S.config_hash(with_val) != S.config_hash(base)
    with pytest.raises(S.SpecError, match=r"validation must be a number in \(0.0, 0.5\]"):
        S.config_from_dict({**S.config_to_dict(base), "validation": 0.7})
    study = st.Study.from_toml('name = "v"\nvalidation = 0.2\n[model]\npreset = "mlp-softmax-ce"\n')
    assert study.base.validation == 0.2 and st.Study.from_toml(study.to_toml()) == study
    search = st.Study.from_toml('name = "s"\n[model]\npreset = "mlp-softmax-ce"\n'
                                '[search]\nbudget = 20\n[[search.params]]\n'
                                'path = "epochs"\nint = [1, 3]\n')
    assert search.base.validation == st.DEFAULT_VALIDATION  # a search validates by default
    assert search.search.metric == "val_acc"


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_runs_record_the_validation_split_every_epoch(tmp_path, data_dir, engine, run_cli):
    study = st.Study.build("v", model="mlp-softmax-ce", dataset="mnist", epochs=2,
                           subset=300, seeds=2, validation=0.1)
    res = sweeplab.run(study, store=tmp_path / "s.db", data_dir=data_dir, engine=engine,
                       progress=False, save_models=tmp_path / "models")
    ep = res.epochs("v")
    data = load_data(study, data_dir)[1]
    n_val = len(data.y_val)
    assert n_val == 30
    assert list(ep["epoch"]) == [0, 1, 2, 0, 1, 2]
    # accuracies over the same 30 examples for both seeds: multiples of 1/30
    k = ep["val_acc"].to_numpy() * n_val
    np.testing.assert_allclose(k, np.round(k), atol=1e-4)
    assert ep["val_loss"].notna().all() and (ep["val_loss"] > 0).all()
    assert "val_acc" in res.runs("v").columns
    # test accuracy is still over the 300 test images
    k = ep["test_acc"].to_numpy() * 300
    np.testing.assert_allclose(k, np.round(k), atol=1e-3)
    # The final predicted class per validation example, kept: the trained model's argmax on
    # the split's examples (the same 30 for every seed), scored against the split's labels.
    config = res.runs("v").config_hash[0]
    val = res.outcomes(config, split="validation")
    assert val.shape == (2, n_val)
    for seed in (0, 1):
        want = res.model(config, seed).predict(data.x_val, verbose=0).argmax(axis=1)
        np.testing.assert_array_equal(val[seed], want)
    (c,) = res._select("v", None)
    np.testing.assert_array_equal(c.val_outcomes.labels, data.y_val)
    np.testing.assert_allclose(c.val_outcomes.correct.mean(axis=1),
                               ep[ep["epoch"] == 2]["val_acc"], atol=1e-6)
    assert res.outcomes(config).shape == (2, 300)  # the test set's are as before
    # The long form carries both splits, told apart by `split`: per seed 300 test rows, then
    # 30 validation rows whose correct column is the final epoch's val_acc.
    df = res.outcomes_frame("v")
    assert list(df.columns[-6:]) == ["split", "seed", "example", "label", "predicted",
                                     "correct"]
    assert df["split"].tolist() == ["test"] * 600 + ["validation"] * 60
    v = df[df["split"] == "validation"]
    assert v["seed"].tolist() == [0] * 30 + [1] * 30
    assert v["example"].tolist() == list(range(30)) * 2
    assert v["label"].tolist() == [str(y) for y in np.tile(data.y_val, 2)]
    assert v["predicted"].tolist() == [str(p) for p in val.reshape(-1)]
    final = ep[ep["epoch"] == 2].set_index("seed")
    acc = df.groupby(["split", "seed"])["correct"].mean()
    for seed in (0, 1):
        assert acc[("validation", seed)] == pytest.approx(final["val_acc"][seed], abs=1e-6)
        assert acc[("test", seed)] == pytest.approx(final["test_acc"][seed], abs=1e-6)
    # the export writes the same table, split column included
    res.export("csv", tmp_path / "csv", "v")
    out = pd.read_csv(tmp_path / "csv" / "outcomes.csv", dtype={"label": str, "predicted": str})
    assert out["split"].value_counts().to_dict() == {"test": 600, "validation": 60}
    assert out[out["split"] == "validation"]["predicted"].tolist() == v["predicted"].tolist()
    # Jordan's split of the seeds' variance on the validation split's examples, read from the
    # view: a second row in the report's table, a second line in `show`
    from sweeplab.analysis import outcomes as O
    from sweeplab.report.outcomes import outcome_blocks

    view = res.view("v")
    (cv,) = view.configs
    w = cv.val_variance_split
    assert w == O.split_variance(c.val_outcomes.correct) and w.n_test == 30
    assert w.mean == pytest.approx(final["val_acc"].mean(), abs=1e-6)
    (table,) = [b for b in outcome_blocks(view, str, None, None) if hasattr(b, "rows")]
    assert [r[0] for r in table.rows] == ["base", "base (validation)"]
    assert table.rows[1][1:5] == ("2", f"{100 * w.mean:.2f}", f"{100 * w.seeds_std:.3f}",
                                  f"{100 * w.binomial_std:.3f}")
    assert table.rows[0][2] == f"{100 * final['test_acc'].mean():.2f}"
    vote = O.vote_accuracy(val, data.y_val, 10)
    assert table.rows[1][-1] == f"{100 * vote:.2f} ({100 * (vote - w.mean):+.2f})"
    code, text, err = run_cli("show", "v", "--store", tmp_path / "s.db")
    assert code == 0, err
    assert f"validation split vs distribution: {w.sentence(split='validation')}" in text
    assert "validation-split sampling std" in text and "test-set sampling std" in text


def test_validation_predictions_are_checksummed_and_null_without_a_split(tmp_path, data_dir):
    db = tmp_path / "s.db"
    study = st.Study.build("n", model="mlp-softmax-ce", dataset="mnist", epochs=1,
                           subset=200, seeds=1)
    res = sweeplab.run(study, store=db, data_dir=data_dir, engine="fast", progress=False)
    config = res.runs("n").config_hash[0]
    with pytest.raises(ValueError, match="has no per-example outcomes on the validation split: "
                                         "1 of 1 runs kept no validation predictions"):
        res.outcomes(config, split="validation")
    with pytest.raises(ValueError, match="split must be 'test' or 'validation'. Received: "
                                         "split='train'"):
        res.outcomes(config, split="train")
    val = sweeplab.run(st.Study.build("w", model="mlp-softmax-ce", dataset="mnist", epochs=1,
                                      subset=200, seeds=1, validation=0.1),
                       store=db, data_dir=data_dir, engine="fast", progress=False)
    con = sqlite3.connect(db)
    rows = con.execute("SELECT val_predictions, val_labels_key FROM runs ORDER BY id").fetchall()
    assert rows[0] == (None, None)
    kept = unpack_classes(rows[1][0])
    assert kept.shape == (20,)
    np.testing.assert_array_equal(kept, val.outcomes(val.runs("w").config_hash[0], "validation")[0])
    # the run's checksum covers the column: a changed prediction sets the run aside
    flipped = kept.copy()
    flipped[0] = (flipped[0] + 1) % 10
    with con:
        con.execute("UPDATE runs SET val_predictions=? WHERE id=(SELECT max(id) FROM runs)",
                    (pack_classes(flipped),))
    con.close()
    with Store(db, readonly=True) as s:
        damaged = s.damaged()
    assert [(d.seed, d.reason) for d in damaged] == [(0, "checksum mismatch")]
