"""A person's image -> a 28x28 MNIST-style array, prepared the way MNIST's digits were.

A network trained on MNIST reads other images well only if they look like MNIST's: white ink on
black, the digit scaled so its longer side is 20 pixels, pasted into 28x28 with its centre of mass
at the centre. The steps, each a function below:

    file / bytes / array / canvas  --to_gray-->  G (H, W) float32 in [0, 1]
    G  --ink_map-->  I (H, W) ink 1 on background 0, M (H, W) bool "surely ink":
         invert dark ink on light paper (the skew of the lighting-flattened grey levels);
         subtract the background level of each tile of the image (uneven lighting);
         Otsu threshold again: stretch [t/2, ink level] to [0, 1]; drop specks
    I, M  --center_digit-->  X (28, 28):
         crop to M's bounding box; thicken pen strokes that would be thinner than 2 px;
         resize (anti-aliased) so the longer side is 20 px;
         paste it with its centre of mass at (14, 14)

Pillow decodes and resizes; everything else is vectorized NumPy (and scipy.ndimage for labelling
specks and for a fast maximum filter).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ImageError
from ..extras import missing

try:
    from PIL import Image, ImageOps
    from scipy import ndimage
except ImportError as e:
    raise missing("images", e) from None

#: file name endings taken from a folder given to ``list_images``
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
#: images with more pixels are refused before decoding (a guard against decompression bombs)
MAX_PIXELS = 40_000_000
#: a single digit is prepared from a copy whose longer side is at most this (speed; no loss)
WORK_SIDE = 600
SIZE, BOX, CENTER = 28, 20, 14.0  # MNIST: 28x28 image, digit in a 20x20 box, centre of mass
MIN_STROKE = 2.0  # pen strokes thinner than this after scaling to 20 px are thickened first
MIN_CONTRAST = 0.08  # an image whose grey levels span less than this is blank
SPECK = 0.05  # ink blobs with less area than this share of the largest blob are noise
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601, as Pillow's convert("L")


# --- reading ------------------------------------------------------------------------------
def open_image(source: str | os.PathLike | bytes, *, max_pixels: int = MAX_PIXELS,
               name: str | None = None) -> Image.Image:
    """Open and decode an image file or its bytes (PNG, JPEG, BMP, GIF, WebP, TIFF).

    Raises ImageError for a missing file, something that is not an image, a truncated file, or
    an image with more than ``max_pixels`` pixels.
    """
    label = name or ("the image" if isinstance(source, bytes) else str(source))
    if not isinstance(source, bytes):
        path = Path(source)
        if not path.exists():
            raise ImageError(f"no such file: {path}")
        if path.is_dir():
            raise ImageError(f"{path} is a folder, not an image file")
    try:
        img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except OSError as e:  # UnidentifiedImageError is an OSError
        what = "" if isinstance(e, Image.UnidentifiedImageError) else f" ({e})"
        raise ImageError(f"{label} is not an image Pillow can read{what}: use PNG, JPEG, BMP "
                         "or GIF") from None
    except Exception as e:  # Pillow's decompression-bomb guard, and plugins' odd exceptions
        raise ImageError(f"cannot read {label}: {e}") from None
    w, h = img.size
    if w * h > max_pixels:
        raise ImageError(f"{label} is too large: {w}x{h} pixels, the limit is "
                         f"{max_pixels:,} pixels; scale it down first")
    if w < 1 or h < 1:
        raise ImageError(f"{label} is empty ({w}x{h} pixels)")
    try:
        img.load()
        ImageOps.exif_transpose(img, in_place=True)  # photos: the camera's orientation tag
        return img
    except Exception as e:  # truncated or corrupt data: OSError, ValueError, SyntaxError ...
        raise ImageError(f"{label} is damaged or truncated and cannot be decoded ({e})") from None


def load_image(path: str | os.PathLike, *, max_side: int | None = None) -> np.ndarray:
    """An image file as grayscale, (H, W) float32 in [0, 1]; shrunk to ``max_side`` if given."""
    return shrink(to_gray(reduce_image(open_image(path), max_side)), max_side)


def decode_image(data: bytes, *, max_pixels: int = MAX_PIXELS, max_side: int | None = None,
                 name: str = "the image") -> np.ndarray:
    """Encoded image bytes (e.g. a PNG from a canvas) as grayscale (H, W) float32 in [0, 1];
    ``name`` is what error messages call it."""
    img = open_image(data, max_pixels=max_pixels, name=name)
    return shrink(to_gray(reduce_image(img, max_side)), max_side)


#: modes whose pixels Pillow may average (not palette indices or bit-packed ones)
_REDUCIBLE = ("L", "LA", "RGB", "RGBA", "I", "F")


def reduce_image(img: Image.Image, max_side: int | None) -> Image.Image:
    """``img`` made smaller by the largest whole factor that keeps its longer side at least
    ``max_side`` (each pixel the mean of a k x k block, in Pillow), before it becomes float
    arrays: a 40-megapixel photo then costs about its decoded pixels, not several float32
    copies of them (900 MB for a 170 KB RGBA PNG). ``shrink`` takes it the rest of the way;
    averaging commutes with the grey levels and the alpha flattening (up to 8-bit rounding)."""
    k = max(img.size) // max_side if max_side else 1
    if k < 2 or img.mode not in _REDUCIBLE:
        return img
    return img.reduce(k)


def to_gray(image: np.ndarray | Image.Image) -> np.ndarray:
    """Any image as grayscale (H, W) float32 in [0, 1] (0 black, 1 white).

    Accepts a Pillow image of any mode, or an array: (H, W), (H, W, 1), RGB (H, W, 3) or RGBA
    (H, W, 4); uint8 0..255, uint16, bool, or float in [0, 1] (or 0..255). Transparent pixels
    become the colour that contrasts with what was painted, so dark strokes on a transparent
    canvas and light strokes on one both come out as a drawing on a plain background.
    """
    if isinstance(image, Image.Image):
        return _gray_from_pil(image)
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise ImageError(f"an image array must be (H, W), (H, W, 3) or (H, W, 4); got shape "
                         f"{a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ImageError(f"the image array is empty (shape {a.shape})")
    if a.dtype == bool:
        a = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.integer):
        if a.min() < 0:
            raise ImageError("an integer image array must hold values >= 0")
        a = a.astype(np.float32) / (255.0 if a.dtype == np.uint8 or a.max() <= 255 else 65535.0)
    elif np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 255:
            raise ImageError("a float image array must hold finite values in [0, 1] (or 0..255)")
        a = a.astype(np.float32) / (255.0 if a.max() > 1 else 1.0)
    else:
        raise ImageError(f"cannot read an image from an array of {a.dtype}")
    a = np.clip(a, 0, 1)
    if a.ndim == 2:
        return a
    if a.shape[2] == 4:
        return _flatten_alpha(a[..., :3] @ LUMA, a[..., 3])
    return a @ LUMA


def _gray_from_pil(img: Image.Image) -> np.ndarray:
    if img.mode.startswith("I"):  # 16- or 32-bit integer grey levels
        a = np.asarray(img, dtype=np.float32)
        return np.clip(a / (65535.0 if a.max() > 255 else 255.0), 0, 1)
    if img.mode == "F":
        return to_gray(np.asarray(img, dtype=np.float32))
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        la = np.asarray(img.convert("RGBA").convert("LA"), dtype=np.float32) / 255
        return _flatten_alpha(la[..., 0], la[..., 1])
    return np.asarray(img.convert("L"), dtype=np.float32) / 255


def _flatten_alpha(luma: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Grey levels and opacity, (H, W) each in [0, 1] -> (H, W): the paint over a background
    that contrasts with it (white under dark paint, black under light paint)."""
    if alpha.min() >= 1.0:
        return luma
    painted = float(alpha.sum())
    paint = float((alpha * luma).sum()) / painted if painted > 0 else 0.0
    background = 1.0 if paint < 0.5 else 0.0
    return (alpha * luma + (1 - alpha) * background).astype(np.float32)


