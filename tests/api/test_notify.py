"""Notifications through the real API (SPEC §6): a test send, one-tap links, an alert's deliveries, the targets an
admin must see failing, and the configuration they come from (members, chains, the site's policy).

A local HTTP receiver stands for a chat bot: `json://127.0.0.1:PORT/hook` is Apprise's JSON webhook.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
import yaml

from alerting.notifications import links
from kernel.timeutil import utcnow
from tests.conftest import serving_api
from tests.helpers import ApiServer, Publisher, make_site, wait_for
from tools.bench.mosquitto import free_port

pytestmark = [pytest.mark.broker]
LINK_SECRET = "test-link-secret-0123456789"


class Receiver:
    """An HTTP server that records every JSON body posted to it (a chat bot's webhook)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with received.lock:
                    received.bodies.append(orjson.loads(data) if data else {})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="test-receiver")
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def messages(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.bodies)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


@pytest.fixture
def dead_url() -> str:
    """A webhook nobody answers (a closed port): every attempt fails."""
    return f"json://127.0.0.1:{free_port()}/dead"


@contextlib.contextmanager
def serving_notify_api(tmp_path: Path, site_id: str, db: str, broker: str, receiver: Receiver,
                       dead_url: str) -> Iterator[ApiServer]:
    """The API on a site whose grid team has a member reached by the receiver and one by a dead webhook; one try
    per notification, so a failure is final at once."""
    community = make_site(site_id)
    site = community["sites"][0]
    site["teams"] = [{"id": "night", "name": "夜巡队", "members": [
        {"name": "张建国", "phone": "13800000001", "notify": [receiver.url]},
        {"name": "李四", "notify": [dead_url]},
    ]}]
    site["grids"][0]["team"] = "night"
    path = tmp_path / "notify-site.yaml"
    path.write_text(yaml.safe_dump(community, allow_unicode=True), encoding="utf-8")
    with serving_api(broker, db, path, notifications={
            "link_secret": LINK_SECRET, "max_attempts": 1, "poll_seconds": 0.2, "timeout_seconds": 3}) as api:
        yield api


@pytest.fixture
def notify_api(tmp_path: Path, site_id: str, db_url: str, mosquitto_url: str, receiver: Receiver,
               dead_url: str) -> Iterator[ApiServer]:
    with serving_notify_api(tmp_path, site_id, db_url, mosquitto_url, receiver, dead_url) as api:
        yield api


def press(mosquitto_url: str, site_id: str, admin: httpx.Client) -> dict[str, Any]:
    publisher = Publisher(mosquitto_url, site_id)
    try:
        publisher.send("eb1", "elder_button", "event", type="press")
        return wait_for(lambda: admin.get("/alerts", params={"site": site_id}).json(), timeout=10,
                        what="the SOS alert")[0]
    finally:
        publisher.close()


def link_of(message: dict[str, Any]) -> str:
    """The one-tap link in a message: its path (`/n/<token>`)."""
    found = re.search(r"https?://\S+", message["message"])
    assert found is not None, message
    return urlsplit(found.group(0)).path


def settled(admin: httpx.Client, alert_id: int) -> list[dict[str, Any]]:
    """The alert's deliveries once none is waiting to be sent."""
    def done() -> list[dict[str, Any]] | None:
        rows = admin.get(f"/alerts/{alert_id}/deliveries").json()
        return rows if rows and all(r["state"] in ("delivered", "failed") for r in rows) else None

    return wait_for(done, timeout=15, what="every delivery sent or failed")


