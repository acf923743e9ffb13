"""Real Chromium for the staff app's browser tests (Debian chromium + chromium-driver, Selenium).

`scripts/ensure_debian_packages.sh` installs them. Without them the browser tests are skipped, unless
MADOGUCHI_REQUIRE_BROWSER=1 (CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = Path(os.environ.get("MADOGUCHI_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("MADOGUCHI_CHROMEDRIVER", "/usr/bin/chromedriver"))
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--lang=ja-JP",
    "--force-device-scale-factor=1",
    "--window-size=1366,900",
)


def require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip)")
    if missing:
        message = f"browser tests need {', '.join(missing)}: run scripts/ensure_debian_packages.sh"
        pytest.fail(message)


class LiveServer:
    """The Flask app on werkzeug's threaded server, 127.0.0.1 and a free port."""

    def __init__(self, app: Flask) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.thread.join(5)


def chromium(download_dir: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="madoguchi-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(download_dir),
            "download.prompt_for_download": False,
            "intl.accept_languages": "ja-JP,ja",
        },
    )
    env = {**os.environ, "LANGUAGE": "ja", "LANG": "ja_JP.UTF-8", "TZ": "Asia/Tokyo"}
    from testing.children import adopt, popen_kwargs

    # chromedriver and the Chromium it starts die with the test run, even a killed one.
    service = Service(executable_path=str(CHROMEDRIVER), env=env, popen_kw=popen_kwargs())
    driver = webdriver.Chrome(service=service, options=options)
    adopt(service.process)
    driver.set_page_load_timeout(30)
    try:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def full_page_screenshot(driver: Any, path: Path, width: int = 1366) -> None:
    """The whole page at `width` CSS pixels (the window grows to the document's height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    driver.set_window_size(width, min(max(int(height) + 140, 600), 4000))
    driver.save_screenshot(str(path))
    driver.set_window_size(width, 900)
