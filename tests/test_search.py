"""A study's [search]: bad input refused at the edge, a real search (Optuna, the race, Keras
training, a SQLite store), killed with SIGKILL and run again."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import sweeplab
from sweeplab import cli
from sweeplab import study as st
from sweeplab.search import journal_path

pytest.importorskip("optuna")

TINY = """
name = "tiny"
dataset = "mnist"
epochs = 1
subset = 300
[model]
preset = "mlp-softmax-ce"
[search]
budget = 12
first_test = 2
max_seeds = 3
pool = 3
finalists = 1
fresh_seeds = 2
seed = 1
[[search.params]]
name = "width"
path = "layers.1.units"
int = [4, 64]
log = true
[[search.params]]
name = "lr"
path = "optimizer.learning_rate"
float = [1e-5, 0.5]
log = true
"""
SRC = str(Path(sweeplab.__file__).resolve().parents[1])


def _cmd(path: Path, store: Path, data_dir: str) -> list[str]:
    return [sys.executable, "-m", "sweeplab", "run", str(path), "--store", str(store),
            "--data-dir", data_dir, "--quiet", "--engine", "fast"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _done(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as con:
            return con.execute("SELECT COUNT(*) FROM runs WHERE status='done'").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def _state(store: Path) -> dict:
    res = sweeplab.open(store)
    with res._store() as db:
        return db.get_meta("search:tiny")


def _trials(store: Path) -> list[tuple[int, dict]]:
    import optuna

    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal_path(store, "tiny"))))
    s = optuna.load_study(study_name="tiny", storage=storage)
    return [(t.number, t.params, t.state.name, t.value) for t in s.get_trials()]


@pytest.fixture(scope="module")
def whole_run(tmp_path_factory, data_dir):
    """The tiny search run start to end without interruption, in the background (the SIGKILL
    test runs its own search meanwhile: two processes, the machine's two cores)."""
    d = tmp_path_factory.mktemp("whole")
    path = d / "tiny.toml"
    path.write_text(TINY)
    proc = subprocess.Popen(_cmd(path, d / "s.db", data_dir), env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield proc, d / "s.db"
    if proc.poll() is None:
        proc.kill()
        proc.wait(30)


@pytest.fixture(scope="module")
def whole(whole_run):
    proc, store = whole_run
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return store, out


def test_sigkill_mid_search_then_rerun_continues_the_same_search(whole_run, request, tmp_path,
                                                                  data_dir):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    store = tmp_path / "k.db"
    proc = subprocess.Popen(_cmd(path, store, data_dir), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while _done(store) < 4 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, "the search ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    before = _done(store)
    out = subprocess.run(_cmd(path, store, data_dir), env=_env(), capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    whole = request.getfixturevalue("whole")  # the uninterrupted search, finished by now
    total = len(sweeplab.open(whole[0]).runs("tiny"))
    assert 4 <= before < total
    assert f"trained {total - before} runs" in out.stdout  # no run trained twice
    assert f"{total} of the budget's 12 runs used" in out.stdout  # the budget counted once
    ref, _ = whole
    # The same proposals, the same race, the same answer as the uninterrupted search.
    assert _trials(store) == _trials(ref)
    assert _state(store) == _state(ref)
    a, b = (sweeplab.open(s).runs("tiny") for s in (store, ref))
    cols = ["config_hash", "seed", "test_acc"]
    assert a[cols].sort_values(cols[:2]).values.tolist() == \
        b[cols].sort_values(cols[:2]).values.tolist()
    assert out.stdout.splitlines()[1] == whole[1].splitlines()[1]  # the sentence


def test_a_whole_search_spends_its_budget_and_gives_the_sentence(whole):
    store, stdout = whole
    res = sweeplab.open(store)
    runs = res.runs("tiny")
    # The budget counts every run, the final round's included: the race may spend 12 - 2
    # (the final round's 1 finalist x 2 fresh seeds); it stops when no candidate fits.
    assert f"{len(runs)} of the budget's 12 runs used" in stdout
    assert 12 - 2 - 1 <= len(runs) <= 12
    assert "is best with P=" in stdout and "2 fresh seeds" in stdout
    state = _state(store)
    fresh = runs[runs["seed"] >= 3]  # seeds 3 and 4: the final round, after max_seeds 3
    assert sorted(fresh["seed"]) == [3, 4] and fresh["config_hash"].nunique() == 1
    assert fresh["config_hash"].iloc[0] == state["finalists"][0]
    # A dropped candidate gets no further seed: it has what it had when it was dropped.
    assert state["dropped"], "the tiny search is expected to drop (lr spans 1e-5..0.5)"
    for h in state["dropped"]:
        assert (runs["config_hash"] == h).sum() == state["drop_step"][h]


def test_the_answer_states_the_interval_on_a_new_test_set(whole):
    """The fresh runs kept their predictions: the sentence adds the winner's test-accuracy
    interval with the test set's sampling (compare's estimate, outcomes.two_way) and P(best) over
    the seeds it was picked on and validation examples, each equal to the estimator computed
    directly."""
    from sweeplab import readout
    from sweeplab.analysis import outcomes
    from sweeplab.store import Store

    store, stdout = whole
    with Store(store, readonly=True) as db:
        view = readout.read_study(db, "tiny")
    answer = readout.search_answer(view)
    b = answer.best
    (c,) = [c for c in view.configs if c.config_hash == b.key]
    fresh = [r for r in c.runs if r.seed in (3, 4)]  # the final round's seeds
    test = np.stack([r.predictions == r.test_labels for r in fresh])
    # the pick and P(best): the race's seeds every finalist has (the one finalist: its 3),
    # then the fresh ones
    assert answer.n_shared == 3 and answer.n_fresh == 2
    picked_on = sorted(c.runs, key=lambda r: r.seed)
    val = np.stack([r.val_predictions == r.val_labels for r in picked_on])
    assert test.shape == (2, 300) and val.shape == (5, 30)
    assert np.array_equal(readout._correct([c], [0, 1, 2, 3, 4], "validation")[b.key], val)
    direct = outcomes.two_way(None, test)
    assert b.two_way == direct and direct.diff == pytest.approx(b.test_mean)
    assert (b.new_low, b.new_high) == (max(0.0, direct.low), min(1.0, direct.high))
    assert b.new_low <= b.test_low and b.new_high >= b.test_high  # never narrower
    assert b.p_best == outcomes.two_way_best([val], rng_seed=1)[0]  # 1 finalist: 1.0
    assert answer.p_over == "validation examples"
    line = stdout.splitlines()[1]
    assert (f"over 3 race and 2 fresh seeds and validation examples (test "
            f"{100 * b.test_mean:.1f}%") in line
    assert (f"95% CI {100 * b.test_low:.1f}-{100 * b.test_high:.1f} on this test set over 2 "
            f"fresh seeds, {100 * b.new_low:.1f}-{100 * b.new_high:.1f} on a new test set)"
            ) in line


def test_search_table_one_row_per_candidate(whole):
    store, _ = whole
    df = sweeplab.open(store).search("tiny")
    state = _state(store)
    order = sorted(state["trials"], key=lambda h: min(state["trials"][h]))
    assert list(df["config_hash"]) == order  # proposal order
    assert {"config", "width", "lr", "n", "mean", "status"} <= set(df.columns)
    assert set(df["status"]) <= {"dropped", "survived", "finalist", "best"}  # the race is over
    assert (df["status"] == "best").sum() == 1
    assert set(df.loc[df["status"] == "dropped", "config_hash"]) == set(state["dropped"])
    runs = sweeplab.open(store).runs("tiny")
    for row in df.itertuples():
        race = runs[(runs["config_hash"] == row.config_hash) & (runs["seed"] < 3)]
        assert row.n == len(race)
        assert row.mean == pytest.approx(race["val_acc"].mean())  # a search races on it
        assert 4 <= row.width <= 64 and 1e-5 <= row.lr <= 0.5
    # every table has the sampled numbers (the labels round them), with one dtype a column
    assert runs["width"].dtype == "int64" and runs["lr"].dtype == "float64"
    sampled = df.set_index("config_hash")[["width", "lr"]]
    got = runs.groupby("config_hash")[["width", "lr"]].first().loc[sampled.index]
    assert got["width"].tolist() == sampled["width"].tolist()
    assert got["lr"].tolist() == sampled["lr"].tolist()  # exact: the same numbers


def test_ls_and_studies_show_a_search_as_candidates_and_budget(whole, capsys):
    """`ls` gives each candidate its runs and race status (not "k/N done": a dropped one
    never gets the rest), `studies` gives a search its budget (not 1 config x N seeds)."""
    store, _ = whole
    df = sweeplab.open(store).search("tiny")
    assert cli.main(["ls", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert f"runs done, a search of {len(df)} candidates, " in out
    for row in df.itertuples():
        runs = len(sweeplab.open(store).runs("tiny").query("config_hash == @row.config_hash"))
        line = next(x for x in out.splitlines() if x.strip().startswith(row.config_hash[:10]))
        assert f" {runs} run{'s' * (runs != 1)}, {row.status}" in line, line
    assert cli.main(["studies"]) == 0
    q7s = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("q7s "))
    assert "search, 6 parameters, 10 epochs, budget  80 runs" in q7s, q7s
    # `diagnose` walks no steps between candidates: a search's order is the sampler's
    assert cli.main(["diagnose", "tiny", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "neighbouring" not in out and "test set's own noise" not in out
    words = " ".join(out.split())  # the lines as one, wherever they were wrapped
    assert ("across the sweep" not in words
            or words.endswith("no sequence: no step between them is tested.")), words[-400:]


BASE = TINY.split("[search]")[0]


@pytest.mark.parametrize("search,key", [
    ("budget = 30\n[[search.params]]\npath = \"layers.1.units\"\nint = [64, 8]\n",
     "search.params[0].int must have low <= high"),
    ("budget = 30\n[[search.params]]\npath = \"optimizer.learning_rate\"\nfloat = [0, 0.1]\n"
     "log = true\n", "search.params[0].log needs both bounds > 0"),
    ("budget = 30\n[[search.params]]\npath = \"layers.7.units\"\nint = [8, 64]\n",
     "search.params[0]: path 'layers.7.units'"),
    ("budget = 30\n[[search.params]]\npath = \"optimizer.name\"\nchoices = []\n",
     "search.params[0].choices must be a non-empty list"),
    ("budget = 30\nfirst_test = 5\nmax_seeds = 3\n[[search.params]]\npath = \"epochs\"\n"
     "int = [1, 2]\n", "search.first_test must be at most search.max_seeds"),
    ("budget = 2\n[[search.params]]\npath = \"epochs\"\nint = [1, 2]\n",
     "search.budget must be at least first_test"),
    ("budget = 30\nsampler = \"grid\"\n[[search.params]]\npath = \"epochs\"\nint = [1, 2]\n",
     "search.sampler must be one of tpe, random, gp, cmaes"),
    ("budget = 30\n[[search.params]]\npath = \"layers.1.units\"\nint = [0, 8]\n",
     "search.params[0] at layers.1.units=0"),
    ("budget = 30\n", "search.params must be a non-empty list"),
    ("budget = 30\nlevel = 0.7\n[[search.params]]\npath = \"epochs\"\nint = [1, 2]\n",
     "search.level must be a number in (0.0, 0.5]. Received: search.level=0.7"),
    ("budget = 30\nmetric_epochs = 2\n[[search.params]]\npath = \"epochs\"\nint = [1, 2]\n",
     "search.metric_epochs must be an integer in [1, 1]. Received: search.metric_epochs=2"),
])
def test_bad_search_is_one_line_naming_the_field_before_any_store(tmp_path, capsys, search,
                                                                   key):
    path = tmp_path / "bad.toml"
    path.write_text(BASE + "[search]\n" + search)
    store = tmp_path / "s.db"
    assert cli.main(["run", str(path), "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sweeplab run: error: "), err
    assert key in err, err
    assert not store.exists() and not journal_path(store, "tiny").parent.exists()


def test_compare_on_the_races_validation_metric(whole):
    """The race selects on val_acc, so `compare` takes it too: the same paired comparison,
    over the validation split's final accuracies by seed; a loss is given to 4 decimals."""
    import re

    res = sweeplab.open(whole[0])
    df = res.search("tiny").sort_values("n", ascending=False)
    a, b = df["config_hash"].iloc[:2]
    c = res.compare(a, b, "val_acc")
    runs = res.runs("tiny").set_index(["config_hash", "seed"])["val_acc"]
    assert c.values_a == pytest.approx(runs.loc[a].to_dict())
    assert c.values_b == pytest.approx(runs.loc[b].to_dict())
    shared = sorted(set(c.values_a) & set(c.values_b))
    diff = np.mean([c.values_b[s] - c.values_a[s] for s in shared])
    assert c.comparison.paired and c.comparison.diff == pytest.approx(diff)
    assert f"= {100 * diff:+.2f} points of validation accuracy" in c.text
    # the race chose on seeds 0-2 (max_seeds 3); 3 and 4 are the finalists' fresh ones
    race, fresh = [s for s in shared if s < 3], [s for s in shared if s >= 3]
    assert race and c.selected.startswith(
        f"Both are candidates of search 'tiny': seeds {', '.join(map(str, race))} of the "
        f"{len(shared)} shared are the race's, which chose between candidates on val_acc")
    assert (f"seeds {', '.join(map(str, fresh))} are fresh" in c.selected) == bool(fresh)
    assert c.selected in str(c).splitlines()
    # STUDY:HASH_PREFIX, as `ls` shows a candidate: the same two configs, through their study
    again = res.compare(f"tiny:{a[:10]}", f"tiny:{b[:10]}", "val_acc")
    assert (again.a.config_hash, again.b.config_hash, again.selected) == (a, b, c.selected)
    assert re.search(r" = [+-]\d\.\d{4} in test loss \(95% CI [+-]\d\.\d{4} to ",
                     res.compare(a, b, "test_loss").text)


def test_assignment_runs_a_built_in_search_with_its_own_seeds(tmp_path, data_dir, monkeypatch,
                                                              capsys):
    """`assignment --seeds 2` gives the grids 2 seeds and lets a built-in search race its own
    (it refused the whole assignment, then refused q7s after the grids), prints the search's
    sentence and writes the report. The built-ins here: q1 and the tiny search."""
    monkeypatch.setattr(st, "BUILTIN", {"q1": st.BUILTIN["q1"],
                                        "tiny": st.Study.from_toml(TINY)})
    store = tmp_path / "s.db"
    assert cli.main(["assignment", "--seeds", "2", "--epochs", "1", "--subset", "300",
                     "--engine", "fast", "--quiet", "--data-dir", data_dir, "--store",
                     str(store), "--format", "md", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    res = sweeplab.open(store)
    assert sorted(res.runs("q1")["seed"]) == [0, 1]
    runs, df = res.runs("tiny"), res.search("tiny")
    assert len(runs) <= 12 and runs["seed"].max() >= 3  # the race's and the fresh seeds
    assert df.attrs["sentence"] in out
    report = (tmp_path / "r" / "report.md").read_text()
    assert "## tiny (complete)" in report and df.attrs["sentence"] in report


def test_grid_only_seed_rules_on_a_search_are_one_line(whole, tmp_path, capsys):
    """--until-ci/--until-detect add seeds outside the race's budget, and `plan` sizes
    neighbouring pairs a search does not have: both refused in one line, nothing written."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    store = tmp_path / "s.db"
    assert cli.main(["run", str(path), "--store", str(store), "--until-ci", "0.5"]) == 2
    err = capsys.readouterr().err
    assert err == ("sweeplab run: error: --until-ci W / --until-detect D add seeds to a grid's "
                   "configs; study 'tiny' is a search, whose race gives each candidate its seeds "
                   "(search.first_test, max_seeds, budget in the study). Run it without them.\n")
    assert not store.exists() and not journal_path(store, "tiny").parent.exists()
    assert cli.main(["run", str(path), "--store", str(store), "--seeds", "3"]) == 2
    assert capsys.readouterr().err == (
        "sweeplab run: error: a search gives its candidates their seeds itself "
        "(search.max_seeds = 3, search.fresh_seeds = 2); --seeds 3 does not apply to it.\n")
    with pytest.raises(ValueError, match=r"^until_ci=W / until_detect=D add seeds"):
        sweeplab.run(path, store=store, until_detect=0.5)
    assert cli.main(["plan", "tiny", "--detect", "1", "--store", str(whole[0])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sweeplab plan: error: 'tiny' is a search"), err


def _copy_store(store: Path, to: Path, journal: bool = True) -> Path:
    """The whole search's store (its SQLite files) and, with ``journal``, its Optuna journal."""
    import shutil

    to.mkdir(parents=True, exist_ok=True)
    for f in store.parent.glob(store.name + "*"):
        shutil.copy(f, to / f.name)
    if journal:
        shutil.copytree(journal_path(store, "tiny").parent, journal_path(to / store.name,
                                                                          "tiny").parent)
    return to / store.name


def test_a_redefined_search_keeps_its_history_and_the_new_one_starts_afresh(whole, tmp_path,
                                                                             data_dir):
    """--redefine archives a search as tiny@1 with its state and its journal (the report's
    parameter importances read it there); the new definition races on a journal of its own
    (it used to meet the old finalists in the store's state and fail with a KeyError)."""
    from sweeplab import readout
    from sweeplab.report.search import importances
    from sweeplab.store import Store

    store = _copy_store(whole[0], tmp_path)
    before, trials = sweeplab.open(store).search("tiny"), _trials(store)
    with Store(store, readonly=True) as db:
        imp = importances(readout.read_study(db, "tiny"), str(store))
    new = st.Study.from_toml(TINY.replace("budget = 12", "budget = 10"))
    with pytest.raises(sweeplab.SpecError, match=r"search.budget 12 -> 10"):
        sweeplab.run(new, store=store, data_dir=data_dir, engine="fast", progress=False)
    res = sweeplab.run(new, store=store, data_dir=data_dir, engine="fast", progress=False,
                       redefine=True)
    assert res.last.finished and res.last.spent <= 10
    after = sweeplab.open(store)
    kept = after.search("tiny@1")
    assert list(kept["config_hash"]) == list(before["config_hash"])
    assert list(kept["status"]) == list(before["status"])
    assert kept.attrs["sentence"] == before.attrs["sentence"]
    assert journal_path(store, "tiny@1").exists()
    with Store(store, readonly=True) as db:
        assert importances(readout.read_study(db, "tiny@1"), str(store)) == imp
    # The old history moved whole; each journal says which definition it holds.
    old = _journal(journal_path(store, "tiny@1"))
    assert [(t.number, t.params, t.state.name, t.value) for t in old.get_trials()] == trials
    assert old.user_attrs["sweeplab:study"]["search"]["budget"] == 12
    assert _journal(journal_path(store, "tiny")).user_attrs["sweeplab:study"]["search"][
        "budget"] == 10


def _journal(path: Path):
    import optuna

    return optuna.load_study(study_name=None, storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(path))))


def test_a_journal_of_another_definition_is_one_line_before_any_training(whole, tmp_path,
                                                                          capsys, data_dir):
    """The store deleted, the journal kept and the study changed: the old proposals and their
    values must not steer the new search. One line names the file and what differs."""
    store = tmp_path / "s.db"
    _copy_store(whole[0], tmp_path / "old")
    journal_path(store, "tiny").parent.mkdir()
    (tmp_path / "old" / "s_search" / "tiny.journal").replace(journal_path(store, "tiny"))
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.replace("epochs = 1", "epochs = 2"))
    assert cli.main(["run", str(path), "--store", str(store), "--data-dir", data_dir,
                     "--quiet", "--engine", "fast"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sweeplab run: error: "), err
    assert str(journal_path(store, "tiny")) in err and "epochs 1 -> 2" in err, err
    assert _done(store) == 0


def test_a_lost_journal_still_gives_a_finished_search_and_stops_an_unfinished_one(
        whole, tmp_path, capsys, data_dir):
    """The journal deleted: a search whose race is over still gives its answer from the store
    (nothing trained); one still racing is one line, since only that history can propose
    the same candidates next (it used to be a KeyError either way, or a new history)."""
    from sweeplab.search import run_search
    from sweeplab.store import Store

    done = _copy_store(whole[0], tmp_path / "done", journal=False)
    n, sentence = _done(done), sweeplab.open(whole[0]).search("tiny").attrs["sentence"]
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    run = ["run", str(path), "--data-dir", data_dir, "--quiet", "--engine", "fast", "--store"]
    assert cli.main([*run, str(done)]) == 0
    assert _done(done) == n and sentence in capsys.readouterr().out
    racing = tmp_path / "racing" / "s.db"
    racing.parent.mkdir()
    with Store(racing) as db:
        run_search(st.Study.from_toml(TINY), db, journal=journal_path(racing, "tiny"),
                   data_dir=data_dir, engine="fast", quiet=True, stop_after=2)
    k = _done(racing)  # the first step's groups (stop_after is checked between steps)
    assert 2 <= k < 12
    mid = sweeplab.open(racing).search("tiny")  # no finalists yet: those not dropped race on
    assert "racing" in set(mid["status"]) and set(mid["status"]) <= {"racing", "dropped"}
    journal_path(racing, "tiny").unlink()
    assert cli.main([*run, str(racing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing or empty" in err, err
    assert str(journal_path(racing, "tiny")) in err and _done(racing) == k


def test_the_drop_tests_level_is_the_studys_and_named_with_the_test(tmp_path, data_dir,
                                                                     monkeypatch):
    """search.level reaches race.decide as its alpha, is stored with the definition and
    named wherever the test is (report, serve); at its default 0.05 it is left out of the
    definition, so a search stored before it could be set is the same study."""
    from sweeplab.analysis import race
    from sweeplab.report.search import search_blocks
    from sweeplab.search import run_search
    from sweeplab.serve import source
    from sweeplab.store import Store

    assert "level" not in st.Study.from_toml(TINY).search.table()
    study = st.Study.from_toml(TINY.replace("seed = 1\n", "seed = 1\nlevel = 0.01\n"))
    assert study.search.level == 0.01 and st.Study.from_toml(study.to_toml()) == study
    seen, decide = [], race.decide
    monkeypatch.setattr(race, "decide",
                        lambda *a, **k: seen.append(k["alpha"]) or decide(*a, **k))
    store = tmp_path / "s.db"
    with Store(store) as db:
        run_search(study, db, journal=journal_path(store, "tiny"), data_dir=data_dir,
                   engine="fast", quiet=True, stop_after=2)
    assert seen and set(seen) == {0.01}
    res = sweeplab.open(store)
    assert res.view("tiny").definition["search"]["level"] == 0.01
    assert source.search(res, "tiny")["test"].endswith(", level 0.01")
    assert ", level 0.01 found worse" in search_blocks(res.view("tiny"), str(store))[0].text


def test_the_race_scores_each_run_over_its_last_epochs(tmp_path, data_dir):
    """search.metric_epochs: the race, its table and the incumbent's history score each run
    by its metric averaged over its last N epochs (the epochs frame's values, computed here
    apart), named as such by the report and serve; left out of the definition at 1."""
    from sweeplab.readout import search_answer
    from sweeplab.report.search import search_blocks
    from sweeplab.search import run_search
    from sweeplab.serve import source
    from sweeplab.store import Store

    assert "metric_epochs" not in st.Study.from_toml(TINY).search.table()
    study = st.Study.from_toml(TINY.replace("epochs = 1\n", "epochs = 2\n").replace(
        "seed = 1\n", "seed = 1\nmetric_epochs = 2\n"))
    assert study.search.metric_epochs == 2 and st.Study.from_toml(study.to_toml()) == study
    store = tmp_path / "s.db"
    with Store(store) as db:
        run_search(study, db, journal=journal_path(store, "tiny"), data_dir=data_dir,
                   engine="fast", quiet=True)
    res = sweeplab.open(store)
    ep = res.epochs("tiny").query("epoch >= 1").groupby(["config_hash", "seed"])["val_acc"]
    per_run = ep.mean()  # each run's mean over its 2 trained epochs
    assert (ep.size() == 2).all()
    df = res.search("tiny").query("n > 0").set_index("config_hash")
    assert len(df) >= 2
    final = res.runs("tiny").set_index(["config_hash", "seed"])["val_acc"]
    assert (per_run != final.loc[per_run.index]).any()  # the two scores tell apart here
    for h, row in df.iterrows():
        runs = per_run.loc[h].loc[list(range(row["n"]))]
        assert row["mean"] == pytest.approx(runs.mean(), abs=1e-12)
    _, h, mean = res.view("tiny").search["history"][-1]  # the driver's own table, then
    assert any(mean == pytest.approx(per_run.loc[h].loc[list(range(k))].mean())
               for k in range(1, df.loc[h, "n"] + 1))
    answer = search_answer(res.view("tiny"))  # the final round's fresh seeds, scored alike
    fresh = list(res.view("tiny").search_seeds[1])
    best = answer.best
    assert best.fresh_mean == pytest.approx(per_run.loc[best.key].loc[fresh].mean())
    test = res.runs("tiny").set_index(["config_hash", "seed"])["test_acc"]
    assert best.test_mean == pytest.approx(test.loc[best.key].loc[fresh].mean())  # final's
    assert answer.p_over == ""  # no one epoch's validation examples to resample
    words = "val_acc averaged over each run's last 2 epochs"
    assert f"its race estimate of {words} was" in answer.sentence
    assert source.search(res, "tiny")["score"] == words
    assert f"found worse on {words} got no more" in search_blocks(res.view("tiny"),
                                                                  str(store))[0].text


def test_search_in_python_equals_the_study_file():
    from_file = st.Study.from_toml(TINY)
    built = st.Study.build(
        "tiny", model="mlp-softmax-ce", dataset="mnist", epochs=1, subset=300,
        search=sweeplab.Search(
            params=(sweeplab.Param("width", "layers.1.units", "int", 4, 64, log=True),
                    {"name": "lr", "path": "optimizer.learning_rate", "float": [1e-5, 0.5],
                     "log": True}),
            budget=12, first_test=2, max_seeds=3, pool=3, finalists=1, fresh_seeds=2, seed=1))
    assert built == from_file
    assert built.seeds == (0, 1, 2, 3, 4)  # the race's seeds, then the fresh ones
    assert st.Study.from_toml(built.to_toml()) == built
    with pytest.raises(sweeplab.SpecError, match=r"search.params\[0\].int must have low"):
        st.Study.build("x", model="mlp-softmax-ce", search={
            "params": [{"path": "layers.1.units", "int": [9, 8]}], "budget": 20})


def test_exports_carry_the_candidates_and_the_report_has_the_section(whole, tmp_path):
    import pandas as pd

    store, stdout = whole
    res = sweeplab.open(store)
    res.export("csv", tmp_path / "csv")
    got = pd.read_csv(tmp_path / "csv" / "search.csv", dtype={"config_hash": str})
    want = res.search("tiny")
    assert list(got["study"]) == ["tiny"] * len(want)
    assert list(got["config_hash"]) == list(want["config_hash"])
    assert list(got["status"]) == list(want["status"])
    assert got["mean"].tolist() == pytest.approx(want["mean"].tolist())
    md = res.report(tmp_path / "r.md", studies=["tiny"], fmt="md").read_text()
    assert "The race ladder" in md and "paired t-test" in md and "Holm" in md
    assert want.attrs["sentence"] in md and want.attrs["sentence"] in stdout
    # the model shown is the best candidate's, under the searched space in words
    best = want.loc[want["status"] == "best"].iloc[0]
    assert ("Searched: width (layers.1.units) 4-64, log; lr (optimizer.learning_rate) "
            f"1e-05-0.5, log; the best candidate's model ({best['config']}):") in md
    assert f"dense({best['width']},relu)" in md.split("Searched: ")[1].split("```")[1]
    # no baseline: the first candidate is the sampler's first guess, not a reference
    assert "baseline" not in md and "What these seeds can tell, per comparison" not in md


def test_a_builders_param_can_be_searched(tmp_path):
    from sweeplab.search import planned_candidate

    (tmp_path / "m.py").write_text(
        "def build(width=8):\n    import keras\n    return keras.Sequential([keras.layers."
        "Flatten(), keras.layers.Dense(width), keras.layers.Dense(10)])\n")
    s = st.Study.from_toml(
        f'name = "u"\n[model]\nbuilder = "{tmp_path / "m.py"}:build"\n'
        'output_activation = "linear"\n[model.params]\nwidth = 8\n[search]\nbudget = 30\n'
        '[[search.params]]\nname = "width"\npath = "model.params.width"\nint = [4, 64]\n')
    a, b = planned_candidate(s, {"width": 20}), planned_candidate(s, {"width": 21})
    assert dict(a.config.model.params) == {"width": 20} and a.label == "width=20"
    assert a.config_hash != b.config_hash  # each value its own config (its runs kept apart)


ON_AXES = TINY.replace("[search]", """layers = [{type = "flatten"}, {type = "dense", units = 32},
  {type = "dropout", rate = 0.0}, {type = "dense", units = 32}, {type = "dropout", rate = 0.0}]
[[axes]]
name = "dropout"
paths = ["layers.2.rate", "layers.4.rate"]
values = [0.0, 0.5]
labels = ["none", "half"]
[[axes]]
name = "w2"
path = "layers.3.units"
values = [8, 64]
[search]""").replace('int = [4, 64]', 'int = [4, 8]')


def test_a_search_on_top_of_grid_axes_searches_each_axis_as_a_choice(tmp_path):
    from sweeplab.search import _Driver, planned_candidate
    from sweeplab.store import Store

    s = st.Study.from_toml(ON_AXES)
    assert s.axes == ()  # the axes are the search's: no grid is walked
    dropout, w2, *_ = s.search.params
    assert [p.name for p in s.search.params] == ["dropout", "w2", "width", "lr"]
    assert (dropout.kind, dropout.paths, dropout.choices, dropout.labels) == \
        ("choices", ("layers.2.rate", "layers.4.rate"), (0.0, 0.5), ("none", "half"))
    assert (w2.paths, w2.choice_labels()) == (("layers.3.units",), ("8", "64"))
    assert st.Study.from_toml(s.to_toml()) == s
    c = planned_candidate(s, {"dropout": "half", "w2": "64", "width": 5, "lr": 0.01})
    assert c.label == "dropout=half, w2=64, width=5, lr=0.01"
    layers = c.config.layers
    assert (layers[1].units, layers[2].rate, layers[3].units, layers[4].rate) == (5, 0.5, 64,
                                                                                  0.5)
    # Optuna proposes among the axes' labels; every candidate is a point of the grid x space.
    store = Store(tmp_path / "s.db")
    drv = _Driver(s, store, journal_path(tmp_path / "s.db", s.name), print)
    for _ in range(6):
        assert drv.propose(drv.candidates())
    seen = list(drv.candidates().values())
    assert len(seen) == 6
    for p, params, _ in seen:
        assert params["dropout"] in ("none", "half") and params["w2"] in ("8", "64")
        rate = 0.5 if params["dropout"] == "half" else 0.0
        ls = p.config.layers
        assert (ls[2].rate, ls[4].rate, ls[3].units) == (rate, rate, int(params["w2"]))
    store.close()


@pytest.mark.parametrize("change,key", [
    (('name = "w2"', 'name = "lr"'), "search.params names must differ from the axes' names"),
    (("values = [8, 64]", "values = [8, 0]"), "axes[1] at layers.3.units=0"),
    (('labels = ["none", "half"]', 'labels = ["x", "x"]'), "axes[0].labels must be distinct"),
])
def test_bad_axes_under_a_search_are_one_line(change, key):
    with pytest.raises(sweeplab.SpecError, match=key.replace("[", r"\[").replace("]", r"\]")):
        st.Study.from_toml(ON_AXES.replace(*change))