def test_an_sos_reaches_the_team_off_app_and_its_link_opens_the_alert(
        notify_api: ApiServer, mosquitto_url: str, site_id: str, receiver: Receiver, dead_url: str) -> None:
    api = notify_api
    with api.admin() as admin:
        alert = press(mosquitto_url, site_id, admin)
        rows = settled(admin, alert["id"])
        by_recipient = {r["recipient"]: r for r in rows}
        assert set(by_recipient) == {"张建国", "李四"}, rows  # the phone is not used without an SMS provider
        ok, dead = by_recipient["张建国"], by_recipient["李四"]
        assert (ok["state"], ok["channel"], ok["step"], ok["role"], ok["level"]) == \
            ("delivered", "json", "notified", "on_duty", 0)
        assert ok["shown"] == receiver.url and ok["delivered_at"] and ok["attempts"] == 1
        assert dead["state"] == "failed" and dead["attempts"] == 1 and dead["last_error"]
        assert all("target" not in r for r in rows)
        detail = admin.get(f"/alerts/{alert['id']}").json()
        assert [d["id"] for d in detail["deliveries"]] == [r["id"] for r in rows]
        history = [h["action"] for h in detail["history"]]
        assert "notification_delivered" in history and "notification_failed" in history

        # The message names the alert and carries a signed link; it lands on the console's link page.
        message = wait_for(receiver.messages, what="the webhook's message")[0]
        assert alert["title"] in message["title"] + message["message"]
        path = link_of(message)
        assert path.startswith(links.SHORT_PATH) and len(path) <= 30, path  # fits an SMS template's variable
        token = path.removeprefix(links.SHORT_PATH)
        opened = links.read_short(LINK_SECRET.encode(), token, utcnow())
        assert isinstance(opened, links.Opened) and (opened.alert, opened.act) == (alert["id"], True)  # on duty

    with httpx.Client(base_url=api.url, timeout=10) as anonymous:  # no token: the link is the credential
        answer = anonymous.get(path)
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == f"/console/#/link/{token}"

        summary = anonymous.get(f"/api/v1/notify/link/{token}")
        assert summary.status_code == 200, summary.text
        shown = summary.json()
        assert (shown["id"], shown["title"], shown["severity"], shown["state"], shown["site"], shown["act"]) == \
            (alert["id"], alert["title"], "critical", "open", "测试社区", True)
        assert "1" in shown["where"] and "第一网格" in shown["where"]
        assert "13800000001" not in summary.text and "contacts" not in shown

        altered = anonymous.get(path[:-2] + ("AA" if not path.endswith("AA") else "BB"))
        assert altered.status_code == 403 and altered.headers["content-type"].startswith("text/html")
        assert "not valid" in altered.text and "<script" not in altered.text
        other = links.short_token(LINK_SECRET.encode(), alert["id"], opened.expires, False)
        assert other != token, "act is signed: the same alert without it is another link"
        assert anonymous.get(path[:12]).status_code == 403  # incomplete
        assert anonymous.get("/n/签名").status_code == 403
        assert anonymous.get("/api/v1/notify/link/签名").status_code == 403
        forged = links.short_token(b"another installation's key", alert["id"], opened.expires, True)
        assert anonymous.get(f"/api/v1/notify/link/{forged}").status_code == 403

        late = links.short_token(LINK_SECRET.encode(), alert["id"], utcnow() - timedelta(minutes=2), True)
        answer = anonymous.get(f"/n/{late}")
        assert answer.status_code == 403 and "expired" in answer.text
        assert anonymous.get(f"/api/v1/notify/link/{late}").status_code == 403

    # The outbox, newest first, as each role may see it; a failed delivery sent again on request.
    with api.admin() as admin:
        listed = admin.get("/notify/deliveries", params={"alert": alert["id"]}).json()
        assert [r["id"] for r in listed] == sorted((r["id"] for r in rows), reverse=True)
        assert [r["recipient"] for r in admin.get("/notify/deliveries", params={"state": "failed"}).json()] == \
            ["李四"]
        assert admin.get("/notify/deliveries", params={"channel": "sms"}).json() == []
        assert admin.post(f"/notify/deliveries/{ok['id']}/retry").status_code == 409  # delivered already
        assert admin.post("/notify/deliveries/999999/retry").status_code == 404
        again = admin.post(f"/notify/deliveries/{dead['id']}/retry")
        assert again.status_code == 200 and again.json()["state"] == "pending", again.text
        retried = wait_for(lambda: next((r for r in admin.get(f"/alerts/{alert['id']}/deliveries").json()
                                         if r["id"] == dead["id"] and r["state"] == "failed"), None),
                           timeout=15, what="the retried delivery to fail again")
        assert retried["attempts"] == 2
        assert "notification_requeued" in [h["action"] for h in admin.get(f"/alerts/{alert['id']}").json()["history"]]

    with api.admin() as admin:
        assert admin.post("/grids", json={"id": "g2", "site": site_id, "name": "第二网格"}).status_code == 201
    elsewhere = api.token("patrol", grids=["g2"])
    with api.client(elsewhere) as other:
        assert other.get("/notify/deliveries").json() == []  # not this patrol's alert
        assert other.get(f"/alerts/{alert['id']}/deliveries").status_code == 404
        assert other.post(f"/notify/deliveries/{dead['id']}/retry").status_code == 403
    with api.client(api.token("patrol", grids=["g1"])) as own:
        assert len(own.get("/notify/deliveries").json()) == 2

    # Every configured target, where it is configured, and how its deliveries went; failing ones on request.
    with api.admin() as admin:
        family = {"family": [{"name": "王强", "relation": "儿子", "phone": "13800000002",
                              "notify": ["bogus://nothing", receiver.url]}]}
        assert admin.patch("/devices/eb2", json={"attributes": family}).status_code == 200
        targets = admin.get("/notify/targets").json()
        where = {(t["where"], t["shown"]): t for t in targets}
        member = where[("team night member 张建国", receiver.url)]
        assert (member["ok"], member["channel"], member["last_state"], member["failing"]) == \
            (True, "json", "delivered", False)
        phone = where[("team night member 张建国", "sms:138****0001")]
        assert phone["ok"] and "no SMS provider" in phone["note"]
        failing = where[("team night member 李四", dead_url)]
        assert (failing["last_state"], failing["failures_24h"], failing["failing"]) == ("failed", 1, True)
        assert failing["last_error"]
        bogus = next(t for t in targets if t["where"] == "device eb2 family 王强" and not t["ok"])
        assert bogus["failing"] and "unknown schema" in bogus["error"] and bogus["channel"] is None
        only_failing = admin.get("/notify/targets", params={"failing": "true"}).json()
        assert {t["where"] for t in only_failing} == {"team night member 李四", "device eb2 family 王强"}
        assert all(t["failing"] for t in only_failing)
        audit = admin.get("/audit/person-data", params={"action": "notify_targets"}).json()
        assert len(audit) == 2 and audit[0]["actor"] == "admin"


