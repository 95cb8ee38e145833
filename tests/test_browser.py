"""The drawing page in a real browser: Debian's headless Chromium driven by selenium.

`.ci/run` installs the `chromium` and `chromium-driver` packages; the test uses them from
/usr/bin explicitly (no driver or browser downloads) and talks only to 127.0.0.1.
"""

import os
import shutil
import threading

import pytest

from digitnet.web.app import create_app, make_server

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

if not (os.access(CHROMEDRIVER, os.X_OK) and os.access(CHROMIUM, os.X_OK)):
    pytest.skip("Debian's chromium and chromium-driver are not installed "
                "(apt-get install chromium chromium-driver; .ci/run does)",
                allow_module_level=True)

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def url(digits_net):
    srv = make_server(create_app(digits_net), "127.0.0.1", 0, threads=4)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.effective_port}/"
    srv.close()
    thread.join(5)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    os.environ["SE_OFFLINE"] = "true"  # selenium must never try to download anything
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1000,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


@pytest.mark.slow
def test_drawing_a_stroke_shows_a_prediction_and_what_the_network_saw(url, browser):
    browser.get(url)
    pad = browser.find_element(By.ID, "pad")
    digit = browser.find_element(By.ID, "digit")
    assert digit.text == "?"
    # a vertical stroke down the middle of the canvas: a "1"
    (ActionChains(browser).move_to_element_with_offset(pad, 0, -90).click_and_hold()
     .move_by_offset(-2, 60).move_by_offset(-2, 60).move_by_offset(-1, 60).release().perform())
    WebDriverWait(browser, 15).until(lambda d: digit.text != "?")
    assert digit.text == "1"
    bars = browser.find_elements(By.CSS_SELECTOR, "#bars .bar")
    assert len(bars) == 10
    top = browser.find_element(By.CSS_SELECTOR, "#bars .bar.top .name").text
    assert top == "1"
    assert "% sure" in browser.find_element(By.ID, "confidence").text
    # the 28x28 preview holds the stroke: bright pixels in the middle column
    bright = browser.execute_script(
        "const d = document.getElementById('seen').getContext('2d')"
        ".getImageData(0, 0, 28, 28).data; let n = 0;"
        "for (let i = 0; i < d.length; i += 4) if (d[i] > 128) n++; return n;")
    assert bright > 20
    browser.find_element(By.ID, "clear").click()
    assert digit.text == "?"
