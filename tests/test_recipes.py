"""Training recipes: each preset's defaults, and the one rule that fills unset options."""

import pytest

import digitnet as dn
from digitnet.nn.specs import PRESETS
from digitnet.optim import DEFAULT_LR
from digitnet.recipes import OPTIONAL, PRESET_TRAINING, RECIPE_KEYS


def test_every_preset_has_a_recipe_with_every_option():
    assert set(PRESET_TRAINING) == set(PRESETS)
    for r in PRESET_TRAINING.values():  # every option, except those with a default
        assert set(RECIPE_KEYS) - set(OPTIONAL) <= set(r) <= set(RECIPE_KEYS)
        assert set(dn.recipe_for("mlp")) == set(RECIPE_KEYS)


@pytest.mark.parametrize("spec, preset", [
    ("cnn", "cnn"), ("LeNet5", "lenet5"), ("784-64-10", "mlp"), ([784, 10], "mlp"),
    ("conv8-pool2-10", "cnn"),
])
def test_recipe_for_a_preset_or_a_custom_spec(spec, preset):
    assert dn.recipe_for(spec) == {**OPTIONAL, **PRESET_TRAINING[preset]}


def test_recipe_for_gives_a_copy():
    dn.recipe_for("mlp")["epochs"] = 1
    assert PRESET_TRAINING["mlp"]["epochs"] == 40


CNN = {**OPTIONAL, **PRESET_TRAINING["cnn"]}


@pytest.mark.parametrize("given, expected", [
    ({}, CNN),
    ({"epochs": 3, "augment": False, "lr": None}, {**CNN, "epochs": 3, "augment": False}),
    ({"optimizer": "adam"}, {**CNN, "optimizer": "adam",
                             "lr": DEFAULT_LR["adam"]}),          # another optimizer: its lr
    ({"optimizer": "adam", "lr": 0.01}, {**CNN, "optimizer": "adam", "lr": 0.01}),
    ({"optimizer": "momentum"}, CNN),                               # the recipe's: its lr
    ({"label_smoothing": 0.1, "momentum": 0.8}, {**CNN, "label_smoothing": 0.1,
                                                 "momentum": 0.8}),
])
def test_training_options_fill_what_is_not_given(given, expected):
    assert dn.training_options("cnn", **given) == expected


def test_another_optimizer_drops_the_recipes_optimizer_options(monkeypatch):
    monkeypatch.setitem(PRESET_TRAINING, "cnn", {**PRESET_TRAINING["cnn"], "optimizer": "adam",
                                                 "lr": 0.01, "betas": (0.7, 0.9)})
    assert dn.training_options("cnn")["betas"] == (0.7, 0.9)
    options = dn.training_options("cnn", optimizer="momentum")
    assert options["betas"] is None and options["lr"] == DEFAULT_LR["momentum"]
    assert dn.training_options("cnn", optimizer="adam", betas=(0.5, 0.9))["betas"] == (0.5, 0.9)


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


BEST = {**OPTIONAL, **PRESET_TRAINING["best"]}


@pytest.mark.parametrize("spec, given, expected", [
    ("best", {}, BEST),                                             # its warp and decay
    ("best", {"augment": False}, {**BEST, "augment": False, "elastic": 0.0}),  # warp goes too
    ("best", {"elastic": 3}, {**BEST, "elastic": 3}),
    ("best", {"weight_decay": 0}, {**BEST, "weight_decay": 0}),
    ("best-deskew", {}, BEST),                                      # best's recipe
    ("BEST-DESKEW", {"epochs": 2}, {**BEST, "epochs": 2}),
    ("mlp", {"elastic": 2}, {**OPTIONAL, **PRESET_TRAINING["mlp"], "elastic": 2,
                             "augment": True}),                     # a warp asked for: augment
])
def test_training_options_take_the_elastic_warp_and_weight_decay(spec, given, expected):
    assert dn.training_options(spec, **given) == expected


def test_best_recipe_bends_and_decays():
    assert BEST["elastic"] == 2.0 and BEST["weight_decay"] == 5e-4 and BEST["augment"]
    assert PRESETS["best"][0].count("conv64") == 2


def test_best_deskew_is_best_reading_deskewed_digits():
    """best's layers and parameter count after a Deskew, trained with best's recipe."""
    deskewed, best = dn.build_network("best-deskew", seed=3), dn.build_network("best", seed=3)
    assert isinstance(deskewed.layers[1], dn.Deskew)
    assert [type(x) for x in deskewed.layers[2:]] == [type(x) for x in best.layers[1:]]
    assert deskewed.n_params == best.n_params
    assert PRESET_TRAINING["best-deskew"] == PRESET_TRAINING["best"]


def test_an_elastic_warp_without_augmentation_is_refused():
    with pytest.raises(dn.DigitnetError, match="elastic=2 bends the augmented images"):
        dn.training_options("cnn", augment=False, elastic=2)
