"""What the executors share: a submitted :class:`Group`, the :class:`Outcome` s that come
back, and the :class:`Executor` interface (see :mod:`sweeplab.executors`)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Protocol

from sweeplab.errors import FieldError
from sweeplab.results import EpochRecord, RunResult
from sweeplab.spec import Config


@dataclass(frozen=True)
class Group:
    """One unit of work: seeds of one config, trained together by one engine call."""

    id: int  # unique per submission, chosen by the caller
    key: Hashable  # the caller's handle, handed back with every outcome (the runner's config)
    config: Config  # what to train
    seeds: tuple[int, ...]  # which seeds


@dataclass(frozen=True)
class Outcome:
    """A finished run of a group, or the seeds of a group that failed for good."""

    group: Group  # the submission this came from
    result: RunResult | None = None  # one finished run (None: a failure)
    failed: tuple[int, ...] = ()  # seeds that failed for good (no result will come for them)
    error: str = ""  # the failure's traceback text
    exception: BaseException | None = None  # the failure itself (stop_on_error re-raises it)
    live: bool = False  # the run's epochs were already reported through on_epoch


# on_epoch(group, seed, record, epochs): an epoch finished, while it happens (local only).
GroupEpochCallback = Callable[[Group, int, EpochRecord, int], None]


class Executor(Protocol):
    """Trains submitted groups and hands back their runs as they finish."""

    name: str  # "local", "ray"
    slots: int  # groups worth having in flight at once (the runner submits no more)

    def submit(self, group: Group) -> None:
        """Queue ``group``; returns at once."""

    def as_completed(self) -> Iterator[Outcome]:
        """Outcomes of the submitted groups as they finish, until none is in flight. Groups
        submitted while iterating are picked up by the same iteration."""

    def close(self) -> None:
        """Give back what the executor holds (Ray: the connection, or the local cluster)."""

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...


class ExecutorError(FieldError):
    """An executor cannot start: Ray missing, an address that cannot be reached. One line."""

