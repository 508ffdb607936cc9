"""Scheduling, adaptive seeds and comparisons on real (tiny) trainings."""

from __future__ import annotations

import pytest

from sweeplab import runner
from sweeplab import spec as S
from sweeplab import study as st
from sweeplab.runner import run_study, run_until_ci
from sweeplab.store import Store


def _tiny(seeds=2, widths=(4, 16)) -> st.Study:
    return st.study_from_dict({
        "name": "tiny", "dataset": "mnist", "seeds": seeds, "epochs": 1, "subset": 300,
        "model": {"preset": "mlp-softmax-ce"},
        "axes": [{"name": "width", "paths": ["layers.1.units"], "values": list(widths)}],
    })


def test_schedule_gives_every_config_seed_zero_first():
    study = _tiny(seeds=3)
    planned = st.expand(study)
    order = st.schedule(planned, study.seeds, done={})
    assert [(p.label, s) for p, s in order] == [
        ("width=4", (0,)), ("width=16", (0,)), ("width=4", (1,)), ("width=16", (1,)),
        ("width=4", (2,)), ("width=16", (2,))]
    # in groups (a multi-seed engine), rounds of two seeds; done seeds are skipped
    order = st.schedule(planned, study.seeds, done={planned[0].config_hash: {0}}, group=2)
    assert [(p.label, s) for p, s in order] == [
        ("width=4", (1,)), ("width=16", (0, 1)), ("width=4", (2,)), ("width=16", (2,))]


def test_half_finished_study_has_seed_zero_of_every_config(tmp_path, data_dir):
    study = _tiny(seeds=3)
    with Store(tmp_path / "s.db") as store:
        # stop after two runs: both must be seed 0, one per config
        seen = []
        store_finish = store.finish_run

        def finish(result, versions):
            store_finish(result, versions)
            seen.append((result.config_hash, result.seed))
            if len(seen) == 2:
                raise KeyboardInterrupt

        store.finish_run = finish
        with pytest.raises(KeyboardInterrupt):
            run_study(study, store, data_dir=data_dir, quiet=True, engine="reference")
        hashes = [p.config_hash for p in st.expand(study)]
        assert sorted(seen) == sorted((h, 0) for h in hashes)


