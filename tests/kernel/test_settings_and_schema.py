"""Small units: settings, the site file, the deadline tracker, schema vs. migrations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gateway.health import DeadlineTracker
from kernel.config import load_settings
from kernel.db import Base, make_engine, migrate
from kernel.mqtt import parse_broker_url
from kernel.siteconfig import load_site_config, sample_community_path


def test_environment_overrides_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "anju.yaml"
    config.write_text("mqtt:\n  url: mqtt://file-host:1883\n  client_id: from-file\ndb:\n  url: sqlite:///x.db\n")
    monkeypatch.setenv("ANJU_MQTT__URL", "mqtt://env-host:1999")
    monkeypatch.setenv("ANJU_API__ADMIN_TOKEN", "secret")
    settings = load_settings(config)
    assert settings.mqtt.url == "mqtt://env-host:1999"
    assert settings.mqtt.client_id == "from-file"
    assert settings.api.admin_token == "secret"
    assert settings.db.url == "sqlite:///x.db"


def test_unknown_config_keys_are_errors(tmp_path: Path) -> None:
    config = tmp_path / "anju.yaml"
    config.write_text("mqtt:\n  ulr: mqtt://typo:1883\n")
    with pytest.raises(ValueError, match="ulr"):
        load_settings(config)


def test_broker_urls() -> None:
    addr = parse_broker_url("mqtts://user:p%40ss@broker.example:8884")
    assert (addr.host, addr.port, addr.tls, addr.username, addr.password) == ("broker.example", 8884, True, "user",
                                                                              "p@ss")
    assert parse_broker_url("mqtt://localhost").port == 1883
    with pytest.raises(ValueError):
        parse_broker_url("http://localhost")


def test_sample_community_is_valid() -> None:
    community = load_site_config(sample_community_path())
    kinds = {d.kind for site in community.sites for d in site.devices}
    assert kinds == {"elder_button", "access_gate", "plate_camera", "face_camera", "fence", "elevator", "water",
                     "heating"}


def test_deadline_tracker_extends_without_growing() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    tracker = DeadlineTracker()
    for i in range(1000):
        tracker.arm("a", t0 + timedelta(seconds=i))
    tracker.arm("b", t0 + timedelta(seconds=5))
    assert len(tracker._heap) <= 3
    assert tracker.due(t0 + timedelta(seconds=10)) == ["b"]
    assert tracker.due(t0 + timedelta(seconds=998)) == []
    assert tracker.due(t0 + timedelta(seconds=999)) == ["a"]
    assert tracker.due(t0 + timedelta(days=1)) == []
    tracker.arm("c", t0)
    tracker.disarm("c")
    assert tracker.due(t0 + timedelta(days=1)) == []


def test_models_match_migrations(tmp_path: Path) -> None:
    """The Alembic migrations create exactly the schema the models describe."""
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    migrate(engine)  # idempotent
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


@pytest.mark.postgres
def test_models_match_migrations_on_postgres(pg_url: str) -> None:
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []
