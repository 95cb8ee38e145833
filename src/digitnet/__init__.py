"""digitnet: a neural network written from scratch in NumPy that learns to read handwritten digits.

    >>> import digitnet as dn
    >>> ds = dn.load_dataset("sample")                  # ships with the package, works offline
    >>> net = dn.build_network("784-512-256-10")        # or dn.Network([dn.Dense(784, 10)])
    >>> history = dn.train(net, ds, epochs=10)
    >>> net.evaluate(ds.x_test, ds.y_test)              # (loss, accuracy)
    >>> dn.save_model(net, "model.npz"); net = dn.load_model("model.npz")
"""

from .data import Dataset, load_dataset  # noqa: E402
from .doctor import Diagnosis, Finding, diagnose  # noqa: E402
from .errors import DigitnetError  # noqa: E402
from .gradcheck import gradcheck  # noqa: E402
from .metrics import per_class_accuracy, reliability  # noqa: E402
from .modelfile import load_model, register_layer, save_model  # noqa: E402
from .nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh  # noqa: E402
from .nn.calibration import calibrate  # noqa: E402
from .nn.conv import AvgPool2D, Conv2D, Flatten, MaxPool2D, Reshape  # noqa: E402
from .nn.ensemble import Ensemble  # noqa: E402
from .nn.layers import BatchNorm, Dense, Dropout, Layer  # noqa: E402
from .nn.losses import SigmoidBinaryCrossEntropy, SoftmaxCrossEntropy, softmax  # noqa: E402
from .nn.network import Network  # noqa: E402
from .nn.resample import Deskew  # noqa: E402
from .nn.specs import build_network  # noqa: E402
from .onevsrest import labels_for, one_vs_rest, one_vs_rest_spec  # noqa: E402
from .optim import SGD, Adam, Momentum  # noqa: E402
from .recipes import recipe_for, training_options  # noqa: E402
from .report import write_report  # noqa: E402
from .sweeps import Range, SweepResult, sweep  # noqa: E402
from .train import History, train  # noqa: E402
from .version import __version__ as __version__  # noqa: E402

__all__ = [
    # layers and networks
    "AvgPool2D", "BatchNorm", "Conv2D", "Dense", "Deskew", "Dropout", "Ensemble", "Flatten",
    "Layer", "LeakyReLU",
    "MaxPool2D", "Network", "ReLU", "Reshape", "Sigmoid", "SigmoidBinaryCrossEntropy",
    "SoftmaxCrossEntropy", "Tanh", "build_network", "register_layer", "softmax",
    # data, training, model files
    "Adam", "Dataset", "DigitnetError", "History", "Momentum", "SGD", "gradcheck",
    "load_dataset", "load_model", "save_model", "train", "recipe_for", "training_options",
    "one_vs_rest", "one_vs_rest_spec", "labels_for", "per_class_accuracy", "calibrate",
    "reliability", "Diagnosis", "Finding", "diagnose", "write_report", "sweep", "SweepResult",
    "Range",
    "prepare_image", "prepare_file", "predict_files", "read_number", "export_onnx",
]

#: reading a person's images (Pillow, SciPy: the [images] extra) and exporting to ONNX ([onnx]):
#: imported on first use, so that `import digitnet` stays fast and works without the extra
#: (see extras.py)
_LAZY = {"prepare_image": (".data.images", "prepare"),
         "prepare_file": (".data.images", "prepare_file"),
         "predict_files": (".read", "predict_files"), "read_number": (".read", "read_number"),
         "export_onnx": (".onnx_export", "export_onnx")}


def __getattr__(name: str) -> object:
    """``dn.plots``: the figures module, imported (with matplotlib) on first use only; without
    the [plots] extra, it and the names in ``_LAZY`` raise ``MissingExtraError``."""
    if name == "plots":
        import importlib

        return importlib.import_module(".plots", __name__)
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module, __name__), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
