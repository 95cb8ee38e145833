"""Each preset's training recipe: epochs, optimizer, learning rate, schedule, warmup, batch size,
augmentation (and its elastic warp), label smoothing and weight decay. `digitnet train --model
NAME` follows NAME's recipe for every option it is not given; ``training_options`` is that rule,
so Python gets the same:

    >>> dn.training_options("cnn")
    {'epochs': 15, 'optimizer': 'momentum', 'lr': 0.05, 'schedule': 'cosine', 'warmup': 1,
     'batch_size': 128, 'augment': True, 'label_smoothing': 0.0, 'betas': None,
     'momentum': None, 'elastic': 0.0, 'weight_decay': 0.0}
    >>> dn.training_options("cnn", optimizer="adam", epochs=3)["lr"]   # adam's own rate
    0.001
    >>> dn.train(net, ds, **dn.training_options("cnn", epochs=3))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .augment import warp_needs_augmentation
from .nn.specs import is_dense_spec
from .optim import default_lr

#: each preset's own training recipe: what `digitnet train --model NAME` uses unless told
#: otherwise (measured on full MNIST: see README "Recipes")
PRESET_TRAINING: dict[str, dict[str, Any]] = {
    "mlp": {"epochs": 40, "optimizer": "momentum", "lr": 0.1, "schedule": "cosine",
            "warmup": 0, "batch_size": 128, "augment": False},
    "lenet5": {"epochs": 20, "optimizer": "momentum", "lr": 0.05, "schedule": "cosine",
               "warmup": 1, "batch_size": 128, "augment": True},
    "cnn": {"epochs": 15, "optimizer": "momentum", "lr": 0.05, "schedule": "cosine",
            "warmup": 1, "batch_size": 128, "augment": True},
    # a speedrun's recipe: Adam with a low beta1 and a high rate, over one cycle; label smoothing.
    # Two epochs: 99.26-99.30% on seeds 0-2; one epoch reaches 98.99-99.15% (README "Recipes")
    "fast": {"epochs": 2, "optimizer": "adam", "lr": 0.01, "betas": (0.7, 0.9),
             "schedule": "onecycle", "warmup": 0, "batch_size": 256, "augment": False,
             "label_smoothing": 0.1},
    # the most accurate: 99.67-99.72% on seeds 0-4 (1 thread, README "Recipes"); its
    # images bent by elastic warps of 2 px, 30 epochs with weight decay and label smoothing
    "best": {"epochs": 30, "optimizer": "momentum", "lr": 0.05, "schedule": "cosine",
             "warmup": 1, "batch_size": 128, "augment": True, "elastic": 2.0,
             "label_smoothing": 0.1, "weight_decay": 5e-4},
}
#: best's layers on deskewed digits train with best's recipe: 99.71 / 99.72% (seeds 7, 8)
PRESET_TRAINING["best-deskew"] = dict(PRESET_TRAINING["best"])

#: options a recipe may leave out, and their values then
OPTIONAL: dict[str, Any] = {"label_smoothing": 0.0, "betas": None, "momentum": None,
                            "elastic": 0.0, "weight_decay": 0.0}
#: the options a recipe sets (each one a keyword of ``digitnet.train``)
RECIPE_KEYS = tuple(PRESET_TRAINING["mlp"]) + tuple(OPTIONAL)
#: the options that belong to one optimizer (Adam's betas, Momentum's coefficient)
OPTIMIZER_OPTIONS = ("betas", "momentum")


def recipe_for(spec: str | Sequence[int]) -> dict[str, Any]:
    """The training recipe for a spec: a preset's own; for a custom spec, mlp's if it is dense
    and cnn's if it has convolutions. A new dict each time."""
    if not isinstance(spec, str):
        return {**OPTIONAL, **PRESET_TRAINING["mlp"]}  # a list of layer sizes: dense
    name = spec.strip().lower()
    if name in PRESET_TRAINING:
        return {**OPTIONAL, **PRESET_TRAINING[name]}
    return {**OPTIONAL, **PRESET_TRAINING["mlp" if is_dense_spec(name) else "cnn"]}


def training_options(spec: str | Sequence[int], **given: Any) -> dict[str, Any]:
    """The options to train ``spec`` with: those ``given`` (None counts as not given), the
    recipe's for the rest. With an optimizer other than the recipe's and no ``lr``, the learning
    rate is that optimizer's usual one (``optim.default_lr``), not the recipe's. An elastic warp
    given implies augmentation; the recipe's own warp goes when augmentation is turned off."""
    unknown = set(given) - set(RECIPE_KEYS)
    if unknown:
        raise TypeError(f"training_options() got unknown options {', '.join(sorted(unknown))}: "
                        f"a recipe sets {', '.join(RECIPE_KEYS)}")
    recipe = recipe_for(spec)
    options = {k: recipe[k] if given.get(k) is None else given[k] for k in RECIPE_KEYS}
    if options["optimizer"] != recipe["optimizer"]:  # another optimizer: its own defaults
        if given.get("lr") is None:
            options["lr"] = default_lr(options["optimizer"])
        for k in OPTIMIZER_OPTIONS:
            if given.get(k) is None:
                options[k] = None
    if options["elastic"] and not options["augment"]:
        if not given.get("elastic"):
            options["elastic"] = 0.0  # the recipe's warp, its augmentation turned off
        elif given.get("augment") is False:
            raise warp_needs_augmentation(given["elastic"])
        else:
            options["augment"] = True
    return options
