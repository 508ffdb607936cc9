"""Seeds added by --until-ci stay in the documented range [0, MAX_SEED]."""

from __future__ import annotations

from sweeplab.runner import next_seeds
from sweeplab.study import MAX_SEED, study_from_dict


def test_next_seeds_count_up_then_wrap_below_max_seed():
    assert next_seeds((0, 1, 2), 2) == (3, 4)
    assert next_seeds((MAX_SEED - 1,), 3) == (MAX_SEED, 0, 1)  # was MAX_SEED + 1 (2**31)
    assert next_seeds((MAX_SEED, 0, 1, 5), 3) == (2, 3, 4)  # no seed twice


def test_the_seeds_reached_are_a_valid_study():
    seeds = (MAX_SEED - 2, MAX_SEED - 1)
    grown = seeds + next_seeds(seeds, 4)
    study = study_from_dict({"name": "s", "dataset": "mnist", "seeds": list(grown),
                             "model": {"preset": "mlp-softmax-ce"}})
    assert study.seeds == (MAX_SEED - 2, MAX_SEED - 1, MAX_SEED, 0, 1, 2)
