"""Reading digits and numbers in image files: digitnet.read, `digitnet predict IMAGE...`, `read`."""


import numpy as np
import pytest
from helpers import last_json
from PIL import Image
from scipy import ndimage

from digitnet.cli import main
from digitnet.data.synthetic import enlarge, number_image
from digitnet.errors import ImageError
from digitnet.read import predict_files, read_number, segment


@pytest.fixture(scope="module")
def sure(net, sample):
    """Per digit 0-9, indices of test images the model reads right with probability > 0.95."""
    p = net.predict_proba(sample.x_test)
    ok = (p.argmax(1) == sample.y_test) & (p.max(1) > 0.95)
    return {d: np.flatnonzero(ok & (sample.y_test == d)) for d in range(10)}


def pick(sure, sample, number, k=0):
    return [sample.x_test[sure[int(d)][k]].reshape(28, 28) for d in number]


# --- predict_files / `digitnet predict MODEL IMAGE...` ----------------------------------------
@pytest.fixture(scope="module")
def digit_files(sure, sample, tmp_path_factory):
    """Three digits rendered large, off-centre, in different colours and formats."""
    folder = tmp_path_factory.mktemp("digits")
    files = []
    for i, (d, fmt) in enumerate(zip((7, 2, 4), ("png", "jpg", "bmp"), strict=True)):
        x = enlarge(sample.x_test[sure[d][0]].reshape(28, 28), 4)
        img = np.zeros((240, 300), np.float32)
        img[20 + 20 * i:132 + 20 * i, 150 - 60 * i:262 - 60 * i] = x
        img = 1 - img if i != 1 else img
        path = folder / f"{i}-digit{d}.{fmt}"
        Image.fromarray(np.uint8(img * 255)).convert("RGB").save(path)
        files.append(path)
    return files


