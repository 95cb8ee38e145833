"""Training recipes: each preset's defaults, and the one rule that fills unset options."""

import pytest

import digitnet as dn
from digitnet.nn.specs import PRESETS
from digitnet.optim import DEFAULT_LR
from digitnet.recipes import PRESET_TRAINING, RECIPE_KEYS


def test_every_preset_has_a_recipe_with_every_option():
    assert set(PRESET_TRAINING) == set(PRESETS)
    assert all(tuple(r) == RECIPE_KEYS for r in PRESET_TRAINING.values())


@pytest.mark.parametrize("spec, preset", [
    ("cnn", "cnn"), ("LeNet5", "lenet5"), ("784-64-10", "mlp"), ([784, 10], "mlp"),
    ("conv8-pool2-10", "cnn"),
])
def test_recipe_for_a_preset_or_a_custom_spec(spec, preset):
    assert dn.recipe_for(spec) == PRESET_TRAINING[preset]


def test_recipe_for_gives_a_copy():
    dn.recipe_for("mlp")["epochs"] = 1
    assert PRESET_TRAINING["mlp"]["epochs"] == 40


@pytest.mark.parametrize("given, expected", [
    ({}, PRESET_TRAINING["cnn"]),
    ({"epochs": 3, "augment": False, "lr": None}, {**PRESET_TRAINING["cnn"], "epochs": 3,
                                                   "augment": False}),
    ({"optimizer": "adam"}, {**PRESET_TRAINING["cnn"], "optimizer": "adam",
                             "lr": DEFAULT_LR["adam"]}),          # another optimizer: its lr
    ({"optimizer": "adam", "lr": 0.01}, {**PRESET_TRAINING["cnn"], "optimizer": "adam",
                                         "lr": 0.01}),
    ({"optimizer": "momentum"}, PRESET_TRAINING["cnn"]),            # the recipe's: its lr
])
def test_training_options_fill_what_is_not_given(given, expected):
    assert dn.training_options("cnn", **given) == expected


def test_training_options_refuse_unknown_names():
    with pytest.raises(TypeError, match="patience"):
        dn.training_options("mlp", patience=3)
    with pytest.raises(dn.DigitnetError, match="unknown optimizer"):
        dn.training_options("mlp", optimizer="rmsprop")


def test_training_options_are_train_keywords(sample):
    net = dn.build_network("784-8-10")
    opts = dn.training_options("784-8-10", epochs=1, batch_size=500)
    hist = dn.train(net, sample.x_train[:1000], sample.y_train[:1000], **opts, progress=False)
    assert hist.lr[0] <= opts["lr"] and len(hist.epoch) == 1
