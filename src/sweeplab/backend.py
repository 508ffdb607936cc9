"""The one place that picks the Keras backend and seeds a run.

Keras reads ``KERAS_BACKEND`` once, when it is first imported, and a user's
``~/.keras/keras.json`` may name another backend, so every sweeplab module that
needs Keras gets it through :func:`keras`, which sets the variable first. The backend
follows from the engine: ``fast`` and ``reference`` train on TensorFlow, ``jax`` on JAX
(:func:`select`, called by ``sweeplab.engines.get_engine``). A process has one backend:
asking for another once Keras is imported is refused with :class:`BackendError`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from types import ModuleType

BACKENDS = ("tensorflow", "jax")
BACKEND = "tensorflow"  # the backend this process uses (or will, once Keras is imported)

_configured = False


class BackendError(ValueError):
    """The engine asked for needs a Keras backend other than the one already imported."""


def current() -> str:
    """The Keras backend of this process: the imported one, else the one selected."""
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    return BACKEND


def select(name: str, engine: str | None = None) -> None:
    """Choose the Keras backend before Keras is imported (a no-op when it already is ``name``).

    Args:
        engine: the engine that needs it, named in the error message.

    Raises:
        BackendError: Keras is already imported in this process with another backend.
    """
    global BACKEND
    if name not in BACKENDS:
        raise ValueError(f"Unknown Keras backend {name!r}. Allowed: {', '.join(BACKENDS)}.")
    have = current() if "keras" in sys.modules else None
    if have is not None and have != name:
        who = f"engine {engine!r}" if engine else "this"
        raise BackendError(
            f"{who} needs the Keras backend {name!r}, but this process already imported Keras "
            f"with {have!r} (one backend per process); run it in a new process")
    BACKEND = name
    if name == "jax":
        jax_environment()


def jax_environment() -> None:
    """XLA settings for sweeplab's JAX runs; must precede JAX's first use of a device.

    Same seed, same numbers on GPUs too: XLA otherwise picks non-deterministic
    (atomics-based) reductions and scatters there. No effect on CPUs.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_gpu_deterministic_ops" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_gpu_deterministic_ops=true").strip()


def _configure_environment() -> None:
    os.environ["KERAS_BACKEND"] = BACKEND
    if BACKEND == "jax":
        jax_environment()
    # TensorFlow's C++ log lines (oneDNN notices, CPU banners, a harmless tf.data
    # "NodeDef mentions attribute" error on every fit) drown the progress bar. Python
    # exceptions are unaffected; set TF_CPP_MIN_LOG_LEVEL=0 to see them all again.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


# Start-up notices TensorFlow's C++ side writes to fd 2 while it is imported, through
# absl before absl's logging is initialised: TF_CPP_MIN_LOG_LEVEL does not reach them
# (TF 2.21: "All log messages before absl::InitializeLog()...", the oneDNN notice, the
# CPU-instructions banner and its continuation line).
_STARTUP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)"
    r"|[IW]\d{4} [\d:. ]+\d+ (port|cpu_feature_guard)\.cc:\d+\]"
    r"|To enable the following instructions: )")


# Any line of TensorFlow's or absl's C++ logging ("E0000 00:00:... onednn_...cc:12] ..."),
# which TF_CPP_MIN_LOG_LEVEL=3 is meant to silence but does not before absl is initialised.
_NATIVE_LOG = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\)"
    rb"|[IWEF]\d{4} [\d:. ]+\d+ \S+\.cc:\d+\]"
    rb"|To enable the following instructions: )")


