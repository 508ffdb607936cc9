"""The local executor: the engine in this process, one group at a time."""

from __future__ import annotations

import collections
import traceback
from collections.abc import Iterator
from typing import Any

from sweeplab.backend import starting_config
from sweeplab.data import Dataset
from sweeplab.engines import program_key
from sweeplab.executors.base import Group, GroupEpochCallback, Outcome


class LocalExecutor:
    """Trains each submitted group with ``engine`` here, in submission order.

    One group is in flight at a time (``slots = 1``): the runner claims a group's runs just
    before it trains them, so two ``sweeplab run`` processes on one store share the work.
    The engine itself decides its group size K (``--parallel``).
    """

    name = "local"
    slots = 1

    def __init__(self, engine: Any, dataset: Dataset,
                 on_epoch: GroupEpochCallback | None = None):
        self.engine = engine
        self.dataset = dataset
        self.on_epoch = on_epoch
        self._queue: collections.deque[Group] = collections.deque()

    def submit(self, group: Group) -> None:
        self._queue.append(group)

    def as_completed(self) -> Iterator[Outcome]:
        while self._queue:
            group = self._queue.popleft()
            # frees the last config's programs unless this one trains with them
            starting_config(program_key(self.engine, group.config))
            pending = list(group.seeds)

            def on_epoch(seed: int, record: Any, epochs: int, _g: Group = group) -> None:
                if self.on_epoch is not None:
                    self.on_epoch(_g, seed, record, epochs)

            try:
                for result in self.engine(group.config, group.seeds, self.dataset, on_epoch):
                    if result.seed in pending:
                        pending.remove(result.seed)
                    yield Outcome(group, result, live=True)
            except (KeyboardInterrupt, GeneratorExit):
                raise
            except Exception as err:  # the group's remaining seeds fail; the others go on
                yield Outcome(group, failed=tuple(pending), error=traceback.format_exc(),
                              exception=err)

    def close(self) -> None:
        self._queue.clear()

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
