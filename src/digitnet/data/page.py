"""A photo of a page -> its ink, without the desk around the sheet and without ruled lines,
frames and underlines: what digitnet.read segments.

    gray (H, W) --sheet--> the desk around the sheet, if one shows: painted the paper's level
    gray --ink_levels--> ink (H, W), mask (H, W)                (see digitnet.data.images)
    ink > 0 --straight_runs--> pixels on long horizontal or vertical runs of ink (slightly
         slanted too; looked for in all the ink, faint too, so that a pale printed line is
         found whole), taken out of the mask and the ink in two passes:
         1. runs across most of the sheet (ruled lines, a margin line, an edge), so that
         2. the height of the writing (median blob height) can be measured; then runs longer
            than 1.5x (horizontal) or 1.3x (vertical) that height: underlines, frames
    where a digit's stroke crosses a removed line, ink on both sides of it: kept (a closing
    across the line, so a 7 written through a ruled line stays one stroke)
    --drop_specks--> marks smaller than SPECK_AREA x height^2 go (a full stop stays)

Every step is a whole-array filter from scipy.ndimage; the running minimum and maximum filters
cost the same whatever their length, so time and memory grow with the pixels alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..extras import missing
from .images import drop_specks, ink_levels, otsu_threshold, shrink

try:
    from PIL import Image
    from scipy import ndimage
except ImportError as e:
    raise missing("images", e) from None

SHEET_SIDE = 256  # the sheet is found on a copy whose longer side is at most this
MIN_SHEET = 0.2  # a sheet covers at least this share of the photo...
MIN_DESK = 0.02  # ...and the desk at least this share
SHEET_CONTRAST = 0.2  # the paper is at least this much brighter than the desk...
EDGE_SHARPNESS = 0.05  # ...with an edge, not a shadow: grey-level slope >= this x contrast per px
PAGE_RUN = 0.7  # pass 1: runs across this share of the sheet's width (height) are lines
LINE_RUN = 1.5  # pass 2: horizontal runs this many writing heights long are lines...
COLUMN_RUN = 1.3  # ...and vertical ones this many (a frame's side; a 1 is about 1 height)
SPECK_AREA = 0.005  # marks with less area than this x height^2 are specks (a full stop: 0.02)


@dataclass
class Page:
    """The ink of a photo of a page, ready to segment. ``ink`` (H, W) float32 in [0, 1] and
    ``mask`` (H, W) bool as from ``ink_map``, without the desk and the lines; ``lines`` (H, W)
    bool, the ink taken out as lines; ``desk`` (H, W) bool, the desk around the sheet (all
    False when none shows); ``height`` the height of the writing in pixels (``writing_height``
    once the lines across the sheet are gone; 0 when nothing is left)."""

    ink: np.ndarray
    mask: np.ndarray
    lines: np.ndarray
    desk: np.ndarray
    height: float


def sheet(gray: np.ndarray) -> np.ndarray | None:
    """The desk around a sheet of paper in a photo, (H, W) bool, or None when no desk shows.

    On a copy at most SHEET_SIDE pixels long, a grey closing (a maximum then a minimum filter
    an eighth of the shorter side wide) paints dark strokes over with the paper around them;
    Otsu's threshold splits what is left into bright and dark; the sheet is the largest bright
    region, holes filled. It counts only if it covers MIN_SHEET-(1 - MIN_DESK) of the photo,
    fills at least 60% of its bounding box, is SHEET_CONTRAST brighter than the rest, and ends
    in a sharp edge (lighting that fades across the paper has no edge). The desk is the rest,
    widened by one pixel of the copy and 2 of the photo (the edge's blur and shadow).
    """
    h, w = gray.shape
    small, closed = _closed(gray)
    if min(small.shape) < 8:
        return None
    bright = closed >= otsu_threshold(closed)
    labels, n = ndimage.label(bright)
    if n == 0:
        return None
    paper = ndimage.binary_fill_holes(
        labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:])))
    share = float(paper.mean())
    if not MIN_SHEET <= share <= 1 - MIN_DESK:
        return None
    rows, cols = np.flatnonzero(paper.any(axis=1)), np.flatnonzero(paper.any(axis=0))
    if paper.sum() < 0.6 * (rows[-1] + 1 - rows[0]) * (cols[-1] + 1 - cols[0]):
        return None
    contrast = float(np.median(closed[paper]) - np.median(closed[~paper]))
    if contrast < SHEET_CONTRAST:
        return None
    edge = paper & ~ndimage.binary_erosion(paper)
    edge[[0, -1], :] = edge[:, [0, -1]] = False  # the photo's border is no edge of the sheet
    slope = np.hypot(*np.gradient(ndimage.gaussian_filter(small, 1.0)))
    if not edge.any() or float(np.median(slope[edge])) < EDGE_SHARPNESS * contrast:
        return None
    desk = ndimage.binary_dilation(~paper)
    full = np.asarray(Image.fromarray(np.uint8(desk) * 255).resize(
        (w, h), Image.Resampling.NEAREST)) > 0
    return ndimage.maximum_filter(full, size=5)


def _closed(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A copy of ``gray`` at most SHEET_SIDE long, and its grey closing by a square an eighth of
    its shorter side wide (dark strokes painted over with the paper around them)."""
    small = shrink(gray, SHEET_SIDE)
    k = max(3, min(small.shape) // 8)
    return small, ndimage.grey_closing(small, size=(k, k))


def _paint_desk(gray: np.ndarray, desk: np.ndarray) -> np.ndarray:
    """``gray`` with the desk painted the level of the nearest paper (strokes closed over),
    found on a SHEET_SIDE copy and enlarged bilinearly."""
    h, w = gray.shape
    closed = _closed(gray)[1]
    sh, sw = closed.shape
    desk_small = np.asarray(Image.fromarray(np.uint8(desk) * 255).resize(
        (sw, sh), Image.Resampling.BOX)) > 0
    near = ndimage.distance_transform_edt(desk_small, return_distances=False,
                                          return_indices=True)
    level = Image.fromarray(closed[near[0], near[1]].astype(np.float32)).resize(
        (w, h), Image.Resampling.BILINEAR)
    return np.where(desk, np.asarray(level), gray)


def straight_runs(mask: np.ndarray, length: int, axis: int, slant: int) -> np.ndarray:
    """Pixels of ``mask`` (H, W) that lie on a straight run of ink at least ``length`` pixels
    long along ``axis`` (1: horizontal, 0: vertical): a morphological opening by a 1 x length
    segment, of the mask first thickened by ``slant`` pixels across the run (a line that
    drifts by that much over ``length`` still counts)."""
    length |= 1  # odd: the opening is then exact
    m = mask.view(np.uint8)
    if slant:
        m = ndimage.maximum_filter1d(m, 2 * slant + 1, axis=1 - axis)
    run = ndimage.maximum_filter1d(ndimage.minimum_filter1d(m, length, axis=axis), length,
                                   axis=axis)
    return run.view(bool) & mask


def _bridge(rest: np.ndarray, removed: np.ndarray, reach: int, axis: int) -> np.ndarray:
    """The pixels of ``removed`` with ink of ``rest`` on both sides along ``axis`` within
    ``reach``: a closing of ``rest`` by a segment ``reach`` long."""
    reach |= 1
    m = rest.view(np.uint8)
    closed = ndimage.minimum_filter1d(ndimage.maximum_filter1d(m, reach, axis=axis), reach,
                                      axis=axis)
    return closed.view(bool) & removed


def writing_height(mask: np.ndarray) -> float:
    """The median height in pixels of the 8-connected marks of ``mask`` at least half as tall
    as the 90th percentile of their heights (the digits, not dots, dashes or specks)."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n == 0:
        return 0.0
    heights = np.array([s[0].stop - s[0].start for s in ndimage.find_objects(labels)])
    return float(np.median(heights[heights >= 0.5 * np.percentile(heights, 90)]))


def clean_page(gray: np.ndarray) -> Page:
    """A photo of a page (H, W) in [0, 1] -> its ink without desk and lines (see the module's
    docstring). Raises ImageError when nothing stands out."""
    desk = sheet(gray)
    if desk is None:
        desk = np.zeros(gray.shape, bool)
    else:
        gray = _paint_desk(gray, desk)
    ink, mask = ink_levels(gray)
    rows, cols = np.flatnonzero((~desk).any(axis=1)), np.flatnonzero((~desk).any(axis=0))
    page_h, page_w = rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0]
    faint = ink > 0  # lines are looked for in this wider mask: a pale printed line is whole
    first_h = straight_runs(faint, round(PAGE_RUN * page_w), 1, 2)
    first_v = straight_runs(faint, round(PAGE_RUN * page_h), 0, 2)
    lines = first_h | first_v
    rest = mask & ~lines
    height = writing_height(drop_specks(ink, rest)[1])
    if height >= 4:
        slant = max(1, round(0.03 * height))
        faint &= ~lines
        across = straight_runs(faint, round(LINE_RUN * height), 1, slant)
        down = straight_runs(faint, round(COLUMN_RUN * height), 0, slant)
        rest &= ~(across | down)
        across |= first_h
        down |= first_v
        reach = max(3, round(0.3 * height))
        keep = _bridge(rest, across, reach, 0) | _bridge(rest, down, reach, 1)
        lines = (across | down) & ~keep
        rest |= keep
    ink = np.where(lines, 0, ink).astype(np.float32)
    ink, rest = drop_specks(ink, rest, max(3.0, SPECK_AREA * height**2))
    return Page(ink, rest, lines, desk, height)
