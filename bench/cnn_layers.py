"""Per-layer cost of cnn-base's convolutions when K runs train side by side.

What bench/README.md quotes for "where the time goes" in case (b): for each of cnn-base's
three convolutions (with bias and ReLU), K runs x batch 32, inside one while-loop graph
as the fast engine runs them: the forward pass alone, forward + backward with K separate
``conv2d`` (what the engine does), and forward + backward as ONE grouped convolution over
the runs' channels side by side. Prints ms per step (median of 5) and GFLOP/s.

    PYTHONPATH=src .venv/bin/python bench/cnn_layers.py
"""

from __future__ import annotations

import argparse
import statistics
import time

from sweeplab.backend import tensorflow

# name: (input height, width, channels, filters, input gradient needed)
LAYERS = {"conv1": (32, 32, 3, 32, False), "conv2": (15, 15, 32, 64, True),
          "conv3": (6, 6, 64, 64, True)}


def _flop(name: str, k: int, batch: int, mode: str) -> float:
    h, w, c, f, gin = LAYERS[name]
    fwd = 2 * (h - 2) * (w - 2) * 9 * c * f * batch * k
    return fwd if mode == "forward" else fwd * (3 if gin else 2)


def bench(name: str, mode: str, k: int, batch: int, steps: int) -> float:
    tf = tensorflow()
    h, w, c, f, gin = LAYERS[name]
    rng = tf.random.Generator.from_seed(0)
    xs = [rng.uniform((batch, h, w, c)) for _ in range(k)]
    ws = [rng.normal((3, 3, c, f)) * 0.05 for _ in range(k)]
    bs = [tf.zeros((f,)) for _ in range(k)]

    def layer(x):
        if mode == "grouped":  # (B, H, W, K*C) with K groups
            o = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(tf.concat(x, -1), tf.concat(ws, -1), 1,
                                                       "VALID"), tf.concat(bs, -1)))
            return tf.reduce_sum(o * o)
        outs = [tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x[i], ws[i], 1, "VALID"), bs[i]))
                for i in range(k)]
        return tf.add_n([tf.reduce_sum(o * o) for o in outs])

    @tf.function(autograph=False)
    def run():
        def body(j, acc):
            x = [a + tf.cast(j, tf.float32) * 1e-4 for a in xs]  # no loop-invariant hoisting
            if mode == "forward":
                return j + 1, acc + layer(x)
            with tf.GradientTape() as tape:
                tape.watch([ws, bs, x] if gin else [ws, bs])
                total = layer(x)
            grads = tape.gradient(total, [ws, bs, x] if gin else [ws, bs])
            return j + 1, acc + total + tf.add_n([tf.reduce_sum(g[:1]) for gg in grads
                                                  for g in gg])
        return tf.while_loop(lambda j, _: j < steps, body, (0, 0.0))[1]

    run()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        run().numpy()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) / steps * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="K, runs side by side")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=100)
    args = p.parse_args()
    print(f"cnn-base convolutions, {args.runs} runs x batch {args.batch}, ms per step "
          "(median of 5) and GFLOP/s")
    for name in LAYERS:
        for mode in ("forward", "separate", "grouped"):
            ms = bench(name, mode, args.runs, args.batch, args.steps)
            label = mode if mode == "forward" else f"fwd+bwd {mode}"
            print(f"  {name} {label:18s} {ms:7.2f} ms  "
                  f"{_flop(name, args.runs, args.batch, mode) / ms / 1e6:6.0f} GFLOP/s",
                  flush=True)


if __name__ == "__main__":
    main()
