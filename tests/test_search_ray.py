"""A search on Ray (a local cluster on 127.0.0.1, started and shut down here): the race is
decided as slots free up, so the sampler proposes while other candidates' seeds train; every
run is stored once, the budget counts each once, a dropped candidate gets no seed it was not
already training, and the answer comes from the final round on fresh seeds."""

from __future__ import annotations

import pytest

import sweeplab

pytest.importorskip("optuna")
ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

STUDY = """
name = "rays"
dataset = "mnist"
epochs = 1
subset = 300
[model]
preset = "mlp-softmax-ce"
[search]
budget = 16
first_test = 2
max_seeds = 3
pool = 3
finalists = 1
fresh_seeds = 2
seed = 2
[[search.params]]
name = "lr"
path = "optimizer.learning_rate"
float = [1e-5, 0.5]
log = true
"""


def test_a_search_on_ray_proposes_while_others_train(tmp_path, data_dir):
    (tmp_path / "rays.toml").write_text(STUDY)
    store = tmp_path / "s.db"
    try:
        res = sweeplab.run(str(tmp_path / "rays.toml"), store=store, data_dir=data_dir,
                           engine="fast", ray="local", progress=False)
    finally:  # the local cluster this started goes with the test
        ray.shutdown()
    runs = res.runs("rays")
    assert runs["node"].str.contains("ray:").all()
    pairs = list(zip(runs["config_hash"], runs["seed"], strict=True))
    assert len(pairs) == len(set(pairs))  # no run trained twice
    assert len(runs) <= 16  # the budget, the final round's 1 x 2 fresh seeds included
    with res._store() as db:
        state = db.get_meta("search:rays")
    # The sampler was asked for a newcomer while other candidates' seeds were training.
    assert state["proposed_while_training"] >= 1
    df = res.search("rays")
    assert (df["status"] == "best").sum() == 1
    assert "is best with P=" in df.attrs["sentence"]
    best = df[df["status"] == "best"].iloc[0]
    fresh = runs[runs["seed"] >= 3]
    assert set(fresh["config_hash"]) == {best["config_hash"]} and sorted(fresh["seed"]) == [3, 4]
    for h in state["dropped"]:  # at most the seed it was training when it was dropped
        n = int((runs["config_hash"] == h).sum())
        assert state["drop_step"][h] <= n <= state["drop_step"][h] + 1
    for row in df.itertuples():  # each candidate's race seeds are 0, 1, ... without a gap
        seeds = sorted(runs.loc[(runs["config_hash"] == row.config_hash)
                                & (runs["seed"] < 3), "seed"])
        assert seeds == list(range(len(seeds))) and row.n == len(seeds)
