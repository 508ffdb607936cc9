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
