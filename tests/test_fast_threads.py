"""One thread per op for dense models (issue 33), the user's choice: the fast engine leaves
TensorFlow's threads alone (a process-wide setting: the first model would decide it for the
CNNs trained later in the same process, as in `sweeplab assignment`), and with
intra-op threads set to 1 an MLP's weights are the same bit for bit as with TF's default.

TensorFlow fixes its threads when it starts, so each case runs in a fresh process (a tiny
MNIST subset, 2 seeds, 1 epoch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import hashlib, json, sys, dataclasses
import numpy as np
from sweeplab import data, spec
from sweeplab.engines import fast
preset, dataset, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if sys.argv[5] == "1":  # one thread per op, set before TensorFlow starts
    fast.tensorflow().config.threading.set_intra_op_parallelism_threads(1)
ds = data.load(dataset, sys.argv[4], subset=n, allow_download=False)
cfg = dataclasses.replace(spec.preset(preset), epochs=1)
g = fast.train_group(cfg, [3, 4], ds)
h = hashlib.sha256()
for w in g.weights:
    for a in w:
        h.update(np.ascontiguousarray(a).tobytes())
tf = fast.tensorflow()
print(json.dumps({"intra": tf.config.threading.get_intra_op_parallelism_threads(),
                  "weights": h.hexdigest()}))
"""


def _run(data_dir: str, preset: str, dataset: str, n: int, intra: int = 0) -> dict:
    e = dict(os.environ, PYTHONPATH=str(ROOT / "src"), TF_CPP_MIN_LOG_LEVEL="3")
    e.pop("TF_NUM_INTRAOP_THREADS", None)
    p = subprocess.run([sys.executable, "-c", CHILD, preset, dataset, str(n), data_dir,
                        str(intra)],
                       env=e, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("preset", ["mlp-relu-mse", "mlp-softmax-ce"])
def test_an_mlp_on_one_thread_per_op_has_the_same_weights(data_dir, preset):
    default = _run(data_dir, preset, "mnist", 300)
    one = _run(data_dir, preset, "mnist", 300, intra=1)
    assert default["intra"] == 0 and one["intra"] == 1  # the engine leaves threads alone
    assert one["weights"] == default["weights"]
