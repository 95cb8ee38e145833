"""Reading a person's images: one digit per file (``predict_files``), or what is written in a
photo or scan of a page (``read_number``: "2026", "31 12 2025", "555-0199", two lines).

A photo is read like this:

    image --clean_page--> ink and mask without the desk, ruled lines, frames and underlines
          (see digitnet.data.page), and the height h of the writing
    mask --label, 8-connected--> blobs (at most MAX_BLOBS: not thousands of dots of dotted paper)
    blobs that are no writing --drop--> a frame (a blob round others), a long thin line, a large
        mark touching the photo's border (the paper's edge, a shadow)
    rows covered by blobs at least h/2 tall --runs--> lines of writing, top to bottom; each blob
        goes to the line its centre is in (or is dropped, away from every line)
    per line:
      a flat stroke under a digit --drop--> (an underline too short to be removed as a line)
      blobs overlapping in x by half the narrower one --merge--> groups
          (a broken stroke, a 5 whose top bar was written apart)
      groups much shorter than the tallest: beside a digit (TOUCH), a part of it; else "-"
          (flat, mid-height), "." (small, round, on the baseline), or dropped (specks, commas)
      a straight stroke slanted like / and taller than the digits: "/"
      groups wider than 1.2x the line height --split at the columns of least ink--> pieces
          (touching digits: about one piece per 0.7x line height of width)
      each piece --center_digit--> (28, 28) --net--> digit and its probability (``_classify``)
      pieces that do not look like digits (digitnet.judge: a smiley, a scribble) are skipped
      left to right: SPACE line heights without ink between two digits is a space
    (a line's height: the median height of its digits, or 0.85 of the page's if more)
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
    digit_input,
    list_images,
    load_image,
    open_image,
    reduce_image,
    shrink,
    side_by_side,
    to_gray,
)
from .data.page import Page, clean_page
from .errors import ImageError
from .extras import missing
from .judge import judge
from .limits import MAX_BLOBS

try:
    from PIL import Image, ImageDraw
    from scipy import ndimage
except ImportError as e:
    raise missing("images", e) from None

READ_SIDE = 1600  # images are read from a copy whose longer side is at most this
MERGE = 0.5  # blobs overlapping in x by this share of the narrower one's width are one digit
#             (_merge's centre test is this rule for 1/2 exactly)
MIN_HEIGHT = 0.4  # groups shorter than this share of the tallest group are not digits
WIDE = 1.2  # a group wider than this many line heights holds touching digits...
DIGIT_WIDTH = 0.7  # ...about one per this many line heights of width
TOUCH = 0.05  # a short mark this many line heights beside a digit is a part of it
SPACE = 0.45  # a gap of this many line heights between two digits is a space
LONG = 1.5  # marks this many writing heights long and thin, or this large at the border, go
SMALL = 0.35  # separators ("-", ".") are at most this many line heights tall
SLASH_TILT = 20.0  # a "/" leans at least this many degrees...
SLASH_TALL = 1.08  # ...and is at least this many line heights tall (a slanted 1 is not)


@dataclass
class Piece:
    """One digit found in an image: its box [left, top, right, bottom) in the image's pixels
    and the (28, 28) MNIST-style input made from it."""

    box: list[int]
    image: np.ndarray


@dataclass
class Mark:
    """What is written between digits: ``text`` " " (a gap between groups), "-", "/" or ".",
    and its box [left, top, right, bottom) in the image's pixels."""

    text: str
    box: list[int]


@dataclass
class Layout:
    """What ``layout`` found in an image: per line of writing (top to bottom), its items left to
    right, each a Piece (a digit to read) or a Mark (" ", "-", "/" or "."); and what was
    dropped, as ``{"box", "why"}`` (boxes [left, top, right, bottom) in the image's pixels).
    ``page`` is the cleaned ink it was found in."""

    lines: list[list[Piece | Mark]]
    dropped: list[dict[str, Any]]
    page: Page = field(repr=False)

    @property
    def pieces(self) -> list[Piece]:
        """Every digit, line by line, left to right."""
        return [p for line in self.lines for p in line if isinstance(p, Piece)]