def shrink(gray: np.ndarray, max_side: int | None) -> np.ndarray:
    """Scale (H, W) down (area-averaged) so the longer side is at most ``max_side``."""
    h, w = gray.shape
    if max_side is None or max(h, w) <= max_side:
        return gray
    s = max_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BOX))


# --- ink ------------------------------------------------------------------------------------
def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold for values in [0, 1]: ``values >= t`` is the brighter class.

    With 256 bins, class weights w0(k) = P(bin <= k) and mean mu(k) = sum(i p_i, i <= k), pick
    the k maximizing the between-class variance (mu_T w0 - mu)^2 / (w0 (1 - w0)).
    """
    bins = np.clip((np.asarray(values, np.float32) * 255).astype(np.int64), 0, 255).ravel()
    p = np.bincount(bins, minlength=256) / max(bins.size, 1)
    w0, mu = np.cumsum(p), np.cumsum(p * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * w0 - mu) ** 2 / (w0 * (1 - w0))
    between = np.nan_to_num(between, nan=-1.0, posinf=-1.0)
    return float(np.argmax(between) + 1) / 255


def _background(x: np.ndarray, q: float = 25, spread: Any = ndimage.minimum_filter) -> np.ndarray:
    """Background level of an image, (H, W): uneven lighting to subtract.

    The image is cut into tiles (about 10 along its shorter side); a tile's level is its q-th
    percentile, then ``spread`` over the 5x5 tiles around it (for an ink-bright image, the
    lowest: a thick stroke may cover a whole tile); the tile levels are interpolated bilinearly
    back to full size.
    """
    h, w = x.shape
    t = max(2, -(-min(h, w) // 10))
    gh, gw = -(-h // t), -(-w // t)
    padded = np.pad(x, ((0, gh * t - h), (0, gw * t - w)), mode="edge")
    tiles = padded.reshape(gh, t, gw, t).transpose(0, 2, 1, 3).reshape(gh, gw, t * t)
    level = np.percentile(tiles, q, axis=2).astype(np.float32)
    level = spread(level, size=5, mode="nearest")
    full = Image.fromarray(level).resize((gw * t, gh * t), Image.Resampling.BILINEAR)
    return np.asarray(full)[:h, :w]


def dark_ink(gray: np.ndarray) -> bool:
    """Is the ink darker than the paper? Flatten the lighting (tile medians), then the sign of
    the third moment of what is left: ink is the minority, so its tail outweighs the rest."""
    d = gray - _background(gray, q=50, spread=ndimage.median_filter)
    return float(np.mean(d * d * d)) < 0


def ink_map(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grayscale (H, W) in [0, 1] -> (ink, mask): ink (H, W) float32, 1 on strokes and 0 on the
    background; mask (H, W) bool, the pixels that are surely ink (specks removed).

    Raises ImageError when the image is blank (no contrast, or nothing stands out).
    """
    return drop_specks(*ink_levels(gray))


