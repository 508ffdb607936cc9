"""The report built from a small real store: sections, numbers, commands, escaping."""

from __future__ import annotations

import html
import re

import pytest

from sweeplab import plots, report
from sweeplab.analysis import stats
from sweeplab.store import Store

TRICKY = '<b>bold</b> & "q"'  # in the title of the shared report store's study "mine"


@pytest.fixture(scope="module")
def store(report_store):
    """The shared report store (tests/conftest.py): intro, q1, q6 (widths 4, 32, 64), q7d and
    a user study "mine", 2 seeds each, all tiny; q3 half run."""
    with Store(report_store, readonly=True) as s:
        yield s


@pytest.fixture(scope="module")
def built(store, data_dir):
    return report.build_report(store, data_dir=data_dir)


def _section(rep: report.Report, sid: str) -> report.Section:
    return next(s for s in rep.sections if s.id == sid)


def _texts(section: report.Section) -> list[str]:
    out = []
    for b in section.blocks:
        if isinstance(b, report.Text):
            out.append(b.text)
        elif isinstance(b, report.Bullets):
            out.extend(b.items)
    return out


def test_sections_in_assignment_order_then_user_studies(built):
    ids = [s.id for s in built.sections]
    assert ids == ["intro", "q1", "q3", "q6", "q7d", "q7-steps", "cifar-intro", "mine"]
    assert _section(built, "q3").status == "partial"
    assert _section(built, "q1").status == "complete"


def test_resolve_studies_rejects_unknown_names(store):
    assert report.resolve_studies(store, ["mine", "q6", "q1"]) == ["q1", "q6", "mine"]
    with pytest.raises(ValueError, match="nope") as err:
        report.resolve_studies(store, ["q1", "nope"])
    assert "intro, mine, q1, q3, q6, q7d" in str(err.value)


def test_config_table_numbers_match_the_store(store, built):
    runs = store.results(store.study_configs("q1")[0].config_hash)
    finals = [r.final.test_acc for r in runs]
    s = stats.summarize(finals, n_boot=0)
    table = next(b for b in _section(built, "q1").blocks if isinstance(b, report.Table))
    row = table.rows[0]
    assert row[0] == "base" and row[1] == "2"
    assert row[3] == (f"{100 * s.mean:.2f}% ± {100 * s.std:.2f} "
                      f"[{100 * s.ci_low:.2f}, {100 * s.ci_high:.2f}]")
    best = max(runs, key=lambda r: r.final.test_acc)
    assert row[4] == f"seed {best.seed}: {100 * best.final.test_acc:.2f}%"
    spread = [t for t in _texts(_section(built, "q1")) if t.startswith("Runs differ")]
    assert f"ranges from {100 * min(finals):.2f}% to {100 * max(finals):.2f}% over 2 seeds" \
        in spread[0]


def test_q6_has_baseline_and_neighbour_comparisons(store, built):
    sec = _section(built, "q6")
    tables = [b for b in sec.blocks if isinstance(b, report.Table)]
    # configs, vs baseline, neighbours (then issue 23's power table: tests/test_report_seeds)
    assert [len(t.rows) for t in tables][:3] == [3, 2, 2]
    rows = store.study_configs("q6")
    a = plots.final_values(store.results(rows[1].config_hash))
    b = plots.final_values(store.results(rows[2].config_hash))
    expected = stats.compare(a, b)
    neighbour = tables[2].rows[1]
    assert neighbour[0] == "width=64 vs width=32"
    assert neighbour[2] == f"{100 * expected.diff:+.2f}"
    assert neighbour[3] == f"{100 * expected.ci_low:+.2f} to {100 * expected.ci_high:+.2f}"
    assert any(t.startswith(("Neighbouring width values that are distinguishable",
                             "Not distinguishable once")) for t in _texts(sec))
    plot_names = [b.record.__class__.__name__ for b in sec.blocks if isinstance(b, report.Plot)]
    assert plot_names[0] == "ParamSweep" and "ConfusionPlot" in plot_names


