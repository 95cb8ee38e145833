"""The drawing page in a real browser: Debian's headless Chromium driven by selenium, at a
desktop size and as a phone (Chrome's mobile emulation: 390x844, touch). Screenshots are saved
and checked: the key elements are painted inside the viewport, not covered.

`.ci/run` installs the `chromium` and `chromium-driver` packages; the test uses them from
/usr/bin explicitly (no driver or browser downloads) and talks only to 127.0.0.1.
"""

import os
import shutil
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
from flask import jsonify, request
from helpers import phone_photo
from PIL import Image

from digitnet.data.images import prepare_file
from digitnet.web.app import MAX_BYTES, create_app, make_server

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

if not (os.access(CHROMEDRIVER, os.X_OK) and os.access(CHROMIUM, os.X_OK)):
    pytest.skip("Debian's chromium and chromium-driver are not installed "
                "(apt-get install chromium chromium-driver; .ci/run does)",
                allow_module_level=True)

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.actions import interaction  # noqa: E402
from selenium.webdriver.common.actions.action_builder import ActionBuilder  # noqa: E402
from selenium.webdriver.common.actions.pointer_input import PointerInput  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PHONE = {"width": 390, "height": 844, "pixelRatio": 3.0, "touch": True}
PHONE_AGENT = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/120.0 Mobile Safari/537.36")


DROP = object()  # an ``override`` value that removes the field from the answer


@pytest.fixture(scope="module")
def site(digits_net):
    """The real app on loopback, recording every request; ``override`` (a dict) replaces fields
    of /api/predict's answers (or removes them: ``DROP``), to show the page answers it cannot
    count on getting from this model (a doubtful top two; a server without "is_digit")."""
    app = create_app(digits_net)
    log, override = [], {}

    @app.before_request
    def record():
        log.append((request.method, request.path, request.content_length))

    real = app.view_functions["predict"]

    def predict():
        answer = real()
        if not override:
            return answer
        body = {**answer.get_json(), **override}
        return jsonify({k: v for k, v in body.items() if v is not DROP})

    app.view_functions["predict"] = predict
    srv = make_server(app, "127.0.0.1", 0, threads=4)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{srv.effective_port}/", log=log,
                          override=override)
    srv.close()
    thread.join(5)


def chromium(profile, mobile: dict | None = None):
    os.environ["SE_OFFLINE"] = "true"  # selenium must never try to download anything
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1000,900",
                 f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    if mobile:
        opts.add_experimental_option("mobileEmulation", mobile)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(20)
    return driver


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def phone(tmp_path_factory):
    driver = chromium(tmp_path_factory.mktemp("chromium-phone"),
                      {"deviceMetrics": PHONE, "userAgent": PHONE_AGENT})
    yield driver
    driver.quit()


def predictions(site) -> list:
    """The sizes of the bodies of the POST /api/predict requests the server got."""
    return [size for method, path, size in site.log if path == "/api/predict"]


def bright_pixels(driver) -> int:
    """How many pixels of the 28x28 preview are bright (what the network saw, as shown)."""
    return driver.execute_script(
        "const d = document.getElementById('seen').getContext('2d')"
        ".getImageData(0, 0, 28, 28).data; let n = 0;"
        "for (let i = 0; i < d.length; i += 4) if (d[i] > 128) n++; return n;")


def wait_for_answer(driver, seconds: float = 20) -> str:
    """Wait until the answer area leaves its empty state; returns the state."""
    state = driver.find_element(By.ID, "answer")
    WebDriverWait(driver, seconds).until(lambda d: state.get_attribute("data-state") != "empty")
    return state.get_attribute("data-state")


def check_screen(driver, path, ids: list[str]) -> dict[str, Image.Image]:
    """Save a screenshot to ``path`` and check that each element in ``ids`` is shown, inside the
    viewport and not covered (the element itself is what is at its centre). Returns the part of
    the screenshot under each element."""
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(path))
    shot = Image.open(path).convert("L")
    view = driver.execute_script("""
        const out = {w: innerWidth, h: innerHeight, rects: {}};
        for (const id of arguments[0]) {
          const el = document.getElementById(id), r = el.getBoundingClientRect();
          const hit = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
          out.rects[id] = [r.left, r.top, r.right, r.bottom, hit !== null && el.contains(hit)];
        }
        return out;""", ids)
    k = shot.width / view["w"]  # screenshot pixels per CSS pixel
    assert shot.height == pytest.approx(view["h"] * k, abs=2)
    parts = {}
    for name, (left, top, right, bottom, on_top) in view["rects"].items():
        assert driver.find_element(By.ID, name).is_displayed(), name
        assert right - left > 10 and bottom - top > 10, (name, view)
        assert 0 <= left and right <= view["w"] and 0 <= top and bottom <= view["h"], (name, view)
        assert on_top, f"{name} is covered"
        parts[name] = shot.crop((round(left * k), round(top * k), round(right * k),
                                 round(bottom * k)))
    return parts


