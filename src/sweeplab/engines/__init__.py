"""Ways to train a batch of runs of one config. All return the same RunResult records.

An engine is a callable ``(cfg, seeds, data, on_epoch) -> Iterator[RunResult]``
yielding each seed's result as soon as it is complete, so the caller can store
it before the next one starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from sweeplab.data import Dataset
from sweeplab.results import EpochRecord, RunResult
from sweeplab.spec import Config

# on_epoch(seed, record, epochs): called after each epoch of each run, with that epoch's
# metrics (progress bars, live logging to MLflow / TensorBoard).
EpochCallback = Callable[[int, EpochRecord, int], None]


class Engine(Protocol):
    """Trains seeds of one config. An engine that trains several seeds at once also has
    ``group_size(cfg, data, n_seeds) -> int``, which the runner uses to schedule rounds."""

    name: str

    def __call__(self, cfg: Config, seeds: Sequence[int], data: Dataset,
                 on_epoch: EpochCallback | None = None) -> Iterator[RunResult]: ...


ENGINES = ("reference", "fast")
DEFAULT_ENGINE = "fast"  # bench/README.md: same results (tests, equivalence), 10x+ faster


def get_engine(name: str, parallel: int | None = None, diagnostics: bool = True) -> Engine:
    """The engine ``name`` (see :func:`_make_engine`), by default wrapped so that every run it
    yields also carries its diagnostics (``sweeplab.diagnostics.measure``: dead units and
    silent classes, measured from the weights on the test set), whichever engine trained it.
    """
    engine = _make_engine(name, parallel)
    if not diagnostics:
        return engine
    from sweeplab.diagnostics import DiagnosedEngine

    return DiagnosedEngine(engine)


def _make_engine(name: str, parallel: int | None = None) -> Engine:
    """Look up an engine by name.

    Args:
        parallel: how many seeds of one config an engine may train at once
            (None = the engine decides; the reference engine always trains one, the
            fast engine picks K from memory, see ``fast.choose_parallel``).

    Raises:
        ValueError: unknown engine name, or parallel < 1.
    """
    if name == "reference":
        from sweeplab.engines.reference import ReferenceEngine

        return ReferenceEngine()
    if name == "fast":
        from sweeplab.engines.fast import FastEngine

        return FastEngine(parallel=parallel)
    raise ValueError(f"Unknown engine {name!r}. Allowed: {', '.join(ENGINES)}.")
