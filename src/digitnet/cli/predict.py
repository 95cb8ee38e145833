"""`digitnet predict`: read digits in image files, or label a dataset's test images (and write a
Kaggle submission), with a saved model."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from ..data import Dataset, write_submission
from ..errors import DataError, SpecError
from ..judge import applies, judge
from ..modelfile import load_model
from ..nn.network import Network
from . import options


def add_parser(sub: Any) -> None:
    pr = sub.add_parser("predict", help="read digits in image files, or label a dataset's "
                        "test images, with a saved model")
    options.add_model_file(pr)
    pr.add_argument("images", nargs="*", metavar="IMAGE",
                    help="image files (PNG, JPEG, BMP, GIF) of one digit each, or folders of "
                         "them; without any, the test images of --dataset/--data are labelled")
    pr.add_argument("--show", metavar="DIR", help="with IMAGE: save a picture of what the "
                    "network saw (the 28x28 input next to the original) into DIR")
    options.add_data(pr)
    pr.add_argument("--submission", metavar="FILE",
                    help="write a Kaggle submission CSV (ImageId,Label)")
    options.add_json(pr)
    pr.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    net = load_model(args.model)
    if args.images:
        return _predict_images(net, args)
    if args.show:
        raise SpecError("--show works with image files: digitnet predict MODEL IMAGE... --show DIR")
    if args.submission:
        options.check_file_target(args.submission, "--submission")
        if args.test_size is not None:
            raise SpecError("--submission writes one row per image of test.csv: drop "
                            "--test-size")
    ds, y = options.test_data(args, net, held_out=False)  # predicting, not measuring
    if not len(ds.x_test):
        raise DataError(f"{ds.name} has no test images to predict (--test-size 0?): give at "
                        "least one")
    if args.submission:
        check_submission_source(ds)
    pred = net.predict(ds.x_test)
    names = net.class_names
    counts = np.bincount(pred, minlength=net.n_classes)
    print(f"predicted {len(pred):,} images; per class: "
          + "  ".join(f"{names[c]}:{n}" for c, n in enumerate(counts)))
    print("first predictions: " + " ".join(names[p] for p in pred[:20]))
    if y is not None:
        print(f"accuracy {np.mean(pred == y):.4f} against the labels")
    is_digit = judge(net, ds.x_test)[0]
    if applies(net):
        print(f"{int(np.sum(~is_digit)):,} of the images do not look like digits "
              f"(digitnet.judge)")
    if args.submission:
        write_submission(args.submission, pred)
        print(f"submission written to {args.submission}: {len(pred):,} rows, one per image of "
              f"{ds.name}")
    if args.json:
        options.emit_json({"predictions": pred.tolist(), "is_digit": is_digit.tolist(),
                           "n": len(pred)})
    return 0


def check_submission_source(ds: Dataset) -> None:
    """SpecError unless ``ds``'s test images are an unlabelled test set (Kaggle's test.csv): a
    submission made from labelled images (the sample, MNIST, rows held out of train.csv) has
    the wrong rows, and Kaggle would score it as nonsense."""
    if ds.y_test is not None:
        raise SpecError(
            f"--submission needs Kaggle's unlabelled test.csv (--data test.csv), but the test "
            f"images of {ds.name} are labelled ({len(ds.x_test):,} of them): nothing written")


def _predict_images(net: Network, args: argparse.Namespace) -> int:
    from ..read import predict_files

    if args.data or args.dataset or args.submission:
        raise SpecError("predict takes image files or --dataset/--data (with --submission), "
                        "not both: drop one")
    errors: list[dict[str, str]] = []  # a bad file is reported, and the others still read
    results = predict_files(net, args.images, show=args.show, errors=errors)
    for r in results:
        top = ", ".join(f"{t['label']} {t['probability']:.3f}" for t in r["top3"])
        if not r["is_digit"]:
            print(f"{r['file']}: not a digit ({r['reason']}; the network would say {top})")
            continue
        print(f"{r['file']}: {r['label']} (probability {r['probability']:.3f}; top 3: {top})")
    if args.show and results:
        print(f"what the network saw: {args.show}/*.seen.png", file=sys.stderr)
    if args.json:
        options.emit_json({"predictions": results, "errors": errors})
    return options.report_errors(errors)
