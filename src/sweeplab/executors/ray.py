"""The Ray executor: each group of runs is a Ray task; this process stays the store's writer.

Ray retries a task whose worker or node died; an error from training itself is not
retried (it would fail the same way) and comes back as a failed group. Results are taken
with ``ray.wait`` as tasks finish, so a stopped driver loses only the groups in flight. A
worker with the dataset's files on its own disk reads them there; others read the arrays
the driver put in Ray's object store once.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sweeplab import data as data_mod
from sweeplab.data import Dataset
from sweeplab.executors.base import ExecutorError, Group, Outcome
from sweeplab.extras import missing_extra
from sweeplab.results import RunResult
from sweeplab.spec import Config

CONNECT_TIMEOUT_S = 5.0  # a HOST:PORT that does not answer within this is refused at once
MAX_RETRIES = 3  # Ray's default for tasks: tries after a worker or node died


def import_ray() -> Any:
    """Ray, or ExecutorError naming the extra."""
    try:
        import ray
    except ImportError:
        raise ExecutorError.about(missing_extra("{ray}", "Ray", "ray")) from None
    return ray


def _check_reachable(address: str) -> None:
    """A ``HOST:PORT`` address must accept a connection: Ray itself retries for a long time."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ExecutorError.about("{ray} takes no value (start a local cluster), 'auto' (the "
                                  "cluster `ray start` started on this machine) or HOST:PORT. "
                                  "Received: {address!r}", address=address)
    try:
        socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise ExecutorError(f"no Ray cluster answers at {address} ({err.strerror or err}); "
                            f"start one with `ray start --head --port {port}` or check the "
                            f"address") from None


def _is_loopback(address: str) -> bool:
    host = address.rpartition(":")[0].strip("[]")
    return host == "localhost" or host == "::1" or host.startswith("127.")


def _loopback_only() -> None:
    """Keep Ray on the loopback address: a ``local`` cluster binds its ports there, and a
    driver joining ``127.0.0.1:PORT`` stays there (by default Ray swaps a loopback address
    for the machine's outward one). Ray's switch for this is named after Windows and macOS.
    """
    import sys

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:  # Ray already imported: it read the switch at import
        constants.ENABLE_RAY_CLUSTER = os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] != "0"


def _auth_hint() -> str:
    """Why a reachable cluster may refuse us: Ray's token authentication on one side only.

    ``ray start --head`` turns token authentication on whenever a token exists
    (``~/.ray/auth_token``, which any local ``ray.init()`` writes), but a driver given an
    address does not, and Ray's processes on both sides must agree (each also serves the
    other), so the driver cannot simply send the token: ``$RAY_AUTH_MODE`` must match.
    """
    if os.environ.get("RAY_AUTH_MODE") is not None:
        return ""
    if not (os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
            or (Path.home() / ".ray" / "auth_token").exists()):
        return ""
    return (" (a Ray token exists here, so `ray start` may have turned token authentication "
            "on: set RAY_AUTH_MODE=token for sweeplab, or RAY_AUTH_MODE=disabled for "
            "`ray start` on every node)")


