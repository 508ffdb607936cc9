"""The fast engine against the reference engine (model.fit), and its own guarantees.

Exactness: same seed, no dropout -> the same weights and metrics as ``model.fit``, epoch
by epoch, up to float32 rounding, with shuffling off (one forced order) and on (the fast
engine takes fit's own permutation, see ``fast.fit_order``) (the two run the same
formulas but XLA/oneDNN fuse and order the sums differently). Tolerances:
WEIGHT_ATOL on every weight (BN_WEIGHT_ATOL in the batch-norm CNN, whose conv biases'
gradients are sums that cancel), METRIC_RTOL on every epoch metric, derived below from
float32 rounding, so they hold whatever the CPU's vector width and summation order.

The data directory comes from the ``data_dir`` fixture (``SWEEPLAB_TEST_DATA``); a wrong
one fails these tests instead of skipping them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sweeplab import data, models, spec
from sweeplab.backend import seed_everything
from sweeplab.engines import ENGINES, common, fast, get_engine, reference
from sweeplab.results import RunResult

# Where the tolerances come from. float32's unit roundoff is u = 2^-24 = 6e-8. One gradient
# entry is a sum of n = batch x fan-in products (32 x 784 = 25,088 for the MNIST MLPs); two
# summation orders (XLA's fused kernels vs oneDNN's, AVX-512 vs AVX2 lanes) give results that
# differ by about sqrt(n) * u = 1e-5 relative (random-walk rounding; n * u is the worst case).
# An SGD step multiplies that by lr * |g| <= 0.1 * 0.1 = 1e-2, so 1e-7 per step, and the
# tests take at most 3 epochs x 63 = 189 steps: <= 2e-5 on any weight. Adam's step m/sqrt(v)
# is scale-free in g, so a relative error 1e-5 of g moves it by about lr * 1e-5 = 1e-8 per
# step (with lr = 1e-3), which is smaller. The metrics are means over <= 2,000 images of
# values computed from those weights: relative error of the same 2e-5 order.
WEIGHT_ATOL = 2e-5  # max |w_fast - w_reference|
METRIC_RTOL = 2e-5  # relative, on test/train loss and accuracy per epoch
METRIC_ATOL = 1e-6  # accuracy is a count / n: exact, but stored as float32 by fit


@pytest.fixture(scope="module", autouse=True)
def _no_algebraic_graph_rewrites():
    """Grappler's arithmetic optimiser off for both engines while they are compared.

    It rewrites algebra in a TensorFlow graph (hoisting and folding factors, merging
    operations), which is exact in real numbers but not in float32, and it rewrites the two
    engines' graphs differently. With oneDNN on, oneDNN's fusions run first and leave it
    little to do (the engines agree to 1e-7); with TF_ENABLE_ONEDNN_OPTS=0 its rewrites of a
    convolution fed by batch norm moved the weights by 2e-3 after 16 steps (conv -> BN ->
    conv, 500 CIFAR images), while with it off the two agree to 3e-8. These tests compare
    the formulas, so the comparison is made without it; the derivation below then holds
    with oneDNN on or off.
    """
    tf = fast.tensorflow()
    before = tf.config.optimizer.get_experimental_options().get("arithmetic_optimization", True)
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": False})
    yield
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": before})


def _load(name: str, data_dir: str, subset: int) -> data.Dataset:
    return data.load(name, data_dir, subset=subset, allow_download=False)


@pytest.fixture(scope="module")
def mnist(data_dir: str) -> data.Dataset:
    return _load("mnist", data_dir, 2000)


@pytest.fixture(scope="module")
def mnist_small(data_dir: str) -> data.Dataset:
    return _load("mnist", data_dir, 300)


@pytest.fixture(scope="module")
def cifar(data_dir: str) -> data.Dataset:
    return _load("cifar10", data_dir, 500)


def _assert_same_run(ref: RunResult, ref_w: list, got: RunResult, got_w: list,
                     weight_atol: float = WEIGHT_ATOL) -> None:
    assert len(ref_w) == len(got_w)
    for a, b in zip(ref_w, got_w, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=0, atol=weight_atol)
    assert len(ref.epochs) == len(got.epochs)
    for r, g in zip(ref.epochs, got.epochs, strict=True):
        for key in ("test_loss", "test_acc", "train_loss", "train_acc"):
            rv, gv = getattr(r, key), getattr(g, key)
            if rv is None:
                assert gv is None, key
            else:
                np.testing.assert_allclose(gv, rv, rtol=METRIC_RTOL, atol=METRIC_ATOL,
                                           err_msg=f"epoch {r.epoch} {key}")
    np.testing.assert_allclose(got.probe_untrained, ref.probe_untrained, atol=1e-5)
    np.testing.assert_allclose(got.probe_trained, ref.probe_trained, atol=1e-4)
    assert np.abs(got.confusion - ref.confusion).sum() <= 2  # argmax ties at rounding level


def _compare(cfg: spec.Config, ds: data.Dataset, seeds=(11, 12), shuffle: bool = False,
             weight_atol: float = WEIGHT_ATOL) -> None:
    group = fast.train_group(cfg, list(seeds), ds, shuffle=shuffle)
    for i, seed in enumerate(seeds):
        ref_w: list = []
        ref = reference.train(cfg, seed, ds, shuffle=shuffle, weights_out=ref_w)
        _assert_same_run(ref, ref_w, group.results[i], group.weights[i], weight_atol)


@pytest.mark.parametrize("preset", ["mlp-relu-mse", "mlp-softmax-ce"])
def test_mlp_presets_match_reference(preset, mnist):
    """q1 (squared error, SGD 0.1) and q5 (softmax CE, Adam): one epoch on 2,000 images."""
    _compare(dataclasses.replace(spec.preset(preset), epochs=1), mnist)


@pytest.mark.parametrize("preset", ["mlp-relu-mse", "mlp-softmax-ce"])
def test_shuffled_epochs_match_reference(preset, mnist):
    """Three epochs with shuffling on in both engines, as a study runs them.

    Catches what one unshuffled epoch cannot: the batch order of every epoch, Adam's
    step counter and moments carried across epochs, the last partial batch (2,000 = 62 x
    32 + 16) in epochs > 1, and per-epoch evaluation of the current weights (every epoch's
    test/train metrics are compared, then the final weights)."""
    _compare(dataclasses.replace(spec.preset(preset), epochs=3), mnist, shuffle=True)


def test_fit_order_is_kerass_per_seed_permutation():
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

    a, b = fast.fit_order(1, 1000), fast.fit_order(2, 1000)
    np.testing.assert_array_equal(np.sort(a), np.arange(1000))
    assert not np.array_equal(a, b)  # runs are shuffled differently
    np.testing.assert_array_equal(fast.fit_order(1, 1000), a)  # and reproducibly
    seed_everything(1)  # what fit's own adapter yields (the whole set as one batch)
    adapter = ArrayDataAdapter(np.arange(1000), batch_size=1000, shuffle=True)
    (batch,) = adapter.get_tf_dataset().take(1)
    np.testing.assert_array_equal(np.asarray(batch[0] if isinstance(batch, tuple) else batch)
                                  .ravel(), a)
    # all runs' orders at once (what train_group draws), seed 0 (TF's special pair) among them
    seeds = [0, 1, 2, 77, 1]
    together = fast.fit_orders(seeds, 1000)
    for seed, order in zip(seeds, together, strict=True):
        seed_everything(seed)
        (batch,) = ArrayDataAdapter(np.arange(1000), batch_size=1000,
                                    shuffle=True).get_tf_dataset().take(1)
        np.testing.assert_array_equal(
            np.asarray(batch[0] if isinstance(batch, tuple) else batch).ravel(), order)


@pytest.mark.parametrize("preset", sorted(spec.PRESETS))
def test_initial_weights_are_kerass_bit_for_bit(preset, mnist_small, cifar):
    cfg = spec.preset(preset)
    ds = mnist_small if cfg.dataset == "mnist" else cifar
    seed_everything(9)
    want = models.build_model(cfg, ds.image_shape, ds.num_classes).get_weights()
    seed_everything(10)  # every generator elsewhere: initial_weights seeds what it draws from
    got = common.initial_weights(cfg, 9, ds.image_shape, ds.num_classes)
    assert [w.shape for w in got] == [w.shape for w in want]
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("opt,out,loss", [
    (spec.Optimizer("sgd", 0.05, momentum=0.9), "relu", "squared_error"),
    (spec.Optimizer("sgd", 0.05, momentum=0.9, nesterov=True), "sigmoid", "squared_error"),
    (spec.Optimizer("adam", 0.002, amsgrad=True), "linear", "sparse_categorical_crossentropy"),
])
def test_optimisers_and_outputs_match_reference(opt, out, loss, mnist_small):
    cfg = spec.Config(dataset="mnist", layers=(spec.Flatten(), spec.Dense(16, "tanh"),
                                               spec.Dense(8, "elu")),
                      output_activation=out, loss=loss, optimizer=opt, epochs=2)
    _compare(cfg, mnist_small, seeds=(3,))


# Batch norm with Adam. A bias followed by BatchNorm has a true gradient of exactly zero (the
# normalisation subtracts it again), so what either engine computes for it is float rounding,
# about 1e-9, whose sign and size depend on the CPU's summation order. Adam's step is
# lr * m / (sqrt(v) + eps): for a gradient far below eps its sensitivity to the gradient is
# lr / eps, which with Keras' eps = 1e-7 is 1e4, so that noise becomes steps of 1e-5 each
# in directions that differ between engines and between CPUs (AVX2 vs AVX-512), and it
# spreads to every weight through the next layers. No tolerance follows from float32
# rounding then: a bound that holds on every CPU is Adam's own step bound,
# lr * (1 - beta_1) / sqrt(1 - beta_2) per step, which is 0.1 after 16 steps and tests
# nothing. So the formulas are tested with eps = 0.1: the amplification lr / eps = 0.01 is
# then the SGD case's lr, and the same derived WEIGHT_ATOL holds for every weight, the
# degenerate biases included. Keras' default eps runs the same code with another constant
# (checked against fit in the MLP tests above, whose zero gradients are exact zeros, from
# black border pixels and inactive ReLUs, not rounding; and statistically by
# bench/equivalence.py).
#
# But not the float32 scale WEIGHT_ATOL assumes. The first conv's bias feeds BatchNorm
# through a ReLU that is mostly active, so its gradient is a sum of n = 32 x 30 x 30 =
# 28,800 terms (batch x positions) that nearly cancel: BN's backward subtracts their mean,
# and it scales them by gamma / sigma, large for a channel with little spread. Seed 5 on
# these 500 images (the 16 batches at the initial weights, bench/bn_bias_terms.py): sum
# |terms| up to 92 per step while the sums themselves are 0.006-1.6. A sum's rounding is
# relative to its terms, not to its value: about sqrt(n) * u * 92 = 9.3e-4 per step in
# either engine, times lr (or lr / eps) 0.01, a random walk over 16 steps (x 4): 3.7e-5 per
# engine, 5.3e-5 for the difference of two (x sqrt 2), and three times that bounds it:
# BN_WEIGHT_ATOL. An AVX-512
# Zen 4 with avx512vl/ifma/vbmi (2026-12-08) put one such bias 2.6e-5 apart, past
# WEIGHT_ATOL; every other weight there agrees to 2e-7 (their gradients do not cancel).
BN_WEIGHT_ATOL = 1.6e-4
@pytest.mark.parametrize("opt", [
    spec.Optimizer("sgd", 0.01),
    spec.Optimizer("adam", 0.001, epsilon=0.1),
])
def test_small_cnn_with_batchnorm_matches_reference(opt, cifar):
    cfg = spec.Config(
        dataset="cifar10",
        layers=(spec.Conv2D(8, 3, "valid"), spec.BatchNorm(), spec.MaxPool(2),
                spec.Conv2D(8, 3, "same"), spec.MaxPool(2), spec.Flatten(), spec.Dense(16),
                spec.BatchNorm()),
        optimizer=opt, epochs=1)
    _compare(cfg, cifar, seeds=(5,), weight_atol=BN_WEIGHT_ATOL)


@pytest.mark.parametrize("preset", ["mlp-relu-mse", "cnn-base"])
def test_compiled_evaluation_of_a_shared_chunk_equals_each_run_alone(preset, mnist_small, cifar):
    """The test chunk shared by K=3 runs (one wide first layer for dense models) gives each
    run what its own forward pass gives, inside the compiled evaluation function."""
    cfg = spec.preset(preset)
    ds = mnist_small if cfg.dataset == "mnist" else cifar
    tf = fast.tensorflow()
    prog = fast._Program(cfg, 3, len(ds.x_train), ds.num_classes)
    runs = [fast._split_weights(prog, common.initial_weights(cfg, s, ds.image_shape, 10))
            for s in (1, 2, 3)]
    params = [tf.constant(np.stack([r[0][j] for r in runs])) for j in range(prog.n_params)]
    x, y = tf.constant(ds.x_test[:40]), tf.constant(ds.y_test[:40])
    _, _, pred, probe, alive, active = prog.evaluate(params, [], x, y)
    each, _, _ = prog.forward(params, [], tf.stack([x] * 3), True)  # per-run inputs
    np.testing.assert_allclose(probe.numpy(), each.numpy()[:, 0], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(pred.numpy(), each.numpy().argmax(-1))
    # The probe's counts from the same pass: images on which each output unit is > 0, and a
    # (K, units) alive mask per hidden ReLU layer.
    np.testing.assert_array_equal(active.numpy(), (each.numpy() > 0).sum(axis=1))
    assert [tuple(a.shape) for a in alive] == [
        (3, s.units if isinstance(s, spec.Dense) else s.filters)
        for s in cfg.layers if isinstance(s, (spec.Dense, spec.Conv2D)) and s.activation == "relu"
    ] + ([(3, 10)] if cfg.output_activation == "relu" else [])


def _dropout_cfg(epochs: int = 1) -> spec.Config:
    return spec.Config(dataset="mnist", layers=(spec.Flatten(), spec.Dense(16),
                                                spec.Dropout(0.3)),
                       optimizer=spec.Optimizer("adam", 0.001), epochs=epochs)


def _same(a: RunResult, b: RunResult, exact: bool) -> None:
    tol = 0 if exact else 1e-6
    for ea, eb in zip(a.epochs, b.epochs, strict=True):
        for key in ("test_loss", "test_acc", "train_loss", "train_acc"):
            va, vb = getattr(ea, key), getattr(eb, key)
            assert (va is None and vb is None) or abs(va - vb) <= tol * max(1, abs(va)), key
    np.testing.assert_allclose(a.probe_trained, b.probe_trained, rtol=0, atol=tol)


def test_runs_are_independent_of_their_group(mnist_small):
    """Seeds trained together equal each seed trained alone (shuffling and dropout on)."""
    cfg = _dropout_cfg(epochs=2)
    together = fast.train_group(cfg, [7, 8], mnist_small)
    for i, seed in enumerate([7, 8]):
        alone = fast.train_group(cfg, [seed], mnist_small)
        _same(together.results[i], alone.results[0], exact=False)
        for a, b in zip(together.weights[i], alone.weights[0], strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_same_seed_same_numbers(mnist_small):
    cfg = _dropout_cfg()
    a = fast.train_group(cfg, [21, 22], mnist_small)
    b = fast.train_group(cfg, [21, 22], mnist_small)
    for ra, rb in zip(a.results, b.results, strict=True):
        _same(ra, rb, exact=True)
    assert a.results[0].final.train_loss != a.results[1].final.train_loss


def test_dropout_masks_differ_per_seed_and_repeat_per_key():
    tf = fast.tensorflow()
    prog = fast._Program(_dropout_cfg(), 3, 64, 10)
    h = tf.ones((3, 32, 100))
    keys = tf.constant([1, 2, 1], tf.int64)
    out = prog._dropout(h, False, 0.3, keys, tf.constant(0, tf.int64), 2).numpy()
    masks = out > 0
    assert not np.array_equal(masks[0], masks[1])  # different seeds, different masks
    np.testing.assert_array_equal(masks[0], masks[2])  # same seed, same mask
    assert 0.2 < 1 - masks.mean() < 0.4  # about `rate` dropped
    np.testing.assert_allclose(out[masks], 1 / 0.7, rtol=1e-6)  # Keras' inverted scaling
    later = prog._dropout(h, False, 0.3, keys, tf.constant(256, tf.int64), 2).numpy() > 0
    assert not np.array_equal(masks[0], later[0])  # a new mask every step


def test_results_shapes_and_engine_interface(mnist_small):
    cfg = dataclasses.replace(spec.preset("mlp-softmax-ce"), epochs=2)
    seen: list[tuple[int, int, int]] = []
    engine = get_engine("fast", parallel=2)
    assert engine.name == "fast" and "fast" in ENGINES
    results = list(engine(cfg, [1, 2, 3], mnist_small,
                          on_epoch=lambda s, r, n: seen.append((s, r.epoch, n))))
    assert [r.seed for r in results] == [1, 2, 3]
    assert sorted(seen) == [(s, e, 2) for s in (1, 2, 3) for e in (1, 2)]
    n_test = len(mnist_small.y_test)
    for r in results:
        assert isinstance(r, RunResult) and r.engine == "fast"
        assert r.config_hash == spec.config_hash(cfg)
        assert [e.epoch for e in r.epochs] == [0, 1, 2]
        assert r.epochs[0].train_loss is None and r.epochs[0].train_acc is None
        assert r.confusion.shape == (10, 10) and r.confusion.sum() == n_test
        assert len(r.probe_untrained) == len(r.probe_trained) == 10
        assert abs(sum(r.probe_trained) - 1) < 1e-5  # softmax outputs, like predict()
        assert 0 <= r.final.test_acc <= 1 and r.final.train_loss > 0
        acc = np.trace(r.confusion) / n_test
        assert abs(acc - r.final.test_acc) < 1e-6
    with pytest.raises(ValueError, match="parallel"):
        get_engine("fast", parallel=0)


def test_both_engines_give_the_same_record_fields(mnist_small):
    cfg = dataclasses.replace(spec.preset("mlp-relu-mse"), epochs=1)
    ref = next(iter(get_engine("reference")(cfg, [4], mnist_small)))
    got = next(iter(get_engine("fast")(cfg, [4], mnist_small)))
    for a, b in ((ref, got), (ref.epochs[1], got.epochs[1])):
        for f in dataclasses.fields(a):
            va, vb = getattr(a, f.name), getattr(b, f.name)
            assert type(va) is type(vb), f.name
    assert ref.engine == "reference" and got.engine == "fast"
    assert ref.confusion.dtype == got.confusion.dtype
    # epoch 0 is the same untrained model in both
    assert abs(ref.epochs[0].test_acc - got.epochs[0].test_acc) < 1e-6


def test_data_reaches_tensorflow_bit_for_bit_shared_or_copied():
    """data.scale's arrays are aligned for TensorFlow (shared through DLPack, no copy); any
    other array is copied through its bytes. Either way the tensor holds the same bits, and
    a shared one outlives the array it came from."""
    tf = fast.tensorflow()
    u8 = np.arange(256, dtype=np.uint8).reshape(16, 16)
    x = data.scale(u8)
    assert x.dtype == np.float32 and x.ctypes.data % data.ALIGN == 0
    assert np.array_equal(x.view(np.uint32),
                          (u8.astype(np.float32) / np.float32(255)).view(np.uint32))
    floats = np.random.default_rng(0).normal(size=(7, 5))
    assert np.array_equal(data.scale(floats), floats.astype(np.float32))
    expected = x.copy()
    shared = fast._as_tensor(tf, x)
    x[0, 1] = 7.0  # shared, not copied: the tensor sees the array's memory
    assert float(shared[0, 1]) == 7.0
    x[0, 1] = expected[0, 1]
    del x
    import gc

    gc.collect()
    _ = [np.full(10**6, -1.0) for _ in range(20)]  # reuse freed memory, were it freed
    assert np.array_equal(shared.numpy().view(np.uint32), expected.view(np.uint32))
    unaligned = np.frombuffer(expected.tobytes() + b"\0" * 4, np.float32, offset=4, count=255)
    copied = fast._as_tensor(tf, unaligned)
    assert copied.dtype == tf.float32
    assert np.array_equal(copied.numpy().view(np.uint32), unaligned.view(np.uint32))
    labels = np.arange(-3, 9, dtype=np.int32)[1:]  # an int32 view off the alignment
    assert np.array_equal(fast._as_tensor(tf, labels).numpy(), labels)
