"""The pieces of one fast-engine training step of q1's MLP (10 runs, batch 32), each alone
in a 1,875-step ``tf.while_loop`` (one epoch's steps): wall and CPU microseconds per step,
best of 3 (bench/README.md, issue 33).

    PYTHONPATH=src .venv/bin/python bench/fast_step.py                 # every piece
    THREADS=1,1 .venv/bin/python bench/fast_step.py "the loop alone"   # intra,inter threads
    ONEDNN_MAX_CPU_ISA=AVX2 .venv/bin/python bench/fast_step.py        # held to AVX2
    TF_ENABLE_ONEDNN_OPTS=0 .venv/bin/python bench/fast_step.py        # Eigen's kernels
"""

import os
import sys
import time

import numpy as np
import tensorflow as tf

th = os.environ.get("THREADS")
if th:
    intra, inter = map(int, th.split(","))
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
K, B, D, U, N = 10, 32, 784, 32, 60000  # runs, batch, inputs, hidden units, training set
STEPS = 1875
rng = np.random.default_rng(0)
xtr_u8 = rng.integers(0, 256, (N, D), dtype=np.uint8)
xtr = tf.constant(xtr_u8.astype(np.float32) / np.float32(255))
xtr_u8 = tf.constant(xtr_u8)
# 255 as the function's argument, not a constant in its graph: Grappler's constant folding
# turns x / const into x * (1 / const), which is not the same float32 division.
d255 = tf.constant(255.0)
x = tf.constant(rng.random((K, B, D), dtype=np.float32))
w = tf.constant(rng.random((K, D, U), dtype=np.float32))
dh = tf.constant(rng.random((K, B, U), dtype=np.float32))
idx = tf.constant(rng.integers(0, N, (STEPS, K, B)).astype(np.int32))
wl, xl, dhl = tf.unstack(w), tf.unstack(x), tf.unstack(dh)
wide = tf.reshape(tf.transpose(w, (1, 0, 2)), (D, K * U))


def loop(fn):
    @tf.function(autograph=False)
    def f(d):
        def body(i, acc):
            return i + 1, acc + (fn(i, d) if fn.__code__.co_argcount == 2 else fn(i))
        return tf.while_loop(lambda i, a: i < STEPS, body, (0, 0.0))[1]
    return f


def first(t):  # a scalar that depends on the piece's output, so it is not pruned
    return tf.reduce_sum(t[:, 0, 0] if len(t.shape) == 3 else t[:, 0])


PIECES = {
    "the loop alone": lambda i: 0.0,
    "gather of the batches (K,B,784) from x_train": lambda i: first(tf.gather(xtr, idx[i])),
    # each gather below is summed whole, so that Grappler can neither prune it to the
    # elements read nor move the cast after a slice; the sum alone is the next piece
    "sum of a (K,B,784) float32 batch alone": lambda i: tf.reduce_sum(x + tf.cast(i, tf.float32)),
    "gather float32, summed": lambda i: tf.reduce_sum(tf.gather(xtr, idx[i])),
    "gather uint8, cast, divided by 255 (an argument), summed": lambda i, d: tf.reduce_sum(
        tf.cast(tf.gather(xtr_u8, idx[i]), tf.float32) / d),
    "gather uint8, cast, summed": lambda i: tf.reduce_sum(
        tf.cast(tf.gather(xtr_u8, idx[i]), tf.float32)),
    "gather uint8, summed as uint8": lambda i: tf.cast(
        tf.reduce_sum(tf.gather(xtr_u8, idx[i])), tf.float32),
    "a (K,B,784) float32 batch divided by 255 (an argument), summed": lambda i, d: tf.reduce_sum(
        (x + tf.cast(i, tf.float32)) / d),
    "forward batched matmul (K,B,D)@(K,D,U)": lambda i: first(tf.matmul(x, w)),
    "forward einsum kbd,kdu->kbu": lambda i: first(tf.einsum("kbd,kdu->kbu", x, w)),
    "forward K separate matmuls": lambda i: tf.add_n(
        [tf.matmul(a, b)[0, 0] for a, b in zip(xl, wl, strict=True)]),
    "forward one matmul (K*B,D)@(D,K*U), K x the FLOP": lambda i: first(
        tf.matmul(tf.reshape(x, (K * B, D)), wide)),
    "weight grad batched x^T dh (K,D,B)@(K,B,U)": lambda i: first(
        tf.matmul(x, dh, transpose_a=True)),
    "weight grad K separate matmuls": lambda i: tf.add_n(
        [tf.matmul(a, b, transpose_a=True)[0, 0] for a, b in zip(xl, dhl, strict=True)]),
    "one elementwise op (K,B,U) relu": lambda i: first(tf.nn.relu(dh)),
}


def main() -> None:
    for name in sys.argv[1:] or list(PIECES):
        f = loop(PIECES[name])
        f(d255)
        best_w = best_c = float("inf")
        for _ in range(3):
            t, c = time.perf_counter(), time.process_time()
            f(d255).numpy()
            best_w = min(best_w, time.perf_counter() - t)
            best_c = min(best_c, time.process_time() - c)
        print(f"{name:52s} {best_w / STEPS * 1e6:8.1f} us wall {best_c / STEPS * 1e6:8.1f} us "
              "CPU per step", flush=True)


if __name__ == "__main__":
    main()
