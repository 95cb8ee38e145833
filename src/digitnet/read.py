"""Reading a person's images: one digit per file (``predict_files``), or a number written on one
line in a photo or scan (``read_number``: "2026").

A number is segmented like this:

    image --ink_map--> ink (H, W), mask (H, W)          (see digitnet.data.images)
    mask --label, 8-connected--> blobs (at most MAX_BLOBS: not thousands of dots of dotted paper)
    blobs overlapping in x by half the narrower one --merge--> groups
        (a broken stroke, a 5 whose top bar was written apart)
    groups much shorter than the tallest --drop--> (dots, commas, a minus sign, specks)
    groups wider than 1.2x the line height --split at the columns of least ink--> pieces
        (touching digits: about one piece per 0.7x line height of width)
    each piece, left to right --center_digit--> (28, 28) --net--> digit and its probability
    pieces that do not look like digits (digitnet.judge: a line, a frame, a smiley) are skipped

A number is read on one line; several lines stacked would be merged column by column.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .data.images import (
    WORK_SIDE,
    center_digit,
    ink_map,
    list_images,
    load_image,
    open_image,
    reduce_image,
    shrink,
    side_by_side,
    to_gray,
)
from .errors import ImageError
from .extras import missing
from .judge import judge
from .limits import MAX_BLOBS

try:
    from PIL import Image
    from scipy import ndimage
except ImportError as e:
    raise missing("images", e) from None

READ_SIDE = 1600  # images are read from a copy whose longer side is at most this
MERGE = 0.5  # blobs overlapping in x by this share of the narrower one's width are one digit
#             (_merge's centre test is this rule for 1/2 exactly)
MIN_HEIGHT = 0.4  # groups shorter than this share of the tallest group are not digits
WIDE = 1.2  # a group wider than this many line heights holds touching digits...
DIGIT_WIDTH = 0.7  # ...about one per this many line heights of width


@dataclass
class Piece:
    """One digit found in an image: its box [left, top, right, bottom) in the image's pixels
    and the (28, 28) MNIST-style input made from it."""

    box: list[int]
    image: np.ndarray


@dataclass
class Reading:
    """What ``read_number`` read: the number as a string, and per digit (left to right) a dict
    ``{"digit", "label", "probability", "box"}``; ``skipped``: the marks that do not look like
    digits, ``{"box", "reason"}`` each; ``images`` (K, 28, 28) is what the network saw of the
    digits."""

    number: str
    digits: list[dict[str, Any]]
    images: np.ndarray = field(repr=False)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        skipped = {"skipped": self.skipped} if self.skipped else {}  # as before when none
        return {"number": self.number, "digits": self.digits, **skipped}


def _boxes(labels: np.ndarray, n: int) -> np.ndarray:
    """(n, 4) int boxes [x0, y0, x1, y1) of labels 1..n."""
    return np.array([[s[1].start, s[0].start, s[1].stop, s[0].stop]
                     for s in ndimage.find_objects(labels, n)], dtype=np.int64).reshape(-1, 4)


def _merge(boxes: np.ndarray) -> np.ndarray:
    """Group index per blob: blobs whose x-ranges overlap by >= MERGE of the narrower width,
    and chains of them, form one group (connected components of the overlap graph), numbered
    in the order of their first blob.

    With MERGE = 1/2 the narrower of two blobs overlaps the other by half its width exactly when
    its centre lies in the other's x-range. So the blobs are taken widest first: each is added
    to a segment tree over x (in half pixels, so that centres are whole) and joined (union-find)
    with every blob already there whose range holds its centre; a tree node's blobs, once all
    joined, are kept as one. O(n log W) for n blobs W pixels apart, where comparing every pair
    took n^2 (4.9 GiB for the 14,400 dots of a photo of dotted paper)."""
    x0, x1 = (boxes[:, 0] * 2).tolist(), (boxes[:, 2] * 2).tolist()
    parent = list(range(len(boxes)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    leaves = 1 << (max(x1, default=0) + 1).bit_length()  # tree node i: children 2i, 2i + 1
    nodes: dict[int, list[int]] = {}
    for j in sorted(range(len(boxes)), key=lambda b: x0[b] - x1[b]):  # widest first
        lo, hi = x0[j] + leaves, x1[j] + leaves + 1  # the nodes that cover [x0, x1]
        while lo < hi:
            if lo & 1:
                nodes.setdefault(lo, []).append(j)
                lo += 1
            if hi & 1:
                hi -= 1
                nodes.setdefault(hi, []).append(j)
            lo, hi = lo >> 1, hi >> 1
        node = (x0[j] + x1[j]) // 2 + leaves  # j's centre, and the nodes above it
        while node:
            held = nodes.get(node)
            if held:
                for k in held:
                    parent[find(k)] = find(j)
                nodes[node] = held[:1]  # all joined: one of them stands for them all
            node >>= 1
    first: dict[int, int] = {}
    return np.array([first.setdefault(find(b), len(first)) for b in range(len(boxes))],
                    dtype=np.int64)


def _group_boxes(boxes: np.ndarray, group: np.ndarray) -> np.ndarray:
    """(G, 4) boxes [x0, y0, x1, y1) around each group's blobs (groups numbered 0..G-1)."""
    order = np.argsort(group, kind="stable")
    starts = np.flatnonzero(np.diff(group[order], prepend=-1))
    return np.hstack([np.minimum.reduceat(boxes[order, :2], starts),
                      np.maximum.reduceat(boxes[order, 2:], starts)])