@dataclass
class Reading:
    """What ``read_number`` read. ``lines``: the text of each line of writing, top to bottom:
    digits, a space between groups, and the separators "-", "/", "." ("31 12 2025",
    "555-0199"); ``number``: the lines joined by newlines (for digits on one line, the digits
    alone, as before lines, spaces and separators were read). ``digits``: per digit, line by
    line and left to right, ``{"digit", "label", "probability", "box", "line"}``; ``images``
    (K, 28, 28): what the network saw; ``dropped``: the marks that were not read, each
    ``{"box", "why"}``; ``skipped``: the pieces that were taken for writing but do not look
    like digits (``digitnet.judge``), each ``{"box", "reason"}``."""

    number: str
    digits: list[dict[str, Any]]
    images: np.ndarray = field(repr=False)
    lines: list[str] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        skipped = {"skipped": self.skipped} if self.skipped else {}
        return {"number": self.number, "lines": self.lines, "digits": self.digits,
                "dropped": self.dropped, **skipped}


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


def _not_writing(boxes: np.ndarray, labels: np.ndarray, lines: np.ndarray,
                 h: float) -> np.ndarray:
    """Per blob (boxes (n, 4) of ``labels``), why it is not writing, or "" when it may be: a
    frame (its box holds the centre of a blob at least h/2 tall, which it is 1.2x taller
    than), the side of a frame (a thin upright mark that removed ``lines`` touch within the top
    and the bottom fifth of its height), a long thin line (LONG h long, under 0.3 of that wide),
    or a large mark at the photo's border (an edge)."""
    x0, y0, x1, y1 = boxes.T
    bw, bh = x1 - x0, y1 - y0
    why = np.full(len(boxes), "", dtype=object)
    if lines.any():  # the rows where each blob touches a removed line: highest and lowest
        ys, xs = np.nonzero(ndimage.binary_dilation(lines, iterations=2) & (labels > 0))
        lab = labels[ys, xs] - 1
        first, last = np.full(len(boxes), 1 << 30), np.full(len(boxes), -1)
        np.minimum.at(first, lab, ys)
        np.maximum.at(last, lab, ys)
        side = (first < y0 + 0.2 * bh) & (last >= y1 - 0.2 * bh) & (bw <= 0.4 * bh)
        why[side] = "the side of a frame"
    border = ((x0 == 0) | (y0 == 0) | (x1 == labels.shape[1])
              | (y1 == labels.shape[0]))
    why[border & ((bh >= LONG * h) | (bw >= LONG * h))] = \
        "a large mark at the photo's border (the paper's edge, a shadow)"
    why[((bw >= LONG * h) & (bh <= 0.3 * bw)) | ((bh >= LONG * h) & (bw <= 0.3 * bh))] = \
        "a long thin line"
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2  # (n, n) comparisons: n <= MAX_BLOBS
    holds = ((x0[:, None] < cx) & (cx < x1[:, None]) & (y0[:, None] < cy) & (cy < y1[:, None])
             & (bh >= 0.5 * h) & (bh[:, None] >= 1.2 * bh))
    why[holds.any(axis=1)] = "a frame round other marks"
    return why


def _rows(boxes: np.ndarray, h: float, height: int) -> np.ndarray:
    """The lines of writing, (L, 2) [top, bottom) rows top to bottom: the runs of rows covered
    by the boxes (n, 4), gaps under h/5 closed."""
    cover = np.zeros(height + 1, np.int64)
    np.add.at(cover, boxes[:, 1], 1)
    np.add.at(cover, boxes[:, 3], -1)
    rows = np.cumsum(cover[:-1]) > 0
    gap = max(1, round(0.2 * h))
    rows = ndimage.binary_closing(np.pad(rows, gap), np.ones(gap))[gap:-gap]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], rows.view(np.int8), [0]])))
    return edges.reshape(-1, 2)


