"""`digitnet read`: a number written on one line in a photo or scan, digit by digit."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import ImageError
from ..modelfile import load_model
from . import options

DESCRIPTION = ("Read a handwritten number (digits on one line) in an image: find the digits, "
               "left to right, and read each one. With several images (or a folder), each "
               "answer is prefixed by its file; an image that cannot be read is reported and the "
               "others are still read (exit status 1 at the end).")


def add_parser(sub: Any) -> None:
    rd = sub.add_parser("read", help="read a number written on one line in a photo or scan",
                        description=DESCRIPTION)
    options.add_model_file(rd)
    rd.add_argument("images", nargs="+", metavar="IMAGE",
                    help="photos or scans (PNG, JPEG, BMP, GIF), or folders of them")
    options.add_json(rd, 'one image: {"number", "digits"} (and "skipped": marks that are not '
                         'digits); several: {"readings": [{"file", "number", "digits"}], '
                         '"errors": [{"file", "error"}]}')
    rd.set_defaults(func=cmd_read)


def cmd_read(args: argparse.Namespace) -> int:
    from ..data.images import list_images
    from ..read import read_number  # Pillow and SciPy: imported when used

    net = load_model(args.model)
    if len(args.images) == 1 and not Path(args.images[0]).is_dir():
        return _show(read_number(net, args.images[0]), args.json)  # its errors: one line, 1
    readings: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for p in args.images:
        try:
            files = list_images([p])
        except ImageError as e:
            errors.append({"file": p, "error": str(e)})
            continue
        for f in files:
            try:
                readings.append({"file": str(f), **read_number(net, f).as_dict()})
            except ImageError as e:
                errors.append({"file": str(f),
                               "error": str(e) if str(f) in str(e) else f"{f}: {e}"})
    for r in readings:
        print(f"{r['file']}: {r['number']}")
        _digits(r["digits"], r.get("skipped", []))
    if args.json:
        options.emit_json({"readings": readings, "errors": errors})
    return options.report_errors(errors)


def _show(reading: Any, as_json: bool) -> int:
    print(reading.number)
    _digits(reading.digits, reading.skipped)
    if as_json:
        options.emit_json(reading.as_dict())
    return 0


def _digits(digits: list[dict[str, Any]], skipped: list[dict[str, Any]]) -> None:
    for d in digits:
        print(f"  {d['label']}  probability {d['probability']:.3f}  box {d['box']}")
    for s in skipped:
        print(f"  skipped box {s['box']}: not a digit ({s['reason']})")