def quiet_native_logs() -> None:
    """For the rest of this process (and its children): drop TensorFlow's and absl's C++ log
    lines from file descriptor 2, where they write; every other line passes on at once.

    Python's ``sys.stderr`` is pointed at the real standard error, so the progress bar still
    sees a terminal. The ``sweeplab`` command calls this unless ``--verbose``.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        sys.stderr.flush()
        real = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2: nothing to filter
        return
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)
    sys.stderr = open(real, "w", buffering=1, encoding=sys.stderr.encoding,
                      errors="backslashreplace", closefd=False)

    def relay() -> None:
        with open(read, "rb", buffering=0) as pipe:
            for line in iter(pipe.readline, b""):
                if not _NATIVE_LOG.match(line):
                    os.write(real, line)

    thread = threading.Thread(target=relay, name="sweeplab-native-logs", daemon=True)
    thread.start()

    def drain() -> None:  # at exit: close our end of the pipe, pass on what is left
        sys.stderr.flush()
        os.dup2(real, 2)
        thread.join(timeout=2.0)

    atexit.register(drain)


@contextlib.contextmanager
def _startup_noise_filtered() -> Iterator[None]:
    """Hold fd 2 in a file while TensorFlow is imported; pass on all but the notices.

    Only when TF_CPP_MIN_LOG_LEVEL asks for quiet (sweeplab's default, 3); any other
    line written meanwhile (a real error) still reaches stderr, after the import.
    """
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("", "0"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (closed stderr): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().decode(errors="replace").splitlines(True)
                    if not _STARTUP_NOISE.match(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def keras() -> ModuleType:
    """Return the ``keras`` module, configured for the selected backend (:func:`select`).

    Raises:
        BackendError: Keras was already imported with another backend.
    """
    global _configured
    _configure_environment()
    if "keras" in sys.modules:
        import keras as _keras
    elif BACKEND == "jax":
        try:
            import jax  # noqa: F401
        except ImportError as err:
            from sweeplab.extras import missing_extra

            raise BackendError(missing_extra("the jax engine", "JAX", "jax",
                                             " (or 'sweeplab[gpu]' for NVIDIA GPUs)")) from err
        import keras as _keras
    else:
        with _startup_noise_filtered():
            import keras as _keras
            import tensorflow  # noqa: F401  (its notices come on first use too)

    if _keras.backend.backend() != BACKEND:
        raise BackendError(
            f"Keras was imported with backend {_keras.backend.backend()!r} before sweeplab "
            f"could select {BACKEND!r}. Import sweeplab first or set KERAS_BACKEND={BACKEND}."
        )
    if not _configured and BACKEND == "jax":
        _configured = True
    if not _configured:
        import tensorflow as tf

        # Same seed, same numbers on CPU: without this, some reductions pick
        # non-deterministic kernels.
        tf.config.experimental.enable_op_determinism()
        # Keras' "tf.function retracing" warnings fire for every freshly built model,
        # which is what sweeplab does on purpose.
        tf.get_logger().setLevel("ERROR")
        _configured = True
    return _keras


def tensorflow() -> ModuleType:
    """Return ``tensorflow`` after the Keras backend has been configured.

    Raises:
        BackendError: this process trains on JAX (TensorFlow is not its backend).
    """
    if current() != "tensorflow":
        raise BackendError(f"TensorFlow was asked for in a process whose Keras backend is "
                           f"{current()!r}")
    keras()
    import tensorflow as tf

    return tf


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the backend for one run (:func:`seed_layer_draws` seeds only
    what the built-in layers' initial weights draw from)."""
    k = keras()
    if BACKEND == "jax" and "tensorflow" not in sys.modules:
        # keras.utils.set_random_seed also seeds TensorFlow when it is installed, which
        # imports it (seconds, hundreds of MB) into a process that trains on JAX. These are
        # its other steps (Keras 3.15, keras/src/utils/rng_utils.py): the global seed,
        # a fresh global SeedGenerator, Python's and NumPy's generators. Initialisers and
        # dropout layers draw their seeds from Python's ``random`` when they are built.
        import random

        import numpy as np
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
        from keras.src.utils import rng_utils

        global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, int(seed))
        global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
        random.seed(int(seed))
        np.random.seed(int(seed))
        return
    k.utils.set_random_seed(int(seed))


def seed_layer_draws(seed: int) -> None:
    """Seed only what constructing Keras' built-in layers draws from: Python's ``random``
    (``make_default_seed`` gives each random initialiser and each Dropout its integer seed;
    the draws themselves are stateless). For a run's initial weights without building a
    model (``engines.common.initial_state``): :func:`seed_everything` would also call
    ``tf.random.set_seed``, which clears TensorFlow's eager kernel cache, so every run's
    initialiser ops created their kernels again."""
    import random

    random.seed(int(seed))


def device() -> str:
    """What this process trains on, as the store records it: ``KIND:NAME``
    ("cpu:x86_64", "gpu:NVIDIA H100 80GB HBM3"): JAX's first device, or TensorFlow's."""
    import platform

    if current() == "jax":
        import jax

        d = jax.devices()[0]
        if d.platform != "cpu":
            kind = "gpu" if d.platform in ("gpu", "cuda", "rocm") else d.platform
            return f"{kind}:{d.device_kind}"
    else:
        gpus = tensorflow().config.list_logical_devices("GPU")
        if gpus:
            return f"gpu:{gpus[0].name}"
    return f"cpu:{platform.machine()}"


def library_versions() -> dict[str, str]:
    """Versions that decide a run's numbers, recorded with every run."""
    import platform

    import numpy as np

    k = keras()
    out = {"python": platform.python_version(), "keras": k.__version__}
    if BACKEND == "jax":
        import jax
        import jaxlib

        out.update(jax=jax.__version__, jaxlib=jaxlib.__version__)
    else:
        out["tensorflow"] = tensorflow().__version__
    out["numpy"] = np.__version__
    return out


def release_compiled() -> None:
    """Release what a finished configuration's training left compiled in this process.

    Every newly built model leaves traced ``tf.function`` s, compiled code and Keras' global
    state behind (with XLA: ~110 memory maps and ~7 MB per MLP config on TF 2.21); a sweep
    of hundreds of configs in one process reached the kernel's ``vm.max_map_count`` and the
    next compile killed it. Called between configs (:func:`starting_config`); nothing is
    imported that is not already. XLA's CPU executables are the exception: TensorFlow has
    no call that frees them, so the fast engine does not use XLA (engines/fast.py).
    """
    import gc

    for name in ("sweeplab.engines.fast", "sweeplab.engines.jax"):
        engine = sys.modules.get(name)
        if engine is not None:
            engine._PROGRAMS.clear()  # the cached program holds its traced functions
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()  # Keras state, TF kernel caches, gc
    if "jax" in sys.modules:
        sys.modules["jax"].clear_caches()  # jit executables of the jax engine
    gc.collect()


_last_config: list[str | None] = [None]  # the config this process trained last


def starting_config(key: str) -> None:
    """Call before training config ``key`` in this process (local executor, Ray worker):
    releases what the previous config compiled (:func:`release_compiled`) when it differs,
    so a config trained in several groups of seeds keeps its compiled program."""
    if _last_config[0] is not None and _last_config[0] != key:
        release_compiled()
    _last_config[0] = key
