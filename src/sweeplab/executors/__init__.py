"""Ways to execute groups of runs: in this process, or as tasks on a Ray cluster.

Shaped like :mod:`concurrent.futures`: the runner submits a :class:`Group` (one config, the
seeds one engine call trains together) and takes :class:`Outcome` s back as they complete.
The runner stays the only writer of the store either way; Ray is imported only when chosen.
"""

from __future__ import annotations

from typing import Any

from sweeplab.data import Dataset
from sweeplab.executors.base import Executor, ExecutorError, Group, GroupEpochCallback, Outcome

__all__ = ["Executor", "ExecutorError", "Group", "GroupEpochCallback", "Outcome",
           "make_executor"]


def make_executor(ray: str | None, engine: Any, parallel: int | None, dataset: Dataset,
                  data_dir: str | None = None,
                  on_epoch: GroupEpochCallback | None = None) -> Executor:
    """The executor for ``ray``: None trains here (``engine`` must be an engine object),
    ``"local"`` starts a Ray cluster on this machine, ``"auto"`` or ``HOST:PORT`` joins one
    (an engine name is built on the worker). ``on_epoch`` is told live (local only).

    Raises:
        ExecutorError: Ray is not installed, or the cluster cannot be reached.
    """
    if ray is None:
        from sweeplab.executors.local import LocalExecutor

        return LocalExecutor(engine, dataset, on_epoch)
    from sweeplab.executors.ray import RayExecutor

    return RayExecutor(ray, engine, parallel, dataset, data_dir)
