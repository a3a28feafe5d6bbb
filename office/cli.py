"""`anju report`: the same report as `GET /api/v1/reports/alerts`, written to a file for a cron job to mail."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from kernel.config import load_settings
from kernel.db import make_engine, session_factory
from kernel.timeutil import parse_instant, utcnow
from office.export import FORMATS, ExportError, export
from office.period import previous_month, resolve_period
from office.report import GROUP_BYS, ReportQuery, build_report
from office.sites import community_name, site_timezone


@dataclass(frozen=True, slots=True)
class ReportRequest:
    out: Path
    month: str | None = None
    since: str | None = None
    until: str | None = None
    group_by: str = "grid"
    site: str | None = None


def write_report(request: ReportRequest, config: Path | None) -> str:
    """Make the report and write it; returns a line saying what was written and how long it took."""
    fmt = request.out.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"cannot tell the format from {request.out.name!r}: end it in .pdf, .xlsx, .csv or .json")
    if request.group_by not in GROUP_BYS:
        raise ValueError(f"--group-by is one of {', '.join(GROUP_BYS)}")
    started = time.perf_counter()
    engine = make_engine(load_settings(config).db.url)
    try:
        with session_factory(engine)() as session:
            timezone = site_timezone(session, request.site)
            now = utcnow()
            since = parse_instant(request.since) if request.since is not None else None
            until = parse_instant(request.until) if request.until is not None else None
            month = request.month
            if month is None and since is None and until is None:
                month = previous_month(now.astimezone(ZoneInfo(timezone)).date())
            since, until = resolve_period(since, until, month, timezone, now)
            query = ReportQuery(since=since, until=until, group_by=request.group_by,  # type: ignore[arg-type]
                                site=request.site)
            report = build_report(session, query)
            try:
                out = export(report, fmt, community=community_name(session, request.site))
            except ExportError as exc:
                raise ValueError(str(exc)) from None
    finally:
        engine.dispose()
    request.out.write_bytes(out.body)
    return (f"{request.out}: {report.total.raised} alerts, {len(report.groups)} {request.group_by} groups, "
            f"{len(out.body)} bytes in {time.perf_counter() - started:.2f} s")
