"""The HTML report: one self-contained file with every figure embedded, plus the PNG files."""

import base64
import re
from html.parser import HTMLParser

import pytest

import digitnet as dn
from digitnet.cli import main
from digitnet.judge import judge
from digitnet.report import FIGURE_FILES, ReportError, write_report


class Page(HTMLParser):
    """Collects the images, headings and links of an HTML page (and fails on broken nesting of
    what it reads)."""

    def __init__(self):
        super().__init__()
        self.images, self.headings, self.links, self._in = [], [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        if tag in ("h1", "h2", "h3"):
            self._in = tag
        for key in ("href", "src"):
            if key in attrs:
                self.links.append(attrs[key])

    def handle_data(self, data):
        if self._in:
            self.headings.append(data)

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None


def read(path):
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def model(sample, tmp_path_factory):
    """A small trained network saved with its training history, as `digitnet train` does."""
    net = dn.build_network("784-32-10")
    hist = dn.train(net, sample.x_train[:2000], sample.y_train[:2000], x_val=sample.x_val,
                    y_val=sample.y_val, epochs=2, progress=False)
    path = tmp_path_factory.mktemp("model") / "m.npz"
    dn.save_model(net, path, metadata={"spec": "784-32-10", "history": hist.as_dict(),
                                       "training": {"optimizer": "adam", "epochs": 2}})
    return path


@pytest.mark.slow
def test_report_is_one_self_contained_file_with_every_figure(sample, model, tmp_path):
    net = dn.load_model(model)
    x, y = sample.x_test[:400], sample.y_test[:400]
    path = write_report(net, x, y, tmp_path / "out")
    assert path == tmp_path / "out" / "report.html"
    page = read(path)
    assert len(page.images) == len(FIGURE_FILES) == 9
    for img, name in zip(page.images, FIGURE_FILES, strict=True):
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix) and img["alt"]
        png = base64.b64decode(img["src"][len(prefix):])
        assert png.startswith(b"\x89PNG")
        assert (tmp_path / "out" / name).read_bytes() == png  # the same figure as a file
    assert not [link for link in page.links if not link.startswith("data:")]  # nothing external
    for heading in ("Model", "Training", "Results", "Training curves", "Confusion matrix",
                    "Most confident mistakes", "First-layer weights", "Activations per layer",
                    "Doctor", "Confidence and accuracy"):
        assert heading in page.headings
    html = path.read_text()
    accuracy = net.evaluate(x, y)[1]
    assert f"{accuracy:.4f}" in html
    assert "Dense(n_in=784, n_out=32" in html and f"{net.n_params:,}" in html
    assert "No findings" in html
    ece = dn.reliability(net.predict_proba(x), y)["ece"]
    assert f"calibration error (ECE)<b>{ece:.2%}</b>" in html
    assert f"softmax(scores / {net.temperature:.3f})" in html  # trained with a validation split
    assert re.search(r"<td>optimizer</td><td>adam</td>", html)
    n_not = int((~judge(net, x)[0]).sum())  # how many the judge calls "not a digit"
    assert f"<div class='card'>not a digit<b>{n_not:,}</b></div>" in html


@pytest.mark.slow
def test_report_of_unlabelled_images_shows_predictions_only(sample, model, tmp_path):
    net = dn.load_model(model)
    path = write_report(net, sample.x_test[:100], None, tmp_path)
    names = [img["src"] for img in read(path).images]
    assert len(names) == 5  # curves, predictions, one digit, weights, activations
    assert not (tmp_path / "confusion.png").exists()
    assert "no labels" in path.read_text()


def test_report_into_a_file_is_a_one_line_error(sample, model, tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(ReportError, match="not a folder"):
        write_report(dn.load_model(model), sample.x_test[:10], sample.y_test[:10],
                     tmp_path / "taken")


@pytest.mark.slow
def test_cli_report(capsys, model, tmp_path):
    code = main(["report", str(model), "--test-size", "300", "--out", str(tmp_path / "r")])
    assert code == 0
    assert f"report written to {tmp_path / 'r' / 'report.html'}" in capsys.readouterr().out
    assert len(read(tmp_path / "r" / "report.html").images) == 9
    (tmp_path / "f").write_text("")
    assert main(["report", str(model), "--out", str(tmp_path / "f")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("digitnet: error:") and err.count("\n") == 1


@pytest.mark.slow
def test_train_writes_the_report_at_the_end(capsys, tmp_path):
    code = main(["train", "--model", "784-16-10", "--train-size", "1500", "--test-size", "300",
                 "--epochs", "2", "-q", "--report", str(tmp_path / "r")])
    assert code == 0
    page = read(tmp_path / "r" / "report.html")
    assert "Training curves" in page.headings and len(page.images) == 9
