"""A short kill storm (bench/kill_storm.py, 5 SIGKILLs at random moments, during training
and just as the store is written): every run exactly once, with every epoch, nothing
trained twice, numbers and per-example predictions equal to an uninterrupted run, and never
a run without its predictions or predictions without their run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "kill_storm.py"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_five_kills_lose_nothing_and_train_nothing_twice(tmp_path, data_dir):
    spec = importlib.util.spec_from_file_location("kill_storm", BENCH)
    storm = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = storm  # its dataclasses look their module up there
    spec.loader.exec_module(storm)
    result = storm.run_storm(kills=5, seed=1, data_dir=data_dir, engine="fast",
                             workdir=tmp_path, log=lambda _: None)
    assert result["kills"] == 5
    assert result["kills_by_time"] + result["kills_on_write"] == 5
    assert result["runs_done"] == result["runs_with_every_epoch"] == storm.RUNS == 6
    assert (result["runs_lost"], result["runs_running"], result["runs_failed"]) == (0, 0, 0)
    assert result["trained_twice"] == 0, result["trained_twice_runs"]
    # Same engine, same group size (1), same machine: the same float operations in the same
    # order, so the stored numbers are equal to the last bit, not merely close.
    assert result["unequal_to_uninterrupted"] == []  # predictions included (issue 32)
    # never a run without its outcomes, or outcomes without their run, at any of the kills
    assert (result["done_without_outcomes"], result["outcomes_without_done"]) == (0, 0)
    assert storm.ok(result)
