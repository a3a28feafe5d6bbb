"""The safety floor (rules/floor.py): no rule file, API file or silence weakens the SOS, the fence alarm or the
unrecognised alarm; a rule set that leaves one out gets the built-in one back.

The refusals are checked in-process through `anju rules check` (`rules.check.main`) and through the real API;
the run-time guarantees in-process on SQLite, and once through Mosquitto on both databases.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from alerting.alerts import AlertChange
from alerting.engine import RuleEngine
from alerting.silences import SilenceRefused, create_silence
from kernel.db.models import Alert
from kernel.deviceinfo import DeviceInfo
from kernel.observations import MESSAGES_REJECTED, UNRECOGNISED_ALARM, Observation
from rules import floor, pack
from rules.check import main as check_main
from rules.loader import builtin_rules_path, check_text, load_rule_files
from tests.conftest import GatewayFactory
from tests.helpers import ApiServer, Publisher, wait_for

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
FLOOR_REASON = "is part of the safety floor"


def rule_file(body: str) -> str:
    return textwrap.dedent(body).lstrip("\n")


SOS = rule_file("""
    rules:
      - id: elder-sos
        name: 老人一键呼救 / Elder SOS
        severity: critical
        audience: patrol
        silenceable: false
        when:
          event: {kind: elder_button, type: press}
    """)
"""The built-in SOS restated; line 4 is `severity`, 5 `audience`, 6 `silenceable`, 8 the matcher."""

FENCE = rule_file("""
    rules:
      - id: fence-alarm
        name: 周界报警 / Fence alarm
        severity: major
        audience: patrol
        silenceable: false
        when:
          event:
            kind: fence
            type: alarm
            where:
              cause: {in: [intrusion, cut]}
        dedup: {key: [rule, device, zone]}
    """)
"""Line 12 is the `cause` matcher."""


def sos_with(old: str, new: str) -> str:
    assert old in SOS
    return SOS.replace(old, new)


# (case, rule file, line of the offending key, what the reason must say)
WEAKENED: list[tuple[str, str, int, str]] = [
    ("disabled", SOS + "    enabled: false\n", 9, "`elder-sos` is part of the safety floor: it cannot be disabled"),
    ("downgraded", sos_with("severity: critical", "severity: major"), 4,
     "`elder-sos` is part of the safety floor: its severity cannot be lower than critical; got major"),
    ("silenceable", sos_with("silenceable: false", "silenceable: true"), 6, "it can never be silenced"),
    ("silenceable by default", sos_with("    silenceable: false\n", ""), 2, "`silenceable` defaults to true"),
    ("maintenance", sos_with("audience: patrol", "audience: maintenance"), 5,
     "it always goes to the patrol (`audience: patrol`), not to maintenance"),
    ("scope", SOS + "    scope: {kinds: [elder_button], grids: [g1]}\n", 9, "`scope.grids` cannot narrow it"),
    ("scope zones", FENCE + "    scope:\n      zones: [N1, N2]\n", 15, "`scope.zones` cannot narrow it"),
    ("schedule hours", SOS + '    schedule:\n      from: "22:00"\n      to: "06:00"\n', 10,
     "it applies at every hour, so `schedule` cannot limit it to 22:00-06:00"),
    ("schedule days", SOS + "    schedule: {days: [sat, sun]}\n", 9, "`schedule.days` cannot leave days out"),
    ("narrowed where", FENCE.replace("cause: {in: [intrusion, cut]}", "cause: intrusion"), 12,
     "`when.event.where.cause` misses a fence alarm with cause cut"),
    ("narrowed by a field", sos_with("type: press}", "type: press, where: {battery: {exists: false}}}"), 8,
     "`when.event.where.battery` misses a press carrying more fields"),
    ("watchlist", sos_with("type: press}", "type: press, where: {vendor: {not_on_watchlist: quiet}}}"), 8,
     "`when.event.where.vendor` misses"),
    ("other type", sos_with("type: press", "type: cancel"), 8, "`when.event.type` misses a press from any button"),
    ("not an event", sos_with("      event: {kind: elder_button, type: press}",
                              "      count: {event: {kind: elder_button, type: press}, at_least: 2, within: 1m}"),
     8, "its condition stays an `event`"),
    ("merged", SOS + "    dedup: {key: [rule, grid]}\n", 9, "without `device` in `dedup.key`"),
    ("unrecognised from one kind", rule_file("""
        rules:
          - id: unrecognised-alarm
            name: 无法识别的报警
            severity: critical
            silenceable: false
            when:
              event: {kind: fence, type: unrecognised_alarm}
        """), 7, "`when.event.kind` misses an unrecognised alarm from kind elder_button"),
]

ALLOWED = rule_file("""
    rules:
      - id: fence-alarm
        name: 周界报警（加急）/ Fence alarm, urgent
        severity: critical
        silenceable: false
        scope: {kinds: [fence]}
        schedule: {days: [mon, tue, wed, thu, fri, sat, sun], timezone: Asia/Shanghai}
        when:
          event: {kind: fence, type: alarm, where: {cause: {in: [intrusion, cut, short]}}}
        dedup: {key: [rule, device, zone, "field:cause"]}
        message: "{device_name} {zone} 防区报警 / urgent"
    """)
"""A restatement that only strengthens: higher severity, finer dedup, a scope and schedule that cover everything."""

GATE_ONLY = rule_file("""
    rules:
      - id: gate-forced-open
        name: 门禁被强行打开 / Gate forced open
        severity: major
        when:
          event: {kind: access_gate, type: forced_open}
    """)


@pytest.mark.parametrize(("case", "text", "line", "reason"), WEAKENED, ids=[c[0] for c in WEAKENED])
def test_anju_rules_check_refuses_each_weakening_with_its_line(case: str, text: str, line: int, reason: str,
                                                               tmp_path: Path) -> None:
    path = tmp_path / "quiet.yaml"
    path.write_text(text, encoding="utf-8")
    out = io.StringIO()
    assert check_main([str(path)], out) == 1
    lines = out.getvalue().splitlines()
    hit = [ln for ln in lines if ln.startswith(f"{path}:{line}: ") and reason in ln]
    assert hit, f"{case}: no `{path}:{line}: ...{reason}...` in\n{out.getvalue()}"
    assert FLOOR_REASON in hit[0] and hit[0].endswith(f"({floor.DOC})")


def test_restating_a_floor_rule_more_strongly_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "urgent.yaml"
    path.write_text(ALLOWED, encoding="utf-8")
    out = io.StringIO()
    assert check_main([str(path)], out) == 0, out.getvalue()
    assert check_text(SOS).ok and check_text(FENCE).ok


def test_the_builtin_pack_is_the_floor_and_passes_it() -> None:
    builtin = {rule.id: rule for rule in load_rule_files([builtin_rules_path()])}
    assert set(floor.FLOOR_IDS) <= set(builtin)
    for rule_id, rule in floor.builtin_floor().items():
        assert builtin[rule_id] == rule and floor.weakenings(rule) == []
        assert (rule.audience, rule.silenceable, rule.enabled) == ("patrol", False, True)
    assert floor.builtin_floor()["elder-sos"].severity == "critical"
    assert {floor.builtin_floor()[r].severity for r in ("fence-alarm", "unrecognised-alarm")} == {"major"}
    rejected = builtin["messages-rejected"]
    assert (rejected.severity, rejected.audience, rejected.silenceable) == ("minor", "maintenance", True)


def test_a_rule_set_without_the_floor_gets_the_builtin_rules(tmp_path: Path) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text(GATE_ONLY, encoding="utf-8")
    engine = RuleEngine.from_files([str(path)])
    for rule_id, rule in floor.builtin_floor().items():
        assert engine.all_rules[rule_id] is rule and rule in engine.rules
    # Rules built in code (not read from a file) that weaken the floor are replaced, not trusted.
    sos = floor.builtin_floor()["elder-sos"]
    weakened = sos.model_copy(update={"enabled": False, "severity": "warning"})
    assert floor.with_floor([weakened])[0] is sos


def test_a_stored_api_file_that_weakens_the_floor_is_skipped(tmp_path: Path) -> None:
    """An older Anju stored API files that switched a floor rule off; they no longer load, so the rule stays."""
    base = load_rule_files([builtin_rules_path()])
    disabled = SOS + "    enabled: false\n"
    composed = {rule.id: rule for rule in pack.compose(base, [("old", disabled), ("urgent", ALLOWED)])}
    assert composed["elder-sos"].enabled and composed["elder-sos"].severity == "critical"
    assert composed["fence-alarm"].severity == "critical"  # a valid restatement still applies
    lacking = {rule.id for rule in pack.compose(load_rule_files([_write(tmp_path, GATE_ONLY)]), [])}
    assert set(floor.FLOOR_IDS) <= lacking


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# -- at run time, in-process --------------------------------------------------------------------------------


def device(id_: str = "eb1", kind: str = "elder_button", site: str = "s1") -> DeviceInfo:
    return DeviceInfo(id=id_, site=site, kind=kind, grid="g1", zone=None, offline_timeout=timedelta(minutes=5),
                      name=f"1号楼 {id_}")


def observe(dev: DeviceInfo, type_: str, ts: datetime = T0, **data: object) -> Observation:
    return Observation(dev, "event", type_, ts, ts, msg_id=f"m-{type_}-{ts.timestamp()}", data=dict(data))


class Recorder:
    """An engine on an in-process database, with the changes it would publish after each commit."""

    def __init__(self, engine: RuleEngine, sessions: sessionmaker[Session]) -> None:
        self.engine, self.sessions = engine, sessions
        self.delivered: list[AlertChange] = []
        engine.listeners.append(self.delivered.extend)

    def feed(self, *observations: Observation) -> None:
        with self.sessions.begin() as session:
            self.engine.on_observations(session, list(observations))

    def alerts(self) -> dict[str, Alert]:
        with self.sessions() as session:
            return {a.rule: a for a in session.scalars(select(Alert).order_by(Alert.id))}


@pytest.fixture
def gates_only(tmp_path: Path, sqlite_sessions: sessionmaker[Session]) -> Iterator[Recorder]:
    yield Recorder(RuleEngine.from_files([str(_write(tmp_path, GATE_ONLY))]), sqlite_sessions)


def test_a_custom_pack_without_the_floor_still_raises_its_alerts(gates_only: Recorder) -> None:
    gates_only.feed(observe(device(), "press"),
                    observe(device("fence1", "fence"), "alarm", zone="7", cause="cut"),
                    observe(device("gate1", "access_gate"), UNRECOGNISED_ALARM, original_type="smoke",
                            reason="unknown type", detail="type 'smoke' is not an access_gate event"),
                    observe(device("eb2"), MESSAGES_REJECTED, rejected=12, window_s=60, reasons={"schema": 12}))
    alerts = gates_only.alerts()
    assert set(alerts) == {"elder-sos", "fence-alarm", "unrecognised-alarm"}  # the pack has no messages-rejected
    for rule_id, severity in (("elder-sos", "critical"), ("fence-alarm", "major"), ("unrecognised-alarm", "major")):
        alert = alerts[rule_id]
        assert (alert.severity, alert.audience, alert.silenceable, alert.silenced_by) == (severity, "patrol", False,
                                                                                          None)
    assert alerts["unrecognised-alarm"].title == "1号楼 gate1 无法识别的报警 / unrecognised alarm (smoke)"
    assert [c.action for c in gates_only.delivered] == ["created"] * 3


def test_builtin_pack_raises_the_unrecognised_and_rejected_alerts(sqlite_sessions: sessionmaker[Session]) -> None:
    run = Recorder(RuleEngine.from_files(None), sqlite_sessions)
    fence = device("fence1", "fence")
    run.feed(observe(fence, UNRECOGNISED_ALARM, original_type="ALARMX", reason="unknown type", detail="?"),
             observe(fence, UNRECOGNISED_ALARM, T0 + timedelta(seconds=5), original_type="ALARMX",
                     reason="unknown type", detail="?"),
             observe(device("gate1", "access_gate"), MESSAGES_REJECTED, rejected=30, window_s=60,
                     reasons={"invalid JSON": 30}))
    alerts = run.alerts()
    unrecognised, rejected = alerts["unrecognised-alarm"], alerts["messages-rejected"]
    assert (unrecognised.severity, unrecognised.audience, unrecognised.count) == ("major", "patrol", 2)  # merged
    assert (rejected.severity, rejected.audience, rejected.silenceable) == ("minor", "maintenance", True)
    assert rejected.title == "1号楼 gate1 消息大量被拒 / messages rejected (30 in 60s)"


def test_silences_and_maintenance_never_hold_back_the_floor(sqlite_sessions: sessionmaker[Session]) -> None:
    run = Recorder(RuleEngine.from_files(None), sqlite_sessions)
    with sqlite_sessions.begin() as session:
        for kind, target in (("maintenance", {"device": "eb1"}), ("silence", {"site": "s1"})):
            create_silence(session, run.engine.all_rules, owner="物业 王", reason="更换电池 battery change",
                           kind=kind, ends_at=T0 + timedelta(hours=2), now=T0 - timedelta(minutes=1), **target)
        for rule_id in floor.FLOOR_IDS:
            with pytest.raises(SilenceRefused, match="can never be silenced: it is part of the safety floor"):
                create_silence(session, run.engine.all_rules, owner="物业 王", reason="noisy", now=T0,
                               ends_at=T0 + timedelta(hours=1), rule=rule_id)
        with pytest.raises(SilenceRefused, match="safety floor"):  # whatever rule set is at hand
            create_silence(session, {}, owner="物业 王", reason="noisy", now=T0, ends_at=T0 + timedelta(hours=1),
                           rule="elder-sos")
    run.feed(observe(device(), "press"), observe(device("gate1", "access_gate"), "forced_open"))
    alerts = run.alerts()
    assert alerts["elder-sos"].silenced_by is None and alerts["elder-sos"].escalate_at is not None
    assert alerts["gate-forced-open"].silenced_by is not None  # the control: the site's silence does apply
    assert [(c.action, c.alert["rule"]) for c in run.delivered] == [("created", "elder-sos")]


# -- through the real API and the real broker ---------------------------------------------------------------


@pytest.mark.broker
def test_the_api_refuses_each_weakening_with_its_line_and_reason(make_api: Callable[..., ApiServer],
                                                                 mosquitto_url: str, sqlite_url: str) -> None:
    api = make_api(mosquitto_url, sqlite_url)
    with api.admin() as admin:
        for case, text, line, reason in WEAKENED:
            refused = admin.put("/rules/files/quiet", json={"content": text})
            assert refused.status_code == 422, (case, refused.text)
            errors = refused.json()["detail"]["errors"]
            assert any(e["line"] == line and reason in e["reason"] for e in errors), (case, errors)
            checked = admin.post("/rules/check", json={"content": text}).json()
            assert checked["ok"] is False and any(e["line"] == line and reason in e["reason"]
                                                  for e in checked["errors"]), (case, checked)
        assert admin.get("/rules/files").json() == []
        rules = {r["id"]: r for r in admin.get("/rules").json()}
        assert (rules["elder-sos"]["enabled"], rules["elder-sos"]["severity"]) == (True, "critical")

        stored = admin.put("/rules/files/urgent", json={"content": ALLOWED})
        assert stored.status_code == 201, stored.text
        wait_for(lambda: {r["id"]: r for r in admin.get("/rules").json()}["fence-alarm"]["severity"] == "critical",
                 timeout=5, what="the stronger fence alarm")

        ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        for rule_id in floor.FLOOR_IDS:
            silenced = admin.post("/silences", json={"rule": rule_id, "reason": "noisy", "ends_at": ends})
            assert silenced.status_code == 422 and "safety floor" in silenced.text, silenced.text
        assert admin.post("/silences", json={"device": "eb1", "kind": "maintenance", "reason": "电池",
                                             "ends_at": ends}).status_code == 201


@pytest.mark.broker
def test_a_rule_file_without_the_sos_still_raises_it_through_the_broker(
        make_gateway: GatewayFactory, mosquitto_url: str, db_url: str, site_id: str, tmp_path: Path) -> None:
    gw = make_gateway(mosquitto_url, db_url, rules=[str(_write(tmp_path, GATE_ONLY))])
    pub = Publisher(mosquitto_url, site_id)
    try:
        pub.send("eb1", "elder_button", "event", type="press")
        with gw.sessions() as s:
            alert = wait_for(lambda: s.scalars(select(Alert).where(Alert.rule == "elder-sos")).first(),
                             what="the SOS of a pack without elder-sos")
        assert (alert.severity, alert.audience, alert.silenceable, alert.device_id) == ("critical", "patrol", False,
                                                                                        "eb1")
    finally:
        pub.close()
