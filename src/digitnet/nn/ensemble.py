"""Ensemble: several trained networks that answer together, and test-time augmentation.

Each member m gives class probabilities P_m = softmax(Z_m) for an image; the ensemble's answer is
their mean over the members and over V views of the image (the image itself and copies shifted by
one pixel: test-time augmentation, "TTA"):

    P = 1 / (M V)  sum_m sum_v  P_m(shift_v(X))          X:(N, 784)  P:(N, classes)
    prediction = argmax_c P[:, c]

Members trained from different seeds make different mistakes, so the mean is right more often
than any one of them; the shifted views do the same for one network (it was trained on shifted
copies when trained with augmentation). The cost is M V forward passes per image.

An Ensemble answers like a Network (``predict_proba``, ``predict``, ``evaluate``, ``n_classes``,
``class_names``, ``meta``), so evaluate, predict, read, serve and the report take either; a model
file holds either (``save_model`` / ``load_model``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import SpecError
from .checks import label_problem
from .network import Network

#: the shifts (rows down, columns right) of each number of views test-time augmentation may use:
#: the image itself, then one-pixel shifts (4: up, down, left, right; then the 4 diagonals)
TTA_SHIFTS: dict[int, tuple[tuple[int, int], ...]] = {
    1: ((0, 0),),
    5: ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)),
    9: ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)),
}

#: images per pass through the members when predicting with views (bounds the shifted copies)
_CHUNK = 2048


def shift_images(X: np.ndarray, dy: int, dx: int, shape: tuple[int, int] = (28, 28)
                 ) -> np.ndarray:
    """X:(N, H*W) images as rows -> copies moved dy rows down and dx columns right, the pixels
    moved in from outside the image 0 (background)."""
    H, W = shape
    imgs = X.reshape(len(X), H, W)
    out = np.zeros_like(imgs)
    out[:, max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
        imgs[:, max(-dy, 0):H - max(dy, 0), max(-dx, 0):W - max(dx, 0)]
    return out.reshape(len(X), H * W)


class Ensemble:
    """Networks whose probabilities are averaged, over ``tta`` views of each image (1: the image
    only; 5 or 9: also shifted by one pixel, see ``TTA_SHIFTS``).

        >>> ens = dn.Ensemble([net_a, net_b, net_c], tta=5)
        >>> ens.predict(X)                     # X:(N, 784) -> (N,) class per image
        >>> dn.save_model(ens, "ensemble.npz") # one file; dn.load_model gives it back

    One network with ``tta > 1`` is test-time augmentation alone. The members must take the same
    inputs and tell the same classes apart."""

    def __init__(self, members: Sequence[Network], tta: int = 1) -> None:
        members = list(members)
        if not members:
            raise SpecError("an ensemble needs at least one network")
        for i, m in enumerate(members):
            if not isinstance(m, Network):
                raise SpecError(f"member {i} of the ensemble is a {type(m).__name__}, not a "
                                f"Network: pass trained networks, e.g. dn.Ensemble([net_a, "
                                f"net_b])")
        first = members[0]
        for i, m in enumerate(members[1:], 1):
            if (m.n_inputs, m.n_classes, m.loss.name) != (first.n_inputs, first.n_classes,
                                                          first.loss.name):
                raise SpecError(
                    f"member {i} takes {m.n_inputs} inputs and tells {m.n_classes} classes "
                    f"apart ({m.loss.name}), member 0 {first.n_inputs} and {first.n_classes} "
                    f"({first.loss.name}): an ensemble's members must answer the same question")
        if tta not in TTA_SHIFTS:
            raise SpecError(f"tta={tta!r}: use one of {', '.join(map(str, TTA_SHIFTS))} views "
                            f"(1 = the image only)")
        if tta > 1 and first.n_inputs != 784:
            raise SpecError(f"test-time augmentation shifts 28x28 images; these networks take "
                            f"{first.n_inputs} values per image: use tta=1")
        self.members = members
        self.tta = tta
        # its members keep their own calibrations (temperatures): not the ensemble's to show
        self.meta: dict[str, Any] = {k: v for k, v in first.meta.items() if k != "calibration"}

    # --- what it is -----------------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        return self.members[0].dtype

    @property
    def loss(self) -> Any:
        return self.members[0].loss

    @property
    def n_inputs(self) -> int:
        return self.members[0].n_inputs

    @property
    def n_outputs(self) -> int:
        return self.members[0].n_outputs

    @property
    def n_classes(self) -> int:
        return self.members[0].n_classes

    @property
    def class_names(self) -> list[str]:
        return list(self.meta.get("class_names") or self.members[0].class_names)

    @property
    def n_params(self) -> int:
        return sum(m.n_params for m in self.members)

    @property
    def thread_safe(self) -> bool:
        return all(m.thread_safe for m in self.members)

    def config(self) -> dict[str, Any]:
        return {"members": [m.config() for m in self.members], "tta": self.tta}

    # --- use ------------------------------------------------------------------------------
    def check_input(self, X: np.ndarray) -> np.ndarray:
        return self.members[0].check_input(X)

    def predict_proba(self, X: np.ndarray, batch_size: int = 500, *,
                      calibrated: bool = True) -> np.ndarray:
        """Mean class probabilities of the members over the views, (N, n_classes): each
        member's calibrated ones (softmax(Z / T) with its own temperature), or with
        ``calibrated=False`` its raw ones (T = 1)."""
        X = self.check_input(X)
        shifts = TTA_SHIFTS[self.tta]
        out = np.zeros((len(X), self.n_classes), np.float64)
        for i in range(0, len(X), _CHUNK):
            chunk = X[i:i + _CHUNK]
            for dy, dx in shifts:
                view = chunk if (dy, dx) == (0, 0) else shift_images(chunk, dy, dx)
                for m in self.members:
                    out[i:i + len(chunk)] += (
                        m.predict_proba(view, batch_size) if calibrated else
                        m.probabilities(m.logits(view, batch_size), temperature=1.0))
        out /= len(self.members) * len(shifts)
        return out.astype(self.dtype, copy=False)

    def predict(self, X: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Predicted class per image, (N,) int64."""
        return self.predict_proba(X, batch_size).argmax(axis=1)

    def evaluate(self, X: np.ndarray, y: np.ndarray, batch_size: int = 500) -> tuple[float, float]:
        """(mean cross-entropy of the averaged probabilities, accuracy) on a labelled set:
        L = -1/N sum_i log P[i, y_i]."""
        X = self.check_input(X)
        problem = label_problem(X, y, self.n_classes, self.n_inputs)
        if problem:
            raise SpecError(problem)
        y = np.asarray(y).astype(np.int64, copy=False)
        P = self.predict_proba(X, batch_size).astype(np.float64)
        if not len(y):
            return 0.0, 0.0
        p_true = P[np.arange(len(y)), y]
        loss = float(-np.mean(np.log(np.maximum(p_true, 1e-12))))
        return loss, float(np.mean(P.argmax(axis=1) == y))

    # --- description ----------------------------------------------------------------------
    def summary(self) -> str:
        views = "" if self.tta == 1 else f", each image seen {self.tta} times (shifted 1 px)"
        parts = [f"ensemble of {len(self.members)} network(s){views}; "
                 f"{self.n_params:,} parameters in all"]
        for i, m in enumerate(self.members):
            parts.append(f"member {i}:\n{m.summary()}")
        return "\n".join(parts)

    def __repr__(self) -> str:
        return f"Ensemble({len(self.members)} networks, tta={self.tta})"


def with_views(model: Network | Ensemble, tta: int) -> Network | Ensemble:
    """``model`` answering over ``tta`` views of each image: a network as an ensemble of one
    (or itself for tta=1), an ensemble as a copy with its members and the new views."""
    if isinstance(model, Ensemble):
        members: list[Network] = model.members
    elif tta == 1:
        return model
    else:
        members = [model]
    ens = Ensemble(members, tta=tta)
    ens.meta = dict(model.meta)
    return ens
