"""`anju bench report`: how long the office's monthly report takes for a month of N alerts, in every format.

A month (November 2026, Asia/Shanghai) of alerts is written straight into a fresh database: 20 grids, every
severity, acknowledged and resolved after realistic delays, some escalated, some still open, dispositions, a few
silenced, plus devices with online/offline transitions for the availability table. Then, in the same run:

- the limit: a bare `SELECT` of the same columns of the same month, fetched into Python (what any report has to
  pay at least);
- the report (`office.report.build_report`, as `GET /api/v1/reports/alerts` runs it), then each format written
  from it (CSV, XLSX, the PDF bulletin).

The ratio report ÷ bare select says what the figures cost beyond reading the rows; the seconds per format are
the answer to "how long does the cron job take".
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from kernel.db import make_engine, migrate, session_factory
from kernel.db.models import Alert, Device, Event, Grid, Site
from kernel.observations import DEVICE_OFFLINE, DEVICE_ONLINE
from kernel.vocabulary import DISPOSITIONS
from office.export import export
from office.period import month_bounds
from office.report import REPORT_COLUMNS, ReportQuery, build_report

MONTH = "2026-11"
TIMEZONE = "Asia/Shanghai"
GRIDS = 20
DEVICES = 400
TARGET_RATIO = 10.0
"""The report may cost at most this many times the bare select of its rows."""
SEVERITY_MIX = (("critical", 0.1), ("major", 0.3), ("minor", 0.45), ("warning", 0.15))
RULES = {"critical": ("elder-sos", "lift-trapped"), "major": ("gate-forced-open", "fence-alarm", "battery-critical"),
         "minor": ("device-offline", "battery-low", "gate-held-open"), "warning": ("face-unknown-night",)}


@dataclass
class ReportBenchResult:
    alerts: int
    database: str
    bare_select_s: float
    report_s: float
    formats_s: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    groups: int = 0

    @property
    def ratio(self) -> float:
        return self.report_s / self.bare_select_s if self.bare_select_s > 0 else float("inf")

    def summary(self) -> str:
        lines = [f"anju bench report: {self.alerts} alerts in {MONTH} on {self.database}, {self.groups} grids",
                 f"  bare select of the month's rows   {self.bare_select_s:7.2f} s   (the limit)",
                 f"  report figures (JSON)            {self.report_s:7.2f} s   ratio {self.ratio:.1f}x "
                 f"(target <= {TARGET_RATIO:.0f}x: {'met' if self.ratio <= TARGET_RATIO else 'NOT met'})"]
        for fmt, seconds in self.formats_s.items():
            lines.append(f"  + write {fmt:<5} {self.sizes[fmt] / 1024:9.0f} KiB   {seconds:7.2f} s   "
                         f"(figures + file: {self.report_s + seconds:.2f} s)")
        return "\n".join(lines)


def _severity(rng: random.Random) -> str:
    pick, acc = rng.random(), 0.0
    for severity, share in SEVERITY_MIX:
        acc += share
        if pick < acc:
            return severity
    return "warning"


def _alert_row(rng: random.Random, n: int, since: datetime, span: float, now: datetime) -> dict[str, Any]:
    severity = _severity(rng)
    created = since + timedelta(seconds=rng.random() * span)
    ack = created + timedelta(seconds=rng.lognormvariate(4.5 if severity == "critical" else 5.5, 1.0))
    resolved: datetime | None = ack + timedelta(seconds=rng.lognormvariate(7.5, 1.2))
    state = "resolved"
    if (resolved is not None and resolved > now) or rng.random() < 0.01:
        state, resolved = ("acknowledged", None) if ack <= now and rng.random() < 0.5 else ("open", None)
    acknowledged = ack if state != "open" and rng.random() > 0.05 else None
    level = 0 if acknowledged is not None and (acknowledged - created).total_seconds() < 300 else rng.choice((0, 1, 2))
    grid = f"g{rng.randrange(GRIDS) + 1:02d}"
    return {"site_id": "s1", "grid_id": grid, "device_id": None, "kind": None,
            "rule": rng.choice(RULES[severity]), "type": "bench", "severity": severity,
            "audience": "maintenance" if severity in ("minor", "warning") else "patrol",
            "title": f"告警 {n} {grid}", "state": state, "level": level, "count": 1,
            "dedup_key": None if state == "resolved" else f"bench-{n}", "silenceable": True, "evidence": [],
            "created_at": created, "updated_at": resolved or acknowledged or created,
            "acknowledged_at": acknowledged, "acknowledged_by": "巡逻员" if acknowledged else None,
            "resolved_at": resolved, "resolved_by": "巡逻员" if resolved else None,
            "resolution_note": "处理完毕" if resolved else None,
            "disposition": rng.choice(DISPOSITIONS) if resolved else None,
            "silenced_by": 1 if rng.random() < 0.01 else None}


def fill(session: Session, alerts: int, seed: int = 1) -> None:
    """A month of `alerts` alerts and `DEVICES` devices with outages, inserted in chunks."""
    rng = random.Random(seed)
    since, until = month_bounds(MONTH, TIMEZONE)
    now = until + timedelta(hours=6)  # the cron job runs on the 1st, in the morning
    session.add(Site(id="s1", name="和谐社区", timezone=TIMEZONE))
    session.flush()
    session.add_all(Grid(id=f"g{i:02d}", site_id="s1", name=f"第{i}网格") for i in range(1, GRIDS + 1))
    session.flush()
    session.add_all(Device(id=f"d{i:04d}", site_id="s1", grid_id=f"g{i % GRIDS + 1:02d}",
                           kind=("elder_button", "access_gate", "fence", "camera")[i % 4], registered_at=since)
                    for i in range(DEVICES))
    session.flush()
    alerts_table, events_table = cast(Table, Alert.__table__), cast(Table, Event.__table__)
    span = (until - since).total_seconds()
    for start in range(0, alerts, 5000):
        session.execute(insert(alerts_table), [_alert_row(rng, n, since, span, now)
                                               for n in range(start, min(alerts, start + 5000))])
    events = []
    for i in range(DEVICES):
        at = since
        for _ in range(rng.randrange(0, 6)):
            at += timedelta(hours=rng.uniform(1, 200))
            events.append({"site_id": "s1", "device_id": f"d{i:04d}", "kind": "x", "type": DEVICE_OFFLINE, "ts": at,
                           "received_at": at, "msg_id": None, "data": {}})
            at += timedelta(minutes=rng.uniform(1, 600))
            events.append({"site_id": "s1", "device_id": f"d{i:04d}", "kind": "x", "type": DEVICE_ONLINE, "ts": at,
                           "received_at": at, "msg_id": None, "data": {}})
    if events:
        session.execute(insert(events_table), events)
    session.commit()


def run_report_bench(alerts: int, db_url: str | None = None, formats: tuple[str, ...] = ("csv", "xlsx", "pdf"),
                     out: Path | None = None) -> ReportBenchResult:
    scratch = None
    if db_url is None:
        scratch = tempfile.TemporaryDirectory(prefix="anju-bench-report-")
        db_url = f"sqlite:///{Path(scratch.name) / 'anju.db'}"
    engine = make_engine(db_url)
    try:
        migrate(engine)
        sessions = session_factory(engine)
        with sessions() as session:
            if session.scalar(select(Alert.id).limit(1)) is not None:
                raise ValueError(f"{db_url} already holds alerts: give an empty database")
            fill(session, alerts)
        since, until = month_bounds(MONTH, TIMEZONE)
        as_of = until + timedelta(hours=6)
        month = select(*REPORT_COLUMNS).where(Alert.created_at >= since, Alert.created_at < until,
                                              Alert.parent_id.is_(None)).order_by(Alert.id)
        with sessions() as session:  # the limit: reading the rows the report reads (once untimed: warm caches)
            session.connection().execute(month).all()
            started = time.perf_counter()
            session.connection().execute(month).all()
            bare = time.perf_counter() - started
        with sessions() as session:
            started = time.perf_counter()
            report = build_report(session, ReportQuery(since=since, until=until, group_by="grid"), as_of=as_of)
            report.model_dump_json()
            figures = time.perf_counter() - started
        result = ReportBenchResult(alerts=report.total.raised + report.total.silenced,
                                   database=engine.dialect.name, bare_select_s=round(bare, 3),
                                   report_s=round(figures, 3), groups=len(report.groups))
        for fmt in formats:
            started = time.perf_counter()
            body = export(report, fmt, community="和谐社区").body
            result.formats_s[fmt] = round(time.perf_counter() - started, 3)
            result.sizes[fmt] = len(body)
    finally:
        engine.dispose()
        if scratch is not None:
            scratch.cleanup()
    if out is not None:
        out.write_text(json.dumps({**asdict(result), "ratio": result.ratio, "target_ratio": TARGET_RATIO,
                                   "at": datetime.now(UTC).isoformat()}, indent=1))
    return result
