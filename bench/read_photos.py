"""Does `read` cope with photos as people take them? Numbers written with MNIST test digits
(tests/photos.py) are photographed on plain paper, on ruled paper, in a drawn frame, underlined
and on a dark desk (the same digits in the same places in every style), saved as PNG or JPEG,
and read back with `digitnet.read.read_number`.

    python bench/read_photos.py --model /tmp/photos-fast.npz --data ../shared/data/mnist
    python bench/read_photos.py --model m.npz --data DIR --n 100 --save /tmp/photos --json

Two measurements:
- digits: 4-6 digit numbers; per style, the digit accuracy (digits read right, aligned with
  difflib, over the larger of the digits written and read: a line or an edge read as a digit
  counts against it) and the share read exactly.
- groups: dates, phone numbers, fractions, decimals, two lines ("31 12 2025", "555-0199",
  "12/34", "3.14", "12\\n34"), one style each in turn: the share read exactly (every digit,
  space, separator and line); "layout" is the same with every digit taken as right (the
  segmentation alone).

Targets (issue 13): digit accuracy on ruled, framed, underlined and desk photos within 2 points of
plain; groups read exactly >= 85%.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import digitnet as dn
from digitnet.errors import ImageError
from digitnet.read import read_number

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from photos import STYLES, numbers, photo, save  # noqa: E402


def text_of(reading) -> str:
    """The text read: lines joined by newlines (before this branch: ``number``, one line)."""
    lines = getattr(reading, "lines", None)
    return "\n".join(lines) if lines is not None else reading.number


def digit_score(truth: str, got: str) -> tuple[int, int]:
    """(digits read right, the larger of digits written and read), aligned with difflib."""
    a = "".join(c for c in truth if c.isdigit())
    b = "".join(c for c in got if c.isdigit())
    right = sum(m.size for m in difflib.SequenceMatcher(None, a, b, autojunk=False)
                .get_matching_blocks())
    return right, max(len(a), len(b))


def layout(text: str) -> str:
    return "".join("d" if c.isdigit() else c for c in text)


def read(net, path: Path) -> str:
    try:
        return text_of(read_number(net, path))
    except ImageError:
        return ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a model file")
    ap.add_argument("--data", default="sample", help="where the test digits come from")
    ap.add_argument("--n", type=int, default=200, help="numbers per measurement")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", help="keep the pictures in this folder")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    net = dn.load_model(args.model)
    ds = dn.load_dataset(args.data, val_size=0)
    pool = (ds.x_test.reshape(-1, 28, 28), ds.y_test)
    rng = np.random.default_rng(args.seed)
    folder = Path(args.save) if args.save else Path(tempfile.mkdtemp())
    folder.mkdir(parents=True, exist_ok=True)
    result: dict = {"model": args.model, "data": ds.name, "n": args.n, "digits": {},
                    "groups": {}}
    t0 = time.perf_counter()
    reads = 0
    texts = numbers(rng, args.n)
    for style in STYLES:
        right = total = exact = 0
        for i, text in enumerate(texts):
            seed = args.seed * 100_000 + i
            path = save(photo(text, pool, style, seed),
                        folder / f"digits-{i:04d}-{style}.{'jpg' if i % 2 else 'png'}", seed)
            got = read(net, path)
            reads += 1
            r, t = digit_score(text, got)
            right, total, exact = right + r, total + t, exact + (got == text)
        result["digits"][style] = {"accuracy": round(right / total, 4),
                                   "exact": round(exact / len(texts), 4)}
    texts = numbers(rng, args.n, groups=True)
    per: dict[str, list[int]] = {s: [0, 0, 0] for s in STYLES}
    failures = []
    for i, text in enumerate(texts):
        style = STYLES[i % len(STYLES)]
        seed = args.seed * 100_000 + 50_000 + i
        path = save(photo(text, pool, style, seed),
                    folder / f"groups-{i:04d}-{style}.{'jpg' if i % 2 else 'png'}", seed)
        got = read(net, path)
        reads += 1
        per[style][0] += got == text
        per[style][1] += layout(got) == layout(text)
        per[style][2] += 1
        if got != text and len(failures) < 20:
            failures.append({"file": path.name, "written": text, "read": got})
    exact = sum(v[0] for v in per.values()) / len(texts)
    lay = sum(v[1] for v in per.values()) / len(texts)
    result["groups"] = {"exact": round(exact, 4), "layout": round(lay, 4),
                        "per_style": {s: {"exact": round(v[0] / v[2], 4),
                                          "layout": round(v[1] / v[2], 4)}
                                      for s, v in per.items()},
                        "failures": failures}
    result["ms_per_read"] = round(1000 * (time.perf_counter() - t0) / reads, 1)

    plain = result["digits"]["plain"]["accuracy"]
    print(f"{args.model} on {ds.name}'s test digits; {args.n} numbers per measurement; "
          f"{result['ms_per_read']} ms per picture (drawing, saving and reading)")
    print("digits (4-6 digit numbers)   accuracy  vs plain   exact")
    for style, r in result["digits"].items():
        print(f"  {style:<26} {r['accuracy']:.4f}   {100 * (r['accuracy'] - plain):+6.2f}   "
              f"{r['exact']:.3f}")
    print(f"groups with separators, two lines: exact {exact:.3f}, layout {lay:.3f}")
    for style, r in result["groups"]["per_style"].items():
        print(f"  {style:<26} exact {r['exact']:.3f}  layout {r['layout']:.3f}")
    for f in failures[:8]:
        print(f"  {f['file']}: {f['written']!r} read {f['read']!r}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
