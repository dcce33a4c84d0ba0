"""Headless Chromium through Playwright, with the distribution's browser (/usr/bin/chromium).

Playwright normally downloads its own browser builds (`playwright install`); offline that
fails, so rnnlab drives the Chromium that Debian packages (`apt-get install chromium`) instead.
Used by the browser tests and to take the documentation's screenshot.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = os.environ.get("RNNLAB_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync"]


def unavailable() -> str | None:
    """Why no browser can be driven here, or None when one can."""
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; never `playwright install`)"
    return None


@contextmanager
def chromium():
    """A launched headless Chromium (a Playwright Browser); closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page_path: str | Path, png_path: str | Path, width: int = 1280,
               height: int = 900, hover_char: int | None = None) -> None:
    """Open a page file and save a PNG of the viewport (optionally hovering a character)."""
    with chromium() as browser:
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(Path(page_path).resolve().as_uri())
        page.wait_for_selector("#main > *")
        if hover_char is not None:
            page.hover(f"#ch-{hover_char}")
        page.screenshot(path=str(png_path))