def check_painted(parts: dict[str, Image.Image]) -> None:
    """What the screenshot shows where the key elements are: the pad light with dark ink (a
    drawing, or a photo of paper), the preview black with white ink, text in the answer area and
    on the upload button."""
    pad = np.asarray(parts["pad"], np.float32)
    assert np.median(pad) > 180 and (pad < 100).mean() > 0.005
    seen = np.asarray(parts["seen"], np.float32)
    assert np.median(seen) < 30 and (seen > 200).mean() > 0.02
    for name in ("answer", "upload"):
        assert np.asarray(parts[name]).min() < 140, f"no text drawn in {name}"


@pytest.mark.slow
def test_drawing_a_stroke_shows_a_prediction_and_what_the_network_saw(site, browser):
    browser.get(site.url)
    pad = browser.find_element(By.ID, "pad")
    digit = browser.find_element(By.ID, "digit")
    assert digit.text == "?"
    # a vertical stroke down the middle of the canvas: a "1"
    (ActionChains(browser).move_to_element_with_offset(pad, 0, -110).click_and_hold()
     .move_by_offset(-2, 70).move_by_offset(-2, 70).move_by_offset(-1, 70).release().perform())
    WebDriverWait(browser, 15).until(lambda d: digit.text != "?")
    assert digit.text == "1"
    bars = browser.find_elements(By.CSS_SELECTOR, "#bars .bar")
    assert len(bars) == 10
    top = browser.find_element(By.CSS_SELECTOR, "#bars .bar.top .name").text
    assert top == "1"
    assert "% sure" in browser.find_element(By.ID, "confidence").text
    assert bright_pixels(browser) > 20  # the 28x28 preview holds the stroke
    browser.find_element(By.ID, "clear").click()
    assert digit.text == "?"


@pytest.mark.slow
def test_desktop_a_12_megapixel_photo_and_a_dropped_image_are_read(site, browser, tmp_path,
                                                                   sample, digits_net):
    photo = phone_photo(sample.x_test[0].reshape(28, 28), tmp_path / "phone.jpg")  # a 7
    assert photo.stat().st_size > 2 * MAX_BYTES // 2  # over the server's limit as it is
    x28 = prepare_file(photo)  # what `digitnet predict` sees in the photo
    browser.get(site.url)
    site.log.clear()
    browser.find_element(By.ID, "file").send_keys(str(photo))
    assert wait_for_answer(browser, 40) == "digit", browser.find_element(By.ID, "status").text
    assert browser.find_element(By.ID, "digit").text == str(digits_net.predict(x28[None])[0])
    sizes = predictions(site)
    assert len(sizes) == 1 and sizes[0] < MAX_BYTES / 4  # scaled down in the browser
    shown = np.array(browser.execute_script(
        "return Array.from(document.getElementById('seen').getContext('2d')"
        ".getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 === 0));"), np.float32)
    assert np.abs(shown.reshape(28, 28) / 255 - x28).mean() < 0.02  # the same preparation
    parts = check_screen(browser, tmp_path / "desktop.png", ["pad", "upload", "answer", "seen"])
    check_painted(parts)
    assert not browser.find_element(By.ID, "take").is_displayed()  # no camera on a desktop

    # an image dropped on the page: a small PNG of a 1, sent as it is
    site.log.clear()
    browser.execute_async_script("""
        const done = arguments[0], c = document.createElement("canvas");
        c.width = 200; c.height = 200;
        const g = c.getContext("2d");
        g.fillStyle = "#fff"; g.fillRect(0, 0, 200, 200);
        g.fillStyle = "#000"; g.fillRect(92, 30, 16, 140);
        c.toBlob((blob) => {
          const data = new DataTransfer();
          data.items.add(new File([blob], "one.png", {type: "image/png"}));
          document.getElementById("pad").dispatchEvent(
            new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
          done();
        }, "image/png");""")
    WebDriverWait(browser, 20).until(
        lambda d: d.find_element(By.ID, "digit").text not in ("?", "7"))
    assert browser.find_element(By.ID, "digit").text == "1"
    assert len(predictions(site)) == 1