def _separator(box: np.ndarray, top: float, base: float, line: float) -> str:
    """A group too short for a digit: "-" (flat, between the line's top and baseline), "."
    (small and round, on the baseline), or "" (a speck, a comma, a stray mark)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    if h > SMALL * line:
        return ""
    if w >= 1.2 * h and 0.2 * line <= w <= line and \
            top + 0.2 * line <= (y0 + y1) / 2 <= top + 0.8 * line:
        return "-"
    if w <= SMALL * line and 0.5 * h <= w <= 2 * h and y1 >= base - 0.25 * line:
        return "."
    return ""


def _is_slash(sub: np.ndarray, line: float) -> bool:
    """Is a group's mask (h, w) a "/": at least SLASH_TALL line heights tall, straight (the
    smaller eigenvalue of its pixels' covariance under 6% of the larger) and leaning right by
    at least SLASH_TILT degrees (the major axis's angle from vertical, 1/2 atan2(2 sxy, syy -
    sxx), with y down)."""
    if sub.shape[0] < SLASH_TALL * line:
        return False
    ys, xs = np.nonzero(sub)
    cov = np.cov(np.stack([ys, xs]).astype(np.float64))
    small, large = np.linalg.eigvalsh(cov)
    tilt = np.degrees(0.5 * np.arctan2(2 * cov[0, 1], cov[0, 0] - cov[1, 1]))
    return bool(small <= 0.06 * large and tilt <= -SLASH_TILT)


def _underlines(boxes: np.ndarray, h: float) -> np.ndarray:
    """Per blob (boxes (n, 4)), is it a short line under a digit (too short to be removed as a
    line, e.g. under a single digit): flat (at least 2.5x wider than tall, at most h/4 tall), its
    middle below the bottom of a blob at least h/2 tall that it overlaps in x by at least a
    third of the narrower one's width. (A 5's or 7's bar is above the rest of the digit.)"""
    x0, y0, x1, y1 = boxes.T
    w, bh = x1 - x0, y1 - y0
    flat = (w >= 2.5 * bh) & (bh <= 0.25 * h)
    overlap = np.minimum(x1[:, None], x1) - np.maximum(x0[:, None], x0)
    below = ((overlap >= np.minimum(w[:, None], w) / 3) & ((y0 + y1)[:, None] / 2 >= y1 - 0.1 * h)
             & (bh >= 0.5 * h))
    return flat & below.any(axis=1)