def _count_preflights(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = runner.preflight

    def counted(study, *args, **kwargs):
        calls.append(study.name)
        return real(study, *args, **kwargs)

    monkeypatch.setattr(runner, "preflight", counted)
    return calls


def test_until_ci_stops_at_max_seeds_and_store_shows_it(tmp_path, data_dir, monkeypatch):
    study = _tiny(seeds=2, widths=(4,))
    preflights = _count_preflights(monkeypatch)
    with Store(tmp_path / "s.db") as store:
        out = run_until_ci(study, store, target_points=0.001, max_seeds=5, seeds_per_round=2,
                           data_dir=data_dir, quiet=True, engine="reference")
        assert out.reason.startswith("reached --max-seeds 5")
        assert out.seeds == {"width=4": 5} and len(out.rounds) == 3
        (row,) = store.study_configs("tiny")
        assert store.done_seeds(row.config_hash) == {0, 1, 2, 3, 4}
        assert store.study("tiny").definition["seeds"] == [0, 1, 2, 3, 4]
        assert store.get_meta("adaptive:tiny")["reason"] == out.reason
    assert preflights == ["tiny"]  # once for the three rounds


def test_run_resolves_the_study_once(tmp_path, data_dir, monkeypatch):
    """sweeplab.run checks everything before the store is created and the runner takes what
    it resolved (the engine, the data, the grid, every user model) instead of again."""
    import sweeplab

    preflights = _count_preflights(monkeypatch)
    res = sweeplab.run(_tiny(seeds=1, widths=(4,)), store=tmp_path / "s.db", data_dir=data_dir,
                       engine="reference", progress=False)
    assert preflights == ["tiny"]
    assert res.last.trained == 1


def test_until_ci_stops_when_intervals_are_narrow(tmp_path, data_dir):
    study = _tiny(seeds=2, widths=(4, 16))
    with Store(tmp_path / "s.db") as store:
        out = run_until_ci(study, store, target_points=100.0, max_seeds=8, min_seeds=2,
                           data_dir=data_dir, quiet=True, engine="reference")
        assert out.reason.startswith("every configuration's 95% CI half-width is at most 100")
        assert out.seeds == {"width=4": 2, "width=16": 2} and len(out.rounds) == 1
        # the default minimum of 3 seeds holds even when 2 already look narrow enough
        more = run_until_ci(study, store, target_points=100.0, max_seeds=8, data_dir=data_dir,
                            quiet=True, engine="reference")
        assert more.seeds == {"width=4": 4, "width=16": 4} and more.rounds[0].trained == 0
        assert all(w <= 100 for w in out.half_widths.values())


def test_compare_cli_prints_paired_table(tiny_store, run_cli):
    # the store given as compare's first argument (the shared "tiny": 3 seeds per width)
    code, text, err = run_cli("compare", tiny_store, "tiny:width=4", "tiny:width=16")
    assert code == 0, err
    assert "paired over 3 shared seeds" in text and "95% CI (t)" in text
    assert "tiny width=16 - tiny width=4 = " in text
    with Store(tiny_store, readonly=True) as store:
        a = {r.seed: r.final.test_acc for r in store.results(st.expand(_tiny())[0].config_hash)}
    # the printed mean of width=4 is the stored mean, in points
    assert f"{100 * sum(a.values()) / 3:.3f}" in text
    # a validation metric of configs that held out no validation split: one line
    code, text, err = run_cli("compare", tiny_store, "tiny:width=4", "tiny:width=16",
                              "--metric", "val_acc")
    assert code == 2 and err.startswith("sweeplab compare: error: 'tiny:width=4' (") and \
        err.endswith(") has no val_acc: its runs held out no validation split. Allowed: "
                     "train_loss, train_acc, test_loss, test_acc\n"), err
    # by hash prefixes (as `ls` prints them): labelled as the study labels them
    hashes = {p.label: p.config_hash for p in st.expand(_tiny())}
    h4, h16 = hashes["width=4"], hashes["width=16"]
    code, text, err = run_cli("compare", tiny_store, h4[:8], h16[:8])
    assert code == 0 and "\nwidth=16 - width=4 = " in text, err
    # one config under two names (its label and its hash) is refused in one line
    h = st.expand(_tiny())[0].config_hash
    code, text, err = run_cli("compare", tiny_store, "tiny:width=4", h[:8])
    assert code == 2 and text == ""
    assert err.strip() == (f"sweeplab compare: error: 'tiny:width=4' and '{h[:8]}' name the "
                           f"same config ({h[:10]}); compare needs two different configs.")


def test_study_file_validation_names_axis(tmp_path):
    with pytest.raises(S.SpecError, match="axes\\[0\\].scale must be one of"):
        st.study_from_dict({"name": "x", "model": {"preset": "mlp-relu-mse"},
                            "axes": [{"paths": ["epochs"], "values": [1],
                                      "scale": "log10"}]})


def test_fast_engine_groups_shape_the_schedule(data_dir):
    from sweeplab import data
    from sweeplab.engines import get_engine
    from sweeplab.runner import _group_size

    study = _tiny(seeds=4)
    ds = data.load("mnist", data_dir, subset=300)
    planned = st.expand(study)
    assert _group_size(get_engine("reference"), planned, ds, 4) == 1
    assert _group_size(get_engine("fast"), planned, ds, 4) == 4  # tiny MLPs: all seeds at once
    assert _group_size(get_engine("fast", parallel=3), planned, ds, 4) == 3


def test_fast_engine_study_trains_each_config_in_one_group(tmp_path, data_dir):
    study = _tiny(seeds=3)
    with Store(tmp_path / "s.db") as store:
        summary = run_study(study, store, data_dir=data_dir, quiet=True, engine="fast")
        assert summary.trained == 6 and summary.ok
        for p in st.expand(study):
            runs = store.results(p.config_hash)
            assert [r.engine for r in runs] == ["fast"] * 3
            # one group: the group's wall time is shared equally by its runs
            assert len({r.wall_seconds for r in runs}) == 1
