"""Ways to train a group of runs of one config. All return the same RunResult records.

An engine is a callable ``(cfg, seeds, data, on_epoch) -> Iterator[RunResult]``
yielding each seed's result as soon as it is complete, so the caller can store
it before the next one starts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from sweeplab.data import Dataset
from sweeplab.engines.common import EpochCallback, check_parallel
from sweeplab.results import RunResult
from sweeplab.spec import Config, config_hash

__all__ = ["BACKEND_OF", "DEFAULT_ENGINE", "ENGINES", "Engine", "EpochCallback",
           "check_parallel", "get_engine", "program_key", "resolve"]


class Engine(Protocol):
    """Trains seeds of one config. An engine that trains several seeds at once also has
    ``group_size(cfg, data, n_seeds) -> int``, which the runner uses to schedule rounds."""

    name: str

    def __call__(self, cfg: Config, seeds: Sequence[int], data: Dataset,
                 on_epoch: EpochCallback | None = None) -> Iterator[RunResult]: ...


ENGINES = ("auto", "reference", "fast", "jax")
# auto: jax when JAX sees a GPU or TPU, else fast (bench/README.md: on this CPU fast is 10x+
# the reference and XLA's CPU convolutions are ~25x slower than TensorFlow's).
DEFAULT_ENGINE = "auto"
BACKEND_OF = {"reference": "tensorflow", "fast": "tensorflow", "jax": "jax"}


def _jax_accelerator() -> bool:
    """Whether JAX sees a GPU or TPU. Imports JAX only when an accelerator plugin is installed
    (CUDA/ROCm plugins, libtpu), so a CPU machine pays nothing for the check."""
    import importlib.metadata
    import importlib.util
    import sys

    try:
        if importlib.util.find_spec("jax") is None:
            return False
    except (ImportError, ValueError):  # a broken or blocked install counts as none
        return False
    if "jax" not in sys.modules:
        plugins = [e.name for e in importlib.metadata.entry_points(group="jax_plugins")]
        if not plugins and importlib.util.find_spec("jax_plugins") is None and (
                importlib.util.find_spec("libtpu") is None):
            return False
    from sweeplab import backend

    backend.jax_environment()
    try:
        import jax

        return any(d.platform in ("gpu", "cuda", "rocm", "tpu") for d in jax.devices())
    except Exception:  # a broken plugin (driver mismatch) means no usable accelerator
        return False


def program_key(engine: Any, cfg: Config) -> str:
    """Which compiled programs ``cfg`` trains with in this process: the engine's own
    ``program_key(cfg)`` where it has one (jax: configs that differ only in its STACKABLE
    fields, a search's learning rates, share one program), else the config's hash. The
    executors pass it to ``backend.starting_config``, which releases what was compiled when
    it changes."""
    own = getattr(engine, "program_key", None)
    return own(cfg) if own is not None else config_hash(cfg)


def resolve(name: str, custom: bool = False) -> str:
    """The engine ``name`` stands for: ``auto`` becomes ``jax`` or ``fast`` (see ENGINES), or
    ``jax`` or ``reference`` for a user's model (``custom``: fast trains layer specs only).

    In a process whose Keras is already imported, auto keeps to that backend.
    """
    if name != "auto":
        return name
    import sys

    from sweeplab import backend

    other = "reference" if custom else "fast"
    if "keras" in sys.modules or (custom and backend.current() == "jax"):
        return "jax" if backend.current() == "jax" else other
    return "jax" if _jax_accelerator() else other


def get_engine(name: str, parallel: int | None = None, diagnostics: bool = True,
               custom: bool = False) -> Engine:
    """The engine ``name`` (see :func:`_make_engine`; ``custom``: for a user's model, see
    :func:`resolve`), by default wrapped so that every run it
    yields also carries its diagnostics (``sweeplab.engines.probe.measure``: dead units and
    silent classes, measured from the weights on the test set), whichever engine trained it.
    """
    engine = _make_engine(resolve(name, custom), parallel)
    if not diagnostics:
        return engine
    from sweeplab.engines.probe import DiagnosedEngine

    return DiagnosedEngine(engine)


def _make_engine(name: str, parallel: int | None = None) -> Engine:
    """Look up an engine by name.

    Args:
        parallel: the most seeds of one config an engine trains together, its group size
            K (None = the engine decides; the reference engine always trains one, the
            fast engine picks K from memory, see ``fast.auto_group_size``).

    Raises:
        ValueError: unknown engine name, or parallel < 1.
        sweeplab.backend.BackendError: the engine needs a Keras backend other than the one
            this process already imported, or JAX is not installed.
    """
    name = resolve(name)
    if name in BACKEND_OF:
        from sweeplab import backend

        backend.select(BACKEND_OF[name], engine=name)
    if name == "reference":
        from sweeplab.engines.reference import ReferenceEngine

        return ReferenceEngine()
    if name == "fast":
        from sweeplab.engines.fast import FastEngine

        return FastEngine(parallel=parallel)
    if name == "jax":
        from sweeplab import backend

        backend.keras()  # JAX missing: one line naming the extra, before any work
        from sweeplab.engines.jax import JaxEngine

        return JaxEngine(parallel=parallel)
    raise ValueError(f"Unknown engine {name!r}. Allowed: {', '.join(ENGINES)}.")