def _read_line(page: Page, labels: np.ndarray, ids: np.ndarray, boxes: np.ndarray,
               dropped: list[dict[str, Any]]) -> list[Piece | Mark]:
    """One line of writing: its blobs (label numbers ``ids`` - 1, boxes (n, 4)) -> its items
    left to right (see the module's docstring); what is not read is appended to ``dropped``."""
    under = _underlines(boxes[ids], page.height)
    for i in ids[under]:
        dropped.append({"box": [int(v) for v in boxes[i]], "why": "a line under the digits"})
    ids = ids[~under]
    b = boxes[ids]
    group = _merge(b)
    gbox = _group_boxes(b, group)
    heights = gbox[:, 3] - gbox[:, 1]
    tall = heights >= MIN_HEIGHT * heights.max()
    # the line's height; the page's writing height when more (a line of two digits, one flat)
    line = max(float(np.median(heights[tall])), 0.85 * page.height)
    # a short group next to a tall one (within TOUCH line heights, beside it) is a part of it
    # cut off (by a removed line, or a stroke written apart): not a "." or "-" (a full stop
    # written that close to a digit goes with it too)
    gap = np.maximum(gbox[None, :, 0] - gbox[:, None, 2], gbox[:, None, 0] - gbox[None, :, 2])
    beside = ((gap <= TOUCH * line) & (gbox[:, None, 1] < gbox[None, :, 3])
              & (gbox[:, None, 3] > gbox[None, :, 1]) & ~tall[:, None] & tall[None, :])
    part = beside.any(axis=1)
    if part.any():
        to = np.where(part, np.argmin(np.where(beside, gap, 1 << 30), axis=1),
                      np.arange(len(gbox)))
        group = np.unique(to[group], return_inverse=True)[1].ravel()
        gbox = _group_boxes(b, group)
        heights = gbox[:, 3] - gbox[:, 1]
        tall = heights >= MIN_HEIGHT * heights.max()
    top, base = float(np.median(gbox[tall, 1])), float(np.median(gbox[tall, 3]))
    lookup = np.full(len(boxes) + 1, -1)  # blob label -> its group on this line (others: -1)
    lookup[ids + 1] = group
    inked = np.zeros(page.ink.shape[1] + 1, np.int64)  # columns under a group of this line
    np.add.at(inked, gbox[:, 0], 1)
    np.add.at(inked, gbox[:, 2], -1)
    blank = np.cumsum(inked[:-1]) == 0
    space = SPACE * line
    items: list[Piece | Mark] = []
    for g in np.argsort(gbox[:, 0], kind="stable"):
        x0, y0, x1, y1 = (int(v) for v in gbox[g])
        if not tall[g]:
            mark = _separator(gbox[g], top, base, line)
            if mark:
                items.append(Mark(mark, [x0, y0, x1, y1]))
            else:
                dropped.append({"box": [x0, y0, x1, y1], "why": "too small for a digit"})
            continue
        sub = lookup[labels[y0:y1, x0:x1]] == g
        if _is_slash(sub, line):
            items.append(Mark("/", [x0, y0, x1, y1]))
            continue
        w = x1 - x0
        cols = [0, w]
        if w > WIDE * line:  # touching digits
            k = max(2, round(w / (DIGIT_WIDTH * line)))
            profile = (page.ink[y0:y1, x0:x1] * sub).sum(axis=0)
            cols = [0, *_cuts(profile, k), w]
        for p in _pieces(page.ink, sub, (x0, y0), cols):
            last = items[-1] if items else None
            if isinstance(last, Piece) and _longest_run(blank[last.box[2]:p.box[0]]) >= space:
                items.append(Mark(" ", [last.box[2], y0, p.box[0], y1]))
            items.append(p)
    return items


