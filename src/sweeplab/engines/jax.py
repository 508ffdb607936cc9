"""The jax engine: many runs of one architecture in one compiled XLA program (Keras 3 on JAX).

No layer, loss, initialiser or optimiser formula is written here: every step calls Keras'
own, through its stateless API, the way Keras' JAX trainer does
(``keras/src/backend/jax/trainer.py``): ``model.compute_loss_and_updates`` (forward pass
with ``stateless_call``, the compiled loss) under ``jax.value_and_grad``, then
``optimizer.stateless_apply``. So every layer the specs allow works as Keras defines it.

How runs are stacked: a group's runs are (config, seed) pairs. Every variable
(trainable, non-trainable, optimiser) gets a leading run axis; one run's step is
``jax.vmap``-ped over it; a whole epoch is one ``jax.lax.scan`` over the steps inside one
``jax.jit`` (plus one step for the last partial batch, as ``fit`` makes it). The training
and test sets are put on the device once; each run gathers its own batches from them.
The test evaluation after every epoch, epoch 0, the confusion matrix and the probe outputs
(``x_test[0]``) are computed on the device; only small per-run numbers come back. A
validation split (``data.x_val``) is put there too and evaluated the same way after every
epoch (``val_loss``/``val_acc``); the last evaluation's predicted classes are kept, as the
other engines keep them.

Runs may differ in their seed and in the fields of :data:`STACKABLE`, values that
leave every shape and every Python-level branch of the program unchanged, so a
learning-rate axis (across studies too: q2 and q3 differ only in it) is one program.

Randomness, all from a run's seed ``s``:

- initial weights: ``common.initial_state(s)`` (seeded there), as the other engines do.
  Keras draws them with the backend's own generator, so the numbers are
  JAX's draws for that seed, not TensorFlow's: runs agree with the TF engines
  statistically (bench/equivalence.py), and with ``model.fit`` on the JAX backend exactly
  (tests_jax/);
- dropout: Keras' own Dropout layers with their seed-generator state (seeded from ``s``
  when the layer is built) carried per run, as ``fit`` on JAX carries it;
- shuffling: one permutation per run, ``jax.random.permutation(key(s))``, visited in
  every epoch, as the reference engine's ``fit`` on TensorFlow does under a global seed
  (README, "Engines"; the fast engine reproduces it too), so jax runs pooled with theirs
  under one config follow the same procedure. Its spread matters: q5, 8 seeds, a fresh
  permutation per epoch gave sd 0.0028 against the reference's 0.0009 (bench/README.md).
  ``shuffle=False`` keeps the data's order (tests force ``fit``'s batches this way).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sweeplab import models
from sweeplab import spec as S
from sweeplab.backend import device as device_name
from sweeplab.backend import keras
from sweeplab.data import Dataset
from sweeplab.engines import common
from sweeplab.engines.common import EpochCallback
from sweeplab.results import EpochRecord, RunResult

# Config fields runs of one program may differ in. The learning rate is an optimiser
# *variable* in Keras 3 (``optimizer.variables``), so it is carried per run like any
# state. Momentum, Adam's betas and epsilon and the dropout rate are Python floats inside
# Keras' formulas and branches (``if self.momentum != 0``, ``if self.rate > 0``): stacking
# them would mean re-deriving those formulas, so configs that differ in them get one
# program each.
STACKABLE = ("optimizer.learning_rate",)

MAX_GROUP_CPU = 16  # runs at most on a CPU (2 cores: no speed-up beyond, see fast.py)
MAX_GROUP_ACCEL = 256  # runs at most on a GPU/TPU (XLA's batched kernels saturate)
CPU_MEMORY_BUDGET = 3 * 2**30  # bytes the automatic K may plan for on a CPU
EVAL_CHUNK_MAX = 2048  # test images per evaluation call at most
EVAL_BUDGET_CPU = 256 * 2**20  # bytes of activations one evaluation call may use on a CPU


def stack_key(cfg: S.Config) -> str:
    """Configs with the same key can train in one program (they differ only in STACKABLE)."""
    opt = dataclasses.replace(cfg.optimizer, learning_rate=1.0)
    return S.canonical_json(dataclasses.replace(cfg, optimizer=opt))


def _accelerator() -> bool:
    import jax

    return jax.devices()[0].platform != "cpu"


def _free_bytes() -> int:
    """Free memory of the device JAX trains on: 80% of what an accelerator reports free
    (its ``bytes_limit`` less ``bytes_in_use``; 8 GiB where a plugin reports nothing), or
    on a CPU half of MemAvailable, at most CPU_MEMORY_BUDGET."""
    import jax

    if _accelerator():
        try:
            st = jax.devices()[0].memory_stats() or {}
            if "bytes_limit" in st:
                return int(0.8 * (st["bytes_limit"] - st.get("bytes_in_use", 0)))
        except Exception:  # some plugins do not report memory
            pass
        return 8 * 2**30
    return min(CPU_MEMORY_BUDGET, common.host_available() // 2)


def auto_group_size(cfg: S.Config, data: Dataset, n_seeds: int) -> int:
    """K: as many runs as the device's free memory holds (one run's training need:
    common.run_bytes; the state is donated, so it is held once; evaluation is chunked to
    fit beside it), at most MAX_GROUP_*."""
    accel = _accelerator()
    if not accel and _has_conv(cfg):
        # vmap turns K convolutions into one grouped convolution, which XLA's CPU backend
        # runs slower than K separate ones: cnn-base, CIFAR-10 2,000 subset, 2-core CPU,
        # seconds per run-epoch: K=1 18-31, K=3 33-42. (On a CPU `auto` picks fast anyway.)
        return 1
    return common.group_size(cfg, data.image_shape, data.num_classes, n_seeds,
                             _free_bytes(), MAX_GROUP_ACCEL if accel else MAX_GROUP_CPU)


def _has_conv(cfg: S.Config) -> bool:
    return any(isinstance(x, S.Conv2D) for x in cfg.layers)


def runs_mapping(cfg: S.Config) -> str:
    """How one program maps a run's step over its K runs: "vmap" (one batched
    kernel per op) or "map" (``jax.lax.map``: the runs one after another inside the
    compiled program). The rule: dense-only models vmap (a batched matmul is what a GPU
    does best); models with convolutions map, because vmap turns K convolutions into one
    grouped convolution, reported slower than running them in turn on GPUs
    (jax-ml/jax#26568: 10 seeds, 4.9 ms vmapped vs 1.7 ms mapped per step) and measured
    slower on this CPU (see auto_group_size). SWEEPLAB_JAX_MAP=vmap|map overrides it
    (bench/device_check.sh measures both).
    """
    import os

    forced = os.environ.get("SWEEPLAB_JAX_MAP", "")
    if forced in ("vmap", "map"):
        return forced
    return "map" if _has_conv(cfg) else "vmap"


def _over_runs(fn: Callable, in_axes: tuple, how: str) -> Callable:
    """``fn`` over the leading run axis of the arguments whose in_axes is 0."""
    import jax

    if how == "vmap":
        return jax.vmap(fn, in_axes=in_axes)

    def mapped(*args):
        runs = tuple(a for a, ax in zip(args, in_axes, strict=True) if ax == 0)

        def one(xs):
            it = iter(xs)
            return fn(*(next(it) if ax == 0 else a for a, ax in zip(args, in_axes, strict=True)))

        return jax.lax.map(one, runs)

    return mapped


def _eval_chunk(cfg: S.Config, image_shape: tuple[int, ...], k: int, m: int) -> int:
    """Test images per evaluation call: K runs' activations within a quarter of the
    device's free memory (EVAL_BUDGET_CPU on a CPU), at most EVAL_CHUNK_MAX."""
    budget = _free_bytes() // 4 if _accelerator() else EVAL_BUDGET_CPU
    return common.eval_chunk(cfg, image_shape, k, m, budget, EVAL_CHUNK_MAX)


@dataclass(frozen=True)
class Run:
    """One run of a stacked program."""

    cfg: S.Config  # its config (same stack_key as the others)
    seed: int  # its seed: weights, dropout, shuffling


def _lr_index(optimizer: Any) -> int:
    for i, v in enumerate(optimizer.variables):
        if v is optimizer._learning_rate:  # Keras 3: the learning rate is a tracked variable
            return i
    raise RuntimeError("the optimiser has no learning-rate variable (a schedule?)")


class _Program:
    """The compiled functions of one stack key: a training epoch, a step, an evaluation."""

    def __init__(self, cfg: S.Config, data: Dataset):
        import jax
        import jax.numpy as jnp

        keras()  # the JAX backend, before the first model is built
        self.cfg = cfg
        self.num_classes = data.num_classes
        self.image_shape = tuple(data.image_shape)
        # The template model: its Python structure (layers, loss, optimiser) is what every
        # run's step calls; its variables' values are never used.
        self.model = models.compile_model(
            models.build_model(cfg, self.image_shape, data.num_classes), cfg)
        self.model.optimizer.build(self.model.trainable_variables)
        self.lr_index = _lr_index(self.model.optimizer)
        # the optimiser's variables before any step (zero slots and iterations)
        self.fresh_optimizer = [v.value for v in self.model.optimizer.variables]
        self.metrics_vars = [v.value for v in self.model.metrics_variables]
        model = self.model
        n_classes = self.num_classes

        def train_step(state, xb, yb):
            """One run's step; returns (state, summed loss, correct count)."""
            tv, ntv, ov = state
            grad_fn = jax.value_and_grad(model.compute_loss_and_updates, has_aux=True)
            (_, (loss, y_pred, ntv, _)), grads = grad_fn(
                tv, ntv, self.metrics_vars, xb, yb, None, training=True,
                optimizer_variables=ov)
            tv, ov = model.optimizer.stateless_apply(ov, grads, tv)
            correct = jnp.sum(jnp.argmax(y_pred, axis=-1) == yb)
            return (tv, ntv, ov), loss * yb.shape[0], correct

        def run_epoch(state, x, y, idx):
            """idx: (steps, B) sample indices of one run's full batches."""
            def body(carry, ib):
                st, lsum, csum = carry
                st, l_, c_ = train_step(st, x[ib], y[ib])
                return (st, lsum + l_, csum + c_), None

            zero = (jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))
            (state, lsum, csum), _ = jax.lax.scan(body, (state, *zero), idx)
            return state, lsum, csum

        def run_last(state, x, y, ib):
            return train_step(state, x[ib], y[ib])

        def run_eval(state, xc, yc, mask):
            """Summed loss, correct count, confusion counts, outputs and predicted classes
            of one test chunk."""
            tv, ntv, _ = state
            loss, (_, y_pred, _, _) = model.compute_loss_and_updates(
                tv, ntv, self.metrics_vars, xc, yc, mask, training=False)
            pred = jnp.argmax(y_pred, axis=-1).astype(jnp.int32)
            # Keras' sum_over_batch_size: sum(loss * mask) / chunk, so * chunk is the sum
            # over the real (unpadded) images.
            conf = jnp.zeros(n_classes * n_classes, jnp.int32).at[yc * n_classes + pred].add(
                mask.astype(jnp.int32))
            # The correct count as an integer, so an accuracy is count / m in float64 on the
            # host, as the fast engine's (and the kept predictions') accuracy is exactly.
            correct = jnp.sum((pred == yc) & (mask > 0), dtype=jnp.int32)
            return (loss * yc.shape[0], correct, conf, y_pred[0], pred)

        runs = (0, None, None, 0)
        self.mapping = how = runs_mapping(cfg)
        # The stacked state is donated (as Keras' JAX trainer donates its state): XLA
        # writes the new state into the old one's buffers, so K runs' state is held once.
        self.epoch = jax.jit(_over_runs(run_epoch, runs, how), donate_argnums=0)
        self.last = jax.jit(_over_runs(run_last, runs, how), donate_argnums=0)
        self.evaluate = jax.jit(_over_runs(run_eval, (0, None, None, None), how))

    def initial_state(self, run: Run) -> tuple[list, list, list]:
        """A run's variables as ``fit`` on JAX starts them: ``common.initial_state``'s
        weights and dropout seeds in the template's variables, a fresh optimiser state
        (zero slots and iterations) with the run's learning rate."""
        weights, seeds = common.initial_state(run.cfg, run.seed, self.image_shape,
                                              self.num_classes)
        m = self.model
        m.set_weights(weights)
        states = [layer.seed_generator.state for layer in m.layers
                  if getattr(layer, "seed_generator", None) is not None]
        if len(states) != len(seeds):
            raise RuntimeError(f"{len(states)} dropout seed states, {len(seeds)} drawn")
        ntv = [v.value for v in m.non_trainable_variables]
        for st, seed in zip(states, seeds, strict=True):
            ntv[next(i for i, v in enumerate(m.non_trainable_variables) if v is st)] = seed
        ov = list(self.fresh_optimizer)
        ov[self.lr_index] = np.asarray(run.cfg.optimizer.learning_rate, np.float32)
        return [v.value for v in m.trainable_variables], ntv, ov

    def weights(self, tv: list, ntv: list) -> list[np.ndarray]:
        """One run's variables in Keras' ``get_weights()`` order."""
        for v, val in zip(self.model.trainable_variables, tv, strict=True):
            v.assign(val)
        for v, val in zip(self.model.non_trainable_variables, ntv, strict=True):
            v.assign(val)
        return [np.asarray(w) for w in self.model.get_weights()]