def test_predict_files_reads_each_file_in_order(net, digit_files, tmp_path):
    results = predict_files(net, [digit_files[2], digit_files[0], digit_files[1]],
                            show=tmp_path / "seen")
    assert [r["digit"] for r in results] == [4, 7, 2]
    assert [r["file"] for r in results] == [str(digit_files[i]) for i in (2, 0, 1)]
    for r in results:
        assert r["probability"] > 0.5
        assert [t["digit"] for t in r["top3"]][0] == r["digit"]
        assert len(r["top3"]) == 3
        assert r["top3"][0]["probability"] >= r["top3"][1]["probability"] >= \
            r["top3"][2]["probability"]
    seen = sorted(p.name for p in (tmp_path / "seen").iterdir())
    assert seen == ["0-digit7.seen.png", "1-digit2.seen.png", "2-digit4.seen.png"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_predict_images_json(capsys, model_file, digit_files, tmp_path):
    folder = digit_files[0].parent
    code, out, err = run(capsys, "predict", model_file, "--json", digit_files[1], "--show",
                         tmp_path, folder)  # options and files in any order
    assert code == 0, err
    result = last_json(out)
    preds = result["predictions"]
    assert [p["digit"] for p in preds] == [2, 7, 2, 4]
    assert preds[0]["file"] == str(digit_files[1])
    assert set(preds[0]) == {"file", "is_digit", "digit", "label", "probability", "top3"}
    assert "1-digit2.jpg: 2 (probability" in out
    assert len(list(tmp_path.glob("*.seen.png"))) == 4  # the same file twice: two pictures


@pytest.mark.parametrize("argv, message", [
    (["nope.png"], "no such file or folder"),
    (["notes.png"], "not an image"),
    (["ok.png", "blank.png"], "blank.png: no digit found"),
    (["ok.png", "--dataset", "sample"], "not both"),
])
def test_cli_predict_bad_images_print_one_line(capsys, model_file, tmp_path, argv, message,
                                               monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.png").write_text("hello")
    Image.new("L", (50, 50), 255).save(tmp_path / "blank.png")
    Image.fromarray(np.uint8(np.eye(50) * 255)).save(tmp_path / "ok.png")
    code, out, err = run(capsys, "predict", model_file, *argv)
    assert code == 1
    assert err.startswith("digitnet: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_cli_predict_dataset_mode_still_works(capsys, model_file):
    code, out, _ = run(capsys, "predict", model_file, "--test-size", "100", "--json")
    assert code == 0
    assert last_json(out)["n"] == 100


# --- numbers: segment / read_number / `digitnet read` -----------------------------------------
def test_read_a_number_on_paper(net, sure, sample):
    img = number_image(pick(sure, sample, "2026"))
    reading = read_number(net, img)
    assert reading.number == "2026"
    assert reading.images.shape == (4, 28, 28)
    boxes = [d["box"] for d in reading.digits]
    assert all(a[2] <= b[0] for a, b in zip(boxes, boxes[1:], strict=False))  # left to right
    for (x0, y0, x1, y1) in boxes:
        assert 35 <= y0 < y1 <= 40 + 84 + 5 and x0 < x1


def test_read_light_on_dark_rgb_and_large(net, sure, sample):
    img = number_image(pick(sure, sample, "31415", k=1), scale=8, gap=40, margin=150,
                       invert=False)
    rgb = np.stack([img, img // 2, img // 3], axis=-1)  # coloured chalk on a dark board
    reading = read_number(net, rgb)
    assert reading.number == "31415"
    assert reading.digits[0]["box"][0] == pytest.approx(150, abs=10)  # in original pixels


def test_read_a_photo_with_a_shadow(net, sure, sample, tmp_path):
    """Grey pencil on paper lit from the top right, darkest (30%) at the far corner; JPEG."""
    ink = 1 - number_image(pick(sure, sample, "1975", k=4), scale=8, gap=30,
                           margin=250).astype(np.float32) / 255
    h, w = ink.shape
    yy, xx = np.mgrid[0:h, 0:w]
    light = 0.3 + 0.7 * np.clip(1 - np.hypot(xx - 0.8 * w, yy - 0.2 * h) / (1.2 * w), 0, 1)
    photo = (0.92 - 0.55 * ink) * light
    rgb = np.stack([photo, 0.97 * photo, 0.9 * photo], axis=-1)
    Image.fromarray(np.uint8(rgb * 255)).save(tmp_path / "photo.jpg", quality=80)
    assert read_number(net, tmp_path / "photo.jpg").number == "1975"


def test_touching_digits_are_split(net, sure, sample):
    for number in ("40", "34"):
        img = number_image(pick(sure, sample, number, k=2), gap=-4)
        _, n = ndimage.label(img < 128, structure=np.ones((3, 3)))
        assert n == 1, "the digits should touch"
        assert read_number(net, img).number == number


def test_a_broken_stroke_stays_one_digit(net, sure, sample):
    digits = pick(sure, sample, "57", k=3)
    img = number_image(digits)
    img[70:74] = 255  # erase a band across the line: every digit breaks into pieces
    pieces = segment(img.astype(np.float32) / 255)
    assert len(pieces) == 2


def test_a_decimal_point_is_read_and_specks_are_not_digits(net, sure, sample):
    """Before issue 13, the point was dropped too ("38")."""
    img = number_image(pick(sure, sample, "38"), gap=40)
    img[110:118, 120:128] = 0  # a decimal point between the digits, on the baseline
    img[5:7, 5:7] = 0  # a speck in the corner
    reading = read_number(net, img)
    assert reading.number == "3.8"
    assert [d["digit"] for d in reading.digits] == [3, 8]


def test_read_blank_image_raises():
    with pytest.raises(ImageError, match="no digit"):
        read_number(None, np.full((100, 300), 255, np.uint8))


def test_cli_read_json(capsys, model_file, sure, sample, tmp_path):
    path = tmp_path / "number.jpg"
    Image.fromarray(number_image(pick(sure, sample, "2026"))).save(path, quality=92)
    code, out, err = run(capsys, "read", model_file, path, "--json")
    assert code == 0, err
    assert out.splitlines()[0] == "2026"
    result = last_json(out)
    assert result["number"] == "2026"
    assert [d["digit"] for d in result["digits"]] == [2, 0, 2, 6]
    assert all(0.5 < d["probability"] <= 1 and len(d["box"]) == 4 for d in result["digits"])


def test_cli_read_bad_file_prints_one_line(capsys, model_file, tmp_path):
    code, _, err = run(capsys, "read", model_file, tmp_path / "missing.png")
    assert code == 1 and err.startswith("digitnet: error: no such file")


# --- many marks: dotted paper ------------------------------------------------------------------
def dotted_paper(n_side, step, dot=2, ink=60):
    """A photo-like page of n_side x n_side dots (``dot`` px square) every ``step`` px."""
    size = n_side * step
    img = np.full((size, size), 235, np.uint8)
    for i in range(dot):
        for j in range(dot):
            img[step // 2 + i::step, step // 2 + j::step] = ink
    return img


@pytest.mark.parametrize("n_side, step", [(120, 12), (240, 6)])
def test_dotted_paper_is_refused_quickly_with_little_memory(net, n_side, step):
    """14,400 and 57,600 dots: before, n x n matrices of the blobs (4.9 GiB and 22 s for
    14,400; a MemoryError for 57,600)."""
    import time
    import tracemalloc

    img = dotted_paper(n_side, step)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(ImageError, match=f"{n_side**2:,} separate ink marks .* crop"):
            read_number(net, img)
        used = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert used < 200 * 2**20
    assert time.perf_counter() - t0 < 10


def test_a_number_on_dotted_paper_is_read(net, sure, sample):
    """Dots much smaller than the digits are specks: the number is read as on plain paper."""
    img = number_image(pick(sure, sample, "2026"))
    paper = dotted_paper(-(-max(img.shape) // 12), 12)[:img.shape[0], :img.shape[1]]
    assert read_number(net, np.minimum(img, paper)).number == "2026"


def test_cli_read_dotted_paper_is_a_one_line_error(capsys, model_file, tmp_path):
    path = tmp_path / "dots.png"
    Image.fromarray(dotted_paper(120, 12)).save(path)
    code, _, err = run(capsys, "read", model_file, path)
    assert code == 1 and "14,400 separate ink marks" in err
    assert len(err.strip().splitlines()) == 1


def _merge_pairwise(boxes):
    """The rule of read._merge, pair by pair (what it did before: an n x n matrix)."""
    x0, x1 = boxes[:, 0], boxes[:, 2]
    overlap = np.minimum(x1[:, None], x1[None, :]) - np.maximum(x0[:, None], x0[None, :])
    narrower = np.minimum((x1 - x0)[:, None], (x1 - x0)[None, :])
    linked = overlap >= 0.5 * narrower
    group = np.full(len(boxes), -1)
    for start in range(len(boxes)):  # flood fill, components numbered by first blob
        if group[start] >= 0:
            continue
        todo, group[start] = [start], group.max() + 1
        while todo:
            i = todo.pop()
            for j in np.flatnonzero(linked[i] & (group < 0)):
                group[j] = group[start]
                todo.append(j)
    return group


def test_merging_blobs_by_their_centres_is_the_pairwise_rule():
    from digitnet.read import _group_boxes, _merge

    rng = np.random.default_rng(0)
    for _ in range(1500):
        n, width = int(rng.integers(1, 40)), int(rng.integers(2, 60))
        x0 = rng.integers(0, width, n)
        w = rng.integers(1, int(rng.integers(1, 25)) + 1, n)  # many equal widths: ties
        boxes = np.stack([x0, rng.integers(0, 9, n), x0 + w, rng.integers(10, 20, n)], 1)
        group = _merge(boxes)
        np.testing.assert_array_equal(group, _merge_pairwise(boxes))
        gbox = _group_boxes(boxes, group)
        for g in range(group.max() + 1):
            mine = boxes[group == g]
            assert list(gbox[g]) == [mine[:, 0].min(), mine[:, 1].min(), mine[:, 2].max(),
                                     mine[:, 3].max()]
