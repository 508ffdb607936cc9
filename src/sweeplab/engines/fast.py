"""The fast engine: K seeds of one config trained together, a whole epoch per compiled call.

What it computes is the reference engine's training, run by run:

- initial weights: for each seed, ``common.initial_weights`` (the Keras initialisers
  ``models.build_model`` would call, after seeding), so epoch 0 is identical to the
  reference engine;
- the same losses, Keras 3's SGD/Adam update formulas (``keras/src/optimizers``),
  BatchNormalization (momentum 0.99, epsilon 1e-3, biased batch variance,
  ``tf.nn.moments`` + ``tf.nn.batch_normalization`` like Keras' TF backend), dropout
  (keep where uniform >= rate, scale 1/(1-rate)), the last partial batch as a
  smaller batch, and train loss/accuracy as Keras' ``fit`` logs report them (loss:
  mean of the per-batch mean losses weighted by batch size; accuracy: fraction of
  the epoch's samples classified correctly);
- evaluation on the test set after every epoch, the untrained evaluation (epoch 0),
  the confusion matrix and the probe outputs for ``x_test[0]``.

How runs are stacked: every trainable tensor gets a leading run axis K. Dense layers
are batched matmuls ``(K, B, in) @ (K, in, out)``; images stay a Python list of K
tensors and each run gets its own ``tf.nn.conv2d`` in the same graph (TF runs the K
independent branches concurrently). A whole epoch is one ``tf.while_loop`` (plus one
step for the last partial batch) inside one ``tf.function``; Python is not involved
per step.

No XLA (bench/README.md, "Figures once in the source", has the measurements):

- dense-only models: TensorFlow has no call that frees XLA's CPU executables, and each
  new config left memory maps behind, so a long sweep in one process died at
  ``vm.max_map_count`` (tests/test_long_sweep.py). Plain tf.function programs are
  released between configs (backend.release_compiled).
- conv models: under ``enable_op_determinism`` (which sweeplab turns on) the XLA bridge
  refuses MaxPoolGrad. K separate ``conv2d`` in one graph were faster than one grouped
  convolution over (B, H, W, K*C), so each run keeps its own.

Randomness, all derived from the run's seed ``s``, so a run's numbers do not depend on
which other seeds share its group:

- shuffling: the permutation ``model.fit`` itself uses for seed ``s`` (see
  :func:`fit_order`); like ``fit`` under a global seed, the same one in every epoch;
- dropout (TF's stateless Philox ops; not Keras' own masks, so runs with dropout
  match the reference statistically, not bit for bit): mask of the dropout layer at
  position l (index in ``cfg.layers``) in step j (0-based, counted within the epoch)
  of epoch e: ``stateless_uniform(shape, seed=(s, e * 2**32 + j * 2**8 + l))``.

Weights come only from ``common.initial_weights`` (which seeds what it draws from).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from sweeplab import spec as S
from sweeplab.backend import device, tensorflow
from sweeplab.data import ALIGN, Dataset
from sweeplab.engines import common, probe
from sweeplab.engines.common import EpochCallback
from sweeplab.results import EpochRecord, RunResult, confusion_matrix

MAX_GROUP = 16  # runs stacked at most; beyond this no speed-up was seen on 2 cores
MEMORY_BUDGET = 3 * 2**30  # bytes the automatic K may plan for (model state + activations)
EVAL_ACT_BUDGET = 256 * 2**20  # bytes of activations one evaluation chunk may use
# Test images per evaluation call at most: a whole 10,000-image test set where the budget
# allows (q1's MLP, 10 runs: one call 35 ms, 5 calls of 2,000 50 ms, bench/README.md).
EVAL_CHUNK_MAX = 10_000
_BN_MOMENTUM = 0.99  # keras.layers.BatchNormalization defaults
_BN_EPSILON = 1e-3


# --- the stacked model ----------------------------------------------------------------



class _Program:
    """The compiled per-config functions: one epoch of training, one evaluation chunk."""

    def __init__(self, cfg: S.Config, k: int, n_train: int, num_classes: int):
        tf = tensorflow()
        self.tf = tf
        self.cfg = cfg
        self.k = k
        self.num_classes = num_classes
        self.batch = cfg.batch_size
        self.full_steps, self.last = divmod(n_train, cfg.batch_size)
        # layout of params/stats: per layer, indices into the flat lists
        self.layout: list[tuple[Any, tuple[int, ...], tuple[int, ...]]] = []
        p = s = 0
        for layer in (*cfg.layers, S.Dense(num_classes, cfg.output_activation)):
            if isinstance(layer, (S.Dense, S.Conv2D)):
                self.layout.append((layer, (p, p + 1), ()))
                p += 2
            elif isinstance(layer, S.BatchNorm):
                self.layout.append((layer, (p, p + 1), (s, s + 1)))
                p += 2
                s += 2
            else:
                self.layout.append((layer, (), ()))
        self.n_params, self.n_stats = p, s
        # Params that image layers (before Flatten) use one run at a time: training
        # differentiates with respect to per-run views of them (unstacked before the
        # tape, gradients stacked after), not slices w[i] of the stacked tensor, whose
        # gradient (StridedSliceGrad: a zero (K, ...) tensor per run, then a sum) took
        # ~7% of cnn-base's training ops.
        self.per_run_params: set[int] = set()
        image = bool(cfg.layers) and not isinstance(cfg.layers[0], S.Flatten)
        for layer, pi, _ in self.layout:
            if isinstance(layer, S.Flatten):
                image = False
            elif image and isinstance(layer, (S.Conv2D, S.BatchNorm)):
                self.per_run_params.update(pi)
        opt = cfg.optimizer
        self.n_slots = (1 if opt.momentum else 0) if opt.name == "sgd" else (
            3 if opt.amsgrad else 2)
        # No XLA (see the module docstring): its executables cannot be freed.
        self.train_epoch = tf.function(self._train_epoch, jit_compile=False, autograph=False)
        # Evaluation without XLA: after the wide first layer (see forward) it is a few
        # large matmuls, which plain TF runs as fast; and it skips a compile.
        self.evaluate = tf.function(self._evaluate, jit_compile=False, autograph=False)

    # -- forward ------------------------------------------------------------------------

    def forward(self, params, stats, x, training: bool, keys=None, counter=None, alive=None):
        """Run the stack. x: (K, B, ...) per-run inputs, or (M, ...) shared by all runs.

        Returns (outputs, logits, new_stats); outputs/logits are (K, B, classes). ``alive``,
        a list, receives per ReLU layer a (K, units) bool: non-zero on some image/position
        (the probe's liveness, see probe.py, from this very forward pass).
        """
        tf = self.tf
        k = self.k
        new_stats = list(stats)
        h: Any
        # Per-run activations: images (before Flatten) are a list of K tensors, one per
        # run; vectors are one (K, B, D) tensor. A test chunk is shared by all runs: it
        # stays ONE tensor (M, ...) until the first layer with weights, which then runs as
        # one wide matmul with the K runs' weights side by side (K*U outputs) and splits
        # the result per run (dense layers only, see Conv2D below), faster than a
        # broadcast batched matmul.
        shared = not training
        image = not isinstance(self.cfg.layers[0], S.Flatten) if self.cfg.layers else False
        if image:
            h = x if shared else tf.unstack(x, num=k)
        else:
            h = x
        for pos, (layer, pi, si) in enumerate(self.layout):
            if shared and isinstance(layer, S.BatchNorm):  # no fused form: copy per run
                h = [h] * k if image else tf.broadcast_to(h[None], tf.concat(
                    [[k], tf.shape(h)], 0))
                shared = False
            if isinstance(layer, S.Flatten):
                if shared:
                    h = tf.reshape(h, (tf.shape(h)[0], -1))
                elif image:
                    h = tf.stack([tf.reshape(a, (tf.shape(a)[0], -1)) for a in h])
                else:
                    h = tf.reshape(h, (tf.shape(h)[0], tf.shape(h)[1], -1))
                image = False
            elif isinstance(layer, S.Dense):
                w, b = params[pi[0]], params[pi[1]]
                if shared:
                    m, d, u = tf.shape(h)[0], w.shape[1], w.shape[2]
                    wide = tf.reshape(tf.transpose(w, (1, 0, 2)), (d, k * u))
                    h = tf.matmul(tf.reshape(h, (m, d)), wide)
                    h = tf.transpose(tf.reshape(h, (m, k, u)), (1, 0, 2)) + b[:, None, :]
                    shared = False
                else:
                    if len(h.shape) > 3:  # vector input without Flatten: (K, B, D) from x
                        h = tf.reshape(h, (tf.shape(h)[0], tf.shape(h)[1], -1))
                    h = tf.matmul(h, w) + b[:, None, :]
                if pos == len(self.layout) - 1:
                    out = _activate(tf, h, layer.activation)
                    if alive is not None and layer.activation == "relu":
                        alive.append(tf.reduce_any(out != 0, axis=1))
                    return out, h, new_stats
                h = _activate(tf, h, layer.activation)
                if alive is not None and layer.activation == "relu":
                    alive.append(tf.reduce_any(h != 0, axis=1))
            elif isinstance(layer, S.Conv2D):
                w, b = params[pi[0]], params[pi[1]]
                pad = layer.padding.upper()
                # No wide conv for a shared image chunk: one conv2d with the K runs'
                # filters side by side (K*F channels), split per run, gave the right
                # numbers eagerly but wrong ones for runs 2..K inside tf.function (TF
                # 2.21, cnn-base, K=3: up to 0.03 off after the first conv, test accuracy
                # 0.10 instead of 0.23); see bench/README.md. Each run convolves the chunk.
                if shared:
                    h = [h] * k
                    shared = False
                h = [_activate(tf, tf.nn.bias_add(tf.nn.conv2d(a, w[i], 1, pad), b[i]),
                               layer.activation) for i, a in enumerate(h)]
                if alive is not None and layer.activation == "relu":
                    alive.append(tf.stack([tf.reduce_any(a != 0, axis=(0, 1, 2)) for a in h]))
            elif isinstance(layer, S.MaxPool) and shared:  # pooled once for all runs
                h = tf.nn.max_pool2d(h, layer.size, layer.size, "VALID")
            elif isinstance(layer, S.MaxPool):
                h = [tf.nn.max_pool2d(a, layer.size, layer.size, "VALID") for a in h]
            elif isinstance(layer, S.BatchNorm):
                gamma, beta = params[pi[0]], params[pi[1]]
                mm, mv = stats[si[0]], stats[si[1]]
                h, new_stats[si[0]], new_stats[si[1]] = self._batchnorm(
                    h, image, gamma, beta, mm, mv, training)
            elif isinstance(layer, S.Dropout):
                if training and layer.rate > 0:
                    h = self._dropout(h, image, layer.rate, keys, counter, pos)
        raise AssertionError("the output layer returns")  # pragma: no cover

    def _batchnorm(self, h, image, gamma, beta, mm, mv, training):
        tf = self.tf
        mom = _BN_MOMENTUM
        if image:
            outs, means, vars_ = [], [], []
            for i, a in enumerate(h):
                if training:
                    mean, var = tf.nn.moments(a, [0, 1, 2])
                    means.append(mean)
                    vars_.append(var)
                else:
                    mean, var = mm[i], mv[i]
                outs.append(tf.nn.batch_normalization(a, mean, var, beta[i], gamma[i],
                                                      _BN_EPSILON))
            if not training:
                return outs, mm, mv
            mean, var = tf.stack(means), tf.stack(vars_)
        else:
            if training:
                mean, var = tf.nn.moments(h, [1], keepdims=True)
                outs = tf.nn.batch_normalization(h, mean, var, beta[:, None], gamma[:, None],
                                                 _BN_EPSILON)
                mean, var = mean[:, 0], var[:, 0]
            else:
                outs = tf.nn.batch_normalization(h, mm[:, None], mv[:, None], beta[:, None],
                                                 gamma[:, None], _BN_EPSILON)
                return outs, mm, mv
        # Keras: moving * momentum + batch * (1.0 - momentum), in the variables' dtype
        mean, var = tf.stop_gradient(mean), tf.stop_gradient(var)
        return outs, mm * mom + mean * (1.0 - mom), mv * mom + var * (1.0 - mom)

    def _dropout(self, h, image, rate, keys, counter, pos):
        tf = self.tf
        scale = 1.0 / (1.0 - rate)

        def mask(i, shape):
            seed = tf.stack([keys[i], counter + pos])
            u = tf.random.stateless_uniform(shape, seed=seed, alg="philox")
            return tf.cast(u >= rate, h[0].dtype if image else h.dtype)

        if image:
            return [a * scale * mask(i, tf.shape(a)) for i, a in enumerate(h)]
        shape = tf.shape(h)[1:]
        return h * scale * tf.stack([mask(i, shape) for i in range(self.k)])

    # -- loss, metrics, optimiser -------------------------------------------------------

    def per_sample(self, out, logits, y):
        """Per-sample loss (K, B) and correct flags (K, B) as float."""
        tf = self.tf
        if self.cfg.loss == "squared_error":
            target = tf.one_hot(y, self.num_classes, dtype=out.dtype)
            loss = tf.reduce_mean(tf.square(target - out), axis=-1)
        else:  # softmax or linear output: Keras takes the logits (see _get_logits)
            yy = tf.broadcast_to(y, tf.shape(logits)[:-1])
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yy, logits=logits)
        pred = tf.argmax(out, axis=-1, output_type=tf.int32)
        return loss, tf.cast(tf.equal(pred, y), out.dtype), pred

    def apply(self, params, slots, grads, iterations):
        """Keras 3's update_step, per variable, formulas copied term by term."""
        tf = self.tf
        opt = self.cfg.optimizer
        new_p, new_s = [], []
        lr = tf.constant(opt.learning_rate, tf.float32)
        if opt.name == "adam":
            step = tf.cast(iterations + 1, tf.float32)
            b1p = tf.pow(tf.constant(opt.beta_1, tf.float32), step)
            b2p = tf.pow(tf.constant(opt.beta_2, tf.float32), step)
            alpha = lr * tf.sqrt(1 - b2p) / (1 - b1p)
        for p, ss, g in zip(params, slots, grads, strict=True):
            if opt.name == "sgd":
                if opt.momentum:
                    m = ss[0] * opt.momentum - g * lr
                    p = p + (m * opt.momentum - g * lr if opt.nesterov else m)
                    ss = [m]
                else:
                    p = p - g * lr
            else:
                m = ss[0] + (g - ss[0]) * (1 - opt.beta_1)
                v = ss[1] + (tf.square(g) - ss[1]) * (1 - opt.beta_2)
                if opt.amsgrad:
                    vh = tf.maximum(ss[2], v)
                    ss = [m, v, vh]
                    v = vh
                else:
                    ss = [m, v]
                p = p - (m * alpha) / (tf.sqrt(v) + opt.epsilon)
            new_p.append(p)
            new_s.append(ss)
        return new_p, new_s

    # -- compiled bodies ------------------------------------------------------------------

    def _step(self, x_train, y_train, idx, keys, counter, state):
        tf = self.tf
        params, stats, slots, it = state
        xb = tf.gather(x_train, idx)  # (K, B, ...)
        yb = tf.gather(y_train, idx)  # (K, B)
        views = [tf.unstack(p, num=self.k) if j in self.per_run_params else p
                 for j, p in enumerate(params)]
        with tf.GradientTape() as tape:
            tape.watch(views)
            out, logits, new_stats = self.forward(views, stats, xb, True, keys, counter)
            loss, correct, _ = self.per_sample(out, logits, yb)
            batch_loss = tf.reduce_mean(loss, axis=1)  # (K,), Keras' sum_over_batch_size
            total = tf.reduce_sum(batch_loss)  # runs are independent: d total/d w_k = d loss_k
        grads = [tf.stack(g) if isinstance(g, list) else g
                 for g in tape.gradient(total, views)]
        params, slots = self.apply(params, slots, grads, it)
        n = tf.cast(tf.shape(idx)[1], tf.float32)
        return (params, new_stats, slots, it + 1), batch_loss * n, tf.reduce_sum(correct, 1)

    def _train_epoch(self, x_train, y_train, idx_full, idx_last, keys, epoch, state):
        """One epoch. idx_full (S, K, B) and idx_last (K, r) index the training set."""
        tf = self.tf
        zeros = tf.zeros((self.k,), tf.float32)
        base = tf.cast(epoch, tf.int64) * (2 ** 32)

        def body(j, st, lsum, csum):
            st, l_, c_ = self._step(x_train, y_train, idx_full[j], keys,
                                    base + tf.cast(j, tf.int64) * 256, st)
            return j + 1, st, lsum + l_, csum + c_

        state = tuple(state)
        if self.full_steps:
            _, state, lsum, csum = tf.while_loop(
                lambda j, *_: j < self.full_steps, body,
                (tf.constant(0), state, zeros, zeros))
        else:
            lsum = csum = zeros
        if self.last:
            state, l_, c_ = self._step(x_train, y_train, idx_last, keys,
                                       base + self.full_steps * 256, state)
            lsum, csum = lsum + l_, csum + c_
        return state, lsum, csum

    def _evaluate(self, params, stats, x, y):
        """Sums over one test chunk shared by all runs: loss (K,), correct (K,), preds, probe,
        and the probe's liveness: per ReLU layer (K, units) non-zero somewhere, and per
        output unit (K, classes) the images on which it is > 0."""
        tf = self.tf
        alive: list[Any] = []
        out, logits, _ = self.forward(params, stats, x, False, alive=alive)
        loss, correct, pred = self.per_sample(out, logits, y[None])
        active = tf.reduce_sum(tf.cast(out > 0, tf.int32), axis=1)
        return (tf.reduce_sum(loss, 1), tf.reduce_sum(correct, 1), pred, out[:, 0], alive,
                active)


def _activate(tf, x, name: str):
    if isinstance(x, list):
        return [_activate(tf, a, name) for a in x]
    if name == "relu":
        return tf.nn.relu(x)
    if name == "linear":
        return x
    if name == "sigmoid":
        return tf.nn.sigmoid(x)
    if name == "tanh":
        return tf.nn.tanh(x)
    if name == "softmax":
        return tf.nn.softmax(x)
    if name == "elu":
        return tf.nn.elu(x)
    if name == "gelu":
        return tf.nn.gelu(x, approximate=False)  # keras.activations.gelu's default
    raise ValueError(f"unsupported activation {name!r}")


# --- memory and K ---------------------------------------------------------------------

def auto_group_size(cfg: S.Config, data: Dataset, n_seeds: int) -> int:
    """K: as many seeds as fit MEMORY_BUDGET (and half the free memory), at most MAX_GROUP."""
    free = min(MEMORY_BUDGET, common.host_available() // 2)
    return common.group_size(cfg, data.image_shape, data.num_classes, n_seeds, free,
                             MAX_GROUP)


# --- training a group -----------------------------------------------------------------

@contextlib.contextmanager
def _no_loop_optimization(tf) -> Iterator[None]:
    """Grappler's loop optimiser off while our epoch function is first instantiated.

    It spends seconds on the epoch's while-loop graph and bought nothing measurable.
    It only moves ops around (no numerical effect); the previous setting is restored so
    other code in the process is unaffected.
    """
    before = tf.config.optimizer.get_experimental_options().get("loop_optimization", True)
    tf.config.optimizer.set_experimental_options({"loop_optimization": False})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"loop_optimization": before})


