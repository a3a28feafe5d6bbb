"""The community office's report (SPEC §7): figures per site, grid, rule or severity, as JSON, CSV, XLSX or the
monthly bulletin (PDF). What each figure means: `office.report` and docs/office.md."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import Field

from api.auth import Permission, Principal
from api.deps import DB, errors, require
from api.routers._common import ConfigReader, ConfigWriter, Instant, PathId, commit, get_or_404, unprocessable
from api.visibility import alert_filter, device_filter
from kernel.db.models import Site
from kernel.siteconfig import ID_PATTERN, ResponseTargets
from kernel.timeutil import utcnow
from kernel.vocabulary import Severity
from office.export import ExportError, Format, export
from office.period import MONTH, resolve_period
from office.report import AlertReport, GroupBy, ReportQuery, build_report, targets_of
from office.sites import community_name, site_timezone

router = APIRouter(tags=["office reports"])
Reader = Annotated[Principal, Depends(require(Permission.REPORTS_READ))]
Id = Annotated[str | None, Query(pattern=ID_PATTERN)]
FILES: dict[str, dict[str, str]] = {
    "text/csv": {}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}, "application/pdf": {}}


@router.get("/reports/alerts", response_model=AlertReport, responses={**errors(422, 503), 200: {"content": FILES}})
def alert_report(
    session: DB,
    who: Reader,
    since: Annotated[Instant | None, Query(alias="from", description="start (inclusive); default: the start "
                                                                     "of this month in the site's time zone")] = None,
    until: Annotated[Instant | None, Query(alias="to", description="end (exclusive); default: now")] = None,
    month: Annotated[str | None, Query(pattern=MONTH.pattern, description="a calendar month in the site's time "
                                                                          "zone, instead of `from`/`to`")] = None,
    group_by: GroupBy = "grid",
    fmt: Annotated[Format, Query(alias="format", description="json; csv (the group table); xlsx (every "
                                                             "table); pdf (the bulletin, in Chinese)")] = "json",
    site: Id = None,
    grid: Id = None,
    rule: Annotated[str | None, Query(max_length=64)] = None,
    severity: Severity | None = None,
) -> Response | AlertReport:
    """Alerts raised in the period, per group: raised, acknowledged, resolved, escalated, time to acknowledge and to
    resolve (p50, p90), the share within the target of their severity, dispositions, the alerts still open past
    their target, and device availability by kind. At most 366 days."""
    try:
        since, until = resolve_period(since, until, month, site_timezone(session, site), utcnow())
        query = ReportQuery(since=since, until=until, group_by=group_by, site=site, grid=grid, rule=rule,
                            severity=severity)
        report = build_report(session, query, alert_scope=alert_filter(who), device_scope=device_filter(who))
    except ValueError as exc:
        raise unprocessable(str(exc)) from None
    if fmt == "json":
        return report
    try:
        out = export(report, fmt, community=community_name(session, site))
    except ExportError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    disposition = f"attachment; filename=\"{out.filename}\"; filename*=UTF-8''{quote(out.filename)}"
    return Response(out.body, media_type=out.media_type, headers={"Content-Disposition": disposition})


class TargetsOut(ResponseTargets):
    site: str
    default: bool = Field(description="true: the site has no targets of its own (these are the defaults)")


def _targets_out(site: Site) -> TargetsOut:
    targets = targets_of(site.targets)
    return TargetsOut(site=site.id, default=not site.targets, **targets.model_dump())


@router.get("/sites/{site_id}/targets", response_model=TargetsOut, responses=errors(404, 422))
def get_targets(site_id: PathId, session: DB, _who: ConfigReader) -> TargetsOut:
    """How soon each severity should be acknowledged and resolved at this site (the office's reports judge by it)."""
    return _targets_out(get_or_404(session, Site, site_id, "site"))


@router.put("/sites/{site_id}/targets", response_model=TargetsOut, responses=errors(404, 409, 422))
def put_targets(site_id: PathId, body: ResponseTargets, session: DB, _who: ConfigWriter) -> TargetsOut:
    """Replace the site's targets; a severity left out keeps its default (`critical: {acknowledge: 90s}` keeps
    critical's resolve target). A site file that names `targets:` sets them again at the next start."""
    site = get_or_404(session, Site, site_id, "site")
    site.targets = body.model_dump()
    commit(session, f"site {site_id} was changed concurrently")
    return _targets_out(site)
