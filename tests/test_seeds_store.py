"""What seeds can tell, on real (tiny) trainings in a real store: `compare` and the API's
Compared, `sweeplab plan`, and `run --until-detect` ending when its condition holds."""

from __future__ import annotations

import math
import re

import pytest
from scipy import stats as scipy_stats

import sweeplab
from sweeplab import study as st
from sweeplab.analysis import seeds
from sweeplab.runner import run_until_ci
from sweeplab.store import Store

SUBSET = 300  # images per split of the shared tiny store (tests/conftest.py)


def _tiny(seeds=3, widths=(4, 16)) -> st.Study:
    return st.study_from_dict({
        "name": "tiny", "dataset": "mnist", "seeds": seeds, "epochs": 1, "subset": SUBSET,
        "model": {"preset": "mlp-softmax-ce"},
        "axes": [{"name": "width", "paths": ["layers.1.units"], "values": list(widths)}],
    })


@pytest.fixture(scope="module")
def trained(tiny_store):
    """The shared store of study "tiny" (tests/conftest.py): widths 4, 16, 64 x 3 seeds."""
    return sweeplab.open(tiny_store)


def test_compared_carries_power_improvement_and_noise(trained, run_cli):
    c = trained.compare("tiny:width=4", "tiny:width=16")
    va, vb = c.values_a, c.values_b
    assert c.power == seeds.power(va, vb) and c.power.paired and c.power.n == 3
    assert c.improvement == seeds.prob_improvement(va, vb)
    assert c.floor_a == seeds.noise_floor(list(va.values()), SUBSET)
    assert c.floor_b.n_test == SUBSET
    # The least difference the test set resolves: its part of this difference, measured
    # from the runs' predictions (not the binomial bound, which treats the two as
    # independent: 3 times as wide here).
    z = scipy_stats.norm.ppf(0.975)
    assert c.resolvable_measured
    assert c.resolvable == pytest.approx(z * c.paired.two_way.test_set_se, rel=1e-12)
    assert c.resolvable < seeds.resolvable(c.floor_a.mean, c.floor_b.mean, SUBSET)
    # The terminal and the CLI show the same text; the notebook the same rows, escaped.
    rc, text, err = run_cli("compare", "tiny:width=4", "tiny:width=16", "--store", trained.path)
    assert rc == 0, err
    assert text.rstrip("\n") == str(c)
    assert re.search(r"P\(B > A\)\s+(\S+)", text)[1] == f"{c.improvement.prob:.2f}"
    assert re.search(r"detectable \(80%\)\s+(\S+)", text)[1] == f"{100 * c.power.mdd:.3f}"
    need = re.search(r"seeds to detect diff\s+(\S+)", text)[1]
    assert need == ("never" if c.power.diff == 0 else f"{int(c.power.seeds_needed):,}")
    assert c.power.sentence() in text
    # Seeds or test set? Asked once: the runs kept their predictions, so the split's test
    # against the test set's own part answers it, not the binomial floor's.
    assert c.split_a is not None and f"tiny width=4: {c.split_a.sentence()}" in text
    assert c.floor_a.sentence("tiny width=4") not in text
    html = c._repr_html_()
    assert "<table>" in html and "P(B &gt; A)" in html and "dataclass" not in html
    assert "Compared(" not in str(c)
    pretty = pytest.importorskip("IPython.lib.pretty")
    assert pretty.pretty(c) == str(c)  # IPython's terminal shows what print() shows
    # Losses have no test-set binomial floor.
    loss = trained.compare("tiny:width=4", "tiny:width=16", metric="test_loss")
    assert loss.floor_a is None and math.isnan(loss.resolvable) and loss.power is not None


def test_plan_prints_seeds_needed_per_neighbouring_pair(trained, run_cli):
    rc, text, err = run_cli("plan", "tiny", "--detect", "0.5", "--store", trained.path)
    assert rc == 0, err
    vals = {label: dict(zip(g["seed"], g["test_acc"], strict=True))
            for label, g in trained.runs("tiny").groupby("config")}
    for a, b in (("width=4", "width=16"), ("width=16", "width=64")):
        pw = seeds.power(vals[a], vals[b])
        want = seeds.seeds_to_detect(0.005, pw.sd, pw.paired)
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(f"{b} vs {a}"))
        assert line.split()[-1] == seeds.seed_count(want)
        assert f"{100 * pw.mdd:.3f}" in line and "3 paired" in line
    assert run_cli("plan", "tiny", "--detect", "0", "--store", trained.path).rc == 2


def test_until_detect_ends_when_its_condition_holds(tmp_path, data_dir):
    study = _tiny(seeds=2, widths=(4, 16))
    with Store(tmp_path / "s.db") as store:
        first = run_until_ci(study, store, 0.0, max_seeds=2, min_seeds=2, detect=1000.0,
                             data_dir=data_dir, quiet=True, engine="reference")
        mdd2 = first.detectable["width=16 vs width=4"]
        assert first.reason.startswith("every neighbouring pair would detect 1000")
        # Half the difference two seeds can detect: two seeds cannot stop, so it adds rounds.
        target = mdd2 / 2
        out = run_until_ci(study, store, 0.0, max_seeds=6, seeds_per_round=1, min_seeds=2,
                           detect=target, data_dir=data_dir, quiet=True, engine="reference")
        assert len(out.rounds) >= 2
        hashes = {p.label: p.config_hash for p in st.expand(study)}

        def mdd(n: int) -> float:  # from the store, with the first n seeds
            va, vb = ({r.seed: r.final.test_acc for r in store.results(hashes[w]) if r.seed < n}
                      for w in ("width=4", "width=16"))
            return 100 * seeds.power(va, vb).mdd

        n = out.seeds["width=4"]
        assert out.seeds == {"width=4": n, "width=16": n}
        assert out.detectable["width=16 vs width=4"] == pytest.approx(mdd(n))
        assert not mdd(n - 1) <= target  # it did not stop when it could have
        if out.reason.startswith("every neighbouring pair"):
            assert mdd(n) <= target
        else:  # the cap came first, and the condition still does not hold
            assert out.reason.startswith("reached --max-seeds 6") and n == 6
            assert not mdd(n) <= target
        assert store.get_meta("adaptive:tiny")["detect"] == target


def test_until_ci_and_until_detect_together_are_refused(tmp_path):
    with pytest.raises(ValueError, match="give one"):
        sweeplab.run(_tiny(), store=tmp_path / "s.db", until_ci=1.0, until_detect=0.5)
    assert not (tmp_path / "s.db").exists()
