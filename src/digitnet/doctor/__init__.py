"""The doctor: why is my network not learning? Numbers measured on the network, explained in plain
words, each with the fix to try.

    diagnosis = diagnose(net, x, y)       # trains a copy briefly (net itself is not changed)
    print(diagnosis)                      # loss, a per-layer table, then the findings
    diagnosis.as_dict()                   # {"findings": [{"id", "message", "evidence"}, ...]}

What ``diagnose`` does, in order:

1. checks the arrays it is given (``checks.py``): pixels in [0, 1]; labels are class numbers
   0..C-1; each row of probabilities (one image) sums to 1;
2. trains a copy for ``steps`` minibatch steps (random batches, constant learning rate), recording
   the loss (``steps=0`` inspects the network as it is, e.g. one loaded from a model file, and
   reads its training history instead);
3. on a fixed probe batch measures, layer by layer (``nn.probe.measure``): the RMS of each hidden
   activation relative to the input's, the share of dead ReLU units, ``||dW|| / ||W||``;
4. turns every number past a threshold (``Thresholds``, all in one place in ``findings.py``)
   into a Finding, one small rule per finding (``rules.py``).

A healthy network (e.g. ``build_network("mlp")`` on the sample) gives no findings.

``check_code`` (``code.py``) does the same for a learner's own NumPy code, a .py file, a
notebook or the functions themselves, and first compares its forward pass, gradients and cost
with the formulas.
"""

from .checks import check_inputs, check_probabilities
from .diagnose import PROBE_SIZE, diagnose
from .findings import FINDINGS, Advice, Diagnosis, Finding, Thresholds

__all__ = ["FINDINGS", "PROBE_SIZE", "Advice", "CodeDiagnosis", "Diagnosis", "Finding",
           "Thresholds", "check_code", "check_inputs", "check_probabilities", "diagnose"]


def __getattr__(name: str) -> object:
    """``check_code``, ``CodeDiagnosis`` and ``code``: the learner-code checker, imported on
    first use (it is a third of the time ``import digitnet`` would take)."""
    if name in ("check_code", "CodeDiagnosis", "code"):
        import importlib

        code = importlib.import_module(".code", __name__)
        return code if name == "code" else getattr(code, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