def _cuts(profile: np.ndarray, k: int) -> list[int]:
    """Columns splitting a group's ink profile (W,) into k pieces: near i W / k, the column with
    the least ink within 0.3 W / k of it."""
    w = len(profile)
    smooth = np.convolve(profile, np.ones(3) / 3, mode="same")
    cuts = []
    for i in range(1, k):
        c, r = i * w / k, 0.3 * w / k
        lo, hi = int(max(1, c - r)), int(min(w - 1, c + r + 1))
        cuts.append(lo + int(np.argmin(smooth[lo:hi])))
    return cuts


def _pieces(ink: np.ndarray, sub: np.ndarray, origin: tuple[int, int],
            cols: list[int]) -> list[Piece]:
    """Cut a group (``sub``: its bool mask inside its box at ``origin`` (x0, y0) of ``ink``)
    at the box columns ``cols`` into pieces, each made a (28, 28) input."""
    x0, y0 = origin
    h, w = sub.shape
    out = []
    for a, b in zip(cols[:-1], cols[1:], strict=True):
        # a window around the piece, so dilation and centring see only its own ink
        top, left = max(0, y0 - 3), max(0, x0 + a - 3)
        m = np.zeros((min(ink.shape[0], y0 + h + 3) - top,
                      min(ink.shape[1], x0 + b + 3) - left), bool)
        m[y0 - top:y0 - top + h, x0 + a - left:x0 + b - left] = sub[:, a:b]
        rows = np.flatnonzero(m.any(axis=1))
        if np.count_nonzero(m) < 4:
            continue
        near = ndimage.binary_dilation(m, iterations=2)
        near[:, :x0 + a - left] = near[:, x0 + b - left:] = False  # a piece keeps its columns
        x28 = center_digit(ink[top:top + m.shape[0], left:left + m.shape[1]] * near, m)
        out.append(Piece([int(x0 + a), int(top + rows[0]), int(x0 + b), int(top + rows[-1] + 1)],
                         x28))
    return out


def segment(gray: np.ndarray) -> list[Piece]:
    """Find the digits of a number written on one line in a grayscale image (H, W) in [0, 1];
    left to right. Raises ImageError if there is no ink, or more than MAX_BLOBS marks that are
    not specks. Time and memory grow with the image's pixels, not with its marks.

    Touching digits are split by width alone: asking the network which split it reads most
    confidently was tried and was no better (thin slices read confidently as 1s).
    """
    ink, mask = ink_map(gray)
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n == 0:
        raise ImageError("no digits found: the image holds no ink")
    if n > MAX_BLOBS:  # specks much smaller than the largest mark are gone already (ink_map)
        raise ImageError(
            f"the image holds {n:,} separate ink marks of similar size, more than the "
            f"{MAX_BLOBS} a number is read from (a photo of dotted or squared paper, or "
            f"noise?): crop the image to the number, or photograph it on plain paper")
    boxes = _boxes(labels, n)
    group = _merge(boxes)
    gbox = _group_boxes(boxes, group)
    heights = gbox[:, 3] - gbox[:, 1]
    keep = heights >= MIN_HEIGHT * heights.max()
    line = float(np.median(heights[keep]))
    # lookup: blob label -> its group (label 0, the background: -1)
    blob_group = np.concatenate([[-1], group])
    pieces: list[Piece] = []
    for g in np.flatnonzero(keep):
        x0, y0, x1, y1 = gbox[g]
        sub = blob_group[labels[y0:y1, x0:x1]] == g
        w = x1 - x0
        if w <= WIDE * line:
            pieces += _pieces(ink, sub, (x0, y0), [0, w])
            continue
        k = max(2, round(w / (DIGIT_WIDTH * line)))  # touching digits
        profile = (ink[y0:y1, x0:x1] * sub).sum(axis=0)
        pieces += _pieces(ink, sub, (x0, y0), [0, *_cuts(profile, k), w])
    if not pieces:
        raise ImageError("no digits found in the image")
    return sorted(pieces, key=lambda p: p.box[0])


