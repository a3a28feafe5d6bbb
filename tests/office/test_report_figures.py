"""Every figure of the office's report against values worked out by hand, on both databases.

The history is made the way it happens: devices' events through the real rule engine (a fake clock), escalations by
its timer, people acknowledging and resolving at known moments. The expected numbers below are written out, not
computed: the arithmetic is in the comments, so a reader can check each one.

Timeline (UTC; the community is on Asia/Shanghai, UTC+8), period = November 2026 local time:

    Z0 gate2 forced open 10-31 15:59:59  (31 Oct 23:59:59 local: before the period, not counted)
    Z1 eb2 press    10-31 16:00:00  (1 Nov 00:00 local)  ack +45 s, resolved +900 s, handled           g2
    A  eb1 press    11-03 01:00     ack +40 s, resolved +1200 s, handled                               g1
    B  gate1 forced 11-03 02:00     escalated at +5 m and +15 m (street), ack +960 s, resolved +5 h,
                                    false alarm                                                         g1
    C  eb1 press    11-04 01:00     ack +90 s, resolved +1800 s, test                                   g1
    E  gate2 forced 11-04 02:00     ack +120 s, resolved +600 s, referred                               g2
    F  eb2 press    11-05 01:00     resolved at +50 s without an acknowledgement, handled               g2
    S  gate2 forced 11-05 02:00     under a silence: counted as silenced only                           g2
    G  eb2 press    11-06 01:00     ack +30 s, still open                                               g2
    D  eb1 press    11-06 03:00     nobody acknowledges; the report is made 3 minutes later             g1
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pypdfium2 as pdfium
import pytest

from alerting import alerts as lifecycle
from alerting.engine import RuleEngine
from alerting.silences import create_silence
from kernel.db.models import Alert
from office.period import month_bounds
from office.report import AlertReport, GroupFigures, ReportQuery, build_report, nearest_rank
from testkit.rules import RuleHarness

START = datetime(2026, 10, 31, 15, 59, 59, tzinfo=UTC)
SITE: dict[str, Any] = {"sites": [{
    "id": "s1", "name": "和谐社区", "timezone": "Asia/Shanghai",
    "grids": [{"id": "g1", "name": "第一网格", "patrol_team": "一组"},
              {"id": "g2", "name": "第二网格", "patrol_team": "二组"}],
    "devices": [{"id": "eb1", "kind": "elder_button", "grid": "g1"},
                {"id": "gate1", "kind": "access_gate", "grid": "g1"},
                {"id": "eb2", "kind": "elder_button", "grid": "g2"},
                {"id": "gate2", "kind": "access_gate", "grid": "g2"}],
}]}


class History:
    """The harness, with the steps people take at its clock."""

    def __init__(self, harness: RuleHarness) -> None:
        self.h = harness

    def at(self, when: datetime) -> None:
        assert when >= self.h.now
        self.h.advance(when - self.h.now)

    def after(self, seconds: float) -> None:
        self.h.advance(timedelta(seconds=seconds))

    def raise_(self, device: str, type_: str) -> int:
        before = self._ids()
        self.h.event(device, type_)
        new = self._ids() - before
        assert len(new) == 1, f"{device} {type_} raised {len(new)} alerts"
        return new.pop()

    def _ids(self) -> set[int]:
        with self.h.sessions() as session:
            return set(session.scalars(Alert.__table__.select().with_only_columns(Alert.id)))

    def ack(self, alert_id: int) -> None:
        with self.h.sessions.begin() as session:
            lifecycle.acknowledge(session, alert_id, "张三", self.h.now)

    def resolve(self, alert_id: int, disposition: str) -> None:
        with self.h.sessions.begin() as session:
            lifecycle.resolve(session, alert_id, "张三", "处理完毕", self.h.now, disposition)

    def handle(self, alert_id: int, ack_after: float | None, resolve_after: float, disposition: str) -> None:
        """Acknowledged `ack_after` seconds after now (None: never), resolved `resolve_after` seconds after now."""
        if ack_after is not None:
            self.after(ack_after)
            self.ack(alert_id)
        self.after(resolve_after - (ack_after or 0))
        self.resolve(alert_id, disposition)

    def alert(self, alert_id: int) -> Alert:
        with self.h.sessions() as session:
            row = session.get(Alert, alert_id)
            assert row is not None
            return row


@pytest.fixture
def history(db_url: str) -> Iterator[History]:
    with RuleHarness.open(db_url, RuleEngine.from_files(None), SITE, START) as harness:
        yield History(harness)


def make_history(h: History) -> dict[str, int]:
    ids: dict[str, int] = {}
    ids["Z0"] = h.raise_("gate2", "forced_open")
    h.after(1)
    ids["Z1"] = h.raise_("eb2", "press")
    h.resolve(ids["Z0"], "duplicate")
    h.handle(ids["Z1"], 45, 900, "handled")

    day3 = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)
    h.at(day3)
    ids["A"] = h.raise_("eb1", "press")
    h.handle(ids["A"], 40, 1200, "handled")

    h.at(day3 + timedelta(hours=1))
    ids["B"] = h.raise_("gate1", "forced_open")
    h.after(301)  # the grid's 5 minutes are up: the community office
    h.after(600)  # and its 10: the street
    assert h.alert(ids["B"]).level == 2
    h.after(960 - 901)
    h.ack(ids["B"])
    h.after(5 * 3600 - 960)
    h.resolve(ids["B"], "false_alarm")

    day4 = datetime(2026, 11, 4, 1, 0, tzinfo=UTC)
    h.at(day4)
    ids["C"] = h.raise_("eb1", "press")
    h.handle(ids["C"], 90, 1800, "test")
    h.at(day4 + timedelta(hours=1))
    ids["E"] = h.raise_("gate2", "forced_open")
    h.handle(ids["E"], 120, 600, "referred")

    day5 = datetime(2026, 11, 5, 1, 0, tzinfo=UTC)
    h.at(day5)
    ids["F"] = h.raise_("eb2", "press")
    h.handle(ids["F"], None, 50, "handled")
    h.at(day5 + timedelta(hours=1))
    with h.h.sessions.begin() as session:
        create_silence(session, h.h.engine.rules, owner="物业", reason="门禁检修", device="gate2",
                       ends_at=h.h.now + timedelta(hours=1), now=h.h.now)
    ids["S"] = h.raise_("gate2", "forced_open")
    assert h.alert(ids["S"]).silenced_by is not None

    day6 = datetime(2026, 11, 6, 1, 0, tzinfo=UTC)
    h.at(day6)
    ids["G"] = h.raise_("eb2", "press")
    h.after(30)
    h.ack(ids["G"])
    h.at(day6 + timedelta(hours=2))
    ids["D"] = h.raise_("eb1", "press")
    h.after(180)
    return ids


def november(h: History, group_by: str = "grid", **filters: Any) -> AlertReport:
    since, until = month_bounds("2026-11", "Asia/Shanghai")
    with h.h.sessions() as session:
        return build_report(session, ReportQuery(since=since, until=until, group_by=group_by,  # type: ignore[arg-type]
                                                 **filters), as_of=h.h.now)


def figures(group: GroupFigures) -> dict[str, Any]:
    return {
        "raised": group.raised, "acknowledged": group.acknowledged, "resolved": group.resolved, "open": group.open,
        "escalated": group.escalated, "beyond_community": group.beyond_community, "silenced": group.silenced,
        "ack": (group.time_to_acknowledge.count, group.time_to_acknowledge.p50, group.time_to_acknowledge.p90),
        "resolve": (group.time_to_resolve.count, group.time_to_resolve.p50, group.time_to_resolve.p90),
        "ack_target": (group.acknowledged_within_target.met, group.acknowledged_within_target.counted,
                       group.acknowledged_within_target.pct),
        "resolve_target": (group.resolved_within_target.met, group.resolved_within_target.counted,
                           group.resolved_within_target.pct),
        "dispositions": {k: v for k, v in group.dispositions.items() if v},
        "by_severity": {k: v for k, v in group.by_severity.items() if v},
        "days": {day: n for day, n in enumerate(group.daily, start=1) if n},
        "overdue": [(o.missed, o.age_seconds, o.target_seconds) for o in group.overdue],
    }


def test_every_figure_equals_the_hand_computed_value(history: History) -> None:
    ids = make_history(history)
    report = november(history)
    assert report.timezone == "Asia/Shanghai"
    assert len(report.days) == 30 and report.days[0].isoformat() == "2026-11-01"
    assert [(g.key, g.label) for g in report.groups] == [("g1", "第一网格"), ("g2", "第二网格")]
    g1, g2 = report.groups

    assert figures(g1) == {
        "raised": 4, "acknowledged": 3, "resolved": 3, "open": 1,  # A B C D; D open
        "escalated": 1, "beyond_community": 1, "silenced": 0,      # B reached the street
        "ack": (3, 90.0, 960.0),           # [40, 90, 960]: rank ⌈0.5·3⌉ = 2 → 90, ⌈0.9·3⌉ = 3 → 960
        "resolve": (3, 1800.0, 18000.0),   # [1200, 1800, 18000]
        "ack_target": (1, 4, 25.0),        # A 40 ≤ 60; B 960 > 300; C 90 > 60; D unanswered after 180 > 60
        "resolve_target": (2, 3, 66.7),    # A 1200 ≤ 3600; B 18000 > 14400; C 1800 ≤ 3600; D 180 < 3600: not yet
        "dispositions": {"handled": 1, "false_alarm": 1, "test": 1},
        "by_severity": {"critical": 3, "major": 1},
        "days": {3: 2, 4: 1, 6: 1},
        "overdue": [("acknowledge", 180.0, 60.0)],                 # D
    }
    assert g1.overdue[0].id == ids["D"]
    assert figures(g2) == {
        "raised": 4, "acknowledged": 4, "resolved": 3, "open": 1,  # Z1 E F G; S silenced; Z0 before the period
        "escalated": 0, "beyond_community": 0, "silenced": 1,
        "ack": (4, 45.0, 120.0),           # [30, 45, 50 (F resolved unacknowledged), 120]: ranks 2 and 4
        "resolve": (3, 600.0, 900.0),      # [50, 600, 900]
        "ack_target": (4, 4, 100.0),
        "resolve_target": (3, 4, 75.0),    # G open after 2 h 3 min > 1 h
        "dispositions": {"handled": 2, "referred": 1},
        "by_severity": {"critical": 3, "major": 1},
        "days": {1: 1, 4: 1, 5: 1, 6: 1},  # Z1 is 1 Nov local time; S (silenced) is not in the days
        "overdue": [("resolve", 7380.0, 3600.0)],                  # G: 2 h 3 min
    }
    assert g2.overdue[0].id == ids["G"]
    assert figures(report.total) == {
        "raised": 8, "acknowledged": 7, "resolved": 6, "open": 2, "escalated": 1, "beyond_community": 1,
        "silenced": 1,
        "ack": (7, 50.0, 960.0),           # [30, 40, 45, 50, 90, 120, 960]: ranks 4 and 7
        "resolve": (6, 900.0, 18000.0),    # [50, 600, 900, 1200, 1800, 18000]: ranks 3 and 6
        "ack_target": (5, 8, 62.5),
        "resolve_target": (5, 7, 71.4),
        "dispositions": {"handled": 3, "false_alarm": 1, "test": 1, "referred": 1},
        "by_severity": {"critical": 6, "major": 2},
        "days": {1: 1, 3: 2, 4: 2, 5: 1, 6: 2},
        "overdue": [("resolve", 7380.0, 3600.0), ("acknowledge", 180.0, 60.0)],  # oldest first
    }
    assert report.targets["s1"]["critical"].acknowledge_seconds == 60
    assert report.targets["s1"]["major"].resolve_seconds == 4 * 3600


def test_other_groupings_filters_and_site_targets(history: History) -> None:
    make_history(history)
    by_severity = november(history, "severity")
    assert [(g.key, g.label, g.raised) for g in by_severity.groups] == [("critical", "紧急", 6), ("major", "重要", 2)]
    critical = by_severity.groups[0]
    # A 40, C 90, D none, Z1 45, F 50, G 30 → [30, 40, 45, 50, 90]; met: all but C and D → 4 of 6
    assert (critical.time_to_acknowledge.p50, critical.acknowledged_within_target.met,
            critical.acknowledged_within_target.counted) == (45.0, 4, 6)
    by_rule = november(history, "rule")
    assert {g.key: g.raised for g in by_rule.groups} == {"elder-sos": 6, "gate-forced-open": 2}
    assert november(history, "site").groups[0].label == "和谐社区"
    only_g1 = november(history, grid="g1", severity="critical")
    assert (only_g1.total.raised, only_g1.filters) == (3, {"grid": "g1", "severity": "critical"})

    # The office sets critical's acknowledge target to 90 s: C is now within it.
    with history.h.sessions.begin() as session:
        from kernel.db.models import Site
        site = session.get(Site, "s1")
        assert site is not None
        site.targets = {"critical": {"acknowledge": "90s", "resolve": "1h"}}
    g1 = november(history).groups[0]
    assert (g1.acknowledged_within_target.met, g1.acknowledged_within_target.counted) == (2, 4)
    assert g1.overdue[0].target_seconds == 90  # D: 180 s unanswered, still past 90 s


def test_nearest_rank() -> None:
    assert nearest_rank([], 50) is None
    assert nearest_rank([7.0], 90) == 7.0
    assert nearest_rank([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert nearest_rank([float(n) for n in range(1, 11)], 90) == 9.0


def test_a_disposition_is_required_for_critical_and_major_and_corrected_with_history(history: History) -> None:
    h = history
    alert_id = h.raise_("eb1", "press")
    with h.h.sessions.begin() as session, pytest.raises(lifecycle.DispositionError, match="say how it ended"):
        lifecycle.resolve(session, alert_id, "张三", "好了", h.h.now)
    with h.h.sessions.begin() as session, pytest.raises(lifecycle.DispositionError, match="unknown disposition"):
        lifecycle.resolve(session, alert_id, "张三", "好了", h.h.now, "solved")
    h.resolve(alert_id, "handled")
    with h.h.sessions.begin() as session:
        lifecycle.set_disposition(session, alert_id, "false_alarm", "admin", "家属确认是误按", h.h.now)
    assert h.alert(alert_id).disposition == "false_alarm"
    with h.h.sessions() as session:
        steps = [(s["action"], s["note"]) for s in lifecycle.history(session, alert_id)]
    assert ("resolved", "[handled] 处理完毕") in steps
    assert ("disposition_changed", "handled → false_alarm: 家属确认是误按") in steps


def test_anju_report_writes_the_bulletin_and_the_workbook_a_cron_job_mails(sqlite_url: str, tmp_path: Path) -> None:
    """`anju report` in its own process, as cron runs it, on the history above: the same figures as the API's."""
    with RuleHarness.open(sqlite_url, RuleEngine.from_files(None), SITE, START) as harness:
        make_history(History(harness))
    env = {**os.environ, "ANJU_DB__URL": sqlite_url}
    for name in ("bulletin.pdf", "report.xlsx"):
        done = subprocess.run([sys.executable, "-m", "anju.cli", "report", "--month", "2026-11", "--out",
                               str(tmp_path / name)], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "8 alerts, 2 grid groups" in done.stdout
    pdf = pdfium.PdfDocument((tmp_path / "bulletin.pdf").read_bytes())
    first = pdf[0].get_textpage().get_text_range()
    assert "和谐社区" in first and "2026年11月" in first and "第一网格" in first and "62.5%" in first
    workbook = openpyxl.load_workbook(tmp_path / "report.xlsx")
    summary = workbook.worksheets[0]
    rows = [[cell.value for cell in row] for row in summary.iter_rows()]
    assert any(row[:3] == ["g1", "第一网格", 4] for row in rows), rows[:4]
    refused = subprocess.run([sys.executable, "-m", "anju.cli", "report", "--month", "2026-13", "--out",
                              str(tmp_path / "x.pdf")], env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "bad month" in refused.stderr
