"""`digitnet read`: what is written in a photo or scan, line by line, digit by digit."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from ..errors import ImageError
from ..modelfile import load_model
from . import options

DESCRIPTION = ("Read handwritten numbers in an image: remove ruled lines, frames, underlines and "
               "the desk around the sheet, find the digits, and read them line by line, top to "
               "bottom, keeping the gaps between groups and the separators - / . ('31 12 2025', "
               "'555-0199'). With several images (or a folder), each answer is prefixed by its "
               "file; an image that cannot be read is reported and the others are still read "
               "(exit status 1 at the end).")


def add_parser(sub: Any) -> None:
    rd = sub.add_parser("read", help="read handwritten numbers in a photo or scan",
                        description=DESCRIPTION)
    options.add_model_file(rd)
    rd.add_argument("images", nargs="+", metavar="IMAGE",
                    help="photos or scans (PNG, JPEG, BMP, GIF), or folders of them")
    rd.add_argument("--show", metavar="DIR",
                    help="save per image DIR/NAME.read.png: the boxes of the digits and "
                         "separators found, what was dropped and why, and each 28x28 input")
    options.add_json(rd, 'one image: {"number", "lines", "digits", "dropped"} (and "skipped": '
                         'marks that are not digits); several: '
                         '{"readings": [{"file", "number", ...}], "errors": [{"file", "error"}]}')
    rd.set_defaults(func=cmd_read)


def cmd_read(args: argparse.Namespace) -> int:
    from ..data.images import list_images
    from ..read import read_number  # Pillow and SciPy: imported when used

    net = load_model(args.model)
    pictures: dict[str, int] = {}

    def show(f: Path) -> Path | None:
        if args.show is None:
            return None
        k = pictures.setdefault(f.stem, 0)
        pictures[f.stem] += 1
        return Path(args.show) / (f"{f.stem}.read.png" if k == 0 else f"{f.stem}-{k}.read.png")

    if len(args.images) == 1 and not Path(args.images[0]).is_dir():
        path = Path(args.images[0])
        picture = show(path)
        try:
            reading = read_number(net, path, show=picture)
        finally:
            if picture is not None and picture.exists():
                print(f"what was found and read: {picture}", file=sys.stderr)
        return _print(reading, args.json)  # its errors: one line, 1
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
                readings.append({"file": str(f),
                                 **read_number(net, f, show=show(f)).as_dict()})
            except ImageError as e:
                errors.append({"file": str(f),
                               "error": str(e) if str(f) in str(e) else f"{f}: {e}"})
    for r in readings:
        print(f"{r['file']}: {_one_line(r['lines'])}")
        _digits(r["digits"], len(r["lines"]), r.get("skipped", []))
    _where(args.show)
    if args.json:
        options.emit_json({"readings": readings, "errors": errors})
    return options.report_errors(errors)


def _one_line(lines: list[str]) -> str:
    return " | ".join(lines)


def _where(folder: str | None) -> None:
    if folder:
        print(f"what was found and read: {folder}/*.read.png", file=sys.stderr)


def _print(reading: Any, as_json: bool) -> int:
    for line in reading.lines:
        print(line)
    _digits(reading.digits, len(reading.lines), reading.skipped)
    if reading.dropped:
        why = Counter(d["why"] for d in reading.dropped)
        print("  not read: " + "; ".join(f"{n} x {w}" if n > 1 else w for w, n in why.items()))
    if as_json:
        options.emit_json(reading.as_dict())
    return 0


def _digits(digits: list[dict[str, Any]], n_lines: int, skipped: list[dict[str, Any]]) -> None:
    for d in digits:
        line = f"line {d['line'] + 1}  " if n_lines > 1 else ""
        print(f"  {line}{d['label']}  probability {d['probability']:.3f}  box {d['box']}")
    for s in skipped:
        print(f"  skipped box {s['box']}: not a digit ({s['reason']})")