_PROGRAMS: dict[str, _Program] = {}
_DEVICE_DATA: dict[str, Any] = {}


def _program(cfg: S.Config, data: Dataset) -> _Program:
    key = stack_key(cfg) + repr((data.image_shape, data.num_classes, runs_mapping(cfg)))
    if key not in _PROGRAMS:
        _PROGRAMS.clear()  # one live program at a time keeps memory flat over a study
        _PROGRAMS[key] = _Program(cfg, data)
    return _PROGRAMS[key]


def _on_device(data: Dataset) -> dict[str, Any]:
    """The dataset as device arrays, put there once per dataset (the last one is kept)."""
    import jax.numpy as jnp

    # The cache holds the Dataset itself, so an identity match cannot be a recycled id.
    if _DEVICE_DATA.get("data") is not data:
        _DEVICE_DATA.clear()
        _DEVICE_DATA.update(
            data=data, x_train=jnp.asarray(data.x_train),
            y_train=jnp.asarray(data.y_train.astype(np.int32)),
            x_test=jnp.asarray(data.x_test), y_test=jnp.asarray(data.y_test.astype(np.int32)))
        if data.x_val is not None:
            _DEVICE_DATA.update(x_val=jnp.asarray(data.x_val),
                                y_val=jnp.asarray(data.y_val.astype(np.int32)))
    return _DEVICE_DATA