def ink_levels(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``ink_map`` before its specks are dropped (digitnet.read removes ruled lines first: a
    line across a page would make every digit a speck beside it)."""
    gray = np.asarray(gray, np.float32)
    if gray.ndim != 2 or min(gray.shape) < 2:
        raise ImageError(f"an image must be at least 2x2 pixels, got shape {gray.shape}")
    if float(gray.max() - gray.min()) < MIN_CONTRAST:
        raise ImageError("no digit found: the image is blank (one flat colour)")
    x = 1 - gray if dark_ink(gray) else gray
    x = np.clip(x - _background(x), 0, 1)
    t = otsu_threshold(x)
    mask = x >= t
    hi = float(np.percentile(x[mask], 75)) if mask.any() else 0.0
    if hi < MIN_CONTRAST:
        raise ImageError("no digit found: nothing stands out from the background")
    lo = t / 2
    return np.clip((x - lo) / max(hi - lo, 1e-3), 0, 1).astype(np.float32), mask


def drop_specks(ink: np.ndarray, mask: np.ndarray,
                min_area: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Specks: 8-connected blobs of ``mask`` with less than SPECK of the largest one's area (or
    less than ``min_area`` pixels) leave the mask; ink is kept only within 2 pixels of what is
    left (faint halos go too)."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    area = np.bincount(labels.ravel(), minlength=n + 1)
    area[0] = 0
    keep = area >= (SPECK * area.max() if min_area is None else min_area)
    keep[0] = False
    mask = keep[labels]
    ink = ink * ndimage.binary_dilation(mask, iterations=2)
    return ink.astype(np.float32), mask


# --- 28x28 ----------------------------------------------------------------------------------
def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width in pixels of a bool mask: area / (boundary pixels / 2).

    A stroke of width w and length L has area w L and about 2 L boundary pixels (L if w = 1).
    """
    inner = ndimage.binary_erosion(mask, border_value=0)
    boundary = int(np.count_nonzero(mask & ~inner))
    return 2 * int(np.count_nonzero(mask)) / max(boundary, 1)


def center_digit(ink: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Ink (H, W) in [0, 1] -> (28, 28) float32: crop to ``mask``'s bounding box (default:
    ink > 0.5), scale the longer side to 20 px keeping the aspect ratio, and paste it so its
    centre of mass sits at (14, 14), as MNIST's were. The brightest pixel is 1."""
    mask = ink > 0.5 if mask is None else mask
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ImageError("no digit found: the image holds no ink")
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    cmask = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    width, scale = stroke_width(cmask), BOX / max(crop.shape)
    if width * scale < MIN_STROKE:  # a thin pen on a large digit would fade away in 20 px
        r = int(np.ceil((MIN_STROKE / scale - width) / 2))
        crop = ndimage.maximum_filter(np.pad(crop, r), size=2 * r + 1)
        scale = BOX / max(crop.shape)
    h, w = crop.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(crop.astype(np.float32)).resize(
        size, Image.Resampling.LANCZOS))
    small = np.clip(small, 0, 1)
    peak = small.max()
    if peak <= 0:
        raise ImageError("no digit found: the ink vanished when scaled to 20 pixels")
    small = small / peak
    # centre of mass: (sum_i i * m_i) / sum_i m_i along rows and columns
    mass = small.sum()
    com_r = float(small.sum(axis=1) @ np.arange(small.shape[0])) / mass
    com_c = float(small.sum(axis=0) @ np.arange(small.shape[1])) / mass
    top = int(np.clip(round(CENTER - com_r), 0, SIZE - small.shape[0]))
    left = int(np.clip(round(CENTER - com_c), 0, SIZE - small.shape[1]))
    out = np.zeros((SIZE, SIZE), np.float32)
    out[top:top + small.shape[0], left:left + small.shape[1]] = small
    return out