@dataclass
class GroupResult:
    """What :func:`train_group` returns: the runs' records and their final weights."""

    results: list[RunResult]  # one per seed, in the order given
    weights: list[list[np.ndarray]] = field(repr=False)  # per seed, Keras get_weights() order


_PROGRAMS: dict[tuple, _Program] = {}


def _program(cfg: S.Config, k: int, n_train: int, num_classes: int) -> _Program:
    key = (S.canonical_json(cfg), k, n_train, num_classes)
    if key not in _PROGRAMS:
        _PROGRAMS.clear()  # one live program at a time keeps memory flat over a study
        _PROGRAMS[key] = _Program(cfg, k, n_train, num_classes)
    return _PROGRAMS[key]


def fit_orders(seeds: Sequence[int], n: int) -> np.ndarray:
    """The orders in which ``model.fit(shuffle=True)`` visits n training samples, every
    epoch, for each of ``seeds``: (len(seeds), n).

    Keras 3's TF array adapter draws the permutation with ``tf.random.shuffle`` inside a
    ``tf.data`` map function. Under a global seed (``set_random_seed``) that stateful op
    is re-created with the same (seed, op seed) each time fit starts an epoch's iterator,
    so the reference engine visits the SAME permutation in every epoch (measured with
    Keras 3.15 / TF 2.21; see bench/README.md). We draw that very permutation so both
    engines see identical batches: tests/test_fast_engine.py checks it against the
    adapter's own for several seeds (0 among them) and the weights after several shuffled
    epochs against ``model.fit``.

    Inside the adapter's map function the op's seed pair is (global seed, 0): a traced
    function's op seed is 0 there; TF replaces the pair (0, 0), its "unseeded", by
    (0, 2**31 - 1). So one freshly traced function with one ``RandomShuffle`` per seed,
    its pair set explicitly, gives every run's order at once, without seeding anything.
    A fresh function each call: a stateful op's kernel advances its stream when reused.
    """
    tf = tensorflow()
    pairs = [(int(s), 0 if int(s) else 2**31 - 1) for s in seeds]

    def orders():
        indices = tf.range(n, dtype=tf.int64)
        return tf.stack([tf.raw_ops.RandomShuffle(value=indices, seed=a, seed2=b)
                         for a, b in pairs])

    out = tf.function(orders, autograph=False)().numpy()
    # each row holds every index once: counted in one bincount (5 ms; a sort took 25 ms)
    rows = np.arange(len(pairs))[:, None] * n
    if out.shape != (len(pairs), n) or out.size and (
            out.min() < 0 or out.max() >= n
            or not (np.bincount((out + rows).ravel(), minlength=out.size) == 1).all()):
        raise RuntimeError("Keras' shuffle did not return a permutation of the training set")
    return out


