"""The size of the terms a batch-norm CNN's first conv bias gradient sums, the input to
tests/test_fast_engine.py's BN_WEIGHT_ATOL: that test's model, seed 5, its 500 CIFAR-10
images, each of the first 16 batches at the initial weights. Prints per channel the largest
sum |dL/dz| over batch x positions (what a sum's rounding scales with), the largest |sum|
(the gradient itself, which BN's backward nearly cancels), and the derived tolerance."""

import math

import numpy as np

from sweeplab import data, models, spec
from sweeplab.backend import seed_everything

ds = data.load("cifar10", "../shared/data", subset=500, allow_download=False)
cfg = spec.Config(dataset="cifar10", layers=(
    spec.Conv2D(8, 3, "valid"), spec.BatchNorm(), spec.MaxPool(2), spec.Conv2D(8, 3, "same"),
    spec.MaxPool(2), spec.Flatten(), spec.Dense(16), spec.BatchNorm()),
    optimizer=spec.Optimizer("sgd", 0.01), epochs=1)
seed_everything(5)
model = models.compile_model(models.build_model(cfg, ds.image_shape, ds.num_classes), cfg)
import tensorflow as tf  # noqa: E402  (after sweeplab set the backend up)

conv, terms, sums = model.layers[0], [], []
for start in range(0, len(ds.x_train), cfg.batch_size):
    x, y = ds.x_train[start:start + cfg.batch_size], ds.y_train[start:start + cfg.batch_size]
    with tf.GradientTape() as tape:
        z = tf.nn.bias_add(tf.nn.conv2d(x, conv.kernel, 1, "VALID"), conv.bias)
        tape.watch(z)
        h = tf.nn.relu(z)
        for layer in model.layers[1:]:
            h = layer(h, training=True)
        loss = model.loss(y, h)
    dz = tape.gradient(loss, z).numpy()
    terms.append(np.abs(dz).sum((0, 1, 2)))
    sums.append(np.abs(dz.sum((0, 1, 2))))
n, steps, u, lr = cfg.batch_size * dz.shape[1] * dz.shape[2], len(terms), 2.0 ** -24, 0.01
big = float(np.max(terms))
np.set_printoptions(precision=3)
print(f"n = {n} terms per bias gradient, {steps} steps, lr (or Adam's lr / eps) {lr}")
print("sum |terms| per channel, largest over steps:", np.max(terms, axis=0))
print("|gradient| per channel, largest over steps: ", np.max(sums, axis=0))
per_engine = math.sqrt(n) * u * big * lr * math.sqrt(steps)
print(f"sqrt(n) u {big:.1f} lr sqrt(steps) = {per_engine:.2e} per engine; "
      f"x sqrt 2 x 3 = {3 * math.sqrt(2) * per_engine:.2e} (BN_WEIGHT_ATOL)")
