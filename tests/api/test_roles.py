"""Every route with every role: the role table in docs/api.md is what the code enforces.

Walks the application's routes rather than a hand-kept list, so a new route
without a permission, or one missing from the docs, fails here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from api.auth import ROLE_PERMISSIONS, Permission, Role
from tests.helpers import ApiServer

pytestmark = [pytest.mark.broker]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
PUBLIC = {("GET", "/healthz"), ("POST", "/api/v1/login"),  # a one-time login code is the credential there
          ("GET", "/n/{token}"), ("GET", "/api/v1/notify/link/{token}")}  # and a signed, expiring link here


def route_permission(route: APIRoute) -> Permission | None:
    for dep in route.dependant.dependencies:
        permission = getattr(dep.call, "permission", None)
        if permission is not None:
            return permission
    return None


def api_routes(app: Any) -> list[tuple[str, str, Permission | None]]:
    """(method, full path, permission) of every documented route, checked against the app's OpenAPI paths."""
    from api.app import ROUTERS
    from api.routers import health, notify

    found = []
    for prefix, router in [("/api/v1", r) for r in ROUTERS] + [("", health.router), ("", notify.links_router)]:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.include_in_schema:
                methods = sorted(route.methods - {"HEAD"})
                found.extend((m, prefix + route.path, route_permission(route)) for m in methods)
    published = {(m.upper(), path) for path, ops in app.openapi()["paths"].items() for m in ops}
    assert {(m, p) for m, p, _ in found} == published
    return found


def test_docs_role_table_matches_the_code() -> None:
    text = DOCS.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z:]+)` \|(.+)\|\s*$", text, flags=re.M)
    documented = {}
    for permission, cells in rows:
        marks = [c.strip() for c in cells.split("|")][:len(Role)]
        documented[permission] = {role for role, mark in zip(Role, marks, strict=True) if mark == "✓"}
    actual = {p.value: {r for r in Role if p in ROLE_PERMISSIONS[r]} for p in Permission}
    assert documented == actual


def test_every_route_checks_a_permission_and_is_documented(make_api: Callable[..., ApiServer], mosquitto_url: str,
                                                           sqlite_url: str) -> None:
    api = make_api(mosquitto_url, sqlite_url)
    docs = DOCS.read_text(encoding="utf-8")
    for method, path, permission in api_routes(api.app):
        assert permission is not None or (method, path) in PUBLIC, f"{method} {path} has no permission check"
        assert f"`{method} {path}`" in docs, f"{method} {path} is not in docs/api.md"


def test_every_route_with_every_role(make_api: Callable[..., ApiServer], mosquitto_url: str, sqlite_url: str) -> None:
    """403 exactly where the role lacks the route's permission; never 401 with a valid token; 401 without one."""
    api = make_api(mosquitto_url, sqlite_url)
    tokens = {role: api.token(role.value, **({"grids": ["g1"]} if role is Role.PATROL else {})) for role in Role}
    routes = [(m, p, perm) for m, p, perm in api_routes(api.app) if perm is not None]
    assert len(routes) >= 10
    with api.client() as anonymous:
        for method, path, _ in routes:
            url = re.sub(r"\{[^}]+\}", "x1", path.removeprefix("/api/v1"))
            assert anonymous.request(method, url).status_code == 401, f"{method} {path} without a token"
    for role, token in tokens.items():
        with api.client(token) as client:
            for method, path, permission in routes:
                url = re.sub(r"\{[^}]+\}", "x1", path.removeprefix("/api/v1"))
                # A body that cannot be valid: a permitted caller gets past the role check to a 404/422.
                status = client.request(method, url, json={"__": 1} if method in ("POST", "PUT", "PATCH") else None)
                allowed = permission in ROLE_PERMISSIONS[role]
                assert (status.status_code == 403) is not allowed, \
                    f"{role} {method} {path}: {status.status_code} {status.text[:200]}"
                assert status.status_code != 401 and status.status_code < 500, \
                    f"{role} {method} {path}: {status.status_code} {status.text[:200]}"
