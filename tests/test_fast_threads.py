"""One thread per op for dense models (issue 33, fast.one_thread_per_op): set when the fast
engine is TensorFlow's first user in a process, left alone for convolutional models and when
the user set TF_NUM_INTRAOP_THREADS; an MLP's weights are the same bit for bit either way.

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


def _run(data_dir: str, preset: str, dataset: str, n: int, **env: str) -> dict:
    e = dict(os.environ, PYTHONPATH=str(ROOT / "src"), TF_CPP_MIN_LOG_LEVEL="3", **env)
    e.pop("TF_NUM_INTRAOP_THREADS", None)
    e.update(env)
    p = subprocess.run([sys.executable, "-c", CHILD, preset, dataset, str(n), data_dir],
                       env=e, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("preset", ["mlp-relu-mse", "mlp-softmax-ce"])
def test_an_mlp_runs_one_thread_per_op_with_the_same_weights(data_dir, preset):
    one = _run(data_dir, preset, "mnist", 300)
    two = _run(data_dir, preset, "mnist", 300, TF_NUM_INTRAOP_THREADS="2")
    assert one["intra"] == 1 and two["intra"] == 0  # the user's setting is left alone
    assert one["weights"] == two["weights"]


def test_a_cnn_keeps_tensorflows_threads(data_dir):
    assert _run(data_dir, "cnn-base", "cifar10", 100)["intra"] == 0
