"""The one place that picks the Keras backend and seeds a run.

Keras reads ``KERAS_BACKEND`` when it is first imported, and a user's
``~/.keras/keras.json`` may name another backend, so every sweeplab module that
needs Keras gets it through :func:`keras` which sets the variable first.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from types import ModuleType

BACKEND = "tensorflow"

_configured = False


def _configure_environment() -> None:
    os.environ["KERAS_BACKEND"] = BACKEND
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
    """Return the ``keras`` module, configured for the TensorFlow backend.

    Raises:
        RuntimeError: Keras was already imported with another backend.
    """
    global _configured
    _configure_environment()
    if "keras" in sys.modules:
        import keras as _keras
    else:
        with _startup_noise_filtered():
            import keras as _keras
            import tensorflow  # noqa: F401  (its notices come on first use too)

    if _keras.backend.backend() != BACKEND:
        raise RuntimeError(
            f"Keras was imported with backend {_keras.backend.backend()!r} before sweeplab "
            f"could select {BACKEND!r}. Import sweeplab first or set KERAS_BACKEND={BACKEND}."
        )
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
    """Return ``tensorflow`` after the Keras backend has been configured."""
    keras()
    import tensorflow as tf

    return tf


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow for one run. The only seeding call in sweeplab."""
    keras().utils.set_random_seed(int(seed))


def library_versions() -> dict[str, str]:
    """Versions that decide a run's numbers, recorded with every run."""
    import platform

    import numpy as np

    k = keras()
    tf = tensorflow()
    return {
        "python": platform.python_version(),
        "keras": k.__version__,
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
    }
