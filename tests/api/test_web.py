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


def test_wrong_tokens_are_rate_limited_per_address(make_api: Callable[..., ApiServer], mosquitto_url: str,
                                                   sqlite_url: str) -> None:
    """30 wrong tokens a minute from one address, then 429 with Retry-After, even for a valid one (api/ratelimit.py)."""
    api = make_api(mosquitto_url, sqlite_url)
    good = api.token("maintenance")
    with httpx.Client(base_url=api.url + "/api/v1") as http:
        codes = [http.get("/alerts", headers={"Authorization": f"Bearer wrong-{n}"}).status_code for n in range(30)]
        assert set(codes) == {401}
        limited = http.get("/alerts", headers={"Authorization": f"Bearer {good}"})
        assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 61
        assert http.get("/alerts").status_code == 401  # no token at all is not a guess: still a plain 401
    api.services.failed_auth.per_minute = 0  # the limit is a setting (api.auth_failures_per_minute; 0: none)
    with api.client(good) as http:
        assert http.get("/alerts").status_code == 200
