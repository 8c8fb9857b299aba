"""The web page in a real browser: Debian's chromium driven by selenium through chromedriver.

The test starts `vsearch serve` itself on 127.0.0.1 and a free port. It is skipped, with the
reason, only where chromium cannot run; under CI (CI=true) a missing browser is a failure.
Set VSEARCH_SCREENSHOTS=DIR to keep the page's screenshots (docs/ holds the last ones).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _browser_or_skip():
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip)")
    if missing:
        reason = f"browser test needs {', '.join(missing)} (scripts/setup.sh installs them)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(served_library, tmp_path_factory):
    _browser_or_skip()
    settings, _videos, _queries = served_library
    # A copy of the library: the labels added from the page stay out of the API tests' one.
    library = tmp_path_factory.mktemp("browser-lib") / "lib"
    shutil.copytree(settings.library, library)
    port = _free_port()
    log = tmp_path_factory.mktemp("serve-log") / "serve.log"
    cmd = [sys.executable, "-m", "vsearch", "--library", str(library), "serve",
           "--port", str(port)]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/health", timeout=2) as r:
                    assert json.load(r)["status"] == "ok"
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"vsearch serve did not start: {log.read_text()[-2000:]}")
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser(server, tmp_path_factory):
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    profile = tmp_path_factory.mktemp("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--autoplay-policy=no-user-gesture-required",
                "--mute-audio", f"--user-data-dir={profile}"):  # fmt: skip
        options.add_argument(arg)
    try:
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    except WebDriverException as exc:
        reason = f"chromium cannot start here: {str(exc).splitlines()[0]}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait(driver, condition, timeout=60.0, what="the page"):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(
        lambda d: condition(d), message=f"timed out waiting for {what}"
    )


def _shot(driver, name: str) -> None:
    folder = os.environ.get("VSEARCH_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / name))


def test_upload_an_image_click_the_first_video_and_play_from_that_second(
    browser, server, served_library
):
    from selenium.webdriver.common.by import By

    _settings, videos, queries = served_library
    browser.get(server + "/")
    _wait(browser, lambda d: "frames" in d.find_element(By.ID, "facts").text, what="health")
    browser.find_element(By.ID, "file-input").send_keys(str(queries / "mandel3.png"))
    cards = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".result"), what="results")
    first = cards[0]
    assert first.get_attribute("data-path") == str(videos / "mandel.mp4")
    at = float(first.get_attribute("data-time"))
    assert abs(at - 3.0) <= 0.5
    # the thumbnails were served and decoded
    loaded = "return [...document.querySelectorAll('.result img')].every(i => i.naturalWidth > 0)"
    _wait(browser, lambda d: d.execute_script(loaded), what="thumbnails")
    _shot(browser, "serve-search.png")

    first.click()
    player = browser.find_element(By.ID, "player-video")
    _wait(browser, lambda d: d.execute_script(
        "const v = arguments[0]; return v.readyState >= 2 && !v.seeking && v.currentTime > 0",
        player), what="the player to seek")  # fmt: skip
    position = browser.execute_script("return arguments[0].currentTime", player)
    assert at - 0.05 <= position <= at + 1.5, (position, at)
    browser.execute_script("arguments[0].pause()", player)
    error = browser.execute_script("return arguments[0].error && arguments[0].error.code", player)
    assert error is None
    assert browser.find_element(By.ID, "player-path").text == str(videos / "mandel.mp4")

    # a label from the page
    browser.find_element(By.ID, "label-text").send_keys("fractal <b>zoom</b>")
    browser.find_element(By.CSS_SELECTOR, "#label-form button").click()
    label = "fractal <b>zoom</b>"
    chips = "return [...document.querySelectorAll('.chip')].map(c => c.textContent)"
    _wait(browser, lambda d: label in d.execute_script(chips), what="the label chip")
    assert not browser.find_elements(By.CSS_SELECTOR, ".chip b")  # text, never markup
    _shot(browser, "serve-player.png")
    browser.find_element(By.ID, "player-close").click()


def test_duplicates_view_shows_both_segments_playable(browser, server, served_library):
    from selenium.webdriver.common.by import By

    _settings, videos, _queries = served_library
    browser.get(server + "/")
    browser.find_element(By.CSS_SELECTOR, '.tab[data-view="dups"]').click()
    browser.find_element(By.CSS_SELECTOR, "#dups-form button").click()
    pairs = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".pair"), what="dups")
    sides = pairs[0].find_elements(By.CSS_SELECTOR, ".side")
    assert {s.get_attribute("data-path") for s in sides} == {
        str(videos / "mandel.mp4"),
        str(videos / "mandel-flipped.mp4"),
    }
    _wait(browser, lambda d: d.execute_script(
        "return [...arguments[0].querySelectorAll('video')].every(v => v.readyState >= 1)",
        pairs[0]), what="both videos to load")  # fmt: skip
    _shot(browser, "serve-dups.png")


def test_file_names_are_shown_as_text(browser, server, served_library):
    from selenium.webdriver.common.by import By

    browser.get(server + "/")
    browser.find_element(By.CSS_SELECTOR, '.tab[data-view="videos"]').click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#videos tr"), what="videos")
    text = browser.find_element(By.ID, "videos").text
    assert "caf\\xe9 <b>&amp;.mkv" in text  # not UTF-8, and HTML-looking: shown literally
    assert not browser.find_elements(By.CSS_SELECTOR, "#videos b")


def test_upload_a_clip_with_a_range_and_find_its_source(browser, server, served_library):
    from selenium.webdriver.common.by import By

    _settings, videos, queries = served_library
    browser.get(server + "/")
    browser.find_element(By.ID, "file-input").send_keys(str(queries / "life-1-3.mp4"))
    _wait(browser, lambda d: d.find_element(By.ID, "clip-range").is_displayed(), what="range")
    browser.find_element(By.ID, "clip-start").send_keys("0")
    browser.find_element(By.ID, "clip-end").send_keys("2")
    browser.find_element(By.ID, "clip-go").click()
    status = browser.find_element(By.ID, "status")
    _wait(browser, lambda d: "segment" in status.text or "Nothing" in status.text, what="answer")
    first = browser.find_elements(By.CSS_SELECTOR, ".result")[0]
    assert first.get_attribute("data-path") == str(videos / "life.mp4")
    # the query clip is seconds 1-3 of life.mp4: its first 2 s start at about 1 s there
    assert abs(float(first.get_attribute("data-time")) - 1.0) <= 0.6
