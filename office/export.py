"""One report, any of the office's formats: the API's `format=` and `anju report --out FILE` both come here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from office.report import AlertReport
from office.tables import is_month, period_label

Format = Literal["json", "csv", "xlsx", "pdf"]
FORMATS: tuple[str, ...] = ("json", "csv", "xlsx", "pdf")


class ExportError(RuntimeError):
    """A format this host cannot write (the bulletin without a CJK font): the message says what to install."""


@dataclass(frozen=True, slots=True)
class Export:
    body: bytes
    media_type: str
    filename: str


def _json(report: AlertReport, _title: str) -> bytes:
    return report.model_dump_json(indent=1).encode()


def _csv(report: AlertReport, _title: str) -> bytes:
    from office.csvfile import render_csv
    return render_csv(report)


def _xlsx(report: AlertReport, _title: str) -> bytes:
    from office.xlsx import render_xlsx
    return render_xlsx(report)


def _pdf(report: AlertReport, title: str) -> bytes:
    from office.bulletin import BulletinError, render_bulletin  # fpdf2 and the fonts only when asked for

    try:
        return render_bulletin(report, title=title)
    except BulletinError as exc:
        raise ExportError(str(exc)) from None


_WRITERS: dict[str, tuple[str, Callable[[AlertReport, str], bytes]]] = {
    "json": ("application/json", _json),
    "csv": ("text/csv; charset=utf-8", _csv),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _xlsx),
    "pdf": ("application/pdf", _pdf),
}


def bulletin_title(report: AlertReport, community: str | None) -> str:
    """What the bulletin's first page says it is: `和谐社区 2026年11月 月度通报` (the period as the bulletin's own
    pages name it)."""
    kind = "月度通报" if is_month(report) else "通报"
    return " ".join(part for part in (community, period_label(report), kind) if part)


def export(report: AlertReport, fmt: str, *, community: str | None = None) -> Export:
    """The report in `fmt`, with its media type and a file name like `anju-alerts-2026-11-01_2026-12-01.xlsx`."""
    if fmt not in _WRITERS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    media_type, write = _WRITERS[fmt]
    zone = ZoneInfo(report.timezone)
    stem = f"anju-alerts-{report.since.astimezone(zone):%Y-%m-%d}_{report.until.astimezone(zone):%Y-%m-%d}"
    return Export(write(report, bulletin_title(report, community)), media_type, f"{stem}.{fmt}")
