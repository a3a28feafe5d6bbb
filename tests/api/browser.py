"""What the console's browser tests share: Debian's Chromium, how to launch it, log in, and take screenshots.

Screenshots go to the folder named by ANJU_SCREENSHOTS (the ones in docs/screenshots came from there).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from tests.helpers import ApiServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]
SCREENSHOTS = os.environ.get("ANJU_SCREENSHOTS")


def login(page: Any, api: ApiServer, token: str) -> None:
    page.goto(api.url + "/")
    page.get_by_test_id("login-token").fill(token)
    page.get_by_test_id("login-submit").click()


def shoot(page: Any, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=False)
