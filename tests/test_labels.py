"""Labels as users have them (issue 32, item 6): arrays and .npz files whose labels are
strings (or any sortable values) train like integer labels; the classes are the sorted
distinct values, recorded as the dataset's class names, shown wherever a class is named,
and predict answers in them. Integer labels keep their meaning and their hashes.

Tiny on purpose: 150 feature vectors or 8x8 images, three classes, 1-2 epochs."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import own_builders as ob  # tests/ is on sys.path (no package)
import pytest

import sweeplab
from sweeplab import cli
from sweeplab import data as data_mod
from sweeplab import study as st

NAMES = np.array(["red", "green", "blue"])  # index i's colour; sorted: blue, green, red


def _main(argv):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = cli.main(argv)
    return code, err.getvalue(), out.getvalue()


def _blobs() -> tuple[np.ndarray, ...]:
    """Three overlapping blobs: a single seed gets most, not all, examples right."""
    rng = np.random.default_rng(4)
    centres = rng.normal(0.0, 0.7, size=(3, 6))
    out = []
    for n in (150, 60):
        y = np.arange(n) % 3
        out += [(centres[y] + rng.normal(size=(n, 6))).astype(np.float32), y]
    return tuple(out)


def test_string_labels_are_their_sorted_values_and_integers_are_unchanged():
    x_tr, y_tr, x_te, y_te = _blobs()
    a = sweeplab.Arrays(x_tr, NAMES[y_tr], x_te, NAMES[y_te], name="colours")
    assert a.class_names == ("blue", "green", "red")  # sorted
    back = np.asarray(a.class_names)
    assert (back[a.dataset.y_train] == NAMES[y_tr]).all()
    assert (back[a.dataset.y_test] == NAMES[y_te]).all()
    # a pandas column (object dtype) is the same content, so the same dataset
    same = sweeplab.Arrays(x_tr, NAMES[y_tr].astype(object), x_te, list(NAMES[y_te]), name="o")
    assert same.fingerprint == a.fingerprint and same.class_names == a.class_names
    # class_names, when given, order the classes and must name every label
    ordered = sweeplab.Arrays(x_tr, NAMES[y_tr], x_te, NAMES[y_te], class_names=list(NAMES),
                              name="ordered")
    assert ordered.class_names == tuple(NAMES) and (ordered.dataset.y_train == y_tr).all()
    # ... and the config that names them otherwise is another config
    h = [st.expand(sweeplab.Study.build("s", model="mlp-softmax-ce", dataset=d,
                                        seeds=1))[0].config_hash for d in (a, ordered)]
    assert h[0] != h[1]
    # numbers that are not integers: sorted values, named by their text
    f = sweeplab.Arrays(x_tr, y_tr * 0.5, x_te, y_te * 0.5, name="halves")
    assert f.class_names == ("0.0", "0.5", "1.0") and (f.dataset.y_train == y_tr).all()
    # integer labels: class i is label i, the names "0".."K-1", the fingerprint of the arrays
    i = sweeplab.Arrays(x_tr, y_tr, x_te, y_te, name="ints")
    assert i.class_names == ("0", "1", "2") and (i.dataset.y_train == y_tr).all()
    assert i.fingerprint == data_mod.fingerprint([x_tr, y_tr, x_te, y_te])


BAD = {
    "mixed kinds": (lambda y_tr, y_te: (NAMES[y_tr], y_te), None,
                    "y_train holds <U5 labels but y_test int64; both splits need labels of one "
                    "kind"),
    "unnamed label": (lambda y_tr, y_te: (NAMES[y_tr], NAMES[y_te]), ["red", "green"],
                      "label 'blue' is not one of class_names ['red', 'green']"),
    "only in test": (lambda y_tr, y_te: (NAMES[y_tr], np.where(y_te == 0, "pink",
                                                               NAMES[y_te])), None,
                     "train split has no example of class 2 ('pink')"),
    "nan": (lambda y_tr, y_te: (np.where(y_tr == 0, np.nan, y_tr * 0.5), y_te * 0.5), None,
            "labels hold NaN or infinite values"),
    "named twice": (lambda y_tr, y_te: (NAMES[y_tr], NAMES[y_te]), ["red", "green", "red",
                                                                    "blue"],
                    "class_names names 'red' twice"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_labels_are_one_line(case):
    x_tr, y_tr, x_te, y_te = _blobs()
    make, names, want = BAD[case]
    ytr, yte = make(y_tr, y_te)
    with pytest.raises(data_mod.DataError) as err:
        sweeplab.Arrays(x_tr, ytr, x_te, yte, class_names=names, name="bad")
    assert want in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_string_labels_train_report_and_predict_in_their_names(tmp_path):
    x_tr, y_tr, x_te, y_te = _blobs()
    arrays = sweeplab.Arrays(x_tr, NAMES[y_tr], x_te, NAMES[y_te], name="colours")
    study = sweeplab.Study.build(  # a layer spec on feature vectors: the fast engine
        "colours", model="mlp-softmax-ce", dataset=arrays, seeds=3, epochs=2, batch_size=30,
        optimizer={"name": "adam", "learning_rate": 0.02})
    res = sweeplab.run(study, store=tmp_path / "c.db", engine="fast", progress=False,
                       save_models=True)
    assert res.last.trained == 3 and not res.last.failed
    assert res.class_names("colours:base") == ("blue", "green", "red")
    # the model's output i is class_names[i]: predict answers in the user's own labels
    got = res.predict_classes("colours:base", 1, x_te)
    out = res.predict("colours:base", 1, x_te)
    assert got.shape == (60,) and set(got) <= {"blue", "green", "red"}
    assert list(got) == [("blue", "green", "red")[k] for k in out.argmax(axis=1)]
    runs = res.runs("colours")
    acc = float(runs[runs["seed"] == 1]["test_acc"].iloc[0])
    assert np.mean(got == NAMES[y_te]) == pytest.approx(acc, abs=1.01 / 60)  # one tie at most
    assert acc > 0.5  # above chance (1/3)
    # everywhere a class is named: the confusion matrix, the diagnostics, the report
    frame = res.outcomes_frame("colours")  # per example, by the user's labels
    assert frame["label"].tolist() == list(np.tile(NAMES[y_te], 3))
    assert set(frame["predicted"]) <= {"blue", "green", "red"}
    stored = frame[frame["seed"] == 1]["predicted"].tolist()  # as trained; predict rebuilt
    assert sum(a != b for a, b in zip(stored, got, strict=True)) <= 1  # one tie at most
    conf = res.confusion("colours:base")
    assert list(conf.index) == ["blue", "green", "red"] == list(conf.columns)
    code, err, text = _main(["diagnose", "colours", "--store", str(tmp_path / "c.db")])
    assert code == 0 and "silent" in text, err
    assert not any(f"silent {k}" in text or f"onto {k}" in text for k in "012"), text
    report = Path(res.report(tmp_path / "r.md", fmt="md"))
    md = report.read_text() if report.is_file() else "".join(
        p.read_text() for p in report.rglob("*.md"))
    assert "true blue" in md or "true green" in md or "true red" in md, md[-3000:]
    assert "true 0" not in md and "true 1" not in md and "true 2" not in md


def test_npz_of_string_labels_through_the_cli(tmp_path):
    x_tr, y_tr, x_te, y_te = ob.stripes()
    where = np.array(["top", "middle", "bottom"])  # sorted: bottom, middle, top
    np.savez(tmp_path / "stripes.npz", x_train=x_tr, y_train=where[y_tr], x_test=x_te,
             y_test=where[y_te])
    (tmp_path / "s.toml").write_text(
        'name = "stripes"\ndataset = { path = "stripes.npz" }\nseeds = 2\nepochs = 2\n'
        '[model]\nbatch_size = 30\nlayers = [{type = "flatten"}, {type = "dense", units = 16}]'
        '\n[model.optimizer]\nname = "adam"\nlearning_rate = 0.05\n')
    db = tmp_path / "s.db"
    code, err, out = _main(["run", str(tmp_path / "s.toml"), "--store", str(db), "--engine",
                            "reference", "--save-models", str(tmp_path / "models")])
    assert code == 0, err
    res = sweeplab.open(db)
    assert res.class_names("stripes:base") == ("bottom", "middle", "top")
    assert st.load_study_file(tmp_path / "s.toml").base.data.class_names == (
        "bottom", "middle", "top")
    np.save(tmp_path / "x.npy", x_te[:6])
    code, err, out = _main(["predict", "stripes:base", "--seed", "0", str(tmp_path / "x.npy"),
                            "--store", str(db)])
    assert code == 0, err
    lines = [ln.split() for ln in out.splitlines()[1:]]
    assert [ln[1] for ln in lines] == list(res.predict_classes("stripes:base", 0, x_te[:6]))
    assert {ln[1] for ln in lines} <= {"bottom", "middle", "top"}
    # a file of pickled labels is one line saying how to save them
    np.savez(tmp_path / "obj.npz", x_train=x_tr, y_train=where[y_tr].astype(object),
             x_test=x_te, y_test=where[y_te])
    with pytest.raises(data_mod.DataError, match="y_train is an array of Python objects"):
        data_mod.read_npz(tmp_path / "obj.npz")
