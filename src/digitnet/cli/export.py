"""`digitnet export MODEL out.onnx`: a model file as an ONNX file (the [onnx] extra)."""

from __future__ import annotations

import argparse
from typing import Any

from ..modelfile import load_model
from . import options


def add_parser(sub: Any) -> None:
    x = sub.add_parser("export", help="write a model as an ONNX file (onnxruntime, browsers)",
                       description="Write a saved model as an ONNX file: input 'images' (N, 784) "
                                   "float32 in [0, 1], output 'probabilities' (N, classes). "
                                   "Needs the [onnx] extra.")
    options.add_model_file(x)
    x.add_argument("out", metavar="OUT", help="the ONNX file to write, e.g. model.onnx")
    x.add_argument("--force", action="store_true", help="replace OUT even if it is read-only")
    options.add_json(x)
    x.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from ..onnx_export import OPSET, export_onnx  # onnx: imported when used

    net = load_model(args.model)
    path = export_onnx(net, args.out, force=args.force)
    n_in, classes = net.n_inputs, net.n_classes
    print(f"wrote {path} (ONNX opset {OPSET}, checked): input images (N, {n_in}) float32 in "
          f"[0, 1], output probabilities (N, {classes})")
    if args.json:
        options.emit_json({"out": str(path), "opset": OPSET, "input": "images",
                           "input_shape": ["N", n_in], "output": "probabilities",
                           "output_shape": ["N", classes], "class_names": net.class_names,
                           "bytes": path.stat().st_size})
    return 0
