"""Faults on the real path: the gateway killed with SIGKILL in the middle of a stream of SOS presses.

The gateway runs as `anju serve` in its own process, so the kill is a real one
(no `finally`, no drain, no flush): what survives is what the design guarantees
(acknowledge after commit, persistent session, dedup by `msg_id`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, make_url, select

from anju.bench.mosquitto import free_port
from anju.db import make_engine, session_factory
from anju.db.models import Alert, Event
from anju.mqtt import forget_session
from tests.conftest import GatewayFactory
from tests.helpers import Publisher, TcpProxy, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(240)]
PRESSES = 1000


class GatewayProcess:
    """`anju serve` in a child process, on the test's broker, database and site file."""

    def __init__(self, broker: str, db: str, site_file: Path, client_id: str, log: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, "ANJU_MQTT__URL": broker, "ANJU_MQTT__CLIENT_ID": client_id, "ANJU_DB__URL": db,
                    "ANJU_SITE_FILE": str(site_file), "ANJU_API__PORT": str(self.port), "ANJU_LOG_LEVEL": "WARNING",
                    "ANJU_VISION__ENABLED": "false"}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "anju.cli", "serve"], env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT)
        wait_for(self._connected, 30, 0.1, f"the gateway process connected (log: {self.log})")

    def _connected(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log.read_text(errors="replace")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).json()["mqtt_connected"]
        except (httpx.HTTPError, ValueError, KeyError):
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()


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
