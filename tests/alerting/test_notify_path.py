"""The whole path: a simulated elder's press → Mosquitto → gateway → rules → alert → outbox → sender → a local
webhook, as the on-duty patrol member's and the family's would receive it; and the outbox's promises on
PostgreSQL: a kill -9 loses nothing, three sender processes send each notification once.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from alerting.alerts import raise_alert
from alerting.notifications import links
from kernel.db import make_engine, session_factory
from kernel.db.models import AlertHistory, Notification
from kernel.siteconfig import sample_community_path
from kernel.timeutil import utcnow
from rules.alertspec import AlertSpec
from simulators import run_simulation
from tests.conftest import GatewayFactory
from tests.helpers import Publisher, clear_retained, wait_for
from tools.bench.mosquitto import free_port
from tools.bench.processes import AnjuProcess, wait_ready
from tools.webhook import Received, WebhookReceiver

SITE = "hexie"
BUTTON = "eb-01-2-402"


LINK_SECRET = "path-test-link-secret"


def alert_of(request: Received) -> int:
    """The alert a notification is about, from its one-tap link."""
    link = next(w for w in request.json()["message"].split() if links.SHORT_PATH in w)
    opened = links.read_short(LINK_SECRET.encode(), link.rsplit("/", 1)[-1], utcnow())
    assert isinstance(opened, links.Opened), opened
    return opened.alert


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def site_file(tmp_path: Path, hook: WebhookReceiver) -> Path:
    """The sample community, with grid g1's patrol team on a webhook and the family of 1号楼2单元402 on another."""
    community = yaml.safe_load(sample_community_path().read_text(encoding="utf-8"))
    site = community["sites"][0]
    site["teams"] = [{"id": "g1-patrol", "name": "第一网格巡防队",
                      "members": [{"name": "张建国", "phone": "139-0000-0001", "notify": [hook.url("/patrol")]}]}]
    site["grids"][0]["team"] = "g1-patrol"
    button = next(d for d in site["devices"] if d["id"] == BUTTON)
    button["attributes"]["family"][0]["notify"] = [hook.url("/family")]
    path = tmp_path / "hexie.yaml"
    path.write_text(yaml.safe_dump(community, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.broker
def test_a_simulated_press_reaches_the_patrol_member_and_the_family(
        make_gateway: GatewayFactory, mosquitto_url: str, db_url: str, site_file: Path,
        hook: WebhookReceiver) -> None:
    clear_retained(mosquitto_url, SITE)
    gw = make_gateway(mosquitto_url, db_url, rules=True,
                      notifications={"workers": 2, "poll_seconds": 0.2, "public_url": "https://anju.example",
                                     "link_secret": LINK_SECRET})
    stop = threading.Event()
    sim = threading.Thread(target=run_simulation, args=(mosquitto_url,), daemon=True,
                           kwargs={"scenario": "rule-elder-sos", "speed": 400.0, "site_file": str(site_file),
                                   "stop_event": stop})
    sim.start()
    try:
        patrol = hook.wait(1, 15, lambda r: r.path == "/patrol")
        family = hook.wait(1, 5, lambda r: r.path == "/family")
    finally:
        stop.set()
        sim.join(20)
        clear_retained(mosquitto_url, SITE)
    assert patrol and family, f"received: {[r.path for r in hook.received]}"
    message = patrol[0].json()
    assert message["type"] == "failure" and "一键呼救" in message["title"]
    for part in ("1号院 1号楼 2单元 402", "于金凤", "于杰 (儿子) 186-0000-1001", "https://anju.example/n/"):
        assert part in message["message"], (part, message["message"])
    assert "于金凤" in family[0].json()["message"]
    alert_id = alert_of(patrol[0])

    def delivered() -> list[str | None]:
        with gw.sessions() as session:
            notes = list(session.scalars(select(AlertHistory.note).where(
                AlertHistory.alert_id == alert_id, AlertHistory.action == "notification_delivered")))
        return notes if len(notes) >= 2 else []

    steps = wait_for(delivered, timeout=5, what="two deliveries in the alert's history")
    assert any("张建国" in (s or "") for s in steps) and any("于杰" in (s or "") for s in steps), steps
    with gw.sessions() as session:
        rows = session.scalars(select(Notification).where(Notification.alert_id == alert_id)).all()
    assert {(r.recipient, r.state) for r in rows} >= {("张建国", "delivered"), ("于杰 (儿子)", "delivered")}
    assert not any(r.target.startswith("sms:") for r in rows), "no SMS provider here: phones are not queued"


# -- the outbox's promises, across processes, on PostgreSQL --------------------------------------------------


def sender_env(pg_url: str, **settings: str) -> dict[str, str]:
    env = {"ANJU_DB__URL": pg_url, "ANJU_LOG_LEVEL": "INFO", "ANJU_NOTIFICATIONS__POLL_SECONDS": "0.1",
           "ANJU_NOTIFICATIONS__LINK_SECRET": LINK_SECRET}
    env.update({f"ANJU_NOTIFICATIONS__{k.upper()}": v for k, v in settings.items()})
    return env


def queue_alerts(pg_url: str, site_file: Path, count: int, target: str) -> list[int]:
    """`count` alerts, each with one notification to `target`, committed together (as the gateway does)."""
    from gateway.registry import apply_site_config
    from kernel.db import migrate
    from kernel.siteconfig import load_site_config

    engine = make_engine(pg_url)
    migrate(engine)
    sessions = session_factory(engine)
    now = utcnow()
    with sessions.begin() as session:
        apply_site_config(session, load_site_config(site_file))
        ids = []
        for i in range(count):
            spec = AlertSpec(rule="outbox-test", type="test", severity="major", title=f"outbox test {i}",
                             site=SITE, grid="g1")
            change = raise_alert(session, spec, now, None)
            ids.append(change.alert["id"])
        session.execute(Notification.__table__.insert(), [
            {"alert_id": a, "site_id": SITE, "step": "notified", "level": 0, "recipient": "张建国", "role": "on_duty",
             "target": target, "shown": "json://127.0.0.1/…", "channel": "json", "state": "pending",
             "created_at": now, "due_at": now, "attempts": 0} for a in ids])
    engine.dispose()
    return ids


def delivered_states(pg_url: str, ids: list[int]) -> Counter[str]:
    engine = make_engine(pg_url)
    try:
        with session_factory(engine)() as session:
            return Counter(session.scalars(select(Notification.state).where(Notification.alert_id.in_(ids))))
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_three_sender_processes_send_each_notification_once(pg_url: str, site_file: Path, hook: WebhookReceiver,
                                                            tmp_path: Path) -> None:
    ids = queue_alerts(pg_url, site_file, 150, hook.url("/patrol"))
    env = sender_env(pg_url, workers="2")
    senders = [AnjuProcess(["notify"], env, tmp_path / f"sender-{i}.log") for i in range(3)]
    try:
        hook.wait(len(ids), 60, lambda r: r.path == "/patrol")
        time.sleep(1)  # anything sent twice would arrive now
    finally:
        for proc in senders:
            proc.stop()
    per_alert = Counter(alert_of(r) for r in hook.received)
    assert set(per_alert) == set(ids), "every notification sent"
    assert max(per_alert.values()) == 1, f"sent twice: {[a for a, n in per_alert.items() if n > 1]}"
    assert delivered_states(pg_url, ids) == {"delivered": len(ids)}
    claimers = Counter(log.read_text().count("notification senders") for log in tmp_path.glob("sender-*.log"))
    assert claimers == {1: 3}, "three processes ran"


@pytest.mark.postgres
def test_a_sender_killed_mid_send_loses_nothing(pg_url: str, site_file: Path, tmp_path: Path) -> None:
    """kill -9 while the webhook holds the request: the claim's lease runs out and another sender delivers it."""
    release = threading.Event()

    def slow_first(request: Received) -> tuple[int, bytes]:
        if len(hook.received) == 1:
            release.wait(20)  # the first sender never gets its answer: it is killed meanwhile
        return 200, b"{}"

    with WebhookReceiver(reply=slow_first) as hook:
        (alert_id,) = queue_alerts(pg_url, site_file, 1, hook.url("/patrol"))
        env = sender_env(pg_url, workers="1", lease_seconds="2")
        first = AnjuProcess(["notify"], env, tmp_path / "first.log")
        try:
            assert hook.wait(1, 30), "the first sender sent"
            os.kill(first.pid, signal.SIGKILL)
            first.wait(10)
        finally:
            release.set()
        assert delivered_states(pg_url, [alert_id]) == {"sending": 1}, "the claim outlives its sender"
        second = AnjuProcess(["notify"], env, tmp_path / "second.log")
        try:
            assert len(hook.wait(2, 30)) == 2, "claimed again after the lease and sent"
            wait_for(lambda: delivered_states(pg_url, [alert_id]) == {"delivered": 1}, timeout=10,
                     what="the row delivered")
        finally:
            second.stop()
    assert all(alert_of(r) == alert_id for r in hook.received)


@pytest.mark.postgres
@pytest.mark.broker
def test_kill_9_between_the_alerts_commit_and_the_send_loses_nothing(
        pg_url: str, site_file: Path, hook: WebhookReceiver, mosquitto_url: str, tmp_path: Path) -> None:
    """`anju serve` queues (its senders are off), is killed with SIGKILL after the press is committed, and an
    `anju notify` started afterwards delivers what it queued."""

    clear_retained(mosquitto_url, SITE)
    port = free_port()
    env = {**sender_env(pg_url, workers="0"), "ANJU_MQTT__URL": mosquitto_url.replace("://", "://anju-gateway@"),
           "ANJU_MQTT__CLIENT_ID": f"kill9-{uuid.uuid4().hex[:6]}", "ANJU_SITE_FILE": str(site_file),
           "ANJU_API__PORT": str(port), "ANJU_VISION__ENABLED": "false"}
    server = AnjuProcess(["serve"], env, tmp_path / "serve.log")
    engine = make_engine(pg_url)

    def queued() -> list[Notification]:
        with session_factory(engine)() as session:
            return list(session.scalars(select(Notification)))

    try:
        wait_ready(server, port)
        publisher = Publisher(mosquitto_url, SITE)
        publisher.send(BUTTON, "elder_button", "event", type="press")
        publisher.close()
        wait_for(lambda: len(queued()) >= 2, timeout=10, what="the press's notifications queued by `anju serve`")
    finally:
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        clear_retained(mosquitto_url, SITE)
    rows = queued()
    assert rows and {r.state for r in rows} == {"pending"}, "queued with the alert, not sent"
    sender = AnjuProcess(["notify"], sender_env(pg_url, workers="1"), tmp_path / "notify.log")
    try:
        assert hook.wait(2, 30, lambda r: r.path in ("/patrol", "/family")), "delivered after the kill"
    finally:
        sender.stop()
        engine.dispose()

