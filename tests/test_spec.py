"""Model specs: validation at the edge, identity, presets."""

from __future__ import annotations

import pytest

from sweeplab import spec as S


def base(**over):
    d = S.config_to_dict(S.preset("mlp-relu-mse"))
    d.update(over)
    return d


def test_presets_round_trip_and_hash_is_stable():
    for name, cfg in S.PRESETS.items():
        again = S.config_from_dict(S.config_to_dict(cfg))
        assert again == cfg, name
        assert S.config_hash(again) == S.config_hash(cfg)
    # key order in the input does not change the identity
    d = base()
    reordered = dict(reversed(list(d.items())))
    assert S.config_hash(S.config_from_dict(reordered)) == S.config_hash(S.config_from_dict(d))
    # a changed value does
    assert S.config_hash(S.config_from_dict(base(epochs=6))) != S.config_hash(
        S.config_from_dict(d))


def test_q1_preset_is_the_assignment_model():
    cfg = S.preset("mlp-relu-mse")
    assert cfg.layers == (S.Flatten(), S.Dense(32, "relu"))
    assert (cfg.output_activation, cfg.loss) == ("relu", "squared_error")
    assert (cfg.optimizer.name, cfg.optimizer.learning_rate) == ("sgd", 0.1)
    assert cfg.batch_size == 32


@pytest.mark.parametrize("over, words", [
    ({"layers": [{"type": "flatten"}, {"type": "dropout", "rate": 1.5}]},
     ["layers[1].rate", "1.5", "[0.0, 1.0)"]),
    ({"layers": [{"type": "flatten"}, {"type": "dense", "units": 0}]},
     ["layers[1].units", "0", "[1, 65536]"]),
    ({"optimizer": {"name": "sgd", "learning_rate": -0.1}},
     ["optimizer.learning_rate", "-0.1"]),
    ({"layers": [{"type": "flatten"}, {"type": "conv2d", "filters": 8}]},
     ["layers[1] (conv2d)", "before flatten"]),
    ({"layers": [{"type": "maxpool", "size": 29}, {"type": "flatten"}]},
     ["layers[0] (maxpool)", "size=29", "below 1 pixel"]),
    ({"layers": [{"type": "conv2d", "filters": 4, "kernel": 30}, {"type": "flatten"}]},
     ["kernel=30", "below 1 pixel"]),
    ({"layers": [{"type": "flatten"}, {"type": "lstm"}]}, ["'lstm'", "Allowed", "dense"]),
    ({"layers": [{"type": "flatten"}, {"type": "dense", "units": 8, "widht": 3}]},
     ["'layers[1].widht'", "Allowed keys", "units"]),
    ({"colour": "red"}, ["'colour'", "Allowed keys"]),
    ({"optimizer": {"name": "rmsprop"}}, ["optimizer.name", "sgd, adam", "rmsprop"]),
    ({"optimizer": {"name": "sgd", "beta_1": 0.9}}, ["'optimizer.beta_1'", "momentum"]),
    ({"loss": "sparse_categorical_crossentropy", "output_activation": "relu"},
     ["output_activation", "softmax"]),
    ({"layers": [{"type": "conv2d", "filters": 4}]}, ["flatten"]),
    ({"dataset": "imagenet"}, ["dataset", "cifar10", "mnist"]),
    ({"batch_size": 0}, ["batch_size", "[1, 65536]"]),
    ({"epochs": 10**20}, ["epochs", "100000000000000000000", "[1, 100000]"]),
    ({"dataset": ["mnist"]}, ["dataset", "['mnist']", "mnist"]),
    ({"layers": [{"type": ["dense"]}]}, ["layers[0].type", "Allowed"]),
    # (784 + 1) * 65536 + (65536 + 1) * 65536 = 4,346,478,592 weights after layers[2]
    ({"layers": [{"type": "flatten"}, {"type": "dense", "units": 65536},
                 {"type": "dense", "units": 65536}]},
     ["layers[2] (dense)", "4,346,478,592 weights", "268,435,456"]),
])
def test_invalid_configs_name_key_value_and_allowed(over, words):
    with pytest.raises(S.SpecError) as err:
        S.config_from_dict(base(**over))
    for w in words:
        assert w in str(err.value), (w, str(err.value))


def test_shapes_traced_through_cnn():
    shapes = S.check_shapes(S.preset("cnn-base"))
    assert shapes[:6] == [(30, 30, 32), (15, 15, 32), (13, 13, 64), (6, 6, 64), (4, 4, 64),
                          (1024,)]
    four = S.check_shapes(S.preset("cnn-4block-bn"))
    assert four[-4] == (1, 1, 128) and four[-3] == (128,)


def test_model_builder_matches_spec_shapes():
    from sweeplab.models import build_model

    cfg = S.preset("cnn-base")
    model = build_model(cfg, (32, 32, 3), 10)
    assert model.output_shape == (None, 10)
    assert model.count_params() == 122570  # the assignment's cnn-base has 122,570 weights
    mlp = build_model(S.preset("mlp-relu-mse"), (28, 28, 1), 10)
    assert mlp.count_params() == 784 * 32 + 32 + 32 * 10 + 10
