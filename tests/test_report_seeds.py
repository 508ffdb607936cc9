"""The report's "what the seeds can tell" blocks on a real tiny store: the noise-floor
sentence, the power / P(b > a) table against sweeplab.seeds, score distributions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sweeplab import plots, report
from sweeplab.analysis import outcomes as O
from sweeplab.analysis import seeds
from sweeplab.readout import read_study
from sweeplab.report import seeds as report_seeds
from sweeplab.store import Store

OLD_STORE = Path(__file__).parent / "data" / "q1_schema2.db"


@pytest.fixture(scope="module")
def store(report_store):
    """The shared report store (tests/conftest.py): q1 and q6 (widths 4, 32, 64), 2 seeds,
    1 epoch, 300 images (and other studies, not read here)."""
    with Store(report_store, readonly=True) as s:
        yield s


def _section(store, name):
    rep = report.build_report(store, [name])
    return next(s for s in rep.sections if s.id == name)


def test_seeds_or_test_set_is_asked_once_per_config(store):
    # Runs that kept their predictions: the variance split's test against the test set's own
    # part, once (not again in the per-example blocks, not the binomial floor's verdict).
    (c,) = read_study(store, "q1").configs
    want = c.variance_split.sentence()
    texts = [b.text for b in _section(store, "q1").blocks if isinstance(b, report.Text)]
    assert f"Seeds or test set? {want[0].upper()}{want[1:]}" in texts
    assert sum(want[1:] in t for t in texts) == 1
    # Three configs: the verdicts listed are the split's tests.
    sd = read_study(store, "q6")
    (text,) = [b.text for b in _section(store, "q6").blocks if isinstance(b, report.Text)
               and b.text.startswith("Seeds or test set?")]
    beyond = [x.label for x in sd.configs if x.variance_split.p_value < 0.05]
    within = [x.label for x in sd.configs if x.variance_split.p_value >= 0.05]
    assert len(sd.configs) == 3 and "against the test set's own part" in text
    assert (f"p < 0.05): {'; '.join(beyond)}." in text) == bool(beyond)
    assert (f"In {'; '.join(within)} the runs are indistinguishable" in text) == bool(within)


def test_seeds_or_test_set_without_predictions_is_the_binomial_floors():
    # A store written before predictions were kept (tests/data/q1_schema2.db, 10 seeds).
    with Store(OLD_STORE, readonly=True) as old:
        (c,) = read_study(old, "q1").configs
        assert c.variance_split is None
        want = seeds.runs_floor(c.runs).sentence()
        texts = [b.text for b in _section(old, "q1").blocks if isinstance(b, report.Text)]
    assert f"Seeds or test set? {want[0].upper()}{want[1:]}" in texts


def test_power_table_matches_the_seeds_module_and_is_deterministic(store):
    sec = _section(store, "q6")
    (table,) = [b for b in sec.blocks if isinstance(b, report.Table)
                and b.caption.startswith("What these seeds can tell")]
    sd = read_study(store, "q6")
    by = {c.label: plots.final_values(c.runs, "test") for c in sd.configs}
    # baseline (width=32 in q6? whichever the study names) against the others, then neighbours
    assert [r[0] for r in table.rows] == [f"{b.label} vs {a.label}"
                                          for a, b in report_seeds._pairs(sd)]
    assert len(table.rows) >= 3
    for row in table.rows:
        b, a = row[0].split(" vs ")
        pw, imp = seeds.power(by[a], by[b]), seeds.prob_improvement(by[a], by[b])
        assert row[1] == "2 paired" and row[2] == f"{100 * pw.diff:+.2f}"
        assert row[3].startswith(f"{imp.prob:.2f} [{imp.low:.2f}, {imp.high:.2f}]")
        assert row[4] == f"{100 * pw.mdd:.2f}"
        # beyond test-set noise: the test set's part of this difference, from the predictions
        ca, cb = (next(c for c in sd.configs if c.label == x) for x in (a, b))
        edge, measured = seeds.pair_edge(seeds.runs_floor(ca.runs), seeds.runs_floor(cb.runs),
                                         O.difference(ca.outcomes, cb.outcomes))
        assert measured and row[6] == ("yes" if abs(pw.diff) >= edge
                                       else f"not sure (< {100 * edge:.2f})")
    assert seeds.edge_source(True) in table.caption
    assert seeds.edge_source(False) not in table.caption
    again = [b for b in _section(store, "q6").blocks if isinstance(b, report.Table)
             and b.caption.startswith("What these seeds can tell")]
    assert again[0].rows == table.rows  # fixed bootstrap seeds


def test_score_distribution_shown_exactly_when_runs_split(store):
    for name in ("q1", "q6"):
        sd = read_study(store, name)
        sec = _section(store, name)
        shown = [b for b in sec.blocks if isinstance(b, report.Plot)
                 and b.name.endswith("score-distribution")]
        assert bool(shown) == any(report_seeds._splits(c) for c in sd.configs if c.runs)
        for plot in shown:
            rec = plot.record
            vals = {c.label: np.array(list(plots.final_values(c.runs, "test").values()))
                    for c in sd.configs}
            for i, label in enumerate(rec.labels):
                want = [(vals[label] >= t).mean() for t in rec.thresholds]
                np.testing.assert_array_equal(rec.share[i], want)
            assert plots.to_png(plot.draw(rec))[:4] == b"\x89PNG"
