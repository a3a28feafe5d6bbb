"""Shared fixtures: real brokers (Mosquitto and the embedded one) and real databases (SQLite, PostgreSQL).

Outside CI a missing Mosquitto or PostgreSQL skips its tests with the reason;
under CI=true it fails them, so CI can never pass by silently skipping them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from alerting.engine import RuleEngine
from anju.runtime import Runtime, presenter
from api.app import create_app
from gateway.embedded_broker import EmbeddedBroker
from gateway.service import Gateway
from kernel.config import Settings, load_settings
from kernel.db import make_engine, migrate, session_factory
from kernel.mqtt import forget_session
from patrol.rounds import RoundKeeper
from tests.helpers import ApiServer, Publisher, clear_retained, make_site
from tools.bench.mosquitto import ManagedMosquitto, free_port

MQTT_URL = os.environ.get("ANJU_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
PG_URL = os.environ.get("ANJU_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
VM_URL = os.environ.get("ANJU_TEST_VM_URL", "http://127.0.0.1:8428")
IN_CI = os.environ.get("CI", "").lower() == "true"


AREAS = ("kernel", "devices", "gateway", "rules", "alerting", "patrol", "office", "simulators", "vision", "api",
         "tools", "app")
"""The test folders, mirroring the source tree; each is a marker (`pytest -m rules` runs one room)."""
TESTS_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        area = item.path.relative_to(TESTS_DIR).parts[0] if item.path.is_relative_to(TESTS_DIR) else None
        if area in AREAS:
            item.add_marker(getattr(pytest.mark, area))


def unavailable(what: str) -> None:
    """Skip locally, fail on CI: a CI run must never pass by not running the real-service tests."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true: the real-service tests must run)", pytrace=False)
    pytest.skip(what)


def tcp_reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


# -- brokers ---------------------------------------------------------------------------------------


def reachable_or_unavailable(url: str, default_port: int, what: str) -> str:
    parts = urlsplit(url)
    if not tcp_reachable(parts.hostname or "127.0.0.1", parts.port or default_port):
        unavailable(what)
    return url


@pytest.fixture(scope="session")
def mosquitto_url() -> str:
    return reachable_or_unavailable(MQTT_URL, 1883,
                                    f"no MQTT broker at {MQTT_URL} (start Mosquitto or set ANJU_TEST_MQTT_URL)")


@pytest.fixture(scope="session")
def embedded_broker_url() -> Iterator[str]:
    broker = EmbeddedBroker("127.0.0.1", free_port())
    broker.start()
    yield broker.url
    broker.stop()


