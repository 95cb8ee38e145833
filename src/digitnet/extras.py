"""The optional parts of digitnet and the packages they need.

``pip install digitnet`` (NumPy, tqdm, pooch, threadpoolctl) trains, evaluates and predicts on
IDX and CSV data.
The rest comes with an extra, ``pip install 'digitnet[NAME]'``:

    images   Pillow, SciPy         a person's image files: predict IMAGE..., read, prepare_image
    plots    matplotlib            figures (digitnet.plots, History.plot) and report / --report
    web      Flask, waitress (+ images)   the drawing page: digitnet serve
    onnx     onnx                  exporting a model to ONNX: export_onnx, digitnet export
    sklearn  scikit-learn          digitnet.sklearn.DigitnetClassifier (GridSearchCV, Pipeline)
    sweep    joblib                sweeps on this machine's cores: dn.sweep, digitnet sweep
    dask     joblib, dask[distributed]   the same sweeps on a Dask cluster (--scheduler)
    all      all of the above

A module that needs an extra imports its packages at its top, inside

    try:
        from PIL import Image
    except ImportError as e:
        raise missing("images", e) from None

so that using it without the extra says which one to install (a ``MissingExtraError``: the
command line prints it on one line), and ``import digitnet`` never loads them.
"""

from __future__ import annotations

from .errors import DigitnetError

#: extra -> (what needs it, the packages it installs)
EXTRAS: dict[str, tuple[str, str]] = {
    "images": ("reading image files", "Pillow and SciPy"),
    "plots": ("drawing figures and reports", "matplotlib"),
    "web": ("the web page (digitnet serve)", "Flask, waitress, Pillow and SciPy"),
    "onnx": ("exporting to ONNX", "onnx"),
    "sklearn": ("the scikit-learn estimator", "scikit-learn"),
    "sweep": ("a sweep", "joblib"),
    "dask": ("a sweep on a Dask cluster", "joblib and dask[distributed]"),
}


class MissingExtraError(DigitnetError, ImportError):
    """A part of digitnet used without the optional packages it needs; the message names the
    extra to install. Also an ImportError, as the import that failed was one."""


def missing(extra: str, error: ImportError | None = None) -> MissingExtraError:
    """The error to raise when a package of ``extra`` cannot be imported (``error``, if given,
    says which one)."""
    what, packages = EXTRAS[extra]
    name = getattr(error, "name", None)
    why = f" (cannot import {name})" if name else f" ({error})" if error else ""
    return MissingExtraError(f"{what} needs {packages}{why}: "
                             f"pip install 'digitnet[{extra}]'", name=name)
