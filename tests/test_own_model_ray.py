"""A user's model and data on a Ray cluster started here (127.0.0.1): the builder travels
by value (as one defined in a notebook would), the arrays through the object store; the
runs come back from the workers and are stored once by this driver."""

from __future__ import annotations

import own_builders as ob  # tests/ is on sys.path (no package)
import pytest

import sweeplab
from sweeplab import study as st
from sweeplab.store import Store

pytest.importorskip("ray")


@pytest.mark.timeout(900)
def test_own_model_and_arrays_on_ray(tmp_path, monkeypatch):
    # The driver's cwd holds no own_builders.py: a worker could not import it by name, so
    # the runs succeed only if the builder went by value.
    monkeypatch.chdir(tmp_path)
    arrays = sweeplab.Arrays(*ob.blobs(), class_names=["red", "green", "blue"], name="blobs")
    study = sweeplab.Study.build(
        "vecray", model=sweeplab.KerasModel(ob.mlp, params={"hidden": 4}), dataset=arrays,
        seeds=2, epochs=1, batch_size=30)
    db = tmp_path / "r.db"
    ray = pytest.importorskip("ray")
    try:
        res = sweeplab.run(study, store=db, engine="reference", ray="local", progress=False)
    finally:  # the local cluster this started goes with the test (test_ray starts its own)
        ray.shutdown()
    assert (res.last.trained, res.last.failed) == (2, [])
    runs = res.runs("vecray")
    assert list(runs["seed"]) == [0, 1] and runs["node"].str.contains("ray:").all()
    assert ((runs["test_acc"] >= 0) & (runs["test_acc"] <= 1)).all()
    with Store(db) as s:
        assert s.done_seeds(st.expand(study)[0].config_hash) == {0, 1}
    again = sweeplab.run(study, store=db, engine="reference", progress=False)
    assert (again.last.trained, again.last.skipped) == (0, 2)
