"""`sweeplab export csv|parquet`: the runs and epochs tables read back with pandas, equal to
the store's rows; a second export changes nothing; a new seed adds just its rows."""

from __future__ import annotations

import math
import sys

import pandas as pd
import pytest
from export_study import (
    EPOCHS,
    SEEDS,
    STUDY,
    WIDTHS,
    add_seed,
    copy_store,
    store_runs,
)

EPOCH_FIELDS = ("train_loss", "train_acc", "test_loss", "test_acc", "seconds")


@pytest.fixture(scope="module")
def study(export_study):
    return export_study


def _read(path, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        # pandas 3 parses floats back exactly (the repr to_csv wrote), so equality below is
        # exact; pandas 2's default parser may miss the last bit, its round_trip one does not
        exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {
            "float_precision": "round_trip"}
        return pd.read_csv(path, dtype={"config_hash": str}, **exact)
    return pd.read_parquet(path)


def _same(a, b) -> bool:
    """Equal, with None/NaN (epoch 0 has no training numbers) equal to each other."""
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return a == b


def _check_tables(outdir, fmt: str, store) -> None:
    runs = store_runs(store)
    run_df = _read(outdir / f"runs.{fmt}", fmt)
    epoch_df = _read(outdir / f"epochs.{fmt}", fmt)
    assert len(run_df) == len(runs)
    assert len(epoch_df) == sum(len(r.epochs) for _, r in runs.values())
    seen = set()
    for row in run_df.to_dict("records"):
        key = (row["config_hash"], int(row["seed"]))
        seen.add(key)
        label, r = runs[key]
        assert (row["study"], row["config"]) == (STUDY, label)
        assert row["width"] == int(label.split("=")[1])  # the axis, as a number
        assert row["engine"] == r.engine and int(row["epochs"]) == r.final.epoch == EPOCHS
        assert row["wall_seconds"] == r.wall_seconds
        for field in ("train_loss", "train_acc", "test_loss", "test_acc"):
            assert row[field] == getattr(r.final, field), (key, field)
    assert seen == set(runs)
    for row in epoch_df.to_dict("records"):
        label, r = runs[(row["config_hash"], int(row["seed"]))]
        (rec,) = [e for e in r.epochs if e.epoch == row["epoch"]]
        for field in EPOCH_FIELDS:
            assert _same(getattr(rec, field), row[field]), (label, row["seed"], rec.epoch, field)
    # the per-example outcomes: every run's prediction per test example, by class name
    out_df = _read(outdir / f"outcomes.{fmt}", fmt)
    assert set(out_df["split"]) == {"test"}  # the export study has no validation split
    assert len(out_df) == sum(len(r.predictions) for _, r in runs.values())
    for (h, seed), g in out_df.groupby(["config_hash", "seed"]):
        label, r = runs[(h, int(seed))]
        assert g["example"].tolist() == list(range(len(r.predictions)))
        assert g["predicted"].astype(str).tolist() == [str(int(p)) for p in r.predictions]
        assert g["label"].astype(str).tolist() == [str(int(y)) for y in r.test_labels]
        assert g["correct"].mean() == pytest.approx(r.final.test_acc, abs=1e-6)
        assert set(g["config"]) == {label} and set(g["width"]) == {int(label.split("=")[1])}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tables_equal_the_store_and_a_second_export_changes_nothing(study, tmp_path, fmt, run_cli):
    outdir = tmp_path / fmt
    rc, out, err = run_cli("export", fmt, str(outdir), "--store", str(study.store))
    assert rc == 0, err
    n = len(WIDTHS) * len(SEEDS)
    assert out.startswith(f"{fmt}: {n} run(s) added, 0 already there")
    _check_tables(outdir, fmt, study.store)
    frames = [_read(outdir / f"{t}.{fmt}", fmt) for t in ("runs", "epochs", "outcomes")]

    rc, out, err = run_cli("export", fmt, str(outdir), STUDY, "--store", str(study.store))
    assert rc == 0, err
    assert out.startswith(f"{fmt}: 0 run(s) added, {n} already there")
    for t, before in zip(("runs", "epochs", "outcomes"), frames, strict=True):
        pd.testing.assert_frame_equal(_read(outdir / f"{t}.{fmt}", fmt), before)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_new_seed_adds_just_its_rows(study, tmp_path, fmt, run_cli):
    store = copy_store(study.store, tmp_path / "s.db")
    outdir = tmp_path / fmt
    assert run_cli("export", fmt, str(outdir), "--store", str(store))[0] == 0
    runs_before = _read(outdir / f"runs.{fmt}", fmt)
    epochs_before = _read(outdir / f"epochs.{fmt}", fmt)
    new = add_seed(study, store, seed=2, width=WIDTHS[1])

    rc, out, err = run_cli("export", fmt, str(outdir), "--store", str(store))
    assert rc == 0, err
    assert out.startswith(f"{fmt}: 1 run(s) added, {len(runs_before)} already there")
    _check_tables(outdir, fmt, store)
    runs_after = _read(outdir / f"runs.{fmt}", fmt)
    epochs_after = _read(outdir / f"epochs.{fmt}", fmt)
    key = ["config_hash", "seed"]
    added = runs_after.merge(runs_before[key], on=key, how="left", indicator=True)
    assert added[added["_merge"] == "left_only"][key].values.tolist() == [
        [new.config_hash, 2]]
    assert len(epochs_after) == len(epochs_before) + EPOCHS + 1
    # the rows that were there are there unchanged
    old = runs_after.merge(runs_before[key], on=key)
    pd.testing.assert_frame_equal(old.reset_index(drop=True),
                                  runs_before.reset_index(drop=True))


def test_missing_pyarrow_names_the_extra(study, tmp_path, monkeypatch, run_cli):
    # pyarrow made unimportable (None in sys.modules fails `import` as a missing package
    # does); the code path is the real one
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    rc, out, err = run_cli("export", "parquet", str(tmp_path / "t"), "--store",
                           str(study.store))
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("sweeplab export: error: Parquet export needs the pyarrow package")
    assert "pip install 'sweeplab[parquet]'" in err
    assert not (tmp_path / "t").exists()


def test_a_file_where_the_directory_goes_gives_one_line(study, tmp_path, run_cli):
    target = tmp_path / "runs.csv"
    target.write_text("mine\n")
    for fmt in ("csv", "tensorboard"):
        rc, out, err = run_cli("export", fmt, str(target), "--store", str(study.store))
        assert rc == 2 and out == "" and err.count("\n") == 1, err
        assert err.startswith(f"sweeplab export: error: the {fmt} output directory")
        assert "is a file" in err
    assert target.read_text() == "mine\n"  # left alone


def test_python_export_writes_what_the_cli_writes(study, tmp_path, run_cli):
    """``sweeplab.open(store).export(...)`` is the export the CLI runs: same files, same rows;
    a second call adds nothing."""
    import sweeplab

    res = sweeplab.open(study.store)
    n = len(WIDTHS) * len(SEEDS)
    for fmt in ("csv", "parquet"):
        summary = res.export(fmt, tmp_path / "py" / fmt, STUDY)
        assert (summary.target, summary.added, summary.present) == (fmt, n, 0)
        assert sorted(summary.files) == sorted(
            str(tmp_path / "py" / fmt / f"{t}.{fmt}") for t in ("runs", "epochs", "outcomes"))
        assert run_cli("export", fmt, str(tmp_path / "cli" / fmt), "--store",
                       str(study.store))[0] == 0
        for t in ("runs", "epochs", "outcomes"):
            pd.testing.assert_frame_equal(
                _read(tmp_path / "py" / fmt / f"{t}.{fmt}", fmt),
                _read(tmp_path / "cli" / fmt / f"{t}.{fmt}", fmt))
        again = res.export(fmt, tmp_path / "py" / fmt)
        assert (again.added, again.present) == (0, n)
    _check_tables(tmp_path / "py" / "csv", "csv", study.store)
    with pytest.raises(ValueError, match="target must be one of tensorboard, mlflow, csv"):
        res.export("excel", tmp_path / "x")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_api_frames_and_tables_name_the_same_facts_alike(study, tmp_path, fmt, run_cli):
    """One column vocabulary (README, "Column names"): ``Results.runs()``/``epochs()`` and
    the exported tables have the same columns in the same order, and the same values."""
    import sweeplab

    res = sweeplab.open(study.store)
    assert run_cli("export", fmt, str(tmp_path), "--store", str(study.store))[0] == 0
    for table, api_df in (("runs", res.runs()), ("epochs", res.epochs())):
        file_df = _read(tmp_path / f"{table}.{fmt}", fmt)
        assert list(api_df.columns) == list(file_df.columns), table
        key = ["config_hash", "seed"] + (["epoch"] if table == "epochs" else [])
        a = api_df.sort_values(key).reset_index(drop=True)
        b = file_df.sort_values(key).reset_index(drop=True)
        last = "seconds" if table == "epochs" else "engine"
        for col in ("config", "width", "test_acc", "train_loss", last):
            assert [_same(x, y) for x, y in zip(a[col], b[col], strict=True)] == [True] * len(a)