def run_order(seed: Any, n: int) -> Any:
    """The order in which a run with ``seed`` visits n training samples, every epoch."""
    import jax
    import jax.numpy as jnp

    return jax.random.permutation(jax.random.key(seed), n).astype(jnp.int32)


def train_group(runs: Sequence[Run], data: Dataset, *, shuffle: bool = True,
                on_epoch: Callable[[Run, EpochRecord, int], None] | None = None
                  ) -> list[RunResult]:
    """Train ``runs`` (same :func:`stack_key`) together in one program.

    Args:
        shuffle: a per-run permutation, the same in every epoch (default). False keeps the
            training set's order for every run (tests force ``fit``'s batches this way).
        on_epoch: called after each epoch for each run.

    Returns:
        One RunResult per run, in order, with its trained weights.
    """
    import jax
    import jax.numpy as jnp

    t_start = time.perf_counter()
    runs = list(runs)
    keys = {stack_key(m.cfg) for m in runs}
    if len(keys) != 1:
        raise ValueError("runs of one program must differ only in "
                         f"{', '.join(STACKABLE)} and the seed")
    cfg = runs[0].cfg
    k = len(runs)
    prog = _program(cfg, data)
    dev = _on_device(data)
    per = [prog.initial_state(m) for m in runs]
    state = jax.tree.map(lambda *a: jnp.stack([jnp.asarray(v) for v in a]), *per)
    n, b = len(data.x_train), cfg.batch_size
    full_steps, last = divmod(n, b)
    shape = tuple(data.image_shape)
    test = _padded(dev["x_test"], dev["y_test"], _eval_chunk(cfg, shape, k, len(data.x_test)))
    # The validation split is evaluated as the test set is, in chunks sized for its own
    # length (MNIST's 6,000 and 10,000 both give chunks of 2,000: one compiled shape).
    val = None if data.x_val is None else _padded(
        dev["x_val"], dev["y_val"], _eval_chunk(cfg, shape, k, len(data.x_val)))
    seeds = jnp.asarray([m.seed for m in runs], jnp.uint32)
    setup = time.perf_counter() - t_start

    def evaluate(st, split):
        """Per run: mean loss, accuracy, confusion counts, the first image's outputs (all
        on the host) and the predicted classes (device chunks) over ``split``."""
        x, y, mask, chunk, m = split
        lsum = csum = conf = probe = None
        preds = []
        for a in range(0, len(y), chunk):
            sl = slice(a, a + chunk)
            l_, c_, f_, o_, p_ = prog.evaluate(st, x[sl], y[sl], mask[sl])
            preds.append(p_)
            if lsum is None:
                lsum, csum, conf, probe = l_, c_, f_, o_
            else:
                lsum, csum, conf = lsum + l_, csum + c_, conf + f_
        lsum, csum, conf, probe = jax.device_get((lsum, csum, conf, probe))
        return lsum / m, csum / m, conf, probe, preds

    val_preds: list[Any] = [None]  # the last validation evaluation's device chunks

    def evaluate_val(st) -> list[dict[str, float]]:
        """Per run: the validation split's loss and accuracy (none without one); its
        predicted classes go to ``val_preds``."""
        if val is None:
            return [{} for _ in range(k)]
        vl, va, _, _, val_preds[0] = evaluate(st, val)
        return [{"val_loss": float(vl[i]), "val_acc": float(va[i])} for i in range(k)]

    t0 = time.perf_counter()
    loss0, acc0, conf, probe0, preds = evaluate(state, test)
    val0 = evaluate_val(state)
    dt = (time.perf_counter() - t0 + setup) / k
    records = [[EpochRecord(0, float(loss0[i]), float(acc0[i]), seconds=dt, **val0[i])]
               for i in range(k)]
    probe = probe0

    if shuffle:
        perm = jax.vmap(lambda s: run_order(s, n))(seeds)
    else:
        perm = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32), (k, n))
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        idx = perm[:, :full_steps * b].reshape(k, full_steps, b)
        state, lsum, csum = prog.epoch(state, dev["x_train"], dev["y_train"], idx)
        if last:
            state, l_, c_ = prog.last(state, dev["x_train"], dev["y_train"],
                                      perm[:, full_steps * b:])
            lsum, csum = lsum + l_, csum + c_
        tl, ta = jax.device_get((lsum / n, csum / n))
        vl, va, conf, probe, preds = evaluate(state, test)
        vals = evaluate_val(state)
        dt = (time.perf_counter() - t0) / k
        for i in range(k):
            records[i].append(EpochRecord(epoch, float(vl[i]), float(va[i]), float(tl[i]),
                                          float(ta[i]), seconds=dt, **vals[i]))
            if on_epoch is not None:
                on_epoch(runs[i], records[i][-1], cfg.epochs)
    host = jax.device_get(state)
    pred = _classes(preds, test)  # the final epoch's
    val_pred = None if val is None else _classes(val_preds[0], val)
    wall = (time.perf_counter() - t_start) / k
    device = device_name()
    nc = data.num_classes
    results = []
    for i, mem in enumerate(runs):
        tv, ntv = [a[i] for a in host[0]], [a[i] for a in host[1]]
        results.append(RunResult(
            S.config_hash(mem.cfg), mem.seed, "jax", tuple(records[i]),
            np.asarray(conf[i], np.int64).reshape(nc, nc),
            tuple(float(v) for v in probe0[i]), tuple(float(v) for v in probe[i]), wall,
            backend="jax", device=device, weights=tuple(prog.weights(tv, ntv)),
            predictions=pred[i], test_labels=data.y_test,
            val_predictions=None if val_pred is None else val_pred[i], val_labels=data.y_val))
    return results