def test_a_test_send_reports_its_outcome_and_only_admins_may(notify_api: ApiServer, receiver: Receiver,
                                                             dead_url: str) -> None:
    api = notify_api
    with api.admin() as admin:
        sent = admin.post("/notify/test", json={"url": receiver.url})
        assert sent.status_code == 200, sent.text
        assert sent.json() == {"target": receiver.url, "channel": "json", "delivered": True, "error": None}
        message = wait_for(receiver.messages, what="the test message")[0]
        assert "test" in message["title"].lower() and "admin" in message["message"]

        failed = admin.post("/notify/test", json={"url": dead_url}).json()
        assert failed["delivered"] is False and failed["error"]

        for url, reason in (("bogus://x", "unknown schema"), ("not a url", "not a URL"),
                            ("sms:12345", "mainland mobile"), ("mailto://user:hunter2@127.0.0.1:1", "mailto")):
            refused = admin.post("/notify/test", json={"url": url})
            assert refused.status_code == 422 and reason in refused.json()["detail"], refused.text
            assert "hunter2" not in refused.text
        assert admin.post("/notify/test", json={"url": ""}).status_code == 422
        secret = admin.post("/notify/test", json={"url": dead_url.replace("//", "//user:hunter2@")}).json()
        assert "hunter2" not in str(secret) and secret["delivered"] is False and "user:****@" in secret["target"]
        audit = admin.get("/audit/person-data", params={"action": "notify_test"}).json()
        assert len(audit) == 3 and "delivered" in audit[-1]["detail"] and "hunter2" not in str(audit)

    for role in ("patrol", "maintenance", "integrator"):
        with api.client(api.token(role, **({"grids": ["g1"]} if role == "patrol" else {}))) as http:
            assert http.post("/notify/test", json={"url": receiver.url}).status_code == 403
            assert http.get("/notify/targets").status_code == 403
            assert http.get("/notify/deliveries").status_code == 200
    with api.client() as anonymous:
        assert anonymous.post("/notify/test", json={"url": receiver.url}).status_code == 401
        assert anonymous.get("/notify/deliveries").status_code == 401
    assert len(receiver.messages()) == 1