def digit_input(gray: np.ndarray) -> np.ndarray:
    """A grayscale image (H, W) in [0, 1] holding one digit -> the (28, 28) float32 input a
    network sees: its ink (``ink_map``) centred MNIST-style (``center_digit``). The one place
    every way in (arrays, files, uploads to the page, photos of one digit) ends; the callers
    only differ in how they decode and shrink the picture first (to WORK_SIDE)."""
    return center_digit(*ink_map(gray))


def prepare(image: np.ndarray | Image.Image, *, max_side: int | None = WORK_SIDE) -> np.ndarray:
    """One digit in any image (array, Pillow image, canvas) -> (28, 28) float32 MNIST-style
    input: ink 1 on background 0, longer side 20 px, centred by centre of mass.

    Feed it to a network as ``net.predict_proba(x[None])``. Raises ImageError if it is blank.
    """
    return digit_input(shrink(to_gray(image), max_side))


def prepare_file(path: str | os.PathLike) -> np.ndarray:
    """An image file holding one digit -> (28, 28) float32 MNIST-style input."""
    return digit_input(load_image(path, max_side=WORK_SIDE))


def prepare_bytes(data: bytes, *, max_pixels: int = MAX_PIXELS,
                  name: str = "the image") -> np.ndarray:
    """Encoded image bytes holding one digit (an upload, a canvas PNG) -> (28, 28) float32
    input, the same steps as ``prepare_file``; ``name`` is what error messages call it."""
    return digit_input(decode_image(data, max_pixels=max_pixels, max_side=WORK_SIDE,
                                    name=name))


def list_images(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files in the order given; a folder stands for the image files in it, sorted by name."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir()
                           if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ImageError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in folder {p}")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise ImageError(f"no such file or folder: {p}")
    return files


def side_by_side(gray: np.ndarray, x28: np.ndarray, height: int = 140) -> Image.Image:
    """A picture of what the network saw: the original (H, W) grayscale next to the (28, 28)
    input, both ``height`` pixels high, on a grey strip."""
    h, w = gray.shape
    width = max(1, min(round(w * height / h), 4 * height))
    left = Image.fromarray(np.uint8(np.clip(gray, 0, 1) * 255)).resize(
        (width, height), Image.Resampling.LANCZOS)
    right = Image.fromarray(np.uint8(np.clip(x28, 0, 1) * 255)).resize(
        (height, height), Image.Resampling.NEAREST)
    gap = 10
    canvas = Image.new("L", (width + height + 3 * gap, height + 2 * gap), 128)
    canvas.paste(left, (gap, gap))
    canvas.paste(right, (width + 2 * gap, gap))
    return canvas
