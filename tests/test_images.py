"""Preparing a person's image MNIST-style: digitnet.data.images."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitnet.data import images as im
from digitnet.data.synthetic import paste_digit
from digitnet.errors import ImageError


def draw_digit(size=(300, 200), box=(80, 40, 180, 180), width=12, ink=0, paper=255,
               mode="L", seven=True):
    """A '7' (or a ring '0') drawn with a pen of ``width`` inside ``box`` (x0, y0, x1, y1)."""
    img = Image.new(mode, size, paper)
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = box
    if seven:
        d.line([(x0, y0), (x1, y0), (x0 + (x1 - x0) // 3, y1)], fill=ink, width=width,
               joint="curve")
    else:
        d.ellipse(box, outline=ink, width=width)
    return img


def com(x):
    """Centre of mass (row, col) of a 2-D array."""
    r, c = np.indices(x.shape)
    return float((r * x).sum() / x.sum()), float((c * x).sum() / x.sum())


def box_side(x, level=0.1):
    """The longer side of the bounding box of pixels above ``level``."""
    rows, cols = np.flatnonzero((x > level).any(1)), np.flatnonzero((x > level).any(0))
    return max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)


def similarity(a, b, shift=2):
    """Correlation of two (28, 28) images, the best over shifts of up to ``shift`` pixels."""
    return max(np.corrcoef(np.roll(a, (dr, dc), axis=(0, 1)).ravel(), b.ravel())[0, 1]
               for dr in range(-shift, shift + 1) for dc in range(-shift, shift + 1))


def assert_mnist_style(x):
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() == pytest.approx(1.0)
    assert 19 <= box_side(x) <= 21
    r, c = com(x)
    assert abs(r - 14) <= 0.75 and abs(c - 14) <= 0.75


@pytest.fixture(scope="module")
def reference():
    return im.prepare(draw_digit())


def test_dark_on_light_digit_is_inverted_cropped_scaled_and_centred(reference):
    assert_mnist_style(reference)
    # ink is bright: the 7's top bar is a bright row in the upper part
    assert reference[4:10].max(axis=1).max() == pytest.approx(1.0)


@pytest.mark.parametrize("variant", [
    "light_on_dark", "off_centre", "large", "rgb_tinted", "rgba_transparent_black_ink",
    "rgba_transparent_white_ink", "uneven_lighting", "noisy_with_specks", "thin_pen",
])
def test_variants_give_the_same_centred_input(reference, variant, rng):
    if variant == "light_on_dark":
        img = draw_digit(ink=255, paper=0)
    elif variant == "off_centre":
        img = draw_digit(size=(500, 400), box=(360, 220, 460, 360))
    elif variant == "large":
        img = draw_digit(size=(3000, 2000), box=(800, 400, 1800, 1800), width=120)
    elif variant == "rgb_tinted":
        img = draw_digit(mode="RGB", ink=(30, 30, 90), paper=(240, 230, 200))
    elif variant.startswith("rgba_transparent"):
        ink = (0, 0, 0, 255) if "black" in variant else (255, 255, 255, 255)
        img = draw_digit(mode="RGBA", ink=ink, paper=(0, 0, 0, 0))
    elif variant == "uneven_lighting":  # paper from dark grey (left) to white, pencil-grey ink
        g = np.asarray(draw_digit(ink=60), np.float32) / 255
        light = np.linspace(0.45, 1.0, g.shape[1])[None, :]
        img = np.uint8(255 * g * light)
    elif variant == "noisy_with_specks":
        g = np.asarray(draw_digit(), np.float32) / 255 + rng.normal(0, 0.05, (200, 300))
        g[rng.integers(0, 200, 30), rng.integers(0, 300, 30)] = 0  # isolated dark specks
        img = np.clip(g, 0, 1)
    else:  # a fine pen on a big digit: strokes are thickened so they do not fade away
        img = draw_digit(size=(900, 900), box=(200, 150, 600, 750), width=3)
    x = im.prepare(img)
    assert_mnist_style(x)
    assert similarity(x, reference) > 0.85, "the same digit should look the same"


def test_a_ring_is_centred_with_its_aspect_ratio_kept():
    x = im.prepare(draw_digit(box=(40, 20, 100, 180), seven=False))  # tall: 60 wide, 160 high
    assert_mnist_style(x)
    # symmetric: the 20x20 box sits in the middle, the frame around it is black
    assert x[:3].max() == x[-3:].max() == x[:, :9].max() == x[:, -9:].max() == 0
    cols = np.flatnonzero((x > 0.1).any(axis=0))
    assert 6 <= cols[-1] - cols[0] + 1 <= 10  # 20 * 60 / 160 = 7.5 px wide


def test_an_mnist_digit_comes_back_almost_unchanged(sample):
    X = sample.x_test[:50].reshape(-1, 28, 28)
    P = np.stack([im.prepare(x) for x in X])
    assert np.abs(P - X).mean() < 0.03
    assert min(similarity(p, x) for p, x in zip(P, X, strict=True)) > 0.85


def test_file_formats_and_modes_read_alike(tmp_path, reference):
    base = draw_digit()
    files = {
        "a.png": base, "b.jpg": base.convert("RGB"), "c.bmp": base, "d.gif": base.convert("P"),
        "e.png": Image.fromarray(np.asarray(base, np.uint16) * 257),  # 16-bit grey
        "f.webp": base.convert("RGB"),
    }
    for name, img in files.items():
        img.save(tmp_path / name)
        x = im.prepare_file(tmp_path / name)
        assert_mnist_style(x)
        assert similarity(x, reference) > 0.95, name


def test_a_file_and_its_bytes_give_the_same_input(tmp_path):
    """`digitnet predict` reads files, the page uploads bytes: the same picture must give the
    same 28x28 input either way (a photo larger than WORK_SIDE is shrunk alike)."""
    big = draw_digit().resize((1500, 1100))
    big.save(tmp_path / "photo.jpg")
    data = (tmp_path / "photo.jpg").read_bytes()
    np.testing.assert_array_equal(im.prepare_bytes(data), im.prepare_file(tmp_path / "photo.jpg"))
    with pytest.raises(ImageError, match="upload is too large"):
        im.prepare_bytes(data, max_pixels=1000, name="upload")


def test_arrays_of_every_kind_are_accepted(reference):
    g = np.asarray(draw_digit())
    for a in (g, g / 255.0, g.astype(np.float32) / 255, g > 128, g[:, :, None],
              np.repeat(g[:, :, None], 3, axis=2)):
        assert similarity(im.prepare(a), reference) > 0.95


@pytest.mark.parametrize("bad, message", [
    (np.full((50, 50), 200, np.uint8), "blank"),
    (np.zeros((50, 50, 2)), "shape"),
    (np.full((5, 5), np.nan), "finite"),
    (-np.ones((5, 5)), "values"),
    (np.array([["a"]]), "array of"),
])
def test_bad_arrays_raise_one_clear_error(bad, message):
    with pytest.raises(ImageError, match=message):
        im.prepare(bad)


def test_bad_files_raise_one_clear_error(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    draw_digit().save(tmp_path / "ok.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "ok.png").read_bytes()[:200])
    with pytest.raises(ImageError, match="not an image"):
        im.prepare_file(tmp_path / "notes.png")
    with pytest.raises(ImageError, match="damaged or truncated"):
        im.prepare_file(tmp_path / "cut.png")
    with pytest.raises(ImageError, match="no such file"):
        im.prepare_file(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="too large"):
        im.open_image(tmp_path / "ok.png", max_pixels=1000)
    with pytest.raises(ImageError, match="folder"):
        im.prepare_file(tmp_path)


def test_list_images_expands_folders_in_order(tmp_path):
    for name in ("b.png", "a.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    files = im.list_images([tmp_path / "b.png", tmp_path])
    assert [f.name for f in files] == ["b.png", "a.jpg", "b.png"]
    with pytest.raises(ImageError, match="no image files"):
        im.list_images([tmp_path / "sub"])
    with pytest.raises(ImageError, match="no such file"):
        im.list_images([tmp_path / "nope.png"])


def test_otsu_threshold_splits_two_populations(rng):
    dark, bright = rng.normal(0.2, 0.03, 5000), rng.normal(0.7, 0.05, 1000)
    t = im.otsu_threshold(np.clip(np.concatenate([dark, bright]), 0, 1))
    assert np.mean(dark >= t) < 0.01 and np.mean(bright < t) < 0.01


def test_side_by_side_shows_the_original_and_the_input(reference):
    pic = im.side_by_side(np.asarray(draw_digit(), np.float32) / 255, reference, height=100)
    assert pic.size == (150 + 100 + 30, 120)


# --- MNIST digits pasted into larger images: the file pipeline keeps the accuracy ----------
@pytest.mark.slow
def test_pasted_mnist_digits_are_read_as_well_as_the_originals(net, sample, tmp_path):
    n = 600
    X, y = sample.x_test[:n].reshape(-1, 28, 28), sample.y_test[:n]
    rng = np.random.default_rng(5)
    prepared = []
    for i, x in enumerate(X):
        path = tmp_path / f"{i}.png"
        Image.fromarray(paste_digit(x, rng)).save(path)
        prepared.append(im.prepare_file(path))
    plain = np.mean(net.predict(X) == y)
    pasted = np.mean(net.predict(np.stack(prepared)) == y)
    assert plain > 0.88
    assert pasted >= plain - 0.02, f"pasted {pasted:.3f} vs plain {plain:.3f}"


def test_a_huge_image_is_made_smaller_before_it_becomes_floats(tmp_path):
    """A 40-megapixel RGBA PNG of 170 KB cost 900 MB read whole as float32; made smaller in
    Pillow first (by a whole factor), it costs about its decoded pixels, with the same result
    as shrinking the float image (up to 8-bit rounding)."""
    import tracemalloc

    from PIL import ImageDraw

    from digitnet.data.images import load_image, reduce_image, shrink, to_gray

    img = Image.new("RGBA", (6000, 4000), (0, 0, 0, 0))
    ImageDraw.Draw(img).line((1000, 2000, 5000, 2200), fill=(20, 20, 20, 255), width=90)
    img.save(tmp_path / "big.png")
    assert (tmp_path / "big.png").stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        small = load_image(tmp_path / "big.png", max_side=600)
        used = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert small.shape == (400, 600) and used < 200 * 2**20
    whole = shrink(to_gray(img), 600)  # the float way, for comparison
    assert np.abs(small - whole).max() < 3 / 255
    assert reduce_image(img, 600).size == (600, 400)  # 6000 // 600 = 10
    assert reduce_image(img.convert("P"), 600).size == img.size  # palette indices: not averaged
