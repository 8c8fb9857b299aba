"""Screenshots of the `vsearch serve` page for docs/: search results, the player, duplicates.

Starts `vsearch serve` on a library, drives Debian's chromium (selenium + chromedriver) and
saves docs/serve-search.png, docs/serve-player.png and docs/serve-dups.png.

Usage: .venv/bin/python scripts/serve_screenshots.py LIBRARY QUERY_IMAGE [OUT_DIR]
(scripts/demo.sh builds a library; a query: data/sample/queries/bunny_frame.png)
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    library, query = Path(sys.argv[1]), Path(sys.argv[2]).absolute()
    out = Path(sys.argv[3] if len(sys.argv) > 3 else "docs")
    out.mkdir(parents=True, exist_ok=True)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "vsearch", "--library", str(library), "serve", "--port", str(port)]
    )
    url = f"http://127.0.0.1:{port}"
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900",
                "--autoplay-policy=no-user-gesture-required", "--mute-audio"):  # fmt: skip
        options.add_argument(arg)
    driver = None
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/api/health", timeout=2).close()
                break
            except OSError:
                time.sleep(0.3)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        wait = WebDriverWait(driver, 120)
        driver.get(url)
        driver.find_element(By.ID, "file-input").send_keys(str(query))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".result"))
        loaded = "return [...document.querySelectorAll('.result img')].every(i => i.naturalWidth)"
        wait.until(lambda d: d.execute_script(loaded))
        driver.save_screenshot(str(out / "serve-search.png"))
        driver.find_elements(By.CSS_SELECTOR, ".result")[0].click()
        player = driver.find_element(By.ID, "player-video")
        ready = "return arguments[0].readyState >= 2 && !arguments[0].seeking"
        wait.until(lambda d: d.execute_script(ready, player))
        time.sleep(1.0)
        driver.execute_script("arguments[0].pause()", player)
        driver.save_screenshot(str(out / "serve-player.png"))
        driver.find_element(By.ID, "player-close").click()
        driver.find_element(By.CSS_SELECTOR, '.tab[data-view="dups"]').click()
        driver.find_element(By.CSS_SELECTOR, "#dups-form button").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".pair"))
        metadata = (
            "return [...document.querySelectorAll('.pair video')].every(v => v.readyState >= 2)"
        )
        wait.until(lambda d: d.execute_script(metadata))
        driver.save_screenshot(str(out / "serve-dups.png"))
        print(f"screenshots in {out}/serve-*.png")
        return 0
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
