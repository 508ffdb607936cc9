"""sweeplab: repeated deep-learning experiments, honestly reported.

The Python API (the CLI is built on it)::

    import sweeplab
    res = sweeplab.run("q1", seeds=3, epochs=2, subset=2000)  # or a .toml path, or a Study
    res.summary("q1")                       # pandas: mean, std, n, 95% CI per config/epoch
    sweeplab.open("sweeplab.db").runs()     # the results already in a store

Importing sweeplab does not import Keras: the backend is chosen when an engine starts.
"""

from sweeplab._version import __version__ as __version__  # re-exported
from sweeplab.api import Compared, Results, open, run
from sweeplab.data import Arrays, DataError
from sweeplab.spec import (
    BatchNorm,
    Config,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool,
    Optimizer,
    SpecError,
)
from sweeplab.study import Axis, Param, Search, Study
from sweeplab.usermodels import KerasModel

__all__ = [
    "Arrays", "Axis", "BatchNorm", "Compared", "Config", "Conv2D", "DataError", "Dense",
    "Dropout", "Flatten", "KerasModel", "MaxPool", "Optimizer", "Results", "SpecError",
    "Param", "Search", "Study", "open", "run",
]