def fit_order(seed: int, n: int) -> np.ndarray:
    """:func:`fit_orders` of one seed."""
    return fit_orders([seed], n)[0]


def _split_weights(prog: _Program, weights: list[np.ndarray]) -> tuple[list, list]:
    """Keras order -> (trainable, BN moving stats): BN holds gamma, beta, mean, var."""
    params, stats = [], []
    i = 0
    for layer, pi, _ in prog.layout:
        if isinstance(layer, S.BatchNorm):
            params += weights[i:i + 2]
            stats += weights[i + 2:i + 4]
            i += 4
        elif pi:
            params += weights[i:i + 2]
            i += 2
    return params, stats


def _join_weights(prog: _Program, params: list, stats: list) -> list:
    out = []
    for _layer, pi, si in prog.layout:
        out += [params[j] for j in pi] + [stats[j] for j in si]
    return out


_TENSORS: dict[str, Any] = {}


def _as_tensor(tf, a: np.ndarray):
    """``a`` as a tensor, bit for bit. An array aligned as ``data.scale`` makes them is
    shared through DLPack, without a copy; any other is copied through its bytes: TF
    converts a large float32 array element by element (full MNIST, 188 MB: 0.75-0.85 s)
    but bytes at memcpy speed, and ``tf.bitcast`` reads them back without a copy."""
    a = np.ascontiguousarray(a)
    if a.ctypes.data % ALIGN == 0 and a.flags.writeable and a.size:
        return tf.experimental.dlpack.from_dlpack(a.__dlpack__())
    if a.dtype.itemsize == 1 or a.size == 0:
        return tf.convert_to_tensor(a)
    raw = tf.convert_to_tensor(a.reshape(-1).view(np.uint8).reshape(a.size, a.dtype.itemsize))
    return tf.reshape(tf.bitcast(raw, tf.as_dtype(a.dtype)), a.shape)


