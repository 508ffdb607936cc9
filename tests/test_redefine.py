"""A study whose name is taken by another definition (a built-in's, or the store's) is
refused with what differs; ``--redefine`` replaces it and keeps the earlier runs listed."""

from __future__ import annotations

import sqlite3

from sweeplab import study as st

SMALL = ["--seeds", "1", "--epochs", "1", "--subset", "300", "--quiet"]


def test_studies_output_says_an_edited_copy_needs_a_name(tmp_path, run_cli):
    code, toml, _ = run_cli("studies", "q6")
    assert code == 0
    comments = " ".join(x for x in toml.splitlines() if x.startswith("#"))
    assert 'name = "q6" is the built-in study\'s' in comments and "--redefine" in comments
    path = tmp_path / "q6.toml"
    path.write_text(toml)
    assert st.load_study_file(path) == st.BUILTIN["q6"]  # the comments change nothing


def test_edited_builtin_refused_then_redefine_keeps_old_runs(tmp_path, data_dir, run_cli):
    db = str(tmp_path / "s.db")
    where = ["--store", db, "--data-dir", data_dir]
    assert run_cli("run", "q1", *SMALL, *where)[0] == 0
    before = sqlite3.connect(db).execute("SELECT config_hash, seed FROM runs").fetchall()
    edited = tmp_path / "mine.toml"
    edited.write_text(run_cli("studies", "q1")[1].replace("units = 32", "units = 64"))

    # on a fresh store: it is not the built-in q1, so it may not take its name
    code, _, err = run_cli("run", str(edited), *SMALL, "--store", str(tmp_path / "new.db"),
                           "--data-dir", data_dir)
    assert code == 2 and err.count("\n") == 1
    assert "differs from 'q1' as built in: model.layers.1.units 32 -> 64." in err
    assert "name of its own" in err and "--redefine" in err
    assert not (tmp_path / "new.db").exists()

    # on the store holding q1: refused, nothing changed
    code, _, err = run_cli("run", str(edited), *SMALL, *where)
    assert code == 2 and f"differs from 'q1' as {db} holds it: model.layers.1.units" in err
    assert "stay listed as q1@N" in err
    assert run_cli("ls", "--store", db)[1].count("q1") == 1

    # --redefine: the edited study is q1 now; the earlier runs are listed under q1@1
    assert run_cli("run", str(edited), *SMALL, *where, "--redefine")[0] == 0
    code, ls, _ = run_cli("ls", "--store", db)
    assert "q1: 1/1 runs done" in ls and "q1@1: 1/1 runs done" in ls
    assert "no current study" not in ls
    con = sqlite3.connect(db)
    kept = con.execute("SELECT config_hash FROM study_configs WHERE study='q1@1'").fetchall()
    assert kept == [(before[0][0],)]
    assert set(before) <= set(con.execute("SELECT config_hash, seed FROM runs").fetchall())
    code, _, _ = run_cli("report", "--store", db, "--format", "md", "--out", str(tmp_path / "r"))
    md = (tmp_path / "r" / "report.md").read_text()
    assert code == 0 and "q1@1" in md

    # the built-in q1 itself is now the other definition: refused the same way
    code, _, err = run_cli("run", "q1", *SMALL, *where)
    assert code == 2 and "model.layers.1.units 64 -> 32" in err


def test_more_seeds_and_prose_are_no_redefinition(tmp_path, data_dir, run_cli):
    db = str(tmp_path / "s.db")
    assert run_cli("run", "q1", *SMALL, "--store", db, "--data-dir", data_dir)[0] == 0
    text = run_cli("studies", "q1")[1].replace('title = "Q1', 'title = "My Q1')
    (tmp_path / "q1.toml").write_text(text)
    code, out, err = run_cli("run", str(tmp_path / "q1.toml"), "--seeds", "2", "--epochs", "1",
                             "--subset", "300", "--quiet", "--store", db, "--data-dir", data_dir)
    assert code == 0, err
    assert "trained 1 runs" in out and "1 were already done" in out


def test_redefinition_lists_what_differs():
    a = st.study_to_dict(st.BUILTIN["q6"])
    b = st.study_to_dict(st.with_overrides(st.BUILTIN["q6"], seeds=3, epochs=1))
    assert st.redefinition(a, b, ignore=st.RUN_SIZE) is None
    assert st.redefinition(a, b) == "epochs 10 -> 1"
    assert st.redefinition(a, a) is None
