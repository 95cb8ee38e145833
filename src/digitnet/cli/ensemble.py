"""`digitnet ensemble`: several saved models as one model file that averages their answers."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import DigitnetError
from ..limits import MAX_ENSEMBLE
from ..modelfile import check_save_target, load_model, save_model
from ..nn.ensemble import TTA_SHIFTS, Ensemble
from ..nn.network import Network
from ..version import __version__
from . import options
from .options import UsageError


def add_parser(sub: Any) -> None:
    e = sub.add_parser(
        "ensemble", help="join saved models into one that averages their probabilities",
        description="Join saved models (trained on the same classes, e.g. with different "
                    "--seed, in separate runs or on other machines) into one model file that "
                    "averages their probabilities; evaluate, predict, read, serve and report "
                    "use it like any model. A model that is itself an ensemble adds its "
                    "networks.")
    e.add_argument("models", nargs="+", metavar="MODEL", help="saved model files (.npz)")
    e.add_argument("--out", required=True, metavar="FILE", help="the ensemble's model file")
    e.add_argument("--tta", type=int, choices=list(TTA_SHIFTS), default=1, metavar="V",
                   help="test-time augmentation: average over V views of each image (1: the "
                   "image only; 5: also shifted 1 pixel up, down, left, right; 9: and "
                   "diagonally)")
    e.add_argument("--force", action="store_true", help="replace FILE even if it is read-only")
    options.add_json(e)
    e.set_defaults(func=cmd_ensemble)


def cmd_ensemble(args: argparse.Namespace) -> int:
    check_save_target(args.out, force=args.force)
    nets: list[Network] = []
    first_meta: dict[str, Any] = {}
    for path in args.models:
        model = load_model(path)
        if not first_meta:
            first_meta = model.meta
        elif model.class_names != first_meta.get("class_names", model.class_names):
            raise UsageError(f"{path} names its classes {model.class_names}, {args.models[0]} "
                             f"{first_meta['class_names']}: the models must answer the same "
                             f"question")
        nets.extend(model.members if isinstance(model, Ensemble) else [model])
    if len(nets) > MAX_ENSEMBLE:
        raise UsageError(f"these files hold {len(nets)} networks; an ensemble has at most "
                         f"{MAX_ENSEMBLE} (digitnet.limits.MAX_ENSEMBLE)")
    try:
        ens = Ensemble(nets, tta=args.tta)
    except DigitnetError as e:
        raise UsageError(f"cannot join {', '.join(args.models)}: {e}") from None
    ens.meta = {}
    meta = {k: first_meta[k] for k in ("class_names", "preprocessing", "spec", "dataset",
                                       "binary_target") if k in first_meta}
    meta.update(joined=list(args.models), digitnet_version=__version__)
    save_model(ens, args.out, force=args.force, metadata=meta)
    print(f"{len(nets)} networks from {len(args.models)} files, {args.tta} view(s) per image: "
          f"saved to {args.out}", file=sys.stderr)
    if args.json:
        options.emit_json({"out": str(args.out), "networks": len(nets), "tta": args.tta,
                           "files": list(args.models)})
    return 0
