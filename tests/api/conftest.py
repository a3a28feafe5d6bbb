"""The `browser` fixture of the console's browser tests (tests/api/browser.py has the rest)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.browser import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import unavailable


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (a test tool's own browser download fails offline)."""
    if not Path(CHROMIUM).exists():
        unavailable("no Chromium at /usr/bin/chromium (Debian package `chromium`; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()