def settle(site, quiet: float = 0.7, seconds: float = 20) -> None:
    """Wait until the server has had no request for ``quiet`` seconds."""
    end = time.monotonic() + seconds
    n = -1
    while n != len(site.log) and time.monotonic() < end:
        n = len(site.log)
        time.sleep(quiet)


def touch(driver, *points) -> None:
    """One finger on the screen: down at the first point (CSS px), through the others, up."""
    finger = ActionBuilder(driver, mouse=PointerInput(interaction.POINTER_TOUCH, "finger"))
    (x, y), *rest = points
    finger.pointer_action.move_to_location(x, y).pointer_down()
    for x, y in rest:
        finger.pointer_action.move_to_location(x, y)
    finger.pointer_action.pointer_up()
    finger.perform()


@pytest.mark.slow
def test_phone_a_tap_sends_nothing_and_not_a_digit_and_not_sure_are_shown(site, phone,
                                                                           tmp_path):
    phone.get(site.url)
    assert phone.execute_script("return [innerWidth, innerHeight]") == [390, 844]
    phone.execute_script("window.kinds = []; document.getElementById('pad').addEventListener("
                         "'pointerdown', (e) => kinds.push(e.pointerType));")
    pad = phone.execute_script("const r = document.getElementById('pad')"
                               ".getBoundingClientRect(); return [r.left, r.top, r.width];")
    left, top, side = pad
    cx, cy = int(left + side / 2), int(top + side / 2)
    site.log.clear()
    touch(phone, (cx, cy))  # the first tap
    time.sleep(1.0)  # the page would have sent it after 120 ms
    assert phone.execute_script("return kinds") == ["touch"]
    assert predictions(site) == []
    assert phone.find_element(By.ID, "digit").text == "?"
    assert phone.find_element(By.ID, "status").text == ""

    # a "#" drawn with the finger, four strokes: digitnet.judge says it is not a digit
    s = side / 3
    for stroke in [((cx - s / 2, cy - s), (cx - s / 2, cy + s)),
                   ((cx + s / 2, cy - s), (cx + s / 2, cy + s)),
                   ((cx - s, cy - s / 2), (cx + s, cy - s / 2)),
                   ((cx - s, cy + s / 2), (cx + s, cy + s / 2))]:
        touch(phone, *stroke)
    settle(site)
    assert wait_for_answer(phone) == "not-digit"
    assert phone.find_element(By.ID, "digit").text == "not a digit"
    assert phone.find_element(By.ID, "confidence").text.startswith("looks like a letter or a")
    assert not phone.find_elements(By.CSS_SELECTOR, "#bars .bar.top")
    assert 1 <= len(predictions(site)) <= 8  # throttled: not one per touch move
    parts = check_screen(phone, tmp_path / "phone.png",
                         ["pad", "upload", "take", "answer", "seen"])
    check_painted(parts)

    # a doubtful answer from a server that does not judge (no "is_digit"): the top two shown
    p = [0.01, 0.01, 0.02, 0.03, 0.48, 0.01, 0.01, 0.02, 0.0, 0.41]
    site.override.update(is_digit=DROP, reason=DROP, digit=4, label="4", probability=0.48,
                         probabilities=p)
    try:
        phone.find_element(By.ID, "clear").click()
        touch(phone, (cx, cy - s), (cx, cy), (cx, cy + s))
        assert wait_for_answer(phone) == "unsure"
        assert phone.find_element(By.ID, "digit").text == "4?"
        assert (phone.find_element(By.ID, "confidence").text
                == "not sure: 4 (48.0%) or 9 (41.0%)")
        second = phone.find_element(By.CSS_SELECTOR, "#bars .bar.second .name").text
        assert second == "9"
        check_painted(check_screen(phone, tmp_path / "phone-unsure.png",
                                   ["pad", "upload", "take", "answer", "seen"]))
    finally:
        site.override.clear()