def _padded(x: Any, y: Any, chunk: int) -> tuple[Any, Any, Any, int, int]:
    """A split (device arrays) padded to whole chunks, with its mask (padded images count 0
    in every sum), the chunk and the real length."""
    import jax.numpy as jnp

    m = len(y)
    pad = -m % chunk
    return (jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1)), jnp.pad(y, (0, pad)),
            jnp.pad(jnp.ones(m, jnp.float32), (0, pad)), chunk, m)


def _classes(chunks: list[Any], split: tuple[Any, Any, Any, int, int]) -> np.ndarray:
    """The predicted classes of one evaluation's chunks, (K, real length) on the host."""
    import jax

    return np.concatenate(jax.device_get(chunks), axis=1)[:, :split[4]]


def stacks(items: Sequence[tuple[S.Config, Sequence[int]]]) -> list[list[Run]]:
    """The runs of ``items`` by :func:`stack_key`, in first-seen order (each stack is
    trained in groups of K)."""
    out: dict[str, list[Run]] = {}
    for cfg, seeds in items:
        out.setdefault(stack_key(cfg), []).extend(Run(cfg, int(s)) for s in seeds)
    return list(out.values())


class JaxEngine(common.GroupedEngine):
    """Trains the seeds of one config (or stacked configs) in groups of K runs."""

    name = "jax"
    auto_group_size = staticmethod(auto_group_size)
    # Configs with one stack_key share the compiled program, so the executors keep it (and
    # JAX's caches) from one to the next (engines.program_key): a search over learning
    # rates, 3 candidates x 2 + 2 runs, compiled 55 programs instead of 202 (15.6 s, not 53.7).
    program_key = staticmethod(stack_key)

    def train_stacked(self, items: Sequence[tuple[S.Config, Sequence[int]]], data: Dataset,
                      on_epoch: Callable[[Run, EpochRecord, int], None] | None = None
                      ) -> Iterator[RunResult]:
        """Train several configs' seeds; configs with one stack_key share programs."""
        for stack in stacks(items):
            k = self.group_size(stack[0].cfg, data, len(stack))
            for a in range(0, len(stack), k):
                yield from train_group(stack[a:a + k], data, shuffle=self.shuffle,
                                       on_epoch=on_epoch)

    def __call__(self, cfg: S.Config, seeds: Sequence[int], data: Dataset,
                 on_epoch: EpochCallback | None = None) -> Iterator[RunResult]:
        cb = None if on_epoch is None else (
            lambda m, rec, epochs: on_epoch(m.seed, rec, epochs))
        yield from self.train_stacked([(cfg, list(seeds))], data, on_epoch=cb)

