"""The gateway's picture reading under load and across restarts: bounded, off the processing path, never lost."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from kernel.db.models import Alert, Event, Snapshot
from kernel.timeutil import utcnow
from tests.conftest import GatewayFactory
from tests.helpers import Publisher, wait_for
from tests.vision.test_e2e import READ_TIMEOUT, _faces, _plates, camera_jpeg

pytestmark = [pytest.mark.broker]


@pytest.fixture
def publisher(mosquitto_url: str, site_id: str) -> Iterator[Publisher]:
    """On Mosquitto only: the embedded broker's path is the same for pictures as for any message (tested elsewhere)."""
    pub = Publisher(mosquitto_url, site_id)
    yield pub
    pub.close()


def _snapshots(gw, **where: object) -> list[Snapshot]:
    with gw.sessions() as session:
        stmt = select(Snapshot).order_by(Snapshot.id)
        for key, value in where.items():
            stmt = stmt.where(getattr(Snapshot, key) == value)
        return list(session.scalars(stmt))


def test_a_burst_of_pictures_never_delays_an_sos(make_gateway: GatewayFactory, mosquitto_url: str,
                                                 sqlite_url: str, publisher: Publisher) -> None:
    """20 face pictures take seconds to read; a press sent after them is an alert long before they are read."""
    photo = camera_jpeg(_faces().enrolment()["obama"])
    gw = make_gateway(mosquitto_url, sqlite_url, rules=True)
    for n in range(20):
        publisher.send("face1", "face_camera", "event", msg_id=f"burst-{n}", type="face", snapshot=photo)
    publisher.send("eb1", "elder_button", "event", type="press")

    def sos() -> bool:
        with gw.sessions() as session:
            return session.scalar(select(func.count(Alert.id)).where(Alert.rule == "elder-sos")) == 1
    wait_for(sos, 10, 0.02, "the SOS alert")
    unread = len(_snapshots(gw, task="face"))
    assert unread > 0, "every picture was already read: the burst was too small to show anything"
    assert gw.reader.pool.in_flight <= gw.settings.vision.queue_limit
    wait_for(lambda: not _snapshots(gw, task="face"), 120, 0.5, "every picture read")
    with gw.sessions() as session:
        readings = session.scalar(select(func.count(Event.id)).where(Event.data["read_by"].as_string() == "anju"))
    assert readings == 20


def test_a_full_queue_stores_the_pictures_unread_and_says_so(make_gateway: GatewayFactory, mosquitto_url: str,
                                                             sqlite_url: str, publisher: Publisher) -> None:
    photo = camera_jpeg(_plates()[0][0])
    gw = make_gateway(mosquitto_url, sqlite_url, rules=True)
    gw.reader.pool.queue_limit = 1
    for n in range(6):
        publisher.send("cam1", "plate_camera", "event", msg_id=f"full-{n}", type="plate", snapshot=photo)
    wait_for(lambda: len(_snapshots(gw)) == 6 and not _snapshots(gw, task="plate"), READ_TIMEOUT, 0.2,
             "every picture stored and its task closed")
    outcomes = [s.outcome for s in _snapshots(gw)]
    refused = [o for o in outcomes if o.startswith("not read: the recognition queue was full")]
    assert refused and len(refused) < 6, outcomes
    assert gw.metrics.total("anju_vision_pictures_total", outcome="refused") == len(refused)
    with gw.sessions() as session:  # every camera event is stored, read or not
        assert session.scalar(select(func.count(Event.id)).where(Event.msg_id.like("full-%"))) == 6


def test_pictures_left_unread_at_a_stop_are_read_at_the_next_start(make_gateway: GatewayFactory, mosquitto_url: str,
                                                                   sqlite_url: str, publisher: Publisher) -> None:
    photo, plate = _plates()[0]
    first = make_gateway(mosquitto_url, sqlite_url)
    first.reader.pool.submit = lambda *_args: True  # the gateway "stops" before the picture is read
    publisher.send("cam1", "plate_camera", "event", msg_id="before-stop", type="plate", snapshot=camera_jpeg(photo))
    wait_for(lambda: _snapshots(first, task="plate"), 10, 0.05, "the picture stored, unread")
    first.stop(drain_seconds=1)

    second = make_gateway(mosquitto_url, sqlite_url, mqtt={"client_id": "anju-test-second"})

    def reading() -> list[Event]:
        with second.sessions() as session:
            return list(session.scalars(select(Event).where(Event.data["read_by"].as_string() == "anju")))
    events = wait_for(reading, READ_TIMEOUT, 0.2, "the reading after the restart")
    assert [e.data["plate"] for e in events] == [plate] and events[0].data["source_msg_id"] == "before-stop"
    assert not _snapshots(second, task="plate")


def test_pictures_expire_after_the_retention_and_the_events_stay(make_gateway: GatewayFactory, mosquitto_url: str,
                                                                 sqlite_url: str, publisher: Publisher) -> None:
    gw = make_gateway(mosquitto_url, sqlite_url, vision={"enabled": False})
    publisher.send("cam1", "plate_camera", "event", msg_id="old", type="plate", plate="川A12345",
                   snapshot=base64.b64encode(b"\xff\xd8\xff not really a jpeg").decode())
    publisher.send("cam1", "plate_camera", "event", msg_id="bad", type="plate", snapshot="not base64!")
    kept = wait_for(lambda: _snapshots(gw), 10, 0.05, "the picture stored")
    assert kept[0].task is None  # the camera read the plate itself: nothing for the gateway to read
    with gw.sessions() as session:
        bad = wait_for(lambda: session.scalars(select(Event).where(Event.msg_id == "bad")).one_or_none(), 10)
        assert bad.data["snapshot_error"] == "the snapshot is not base64" and "snapshot" not in bad.data
    gw._prune(utcnow() + timedelta(days=gw.settings.privacy.snapshot_retention_days, minutes=1))
    assert not _snapshots(gw)
    with gw.sessions() as session:
        event = session.scalars(select(Event).where(Event.msg_id == "old")).one()
        assert event.data["plate"] == "川A12345" and event.data["snapshot_id"] == kept[0].id