def _longest_run(x: np.ndarray) -> int:
    """The length of the longest run of True in a bool vector."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], x.view(np.int8), [0]])))
    return int((edges[1::2] - edges[::2]).max()) if edges.size else 0


def layout(gray: np.ndarray) -> Layout:
    """Find what is written in a grayscale photo or scan (H, W) in [0, 1]: lines of digits
    and separators, top to bottom, and what is not writing (see the module's docstring).
    Raises ImageError if there is no ink, or more than MAX_BLOBS marks that are not specks.
    Time and memory grow with the image's pixels, not with its marks."""
    page = clean_page(gray)
    dropped: list[dict[str, Any]] = []
    if page.desk.any():
        rows = np.flatnonzero((~page.desk).any(axis=1))
        cols = np.flatnonzero((~page.desk).any(axis=0))
        dropped.append({"box": [int(cols[0]), int(rows[0]), int(cols[-1] + 1),
                                int(rows[-1] + 1)], "why": "the desk around this sheet"})
    if page.lines.any():
        lab, n_lines = ndimage.label(page.lines, structure=np.ones((3, 3)))
        for box in _boxes(lab, n_lines)[:100]:
            dropped.append({"box": [int(v) for v in box],
                            "why": "a straight line (ruled, underline or frame)"})
    labels, n = ndimage.label(page.mask, structure=np.ones((3, 3)))
    if n == 0:  # nothing but lines, or the desk
        return Layout([], dropped, page)
    if n > MAX_BLOBS:  # specks much smaller than the writing are gone already (clean_page)
        raise ImageError(
            f"the image holds {n:,} separate ink marks of similar size, more than the "
            f"{MAX_BLOBS} a number is read from (a photo of dotted or squared paper, or "
            f"noise?): crop the image to the number, or photograph it on plain paper")
    boxes = _boxes(labels, n)
    h = max(page.height, 1.0)
    why = _not_writing(boxes, labels, page.lines, h)
    for i in np.flatnonzero(why != ""):
        dropped.append({"box": [int(v) for v in boxes[i]], "why": str(why[i])})
    writing = np.flatnonzero(why == "")
    bh = boxes[:, 3] - boxes[:, 1]
    tall = writing[bh[writing] >= 0.5 * h]
    lines: list[list[Piece | Mark]] = []
    if tall.size:
        rows = _rows(boxes[tall], h, gray.shape[0])
        cy = (boxes[writing, 1] + boxes[writing, 3]) / 2
        dist = np.maximum(rows[:, 0] - cy[:, None], cy[:, None] - rows[:, 1] + 1)  # (n, L)
        which = np.argmin(dist, axis=1)
        near = dist[np.arange(len(writing)), which] <= 0.5 * h
        for i in writing[~near]:
            dropped.append({"box": [int(v) for v in boxes[i]],
                            "why": "away from the lines of writing"})
        for r in range(len(rows)):
            items = _read_line(page, labels, writing[near & (which == r)], boxes, dropped)
            if any(isinstance(p, Piece) for p in items):
                lines.append(items)
    return Layout(lines, dropped, page)


def segment(gray: np.ndarray) -> list[Piece]:
    """The digits in a grayscale image (H, W) in [0, 1], line by line, left to right (``layout``
    without the separators and spaces). Raises ImageError if there are none."""
    pieces = layout(gray).pieces
    if not pieces:
        raise ImageError("no digits found in the image")
    return pieces


def _tidy(line: list[Piece | Mark]) -> list[Piece | Mark]:
    """A line after pieces were taken out of it: no separator left at either end, and of two
    separators side by side the one that is not a space (the gap a removed piece left)."""
    out: list[Piece | Mark] = []
    for item in line:
        if isinstance(item, Mark) and (not out or isinstance(out[-1], Mark)):
            if out and item.text != " ":
                out[-1] = item
            continue
        out.append(item)
    while out and isinstance(out[-1], Mark):
        out.pop()
    return out


def _classify(net: Any, images: np.ndarray) -> list[dict[str, Any]]:
    """What the network reads in each (28, 28) piece: ``{"digit", "label", "probability"}``.
    Every piece of ``read_number`` is judged here, in one call."""
    proba = net.predict_proba(images)
    best = proba.argmax(axis=1)
    return [{"digit": int(c), "label": net.class_names[c],
             "probability": round(float(proba[i, c]), 4)} for i, c in enumerate(best)]


def read_number(net: Any, image: str | os.PathLike | np.ndarray | Image.Image, *,
                show: str | os.PathLike | None = None) -> Reading:
    """Read what is written in a photo or scan: a path, an array or a Pillow image.

    Returns a Reading: ``lines`` ("31 12 2025", "555-0199"; top to bottom), ``number`` (the
    lines joined by newlines: "2026" for one number), per digit its class index, label,
    probability, line and box [left, top, right, bottom) in the original image's pixels, and
    the marks dropped and why. With ``show``, a picture of what was found is saved there (a
    PNG file): the boxes read, what was dropped and why, and each 28x28 the network saw; it is
    saved also when no digit is found.
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
    found = layout(small)
    pieces = found.pieces
    skipped: list[dict[str, Any]] = []
    if pieces:  # those that do not look like digits leave the lines (and the picture's boxes)
        is_digit, reasons = judge(net, np.stack([p.image for p in pieces]))
        skipped = [{"box": p.box, "reason": r}
                   for p, ok, r in zip(pieces, is_digit, reasons, strict=True) if not ok]
        not_digits = {id(p) for p, ok in zip(pieces, is_digit, strict=True) if not ok}
        found.lines = [_tidy([item for item in line if id(item) not in not_digits])
                       for line in found.lines]
        found.dropped += [{"box": s["box"], "why": "not a digit"} for s in skipped]
        pieces = found.pieces
    read = _classify(net, np.stack([p.image for p in pieces])) if pieces else []
    if show is not None:
        _save_picture(picture(small, found, read), show)
    if not pieces:
        raise ImageError("no digits found in the image"
                         + (f": the {len(skipped)} mark(s) left do not look like digits "
                            f"({skipped[0]['reason']})" if skipped else
                            f" ({len(found.dropped)} marks were not taken for digits: see "
                            "them with --show)" if found.dropped else ""))

    def orig(box: list[int]) -> list[int]:
        return [round(v * scale) for v in box]

    digits: list[dict[str, Any]] = []
    texts = []
    for i, line in enumerate(found.lines):
        text = ""
        for item in line:
            if isinstance(item, Mark):
                text += item.text
                continue
            digits.append({**read[len(digits)], "box": orig(item.box), "line": i})
            text += digits[-1]["label"]
        texts.append(text)
    dropped = [{"box": orig(d["box"]), "why": d["why"]} for d in found.dropped
               if d["why"] != "not a digit"]
    skipped = [{"box": orig(s["box"]), "reason": s["reason"]} for s in skipped]
    return Reading("\n".join(texts), digits, np.stack([p.image for p in pieces]), texts,
                   dropped, skipped)


def _save_picture(img: Image.Image, path: str | os.PathLike) -> None:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path)
    except OSError as e:
        raise ImageError(f"--show: cannot write {path}: {e.strerror or e}") from None


def picture(gray: np.ndarray, found: Layout, read: list[dict[str, Any]]) -> Image.Image:
    """What ``read_number`` saw, drawn: the photo in grey with the desk shaded blue and the
    removed lines in magenta; a green box per digit with what was read and its probability,
    blue ones round separators, red ones round what was dropped with why; below, each (28, 28)
    input enlarged 3x with its reading."""
    g = np.uint8(np.clip(gray, 0, 1) * 255)
    rgb = np.stack([g, g, g], axis=-1)
    rgb[found.page.desk] = (rgb[found.page.desk] * 0.5 + np.array([0, 0, 120])).astype(np.uint8)
    rgb[found.page.lines] = (255, 0, 255)
    h, w = g.shape
    cell = 84
    pieces = found.pieces
    per_row = max(1, w // (cell + 6))
    strip = 0 if not pieces else (-(-len(pieces) // per_row)) * (cell + 22) + 6
    img = Image.new("RGB", (w, h + strip), (40, 40, 40))
    img.paste(Image.fromarray(rgb), (0, 0))
    draw = ImageDraw.Draw(img)
    for d in found.dropped:
        x0, y0, x1, y1 = d["box"]
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=(220, 0, 0))
        draw.text((x0 + 2, y1 + 1), d["why"], fill=(220, 0, 0))
    k = 0
    for line in found.lines:
        for item in line:
            x0, y0, x1, y1 = item.box
            if isinstance(item, Mark):
                draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=(0, 90, 255))
                draw.text((x0 + 2, max(0, y0 - 12)), repr(item.text), fill=(0, 90, 255))
                continue
            draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=(0, 170, 0), width=2)
            if k < len(read):
                draw.text((x0 + 2, max(0, y0 - 12)),
                          f"{read[k]['label']} {read[k]['probability']:.2f}", fill=(0, 130, 0))
            k += 1
    for i, p in enumerate(pieces):
        x = 6 + (i % per_row) * (cell + 6)
        y = h + 6 + (i // per_row) * (cell + 22)
        img.paste(Image.fromarray(np.uint8(p.image * 255)).resize(
            (cell, cell), Image.Resampling.NEAREST), (x, y))
        if i < len(read):
            draw.text((x, y + cell + 2), f"{read[i]['label']} {read[i]['probability']:.2f}",
                      fill=(255, 255, 255))
    return img


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
                inputs.append(digit_input(gray))
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