def _data_tensors(tf, data: Dataset) -> dict[str, Any]:
    """The dataset's arrays as tensors, converted once per dataset (the last one is kept):
    a study calls the engine once per config, and the conversion was 0.8 s of a 3.6 s q1
    call before :func:`_as_tensor`."""
    if _TENSORS.get("data") is not data:  # the Dataset itself: no recycled-id match
        _TENSORS.clear()
        _TENSORS["data"] = data
        for name in ("x_train", "y_train", "x_test", "y_test", "x_val", "y_val"):
            if getattr(data, name) is not None:
                _TENSORS[name] = _as_tensor(tf, getattr(data, name))
    return _TENSORS


def train_group(cfg: S.Config, seeds: Sequence[int], data: Dataset, *, shuffle: bool = True,
                on_epoch: EpochCallback | None = None) -> GroupResult:
    """Train ``len(seeds)`` runs of ``cfg`` together and return their results and weights.

    Each result carries its diagnostics record (``probe.record``), measured from the test
    evaluations of epoch 0 and of the last epoch: the same forward pass ``probe.measure``
    would run again with Keras (1.15 s of a 7.3 s q1 10-seed call, bench/README.md).

    Args:
        shuffle: per-run shuffling each epoch (the default, as Keras' fit). False keeps the
            training set's order for every run, which tests use to force the reference
            engine's batches.
    """
    tf = tensorflow()
    t_start = time.perf_counter()
    seeds = [int(s) for s in seeds]
    k = len(seeds)
    n = len(data.x_train)
    nc = data.num_classes
    with common.timed("setup"):
        prog = _program(cfg, k, n, nc)
        per_run = [_split_weights(prog, common.initial_weights(cfg, s, data.image_shape, nc))
                   for s in seeds]
        params = [tf.constant(np.stack([r[0][j] for r in per_run]))
                  for j in range(prog.n_params)]
        stats = [tf.constant(np.stack([r[1][j] for r in per_run])) for j in range(prog.n_stats)]
        slots = [[tf.zeros_like(p) for _ in range(prog.n_slots)] for p in params]
        state = (params, stats, slots, tf.constant(0, tf.int64))
        keys = tf.constant(seeds, tf.int64)
        tensors = _data_tensors(tf, data)
        x_train, y_train = tensors["x_train"], tensors["y_train"]
        chunk = common.eval_chunk(cfg, data.image_shape, k, len(data.x_test), EVAL_ACT_BUDGET,
                                  EVAL_CHUNK_MAX)
    x_test, y_test = tensors["x_test"], tensors["y_test"]
    relu = probe.relu_layers(cfg, nc)
    setup = time.perf_counter() - t_start

    def evaluate(st):
        """Per run: mean loss, accuracy, predictions, probe outputs, and liveness."""
        lsum, csum, active = np.zeros(k), np.zeros(k), np.zeros((k, nc), np.int64)
        alive: list[np.ndarray] | None = None
        preds, probe_out = [], None
        for a in range(0, len(x_test), chunk):
            l_, c_, p_, o_, al_, ac_ = prog.evaluate(
                st[0], st[1], x_test[a:a + chunk], y_test[a:a + chunk])
            lsum += l_.numpy()
            csum += c_.numpy()
            active += ac_.numpy()
            got = [v.numpy() for v in al_]
            alive = got if alive is None else [g | w for g, w in zip(got, alive, strict=True)]
            preds.append(p_.numpy())
            if probe_out is None:
                probe_out = o_.numpy()
        m = len(x_test)
        pred = np.concatenate(preds, axis=1)
        live = [probe.liveness(cfg, nc, {pos: al[i] for pos, al in zip(relu, alive, strict=True)},
                               active[i], pred[i]) for i in range(k)]
        return lsum / m, csum / m, pred, probe_out, live

    val_preds: list[np.ndarray | None] = [None]  # the last evaluation's (k, M_val) classes

    def evaluate_val(st) -> list[dict[str, float]]:
        """Per run: the validation split's loss and accuracy (none without one); its
        predictions go to ``val_preds``."""
        if data.x_val is None:
            return [{} for _ in range(k)]
        xv, yv = tensors["x_val"], tensors["y_val"]
        lsum, csum, preds = np.zeros(k), np.zeros(k), []
        for a in range(0, len(data.x_val), chunk):
            l_, c_, p_, *_ = prog.evaluate(st[0], st[1], xv[a:a + chunk], yv[a:a + chunk])
            lsum += l_.numpy()
            csum += c_.numpy()
            preds.append(p_.numpy())
        val_preds[0] = np.concatenate(preds, axis=1)
        m = len(data.x_val)
        return [{"val_loss": float(lsum[i] / m), "val_acc": float(csum[i] / m)}
                for i in range(k)]

    # The untrained runs' evaluation (epoch 0, which no callback waits for) runs in a thread
    # beside the fit order and the first epoch: the first evaluation in a process pays
    # TensorFlow's first use while the first epoch traces its function (Python) and
    # trains on ~1.5 of the 2 cores (bench/README.md).
    # The evaluation has no loop, so _no_loop_optimization's setting, which its first call
    # may see, changes nothing for it.
    with ThreadPoolExecutor(1) as pool:
        untrained = pool.submit(lambda st: (evaluate(st), evaluate_val(st)), state)
        with common.timed("fit_order"):
            if shuffle:
                perm = tf.constant(fit_orders(seeds, n).astype(np.int32))
            else:
                perm = tf.broadcast_to(tf.range(n), (k, n))
        for epoch in range(1, cfg.epochs + 1):
            t0 = time.perf_counter()
            full = prog.full_steps * prog.batch
            idx_full = tf.transpose(
                tf.reshape(perm[:, :full], (k, prog.full_steps, prog.batch)), (1, 0, 2))
            idx_last = perm[:, full:]
            # epoch 1 apart: it includes compiling the epoch function (bench/engines.py)
            with _no_loop_optimization(tf), common.timed("training" if epoch > 1 else "epoch1"):
                state, lsum, csum = prog.train_epoch(x_train, y_train, idx_full, idx_last,
                                                     keys, tf.constant(epoch, tf.int64), state)
                tl, ta = (lsum / n).numpy(), (csum / n).numpy()
            with common.timed("evaluation"):  # epoch 1: what is left of epoch 0's
                if epoch == 1:
                    (loss0, acc0, _, probe0, live0), val0 = untrained.result()
                    records = [[EpochRecord(0, float(loss0[i]), float(acc0[i]),
                                            seconds=setup / k, **val0[i])] for i in range(k)]
                vl, va, preds, probe_out, live = evaluate(state)
                vals = evaluate_val(state)
            dt = (time.perf_counter() - t0) / k
            for i in range(k):
                records[i].append(EpochRecord(epoch, float(vl[i]), float(va[i]), float(tl[i]),
                                              float(ta[i]), seconds=dt, **vals[i]))
            if on_epoch is not None:
                for i, s in enumerate(seeds):
                    on_epoch(s, records[i][-1], cfg.epochs)
    wall = (time.perf_counter() - t_start) / k
    chash = S.config_hash(cfg)
    params_np = [p.numpy() for p in state[0]]
    stats_np = [s.numpy() for s in state[1]]
    weights = [_join_weights(prog, [p[i] for p in params_np], [s[i] for s in stats_np])
               for i in range(k)]
    results = []
    for i, s in enumerate(seeds):
        conf = confusion_matrix(data.y_test, preds[i], nc)
        r = RunResult(chash, s, "fast", tuple(records[i]), conf,
                      tuple(float(v) for v in probe0[i]), tuple(float(v) for v in probe_out[i]),
                      wall, device=device(), weights=tuple(weights[i]),
                      predictions=preds[i], test_labels=data.y_test,
                      val_predictions=None if val_preds[0] is None else val_preds[0][i],
                      val_labels=data.y_val)
        try:
            r = replace(r, diagnostics=probe.record(live0[i], live[i], len(x_test), nc))
        except Exception:  # noqa: BLE001 - never lose a trained run: the wrapper measures it
            pass
        results.append(r)
    return GroupResult(results, weights)


class FastEngine(common.GroupedEngine):
    """Trains the seeds of one config in groups of K (automatic, or ``parallel``)."""

    name = "fast"
    auto_group_size = staticmethod(auto_group_size)

    def __call__(self, cfg: S.Config, seeds: Sequence[int], data: Dataset,
                 on_epoch: EpochCallback | None = None) -> Iterator[RunResult]:
        seeds = list(seeds)
        if not seeds:
            return
        k = self.group_size(cfg, data, len(seeds))
        for a in range(0, len(seeds), k):
            yield from train_group(cfg, seeds[a:a + k], data, shuffle=self.shuffle,
                                   on_epoch=on_epoch).results
