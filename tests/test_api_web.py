"""What a browser gets: the console and the API docs served offline, with security headers, and no open CORS."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from tests.helpers import ApiServer

pytestmark = [pytest.mark.broker]


def test_console_docs_and_headers(make_api: Callable[..., ApiServer], mosquitto_url: str, sqlite_url: str) -> None:
    api = make_api(mosquitto_url, sqlite_url)
    with httpx.Client(base_url=api.url, timeout=10) as web:
        root = web.get("/", follow_redirects=True)
        assert root.status_code == 200 and root.url.path == "/console/" and "text/html" in root.headers["content-type"]
        csp = root.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "unsafe-inline" not in csp
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", root.text), "the console loads nothing from elsewhere"

        docs = web.get("/docs")
        assert docs.status_code == 200 and "/docs/static/swagger-ui-bundle.js" in docs.text
        assert web.get("/docs/static/swagger-ui-bundle.js").status_code == 200  # shipped, not from a CDN
        assert web.get("/openapi.json").json()["info"]["title"] == "Anju"

        refused = web.get("/api/v1/alerts", headers={"Origin": "https://evil.example"})
        assert refused.status_code == 401
        assert refused.headers["x-content-type-options"] == "nosniff"
        assert refused.headers["x-frame-options"] == "DENY"
        assert "access-control-allow-origin" not in refused.headers
        assert web.get("/healthz").status_code == 200  # the one route without a token
