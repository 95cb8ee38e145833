"""`digitnet read`: a number written on one line in a photo or scan, digit by digit."""

from __future__ import annotations

import argparse
from typing import Any

from ..modelfile import load_model
from . import options


def add_parser(sub: Any) -> None:
    rd = sub.add_parser("read", help="read a number written on one line in a photo or scan",
                        description="Read a handwritten number (digits on one line) in an image: "
                                    "find the digits, left to right, and read each one.")
    options.add_model_file(rd)
    rd.add_argument("image", metavar="IMAGE", help="a photo or scan (PNG, JPEG, BMP, GIF)")
    options.add_json(rd)
    rd.set_defaults(func=cmd_read)


def cmd_read(args: argparse.Namespace) -> int:
    from ..read import read_number  # Pillow and SciPy: imported when used

    reading = read_number(load_model(args.model), args.image)
    print(reading.number)
    for d in reading.digits:
        print(f"  {d['label']}  probability {d['probability']:.3f}  box {d['box']}")
    if args.json:
        options.emit_json(reading.as_dict())
    return 0