def test_targets_are_validated_where_configured_and_redacted_for_other_roles(
        notify_api: ApiServer, site_id: str) -> None:
    api = notify_api
    key = "wecombot://abcdef0123456789SECRET"
    with api.admin() as admin:
        team = admin.get("/teams/night").json()
        assert team["members"][0]["notify"]
        assert "notify" not in admin.get(f"/sites/{site_id}/escalation").json()["levels"][0]  # left out when empty
        changed = {**team, "members": [{"name": "张建国", "notify": [key, "sms:138-0000-0001"]}],
                   "roster": [{"name": "张建国", "from": "20:00", "to": "08:00", "notify": ["mailto://a:pw@x.org"]}]}
        stored = admin.put("/teams/night", json=changed)
        assert stored.status_code == 200, stored.text
        assert stored.json()["members"][0]["notify"] == [key, "sms:138-0000-0001"]  # as stored, to an admin

        bad = admin.put("/teams/night", json={**changed, "members": [{"name": "李四", "notify": ["bogus://x"]}]})
        assert bad.status_code == 422 and "member 李四" in bad.text and "unknown schema" in bad.text
        assert "bogus://x" not in str(bad.json()["detail"][0]["msg"])
        bad_shift = admin.put("/teams/night", json={**changed, "roster": [{"name": "王五", "notify": ["nope"]}]})
        assert bad_shift.status_code == 422 and "shift 王五" in bad_shift.text
        too_many = admin.put("/teams/night", json={**changed, "members": [{"name": "x", "notify": [key] * 11}]})
        assert too_many.status_code == 422
        assert admin.get("/teams/night").json()["members"][0]["notify"] == [key, "sms:138-0000-0001"]

    with api.client(api.token("patrol", grids=["g1"])) as patrol:
        seen = patrol.get("/teams/night").json()
        assert seen["members"][0]["notify"] == ["wecombot://a...T", "sms:138****0001"]
        assert "SECRET" not in str(seen) and "0123456789" not in str(seen) and "pw@" not in str(seen)
        assert seen["roster"][0]["notify"][0].startswith("mailto://")

    # The maintenance chain: from level 0, defaults until set, same shape as the escalation chain.
    path = f"/sites/{site_id}/maintenance"
    with api.admin() as admin:
        default = admin.get(path).json()
        assert default["default"] is True and [lv["wait"] for lv in default["levels"]] == ["1h", "4h", None]
        chain = {"levels": [{"name": "物业公司", "wait": "30m", "notify": [key],
                             "roster": [{"name": "值班电工", "phone": "13900000000", "from": "08:00", "to": "20:00"}]},
                            {"name": "社区办公室"}]}
        put = admin.put(path, json=chain)
        assert put.status_code == 200, put.text
        assert put.json() == admin.get(path).json()
        assert put.json()["default"] is False and put.json()["levels"][0]["notify"] == [key]
        assert "notify" not in put.json()["levels"][1]
        assert admin.get(f"/sites/{site_id}/escalation").json()["default"] is True  # the patrol chain is apart
        refused = admin.put(path, json={"levels": [{"name": "物业", "notify": ["bogus://x"]}]})
        assert refused.status_code == 422 and "level 物业" in refused.text
        no_wait = admin.put(path, json={"levels": [{"name": "物业"}, {"name": "社区"}]})
        assert no_wait.status_code == 422 and "level 0 (物业)" in no_wait.text
        escalation = admin.put(f"/sites/{site_id}/escalation", json={"levels": [{"name": "街道", "notify": [key]}]})
        assert escalation.status_code == 200 and escalation.json()["levels"][0]["notify"] == [key]
        assert admin.get(path).json()["levels"][0]["name"] == "物业公司"  # untouched by the other chain
        targets = {t["where"] for t in admin.get("/notify/targets").json()}
        assert {f"site {site_id} maintenance level 0 (物业公司)", f"site {site_id} escalation level 1 (街道)",
                f"site {site_id} maintenance level 0 (物业公司) roster 值班电工", "team night roster 张建国"} <= targets
    with api.client(api.token("maintenance")) as maintenance:
        levels = maintenance.get(path).json()["levels"]
        assert levels[0]["notify"] != [key] and "SECRET" not in str(levels)
        assert maintenance.put(path, json=chain).status_code == 403

    # The site's policy: quiet hours never hold a critical alert; the family's wait is a duration or null.
    path = f"/sites/{site_id}/notifications"
    with api.admin() as admin:
        assert admin.get(path).json() == {"site": site_id, "default": True, "quiet_hours": None,
                                          "family_after": "0s"}
        policy = {"quiet_hours": {"from": "22:00", "to": "07:00", "hold": ["warning", "minor"]}, "family_after": "3m"}
        put = admin.put(path, json=policy)
        assert put.status_code == 200, put.text
        assert put.json() == admin.get(path).json() == {
            "site": site_id, "default": False, "family_after": "3m",
            "quiet_hours": {"from": "22:00", "to": "07:00", "hold": ["minor", "warning"]}}
        for body, reason in (
                ({"quiet_hours": {"from": "22:00", "to": "07:00", "hold": ["critical", "minor"]}}, "never held"),
                ({"quiet_hours": {"from": "22:00", "to": "22:00"}}, "same time"),
                ({"quiet_hours": {"from": "24:00", "to": "07:00"}}, "from"),
                ({"quiet_hours": {"from": "22:00", "to": "07:00", "hold": ["loud"]}}, "unknown severities"),
                ({"family_after": "soon"}, "family_after"),
                ({"family_after": "0m", "extra": 1}, "extra")):
            refused = admin.put(path, json=body)
            assert refused.status_code == 422 and reason in refused.text, (body, refused.text)
        assert admin.get(path).json()["family_after"] == "3m"  # nothing refused was stored
        never = admin.put(path, json={"family_after": None})
        assert never.json() == {"site": site_id, "default": False, "quiet_hours": None, "family_after": None}
        assert admin.put(path, json={"family_after": "0m"}).json()["default"] is True
        assert admin.get("/sites/nope/notifications").status_code == 404
    with api.client(api.token("patrol", grids=["g1"])) as patrol:
        assert patrol.get(path).status_code == 200
        assert patrol.put(path, json={}).status_code == 403


