"""The web API (`digitnet serve`): good and bad requests, and concurrent load on loopback."""

import base64
import http.client
import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image, ImageDraw

import digitnet as dn
from digitnet.cli import main
from digitnet.web.app import MAX_BYTES, MAX_PIXELS, create_app, make_server


@pytest.fixture(scope="module")
def client(net):
    return create_app(net, name="test.npz").test_client()


def data_url(img: Image.Image, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def canvas_one() -> Image.Image:
    """What the page sends for a '1': a black vertical stroke on a white 280x280 canvas."""
    img = Image.new("RGBA", (280, 280), (255, 255, 255, 255))
    ImageDraw.Draw(img).line([(140, 50), (135, 230)], fill=(0, 0, 0, 255), width=18)
    return img


def test_page_and_assets_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and b'<canvas id="pad"' in page.data
    for asset, kind in (("/static/app.js", "javascript"), ("/static/style.css", "css")):
        r = client.get(asset)
        assert r.status_code == 200 and kind in r.content_type
    assert b"http" not in page.data  # no CDN: nothing is fetched from elsewhere
    assert client.get("/api/info").get_json() == {
        "labels": [str(i) for i in range(10)], "model": "test.npz",
        "limits": {"max_bytes": MAX_BYTES, "max_pixels": MAX_PIXELS}}


def test_the_favicon_is_served_from_the_package(client):
    page = client.get("/").data
    assert b'rel="icon" href="/favicon.ico"' in page and b"/static/favicon.svg" in page
    ico = client.get("/favicon.ico")
    assert ico.status_code == 200 and ico.data[:4] == b"\0\0\1\0"  # an ICO file
    sizes = Image.open(io.BytesIO(ico.data)).info["sizes"]
    assert {(16, 16), (32, 32)} <= set(sizes)
    svg = client.get("/static/favicon.svg")
    assert svg.status_code == 200 and "svg" in svg.content_type and b"<svg" in svg.data


def test_the_page_has_a_photo_upload_and_a_camera_input(client):
    page = client.get("/").data.decode()
    assert '<input id="file" class="file" type="file" accept="image/*">' in page
    assert 'accept="image/*" capture="environment"' in page


def test_predict_a_canvas_drawing(client):
    r = client.post("/api/predict", json={"image": data_url(canvas_one())})
    assert r.status_code == 200
    body = r.get_json()
    assert body["digit"] == 1 and body["label"] == "1"
    assert len(body["probabilities"]) == 10 and sum(body["probabilities"]) == pytest.approx(1, 1e-3)
    assert body["probability"] == max(body["probabilities"])
    x = np.array(body["input28"])
    assert x.shape == (28, 28) and x.max() == 1 and x[:, :8].max() == 0  # a centred stroke


def test_predict_pixels_gives_exactly_the_networks_answer(client, net, sample):
    x = sample.x_test[:5]
    expected = net.predict_proba(x)
    for i in range(5):
        body = client.post("/api/predict",
                           json={"pixels": x[i].reshape(28, 28).tolist()}).get_json()
        assert body["digit"] == int(expected[i].argmax())
        np.testing.assert_allclose(body["probabilities"], expected[i], atol=1e-4)
        np.testing.assert_allclose(body["input28"], x[i].reshape(28, 28), atol=1e-3)


def test_predict_a_jpeg_photo_of_a_digit(client, sample, net):
    x = sample.x_test[0].reshape(28, 28)  # a 7, dark on light, large, off-centre
    big = np.asarray(Image.fromarray(x).resize((140, 140), Image.Resampling.BILINEAR))
    img = np.ones((300, 400), np.float32)
    img[20:160, 230:370] = 1 - np.clip(big, 0, 1)
    r = client.post("/api/predict",
                    json={"image": data_url(Image.fromarray(np.uint8(img * 255)), "JPEG")})
    assert r.get_json()["digit"] == int(sample.y_test[0])


def tiny_png() -> str:
    return data_url(Image.new("L", (10, 10), 255))


@pytest.mark.parametrize("body, status, message", [
    (b"{not json", 400, "malformed JSON"),
    (b"\xff\xfe", 400, "malformed JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b"{}", 400, "exactly one"),
    (json.dumps({"image": "x", "pixels": []}).encode(), 400, "exactly one"),
    (json.dumps({"image": 5}).encode(), 400, "must be a string"),
    (json.dumps({"image": "data:image/png,abc"}).encode(), 400, "base64 data URL"),
    (json.dumps({"image": "data:image/png;base64,@@@"}).encode(), 400, "not valid base64"),
    (json.dumps({"image": "data:image/png;base64,aGVsbG8="}).encode(), 400, "not an image"),
    (json.dumps({"image": tiny_png()}).encode(), 400, "no digit found"),
    (json.dumps({"pixels": [[0.5] * 28] * 27}).encode(), 400, "28x28"),
    (json.dumps({"pixels": [[0.5] * 28] * 27 + [[0.5] * 27]}).encode(), 400, "28x28"),
    (json.dumps({"pixels": [["a"] * 28] * 28}).encode(), 400, "28x28"),
    (json.dumps({"pixels": [[2.0] * 28] * 28}).encode(), 400, "in [0, 1]"),
    (json.dumps({"pixels": [[-1] * 28] * 28}).encode(), 400, "in [0, 1]"),
    (b"x" * (MAX_BYTES + 1), 413, "too large: the limit is 2 MB; scale the image down"),
])
def test_bad_requests_get_a_4xx_json_error(client, body, status, message):
    r = client.post("/api/predict", data=body, content_type="application/json")
    assert r.status_code == status
    assert message in r.get_json()["error"]


def test_a_decompression_bomb_is_refused(client):
    img = Image.new("L", (5000, 5000), 255)  # 25 Mpx, a few KB as PNG
    r = client.post("/api/predict", json={"image": data_url(img)})
    assert r.status_code == 400 and "too large" in r.get_json()["error"]


def test_unknown_routes_and_methods_answer_json(client):
    r = client.get("/api/nope")
    assert r.status_code == 404 and "error" in r.get_json()
    r = client.get("/api/predict")
    assert r.status_code == 405 and "error" in r.get_json()


# --- a real server on loopback ----------------------------------------------------------------
@pytest.fixture(scope="module")
def server(net):
    srv = make_server(create_app(net), "127.0.0.1", 0, threads=8)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    yield srv
    srv.close()
    thread.join(5)


def post(port: int, body: dict, timeout: float = 30) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/api/predict", json.dumps(body),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


@pytest.mark.slow
def test_200_concurrent_predictions_all_answered_correctly(server, net, sample):
    port = server.effective_port
    n = 200
    X = sample.x_test[:n]
    expected = net.predict(X)
    bodies = [{"pixels": X[i].reshape(28, 28).tolist()} for i in range(n // 2)]
    bodies += [{"image": data_url(Image.fromarray(np.uint8(255 - 255 * X[i].reshape(28, 28))))}
               for i in range(n // 2, n)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda b: post(port, b), bodies))
    assert [status for status, _ in answers] == [200] * n
    digits = np.array([a["digit"] for _, a in answers])
    assert np.array_equal(digits[:n // 2], expected[:n // 2])  # exact pixels: exact answers
    assert np.mean(digits[n // 2:] == expected[n // 2:]) > 0.95  # re-prepared from a PNG


def test_repeated_predictions_on_one_connection_give_the_same_answer(server, sample):
    """(How fast it answers is measured by bench/serve_bench.py, not here.)"""
    body = {"pixels": sample.x_test[0].reshape(28, 28).tolist()}
    answers = [post(server.effective_port, body) for _ in range(20)]
    assert all(status == 200 for status, _ in answers)
    assert len({json.dumps(a, sort_keys=True) for _, a in answers}) == 1


def test_serve_reports_a_busy_port_in_one_line(server, capsys, tmp_path, net):
    path = dn.save_model(net, tmp_path / "m.npz")
    code = main(["serve", str(path), "--port", str(server.effective_port)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("digitnet: error: cannot listen on 127.0.0.1:")
    assert main(["serve", str(path), "--port", "70000"]) == 1
    assert "--port: must be a whole number from 0 to 65535" in capsys.readouterr().err