def read_number(net: Any, image: str | os.PathLike | np.ndarray | Image.Image) -> Reading:
    """Read a number written on one line: a path, an array or a Pillow image.

    Returns a Reading: ``number`` ("2026"), and per digit its class index, label, probability
    and box [left, top, right, bottom) in the original image's pixels. Marks that do not look
    like digits (``digitnet.judge``) are left out of the number and listed in ``skipped`` with
    the reason; if no mark looks like a digit, ImageError says so.
    """
    if isinstance(image, (str, os.PathLike)):
        image = open_image(image)
    if isinstance(image, Image.Image):  # made smaller while it is 8-bit (reduce_image)
        width, gray = image.size[0], to_gray(reduce_image(image, READ_SIDE))
    else:
        gray = to_gray(image)
        width = gray.shape[1]
    small = shrink(gray, READ_SIDE)
    scale = width / small.shape[1]
    pieces = segment(small)
    images = np.stack([p.image for p in pieces])
    is_digit, reasons = judge(net, images)
    skipped = [{"box": [round(v * scale) for v in p.box], "reason": r}
               for p, ok, r in zip(pieces, is_digit, reasons, strict=True) if not ok]
    if not is_digit.any():
        raise ImageError(f"no digits found: the {len(pieces)} mark(s) in the image do not look "
                         f"like digits ({skipped[0]['reason']})")
    pieces = [p for p, ok in zip(pieces, is_digit, strict=True) if ok]
    images = images[is_digit]
    proba = net.predict_proba(images)
    names = net.class_names
    best = proba.argmax(axis=1)
    digits = [{"digit": int(c), "label": names[c], "probability": round(float(proba[i, c]), 4),
               "box": [round(v * scale) for v in p.box]}
              for i, (c, p) in enumerate(zip(best, pieces, strict=True))]
    return Reading("".join(d["label"] for d in digits), digits, images, skipped)


def _top(proba: np.ndarray, names: list[str], k: int = 3) -> list[dict[str, Any]]:
    """The k most likely classes of one (n_classes,) probability row."""
    return [{"digit": int(c), "label": names[c], "probability": round(float(proba[c]), 4)}
            for c in np.argsort(-proba, kind="stable")[:k]]


def class_names(net: Any) -> list[str]:
    """The model's class names ("0".."9" for digits): ``net.class_names`` (kept for web/app.py,
    which imports it from here)."""
    return net.class_names


def _image_files(paths: Iterable[str | os.PathLike],
                 errors: list[dict[str, str]] | None) -> Iterable[Path]:
    """The image files of ``paths`` (a folder: its images), in order; a path that is missing or
    a folder without images raises ImageError, or with ``errors`` is appended to it."""
    if errors is None:
        yield from list_images(paths)
        return
    for p in paths:
        try:
            yield from list_images([p])
        except ImageError as e:
            errors.append({"file": str(p), "error": str(e)})


def predict_files(net: Any, paths: Iterable[str | os.PathLike], *,
                  show: str | os.PathLike | None = None,
                  errors: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """Read one digit from each image file (a folder means the images in it), in order.

    Returns per file ``{"file", "is_digit", "digit", "label", "probability", "top3"}`` where
    ``top3`` lists the three likeliest ``{"digit", "label", "probability"}``. When the image
    does not look like a digit (``digitnet.judge``), ``is_digit`` is False, ``digit``,
    ``label`` and ``probability`` are None, ``reason`` says why, and ``top3`` is what the network
    would have read. With ``show``, a picture of the
    original next to the (28, 28) input the network saw is saved there as ``<name>.seen.png``.
    A file that cannot be read (missing, not an image, blank) raises ImageError; with an
    ``errors`` list, it is skipped and ``{"file", "error"}`` appended to the list instead.
    """
    folder = None if show is None else Path(show)
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ImageError(f"--show: cannot create folder {folder}: {e.strerror or e}") from None
    inputs: list[np.ndarray] = []
    read: list[Path] = []
    used: set[str] = set()
    for f in _image_files(paths, errors):
        try:
            gray = load_image(f, max_side=WORK_SIDE)  # its errors name the file
            try:
                inputs.append(center_digit(*ink_map(gray)))
            except ImageError as e:
                raise ImageError(f"{f}: {e}") from None
        except ImageError as e:
            if errors is None:
                raise
            errors.append({"file": str(f), "error": str(e)})
            continue
        read.append(f)
        if folder is not None:
            i = len(read) - 1
            name = f"{f.stem}.seen.png" if f.stem not in used else f"{f.stem}-{i}.seen.png"
            used.add(f.stem)
            side_by_side(gray, inputs[-1]).save(folder / name)
    X = np.stack(inputs) if read else np.zeros((0, 28, 28), np.float32)
    proba = net.predict_proba(X) if read else np.zeros((0, net.n_classes))
    is_digit, reasons = judge(net, X)
    names = net.class_names
    out = []
    for f, p, ok, reason in zip(read, proba, is_digit, reasons, strict=True):
        top = _top(p, names)
        if ok:
            out.append({"file": str(f), "is_digit": True, "digit": top[0]["digit"],
                        "label": top[0]["label"], "probability": top[0]["probability"],
                        "top3": top})
        else:
            out.append({"file": str(f), "is_digit": False, "digit": None, "label": None,
                        "probability": None, "reason": reason, "top3": top})
    return out