def test_the_console_opens_a_link_acknowledges_it_and_shows_deliveries_and_targets(
        tmp_path: Path, site_id: str, sqlite_url: str, mosquitto_url: str, receiver: Receiver, dead_url: str,
        browser: Any) -> None:
    """The message's link in a browser: the summary without a token; signed in as the patrol on duty, the alert
    acknowledged in that tap; its deliveries in the detail; the admin's notifications tab."""
    with serving_notify_api(tmp_path, site_id, sqlite_url, mosquitto_url, receiver, dead_url) as api:
        with api.admin() as admin:
            alert = press(mosquitto_url, site_id, admin)
            settled(admin, alert["id"])
        path = link_of(wait_for(receiver.messages, what="the message")[0])
        page = browser.new_page(viewport={"width": 390, "height": 844})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{api.url}{path}")
        summary = page.get_by_test_id("link-summary")
        summary.get_by_test_id("link-title").wait_for()
        assert alert["title"] in summary.inner_text() and "13800000001" not in summary.inner_text()
        assert page.get_by_test_id("link-state").inner_text() in ("待处理", "Open")
        assert page.get_by_test_id("login-token").is_visible()

        patrol = api.token("patrol", name="巡逻员 张建国", grids=["g1"])
        page.get_by_test_id("login-token").fill(patrol)
        page.get_by_test_id("login-submit").click()
        item = page.locator(f"[data-testid=alert-item][data-alert-id='{alert['id']}'][data-state=acknowledged]")
        item.wait_for(timeout=10_000)
        assert "#/link" not in page.url
        rows = item.get_by_test_id("alert-deliveries").get_by_test_id("delivery-row")
        rows.first.wait_for(timeout=10_000)
        assert rows.count() == 2 and item.locator("[data-testid=delivery-row][data-state=failed]").count() == 1
        with api.admin() as admin:
            detail = admin.get(f"/alerts/{alert['id']}").json()
        ack = next(h for h in detail["history"] if h["action"] == "acknowledged")
        assert (ack["by"], ack["note"]) == ("巡逻员 张建国", "via notification link")

        admin_page = browser.new_page(viewport={"width": 1280, "height": 900})
        admin_page.on("pageerror", lambda exc: errors.append(str(exc)))
        admin_page.goto(api.url + "/console/")
        admin_page.get_by_test_id("login-token").fill(api.admin_token)
        admin_page.get_by_test_id("login-submit").click()
        admin_page.get_by_test_id("nav-admin").wait_for()
        admin_page.goto(api.url + "/console/#/admin/notifications")
        failing = admin_page.locator("[data-testid=target-row][data-failing=true]")
        failing.first.wait_for(timeout=10_000)
        assert "李四" in failing.first.inner_text()
        admin_page.get_by_test_id("targets-failing").check()
        wait_for(lambda: admin_page.locator("[data-testid=target-row]").count() == 1, what="only the failing target")
        admin_page.get_by_test_id("notify-test-url").fill(receiver.url)
        admin_page.get_by_test_id("notify-test-send").click()
        admin_page.locator("[data-testid=notify-test-outcome] [data-delivered=true]").wait_for(timeout=10_000)
        retry = admin_page.get_by_test_id("delivery-retry").first
        retry.wait_for()
        retry.click()
        admin_page.get_by_test_id("toast").first.wait_for()
        assert not errors, errors
