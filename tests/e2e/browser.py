"""Headless Chromium from Debian, driven through Debian's chromedriver (no browser downloads).

Every journey gets a fresh browser profile (no cookie survives from one journey to the next) and
a folder of numbered screenshots under ``build/e2e/screenshots/<journey>/``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.e2e.engine import BUILD, require

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = BUILD / "screenshots"


def browser_available() -> tuple[bool, str]:
    """Whether the tier can drive a browser here, and what is missing otherwise."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    try:
        import selenium  # noqa: F401 (only whether it is installed)
    except ImportError:
        missing.append("the selenium package (requirements-dev.txt)")
    return (not missing, ", ".join(missing))


class Browser:
    """One headless Chromium session with the steps of one journey."""

    def __init__(self, journey: str) -> None:
        ok, missing = browser_available()
        require(f"a browser ({missing})", ok, "apt-get install chromium chromium-driver; make test")
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        self._profile = tempfile.mkdtemp(prefix="minio-platform-chromium-")
        for argument in (
            "--headless=new",
            "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            f"--user-data-dir={self._profile}",
            "--no-first-run",
            "--disable-background-networking",
        ):
            options.add_argument(argument)
        # The network log: the URL a redirect carried (an OAuth code), even once the page moved on.
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(30)
        self.folder = SCREENSHOTS / journey
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.steps: list[Path] = []

    def shot(self, step: str) -> Path:
        path = self.folder / f"{len(self.steps) + 1:02d}-{step}.png"
        self.driver.save_screenshot(str(path))
        self.steps.append(path)
        return path

    def open(self, url: str) -> None:
        self.driver.get(url)

    @property
    def url(self) -> str:
        return self.driver.current_url

    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.TAG_NAME, "body").text

    def wait(self, what: str, condition: Callable[[], object], seconds: float = 30) -> object:
        """Poll ``condition`` until it returns something truthy; fail naming ``what`` (with a shot)."""
        deadline = time.monotonic() + seconds
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                found = condition()
                if found:
                    return found
            except Exception as err:  # a page in transition raises many kinds
                last_error = err
            time.sleep(0.25)
        self.shot(f"timeout-{what.replace(' ', '-')}")
        raise AssertionError(f"waited {seconds:.0f} s for {what} at {self.url}: {last_error or 'not yet'}")

    def requested_urls(self) -> list[str]:
        """Every URL the page requested since the last call (from Chromium's network log)."""
        import json

        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls

    def find(self, css: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def button(self, label: str):
        """The visible button (or link acting as one) whose text is ``label``."""
        from selenium.webdriver.common.by import By

        for element in self.driver.find_elements(By.XPATH, "//button|//a|//*[@role='button']"):
            if element.is_displayed() and element.text.strip() == label:
                return element
        return None

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