@pytest.fixture(params=["mosquitto", "embedded"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs on both brokers."""
    return request.getfixturevalue("mosquitto_url" if request.param == "mosquitto" else "embedded_broker_url")


# -- databases -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database; each test gets a fast copy of it."""
    url = make_url(PG_URL)
    if not tcp_reachable(url.host or "127.0.0.1", url.port or 5432):
        unavailable(f"no PostgreSQL at {PG_URL} (start it or set ANJU_TEST_PG_URL)")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"anju_tpl_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(url.set(database=name).render_as_string(hide_password=False))
    migrate(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    url = make_url(PG_URL)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"anju_t_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'anju.db'}"


@pytest.fixture
def sqlite_sessions(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on a fresh, migrated SQLite file, for tests of the database layer without a gateway."""
    engine = make_engine(sqlite_url)
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs on both databases."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture(scope="session")
def vm_url() -> str:
    """VictoriaMetrics (InfluxDB's /api/v2/write and line protocol): the InfluxDB reading store's real server."""
    return reachable_or_unavailable(VM_URL, 8428,
                                    f"no VictoriaMetrics at {VM_URL} (start it, see .ci/run, or set ANJU_TEST_VM_URL)")


# -- gateways --------------------------------------------------------------------------------------


@pytest.fixture
def site_id() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def own_mosquitto() -> Iterator[ManagedMosquitto]:
    """A private Mosquitto (persistence on) for tests that restart, configure or load their broker."""
    if not ManagedMosquitto.available():
        unavailable("mosquitto is not installed (apt-get install mosquitto)")
    broker = ManagedMosquitto(persistence=True)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def site_file(tmp_path: Path, site_id: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(make_site(site_id), allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def publisher(broker_url: str, site_id: str) -> Iterator[Publisher]:
    pub = Publisher(broker_url, site_id)
    yield pub
    pub.close()
    clear_retained(broker_url, site_id)


GatewayFactory = Callable[..., Gateway]


def build_gateway(broker: str, db: str, site_file: Path, mqtt: dict, rules: bool | list[str] | RuleEngine = False,
                  api: dict | None = None, health: dict | None = None, vision: dict | None = None,
                  notifications: dict | None = None, **gateway: object) -> Gateway:
    """A gateway (not started) for tests: fast watchdog, the test's site file, optional rules."""
    url = broker.replace("mqtt://", "mqtt://anju-gateway@") if "@" not in broker else broker
    settings: Settings = load_settings(
        mqtt={"url": url, **mqtt},
        db={"url": db},
        site_file=str(site_file),
        gateway={"watchdog_interval": 0.1, **gateway},
        api=api or {},
        health=health or {},
        vision=vision or {},
        notifications=notifications or {},
    )
    gw = Gateway(settings)
    if isinstance(rules, RuleEngine):
        rules.attach(gw)
        RoundKeeper(rules).attach(gw)  # patrol rounds, as `anju.runtime` attaches them
    elif rules:  # True: the built-in rule pack, as `anju serve` runs it; or a list of rule files
        engine = RuleEngine.from_files(rules if isinstance(rules, list) else None)
        engine.attach(gw)
        RoundKeeper(engine).attach(gw)
    return gw


@pytest.fixture
def make_gateway(site_file: Path) -> Iterator[GatewayFactory]:
    """Build and start gateways; each test gets its own MQTT client id, so sessions never mix.

    `mqtt={...}` overrides MQTT settings (protocol, shared_group, a second worker's client_id).
    """
    started: list[Gateway] = []
    sessions: set[tuple[str, str]] = set()
    default_client_id = f"anju-test-{uuid.uuid4().hex[:8]}"

    def factory(broker: str, db: str, start: bool = True, mqtt: dict | None = None,
                rules: bool | list[str] | RuleEngine = False, api: dict | None = None, health: dict | None = None,
                vision: dict | None = None, notifications: dict | None = None, **gateway: object) -> Gateway:
        gw = build_gateway(broker, db, site_file, {"client_id": default_client_id, **(mqtt or {})}, rules, api,
                           health, vision, notifications, **gateway)
        url, client_id = gw.settings.mqtt.url, gw.settings.mqtt.client_id
        sessions.add((url, client_id))
        started.append(gw)  # also when the test starts it itself (start=False, then gw.start())
        if start:
            gw.start()
            assert gw.wait_connected(10), f"gateway could not connect to {broker}"
        return gw

    yield factory
    for gw in started:
        if gw._threads:  # started, by the factory or by the test: a leaked gateway would raise alerts later
            gw.stop(drain_seconds=1)
        gw.engine.dispose()
    for url, client_id in sessions:
        forget_session(url, client_id)


# -- the API ---------------------------------------------------------------------------------------

ADMIN_TOKEN = "test-admin-token-0123456789"


@contextlib.contextmanager
def serving_api(broker: str, db: str, site_file: Path, notifications: dict | None = None,
                **api_settings: object) -> Iterator[ApiServer]:
    """A gateway with the built-in rules on its own MQTT session, and the API on a real uvicorn, for a `with`;
    `api_settings` adds to the `api` section, `notifications` is that section."""
    client_id = f"anju-test-{uuid.uuid4().hex[:8]}"
    engine = RuleEngine.from_files(None)
    gw = build_gateway(broker, db, site_file, {"client_id": client_id}, engine,
                       {"admin_token": ADMIN_TOKEN, **api_settings}, notifications=notifications)
    engine.present = presenter(gw)  # as `anju serve` wires it (anju.runtime)
    gw.start()
    assert gw.wait_connected(10), f"gateway could not connect to {broker}"
    server = ApiServer(create_app(Runtime(gw, engine)), ADMIN_TOKEN)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        gw.stop(drain_seconds=1)
        gw.engine.dispose()
        forget_session(gw.settings.mqtt.url, client_id)


@pytest.fixture
def inprocess_gateway(db_url: str, site_file: Path, mosquitto_url: str) -> Iterator[Gateway]:
    """A gateway with the built-in rules, migrated and loaded but not started: tests drive its pipeline directly."""
    gw = build_gateway(mosquitto_url, db_url, site_file, {"client_id": f"inproc-{uuid.uuid4().hex[:8]}"}, True,
                       vision={"enabled": False})
    gw.prepare_database()
    yield gw
    gw.engine.dispose()


@pytest.fixture
def make_api(site_file: Path) -> Iterator[Callable[..., ApiServer]]:
    """A gateway with the built-in rules and the API in front of it (the test's site), stopped after the test."""
    with contextlib.ExitStack() as stack:
        yield lambda broker, db: stack.enter_context(serving_api(broker, db, site_file))
