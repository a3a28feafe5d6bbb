"""Faults on the real path: the gateway killed with SIGKILL in the middle of a stream of SOS presses.

The gateway runs as `anju serve` in its own process, so the kill is a real one
(no `finally`, no drain, no flush): what survives is what the design guarantees
(acknowledge after commit, persistent session, dedup by `msg_id`).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, make_url, select
from websockets.exceptions import ConnectionClosed

from kernel.db import make_engine, session_factory
from kernel.db.models import Alert, Event
from kernel.mqtt import forget_session
from tests.conftest import GatewayFactory, unavailable
from tests.helpers import ApiServer, GatewayProcess, Publisher, TcpProxy, wait_for
from tools.bench.mosquitto import ManagedMosquitto

pytestmark = [pytest.mark.broker, pytest.mark.timeout(240)]
PRESSES = 1000


@pytest.fixture
def client_id(mosquitto_url: str) -> Iterator[str]:
    value = f"anju-kill-{uuid.uuid4().hex[:8]}"
    yield value
    forget_session(mosquitto_url, value)


def test_sigkill_in_the_middle_of_1000_presses_loses_none_and_doubles_none(
        mosquitto_url: str, db_url: str, site_file: Path, site_id: str, client_id: str, tmp_path: Path) -> None:
    gateway = GatewayProcess(mosquitto_url, db_url, site_file, client_id, tmp_path / "gateway.log")
    engine = make_engine(db_url)
    sessions = session_factory(engine)

    def stored() -> int:
        with sessions() as session:
            return session.scalar(select(func.count(Event.id)).where(Event.type == "press")) or 0

    publisher = Publisher(mosquitto_url, site_id)
    sent: list[str] = []

    def press_all() -> None:
        for n in range(PRESSES):
            sent.append(publisher.send("eb1", "elder_button", "event", msg_id=f"press-{n:04d}", type="press"))

    try:
        gateway.start()
        presses = threading.Thread(target=press_all, daemon=True)
        presses.start()
        wait_for(lambda: stored() >= PRESSES // 4, 60, 0.01, "a quarter of the presses stored")
        gateway.kill()  # mid-stream: batches in flight, acknowledgements not yet sent
        at_kill = stored()
        presses.join(60)
        assert len(sent) == PRESSES and at_kill < PRESSES, f"the kill came too late ({at_kill} stored)"

        gateway.start()  # the broker delivers what was unacknowledged or queued while it was down
        wait_for(lambda: stored() >= PRESSES, 120, 0.2, f"all {PRESSES} presses stored after the restart")
    finally:
        publisher.close()
        gateway.stop()

    with sessions() as session:
        ids = session.scalars(select(Event.msg_id).where(Event.type == "press")).all()
        alerts = session.execute(select(Alert.rule, Alert.count).where(Alert.rule == "elder-sos")).all()
    engine.dispose()
    assert len(ids) == PRESSES and set(ids) == set(sent), "a press was lost or stored twice"
    # Every press reached the SOS rule exactly once: repeats while the alert is open are counted into it.
    assert sum(count for _rule, count in alerts) == PRESSES, alerts


def test_database_outage_keeps_every_press_and_recovers_by_itself(
        make_gateway: GatewayFactory, mosquitto_url: str, pg_url: str, site_id: str) -> None:
    """PostgreSQL unreachable for a while in the middle of 300 presses: the gateway keeps the batch (nothing is
    acknowledged to the broker until it is stored), retries, and after the outage stores every press once."""
    url = make_url(pg_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    gw = make_gateway(mosquitto_url, through_proxy, rules=True)
    direct = session_factory(make_engine(pg_url))

    def stored() -> int:
        with direct() as session:
            return session.scalar(select(func.count(Event.id)).where(Event.type == "press")) or 0

    publisher = Publisher(mosquitto_url, site_id)
    try:
        for n in range(100):
            publisher.send("eb1", "elder_button", "event", msg_id=f"p-{n:03d}", type="press")
        wait_for(lambda: stored() == 100, 30, 0.05, "the first 100 presses stored")
        proxy.cut()
        for n in range(100, 300):
            publisher.send("eb1", "elder_button", "event", msg_id=f"p-{n:03d}", type="press")
        time.sleep(3)  # the outage lasts: batches fail and are retried with back-off
        assert stored() == 100
        proxy.restore()
        wait_for(lambda: stored() == 300, 60, 0.2, "every press stored after the outage")
    finally:
        publisher.close()
        proxy.close()
    with direct() as session:
        ids = session.scalars(select(Event.msg_id).where(Event.type == "press")).all()
        counted = session.scalar(select(func.sum(Alert.count)).where(Alert.rule == "elder-sos"))
    assert sorted(ids) == [f"p-{n:03d}" for n in range(300)] and counted == 300
    assert gw.hub.connected.is_set()


def test_a_client_that_stops_reading_the_stream_never_slows_ingest(
        make_api: Callable[..., ApiServer], own_mosquitto: ManagedMosquitto, sqlite_url: str, site_id: str) -> None:
    """A patrol phone that stops reading (a tiny receive buffer, not drained) while 2,000 presses make 2,000
    alert changes: every press is stored and a reading client gets every change, in order. When the stuck
    client reads again it gets the changes in order without a gap, or, if its queue overflowed meanwhile, a
    close with 1013 (it resumes with `since=`). (Which of the two depends on how much the kernel's buffers
    hold; the overflow itself is tested on the hub, tests/api/test_alert_stream.py.) The broker is one configured
    for load: a default Mosquitto queues 1,000 messages for a busy subscriber and drops the rest."""
    mosquitto_url = own_mosquitto.url
    import socket

    from websockets.sync.client import connect

    total = 2000

    api = make_api(mosquitto_url, sqlite_url)
    patrol = api.token("patrol", grids=["g1"])
    stuck_sock = socket.socket()
    stuck_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck_sock.connect(("127.0.0.1", int(api.url.rsplit(":", 1)[1])))
    stuck = connect(api.ws_url("/alerts/stream", patrol), sock=stuck_sock)
    reader = connect(api.ws_url("/alerts/stream", patrol))
    hello = json.loads(reader.recv(timeout=5))
    changes: list[int] = []

    def read() -> None:
        with contextlib.suppress(Exception):
            while len(changes) < total:
                frame = json.loads(reader.recv(timeout=30))
                if frame["type"] == "change":
                    changes.append(frame["seq"])
    reading = threading.Thread(target=read, daemon=True)
    reading.start()
    publisher = Publisher(mosquitto_url, site_id)
    try:
        for n in range(total):
            publisher.send("eb1", "elder_button", "event", msg_id=f"s-{n:04d}", type="press")

        def stored() -> int:
            with api.services.sessions() as session:
                return session.scalar(select(func.count(Event.id)).where(Event.type == "press")) or 0
        wait_for(lambda: stored() == total, 60, 0.1, "every press stored while a client is stuck")
        reading.join(30)
        assert len(changes) == total and changes == sorted(changes) and changes[0] > hello["seq"]
        got: list[int] = []
        try:
            while len(got) < total:
                frame = json.loads(stuck.recv(timeout=10))
                if frame["type"] == "change":
                    got.append(frame["seq"])
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1013
        assert got == changes[:len(got)]
    finally:
        publisher.close()
        reader.close()
        stuck.close()


def test_broker_restart_under_load_loses_nothing_the_broker_kept(
        make_gateway: GatewayFactory, sqlite_url: str, site_id: str) -> None:
    """1,000 QoS 1 presses acknowledged by the broker, then the broker restarted (with its persistence) while
    the gateway is still working through them: every press is stored once after the gateway reconnects."""
    if not ManagedMosquitto.available():
        unavailable("mosquitto is not installed (apt-get install mosquitto)")
    broker = ManagedMosquitto(persistence=True)
    broker.start()
    try:
        gw = make_gateway(broker.url, sqlite_url, rules=True)
        publisher = Publisher(broker.url, site_id)
        try:  # each send waits for the broker's acknowledgement: the broker holds all 1,000 after this loop
            sent = [publisher.send("eb1", "elder_button", "event", msg_id=f"r-{n:04d}", type="press")
                    for n in range(PRESSES)]
        finally:
            publisher.close()
        with gw.sessions() as session:
            at_restart = session.scalar(select(func.count(Event.id)).where(Event.type == "press"))
        broker.stop()  # graceful: Mosquitto writes the gateway's session, with what it has not yet delivered
        # Without a written file the restart starts from nothing and this test would prove nothing (it once
        # ran so: Mosquitto started as root drops to its own user, which could not write the directory).
        assert (broker.workdir / "mosquitto.db").exists(), "Mosquitto did not save its persistence file"
        broker.start()
        assert gw.wait_connected(40), "the gateway did not reconnect"

        def stored() -> list[str]:
            with gw.sessions() as session:
                return list(session.scalars(select(Event.msg_id).where(Event.type == "press")))
        try:
            ids = wait_for(lambda: (got := stored()) and len(got) >= PRESSES and got, 20, 0.2, "every press stored")
        except AssertionError:
            got = stored()
            missing = sorted(set(sent) - set(got))
            raise AssertionError(f"{at_restart} stored at the restart, {len(got)} now; "
                                 f"missing {len(missing)}: {missing[:5]}") from None
        assert sorted(ids) == sent and at_restart < PRESSES, f"{at_restart} stored before the restart"
        with gw.sessions() as session:
            assert session.scalar(select(func.sum(Alert.count)).where(Alert.rule == "elder-sos")) == PRESSES
    finally:
        broker.stop()
