"""Ways to execute groups of runs: in this process, or as tasks on a Ray cluster.

Shaped like :mod:`concurrent.futures`: the runner submits a :class:`Group` (one config, the
seeds one engine call trains together) and takes :class:`Outcome` s back as they complete,
one per finished run, or one per group that failed for good. The runner does not know which
executor it has; it stays the only writer of the store either way.

- ``local`` (:class:`~sweeplab.executors.local.LocalExecutor`): the engine in this process,
  one group at a time, epochs reported live.
- ``ray`` (:class:`~sweeplab.executors.ray.RayExecutor`): each group is a Ray task; Ray
  retries a task whose worker died, results come back with ``ray.wait``. Ray is imported
  only when chosen.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from sweeplab.data import Dataset
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


class ExecutorError(Exception):
    """An executor cannot start: Ray missing, an address that cannot be reached. One line."""


def make_executor(ray: str | None, engine: Any, parallel: int | None, dataset: Dataset,
                  data_dir: str | None = None,
                  on_epoch: GroupEpochCallback | None = None) -> Executor:
    """The executor for ``ray``: None trains here, ``"local"`` starts a Ray cluster on this
    machine, ``"auto"`` or ``HOST:PORT`` joins a running one.

    Args:
        engine: an engine name (sweeplab.engines.ENGINES) or an engine object. Local: must
            be an engine object. Ray: a name is built on the worker; an object is sent.
        parallel: seeds an engine trains at once (None = its own choice).
        dataset: the study's data, already loaded.
        data_dir: the --data-dir a Ray worker looks in first (see RayExecutor).
        on_epoch: told about each epoch as it happens (local executor only).

    Raises:
        ExecutorError: Ray is not installed, or the cluster cannot be reached.
    """
    if ray is None:
        from sweeplab.executors.local import LocalExecutor

        return LocalExecutor(engine, dataset, on_epoch)
    from sweeplab.executors.ray import RayExecutor

    return RayExecutor(ray, engine, parallel, dataset, data_dir)
