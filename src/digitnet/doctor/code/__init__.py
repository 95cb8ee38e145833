"""The doctor for a learner's own code: ``digitnet doctor --code FILE`` and ``check_code``.

    d = dn.doctor.check_code("my_notebook.ipynb")       # or a .py file
    d = dn.doctor.check_code(globals())                 # from inside the notebook itself
    d = dn.doctor.check_code(forward=forward_prop, backward=backward_prop, init=init_params)
    print(d); d.ids; d.as_dict()

What it does, in order:

1. reads the code and runs only what defines the network (``source.py``): imports, functions,
   constants; a file that is not valid Python gives ``syntax_error``;
2. finds the functions by their names (``binding.py``): ``init_params``, ``forward_prop``,
   ``backward_prop``, ``update_params``, ``compute_cost`` and their usual variants, and calls
   them with what their argument names ask for (``cannot_bind`` says what it looked for);
3. on a batch of 64 images of the shipped sample (pixels scaled as the code scales them),
   compares every array of their forward pass with the formula on the same weights
   (``wrong_forward``, ``bad_softmax``), every gradient their backward pass returns with the true
   gradient of the cross-entropy (checked by central differences) (``wrong_gradient``,
   ``global_batch_size``), and their cost with the cross-entropy (``wrong_cost``);
4. trains their network with their own functions (their update, or plain gradient descent) for
   a few hundred minibatches, measures it layer by layer and applies the doctor's rules
   (``collapsed_predictions``, ``vanishing_activations``, ``diverging``, ...), with the fixes
   written in the notebooks' notation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import SpecError
from ..findings import Finding, Thresholds
from .binding import BindError, LearnerNet
from .checker import CHECK_BATCH, Checker
from .result import CodeDiagnosis
from .source import CodeSyntaxError, LearnerSource, from_namespace, load_file

__all__ = ["CodeDiagnosis", "check_code"]


def check_code(source: str | os.PathLike | Mapping[str, Any] | None = None, *,
               init: Callable[..., Any] | str | None = None,
               forward: Callable[..., Any] | str | None = None,
               backward: Callable[..., Any] | str | None = None,
               update: Callable[..., Any] | str | None = None,
               cost: Callable[..., Any] | str | None = None,
               params: Mapping[str, np.ndarray] | None = None, steps: int = 300,
               batch_size: int = CHECK_BATCH, lr: float | None = None,
               pixels: str = "auto", seed: int = 0,
               thresholds: Thresholds | None = None) -> CodeDiagnosis:
    """Find the learner's network in their code and diagnose it.

    ``source``: a ``.py`` or ``.ipynb`` file, or a namespace such as ``globals()`` of the
    notebook. ``init``/``forward``/``backward``/``update``/``cost``: the functions themselves, or
    their names, where the doctor cannot tell them by their names (``forward`` and ``backward``
    are needed; ``init`` or ``params`` gives the weights). ``steps``: minibatches of brief
    training with their functions (0: only compare). ``pixels``: "auto" (as their code scales
    them: divided by 255 if it does so anywhere), "01" or "255".
    """
    th = thresholds or Thresholds()
    if steps < 0 or batch_size < 10:
        raise SpecError(f"steps must be >= 0 and the batch at least 10 images (one per class), "
                        f"got {steps}, {batch_size}")
    if pixels not in ("auto", "01", "255"):
        raise SpecError(f"pixels must be 'auto', '01' or '255', got {pixels!r}")
    try:
        src = _source(source, dict(init=init, forward=forward, backward=backward, update=update,
                                   cost=cost))
    except CodeSyntaxError as e:
        return CodeDiagnosis(findings=[Finding("syntax_error", (
            f"{e}. This is not valid Python, so nothing in the file can run: fix this line "
            "first (the doctor reads the whole file before it runs any of it)."),
            {"where": e.where, "text": e.text, "error": e.detail})])
    given = {k: v for k, v in dict(init=init, forward=forward, backward=backward,
                                   update=update, cost=cost).items() if v is not None}
    try:
        net = LearnerNet(src, given)
        return Checker(net, src, params, steps, batch_size, lr, pixels, seed, th).run()
    except BindError as e:
        return CodeDiagnosis(findings=[Finding("cannot_bind", str(e), {"origin": src.origin})])


def _source(source: Any, given: dict[str, Any]) -> LearnerSource:
    if source is None:
        ns = {getattr(f, "__name__", k): f for k, f in given.items() if callable(f)}
        fns = [f for f in given.values() if callable(f)]
        glob = dict(getattr(fns[0], "__globals__", {})) if fns else {}
        return from_namespace({**glob, **ns}, origin="your functions",
                              module=getattr(fns[0], "__module__", None) if fns else None)
    if isinstance(source, Mapping):
        return from_namespace(source)
    return load_file(Path(source))
