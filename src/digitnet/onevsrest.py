"""One-vs-rest: "is it a 7?" as a network with one sigmoid output, trained on labels ``y == 7``.

    >>> ds7 = one_vs_rest(ds, 7)                     # labels 1 for a 7, else 0; ["not 7", "7"]
    >>> net = dn.build_network(one_vs_rest_spec("784-128-10"))   # "784-128-1"
    >>> dn.train(net, ds7)
    >>> net.meta["binary_target"] = 7                # (`digitnet train --binary 7` saves it)
    >>> net.evaluate(ds.x_test, labels_for(net, ds.y_test))

A model file keeps the class it answers for in ``meta["binary_target"]``; ``labels_for`` turns a
dataset's class numbers into the labels that model answers with.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from .data import Dataset
from .errors import SpecError
from .nn.specs import PRESETS


def one_vs_rest_spec(spec: str) -> str:
    """The spec (or preset) with one output instead of its classes: "784-512-10" -> "784-512-1",
    which ``build_network`` makes a sigmoid output with binary cross-entropy."""
    name = spec.strip().lower()
    full = PRESETS[name][0] if name in PRESETS else spec
    return full.rsplit("-", 1)[0] + "-1"


def one_vs_rest(ds: Dataset, target: int) -> Dataset:
    """``ds`` relabelled for "is it class ``target``?": 1 for its images, 0 for every other, in
    each split; class names ``["not X", "X"]``."""
    n = len(ds.class_names)
    if not 0 <= target < n:
        raise SpecError(f"one-vs-rest takes a class 0..{n - 1} of {ds.name}, got {target}: "
                        f"e.g. --binary 7 for \"is it a 7?\"")
    name = ds.class_names[target]
    return replace(ds, y_train=(ds.y_train == target) * 1, y_val=(ds.y_val == target) * 1,
                   y_test=None if ds.y_test is None else (ds.y_test == target) * 1,
                   class_names=[f"not {name}", name])


def labels_for(net: Any, y: np.ndarray | None) -> np.ndarray | None:
    """Class numbers ``y`` as ``net`` answers them: ``y == target`` (0/1) for a one-vs-rest
    model (``net.meta["binary_target"]``), ``y`` itself for any other (None stays None)."""
    target = net.meta.get("binary_target")
    return y if y is None or target is None else (y == target) * 1