def test_partial_and_unrun_studies_say_what_is_missing_and_how_to_fill_it(store, data_dir):
    rep = report.build_report(store, ["q3", "q4"], data_dir=data_dir)
    q3, q4 = _section(rep, "q3"), _section(rep, "q4")
    code3 = [b.text for b in q3.blocks if isinstance(b, report.Code)]
    # the data directory the report used is passed on, so the command runs as printed
    assert (f"sweeplab run q3 --store {store.path} --seeds 2 --epochs 1 --subset 300 "
            f"--data-dir {data_dir}") in code3
    assert any("1 of 2 runs are missing" in t for t in _texts(q3))
    assert any("base: seeds 1" in t for t in _texts(q3))
    assert q4.status == "not run"
    assert f"sweeplab run q4 --store {store.path} --seeds 10 --epochs 20 --data-dir {data_dir}" in [
        b.text for b in q4.blocks if isinstance(b, report.Code)]
    assert not any(isinstance(b, report.Plot) for b in q4.blocks)


def test_intro_shows_untrained_accuracy_probe_and_counts(store, built):
    sec = _section(built, "intro")
    run = store.results(store.study_configs("intro")[0].config_hash)[0]
    kinds = [type(b.record).__name__ for b in sec.blocks if isinstance(b, report.Plot)]
    # LivenessPlot: which output units are alive (issue 14: the intro/Q1 unit-level plot)
    assert kinds == ["ImageGrid", "ProbeOutputs", "TwinCurves", "ConfusionPlot", "LivenessPlot"]
    assert any(f"scores {100 * run.epochs[0].test_acc:.2f}% on the test set" in t
               for t in _texts(sec))
    conf = next(b.record for b in sec.blocks
                if isinstance(b, report.Plot) and isinstance(b.record, plots.ConfusionPlot))
    assert not conf.normalised and conf.values.sum() == run.confusion.sum()


def test_q7_steps_compare_against_the_width32_reference(built):
    sec = _section(built, "q7-steps")
    table = next(b for b in sec.blocks if isinstance(b, report.Table))
    assert [r[0] for r in table.rows] == ["q7d (the chosen model) vs q6 width=32"]


def test_html_is_self_contained_and_escaped(store, data_dir, tmp_path):
    out = report.write_report(store, tmp_path / "r.html", ["q1", "mine"], data_dir=data_dir)
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "<script" not in text and "http://" not in text and "https://" not in text
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", text)
    assert html.escape(TRICKY) in text and TRICKY not in text
    assert "slow&lt;i&gt;" in text and "slow<i>" not in text
    assert text.count('src="data:image/png;base64,') >= 4
    assert 'id="q1"' in text and 'href="#mine"' in text


def test_markdown_writes_pngs_beside_it(store, data_dir, tmp_path):
    md = report.write_report(store, tmp_path / "out", ["q1"], fmt="md", data_dir=data_dir)
    assert md == tmp_path / "out" / "report.md"
    links = re.findall(r"\]\(img/([^)]+\.png)\)", md.read_text())
    assert links and all((tmp_path / "out" / "img" / name).stat().st_size > 1000
                         for name in links)
    with pytest.raises(ValueError, match="fmt must be one of html, md"):
        report.write_report(store, tmp_path / "x", fmt="pdf")


def test_missing_data_is_said_not_crashed(store, tmp_path):
    # A data directory given is the only place looked (no Keras cache, no download), and
    # this one is empty: the intro says the images cannot be shown, and shows the rest.
    rep = report.build_report(store, ["intro", "q1"], data_dir=str(tmp_path))
    texts = _texts(_section(rep, "intro"))
    kinds = [type(b.record).__name__ for b in _section(rep, "intro").blocks
             if isinstance(b, report.Plot)]
    assert kinds == ["ProbeOutputs", "TwinCurves", "ConfusionPlot", "LivenessPlot"]
    (said,) = [t for t in texts if "cannot be shown" in t]
    assert said.startswith("The training images cannot be shown: ") and str(tmp_path) in said