class RayExecutor:
    """Submits groups as Ray tasks and yields their runs as the tasks finish.

    ``address``: ``"local"`` starts a cluster for this process (bound to 127.0.0.1, stopped
    at :meth:`close`), ``"auto"`` joins the one ``ray start`` started here, ``HOST:PORT`` joins
    that head. An engine name is built once per worker process; an engine object is pickled
    with each task. ``cpus_per_task`` is also the task's TensorFlow thread count, so tasks side
    by side do not fight over cores; ``max_retries`` counts retries after a worker or node died.
    """

    name = "ray"

    def __init__(self, address: str, engine: Any, parallel: int | None, dataset: Dataset,
                 data_dir: str | None = None, cpus_per_task: int = 1,
                 max_retries: int = MAX_RETRIES):
        if address not in ("local", "auto"):
            _check_reachable(address)
        if address == "local" or _is_loopback(address):
            _loopback_only()
        ray = import_ray()
        self._ray = ray
        self._connected_here = not ray.is_initialized()
        if self._connected_here:
            import logging

            options: dict[str, Any] = dict(address=address, log_to_driver=False,
                                           logging_level=logging.WARNING)
            if address == "local":
                options.update(include_dashboard=False, _node_ip_address="127.0.0.1")
            try:
                ray.init(**options)
            except Exception as err:  # ConnectionError, a version mismatch: one line
                first = (str(err).strip().splitlines() or [type(err).__name__])[0]
                hint = _auth_hint() if address != "local" else ""
                raise ExecutorError(f"cannot use the Ray cluster at {address!r}: {first}{hint}") \
                    from None
        self.engine = engine
        self.parallel = parallel
        self.cpus_per_task = cpus_per_task
        resources = ray.cluster_resources()
        kind = engine if isinstance(engine, str) else getattr(engine, "name", "")
        gpus = 1 if kind == "jax" and resources.get("GPU", 0) >= 1 else 0
        self._task = ray.remote(train_group).options(
            num_cpus=cpus_per_task, num_gpus=gpus, max_retries=max_retries,
            retry_exceptions=False)
        # One more group than the cluster runs at once, so a worker that finishes finds its
        # next task already queued instead of waiting for the driver.
        self.slots = max(1, int(resources.get("CPU", 1) // cpus_per_task)) + 1
        # A user's data (or a built-in file that is not the standard one) has no file a
        # worker could find by name: every worker takes the driver's copy.
        self._spec = None if dataset.fingerprint else (dataset.name, data_dir, dataset.subset,
                                                       dataset.validation)
        self._data = [ray.put(dataset)]  # in a list: a task fetches it only when it needs it
        self._refs: dict[Any, Group] = {}

    def submit(self, group: Group) -> None:
        from sweeplab.usermodels import carried

        ref = self._task.remote(self.engine, self.parallel, group.config, group.seeds,
                                self._spec, self._data, self.cpus_per_task,
                                carried(group.config))
        self._refs[ref] = group

    def as_completed(self) -> Iterator[Outcome]:
        ray = self._ray
        while self._refs:
            ready, _ = ray.wait(list(self._refs), num_returns=1)
            for ref in ready:
                group = self._refs.pop(ref)
                try:
                    results = ray.get(ref)
                except ray.exceptions.RayTaskError as err:  # the training raised: not retried
                    cause = err.as_instanceof_cause()
                    yield Outcome(group, failed=group.seeds, error=str(err), exception=cause)
                    continue
                except ray.exceptions.RayError as err:  # worker/node died past the retries
                    yield Outcome(group, failed=group.seeds,
                                  error="".join(traceback.format_exception_only(type(err), err)),
                                  exception=err)
                    continue
                for result in results:
                    yield Outcome(group, result)

    def close(self) -> None:
        """Cancel what is still in flight; disconnect (and stop a cluster started here)."""
        ray = self._ray
        for ref in list(self._refs):
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - already finished or its worker is gone
                pass
        self._refs.clear()
        if self._connected_here and ray.is_initialized():
            ray.shutdown()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- on the worker ------------------------------------------------------------------------

_ENGINES: dict[tuple[str, int | None], Any] = {}  # one engine per worker process and kind


def _worker_engine(engine: Any, parallel: int | None, cpus: int) -> Any:
    # TensorFlow reads these once, when it starts: as many threads as CPUs reserved.
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(cpus))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(cpus))
    if not isinstance(engine, str):
        return engine
    key = (engine, parallel)
    if key not in _ENGINES:
        from sweeplab.engines import get_engine

        _ENGINES[key] = get_engine(engine, parallel)
    return _ENGINES[key]


def worker_dataset(spec: tuple[str, str | None, int | None] | None, box: list[Any]
                   ) -> Dataset:
    """The worker's own copy of the data when its disk has the files, else (and always for a
    user's data: ``spec`` None) the driver's copy from the object store."""
    if spec is None:
        import ray

        return ray.get(box[0])
    name, data_dir, subset, validation = spec
    if data_mod.locate(name, data_dir) is not None:
        return data_mod.hold_out(data_mod.load(name, data_dir, subset, allow_download=False),
                                 validation)
    import ray

    return ray.get(box[0])


def train_group(engine: Any, parallel: int | None, config: Config, seeds: tuple[int, ...],
                data_spec: tuple[str, str | None, int | None] | None, data_box: list[Any],
                cpus: int = 1, builders: dict | None = None) -> list[RunResult]:
    """The Ray task: train ``seeds`` of ``config``; every result names this node (host and
    Ray node id: one machine can hold several nodes). ``builders``: a user's model builders
    defined in the driver's notebook or script, sent by value (sweeplab.usermodels)."""
    import ray

    from sweeplab.backend import starting_config
    from sweeplab.engines import program_key

    eng = _worker_engine(engine, parallel, cpus)
    # frees the last config's programs in this worker unless this one trains with them
    starting_config(program_key(eng, config))
    if builders:
        from sweeplab.usermodels import register

        register(builders)

    dataset = worker_dataset(data_spec, data_box)
    node = f"{socket.gethostname()} ray:{ray.get_runtime_context().get_node_id()[:8]}"
    return [dataclasses.replace(r, node=node) for r in eng(config, seeds, dataset)]
