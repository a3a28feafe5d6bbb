"""Schemathesis over the whole OpenAPI document: hostile and random input never gets a 5xx or an off-schema answer.

Runs as the admin (who may call every route) against the real server on a real
gateway, so what is checked is what production serves.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from schemathesis.openapi import checks as _openapi_checks  # noqa: F401 - registers the OpenAPI checks

from tests.conftest import serving_api
from tests.helpers import ApiServer, make_site

pytestmark = [pytest.mark.broker, pytest.mark.timeout(600)]
EXAMPLES = 15
PROTOCOL_REFUSAL = b"Invalid HTTP request received."
"""uvicorn's answer (text/plain) to a request its HTTP parser refuses: the server's, never the app's."""

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory, mosquitto_url: str) -> Iterator[ApiServer]:
    """One gateway and API for the whole module (a server per operation would cost a minute)."""
    folder = tmp_path_factory.mktemp("schemathesis")
    site_file = folder / "site.yaml"
    site_file.write_text(yaml.safe_dump(make_site(f"t{uuid.uuid4().hex[:10]}"), allow_unicode=True), "utf-8")
    with serving_api(mosquitto_url, f"sqlite:///{folder / 'anju.db'}", site_file) as server:
        yield server


def test_no_server_errors_and_answers_match_the_schema(api_server: ApiServer) -> None:
    """Every operation with generated input, valid and not: all failures are collected, then reported together."""
    schema = schemathesis.openapi.from_url(api_server.url + "/openapi.json")
    headers = {"Authorization": f"Bearer {api_server.admin_token}"}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            @given(case=operation.as_strategy(generation_mode=mode))
            def exercise(case: schemathesis.Case) -> None:
                response = case.call(headers=headers)
                if response.status_code == 400 and response.content == PROTOCOL_REFUSAL:
                    return  # generated headers no HTTP parser takes (`Content-Length: ?.H`): refused before the app
                case.validate_response(response, checks=CHECKS)

            try:
                exercise()
            except Unsatisfiable:  # nothing in this operation can be made invalid (no parameters, no body)
                continue
            except Exception as exc:  # noqa: BLE001 - collected: one report for every operation
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
