"""The report as an Excel workbook: the office's own working copy of the figures.

One sheet per table of `office.tables` (the summary, dispositions, overdue alerts, daily counts, availability)
and an About sheet that says what the figures mean, so a workbook forwarded on its own still explains itself.
Numbers stay numbers with formats (a clerk sums and sorts them), clock times are real Excel datetimes in the
report's time zone (Excel has no time zones, so they are written naive and the zone is named in the header).

Alert titles come from devices and grid names from whoever configured them: a text beginning with `=` would be
stored as a formula by openpyxl and run when opened. Every text cell is therefore forced to the string type, and
one that looks like a formula also gets Excel's quote prefix, so editing the cell later does not turn it into one.
"""

from __future__ import annotations

import io
from datetime import date, datetime

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from office.report import AlertReport
from office.tables import (
    DEFINITIONS,
    GROUP_NOUNS,
    Kind,
    Table,
    availability_rows,
    daily_rows,
    disposition_rows,
    group_rows,
    local_time,
    overdue_rows,
    period_label,
    period_text,
    severity_label,
)
from office.tables import (
    Cell as Value,
)

NUMBER_FORMATS: dict[Kind, str] = {
    "count": "0", "seconds": "0.0", "pct": "0.0", "datetime": "yyyy-mm-dd hh:mm:ss", "date": "yyyy-mm-dd",
    "text": "@",
}
FORMULA_STARTS = ("=", "+", "-", "@")
MAX_TEXT = 32767
"""Excel's limit on the characters of one cell."""
BOLD = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDE6F0")
TOTAL_FILL = PatternFill("solid", fgColor="F2F2F2")


def safe_text(cell: Cell, text: str) -> None:
    """Write `text` as a plain string, never a formula, without the control characters XML cannot hold."""
    text = ILLEGAL_CHARACTERS_RE.sub("", text)[:MAX_TEXT]
    cell.value = text
    cell.data_type = "s"
    if text.startswith(FORMULA_STARTS):
        cell.quotePrefix = True


def put(ws: Worksheet, row: int, column: int, value: Value, kind: Kind = "text") -> Cell:
    """One value in its cell with the number format of its kind; None leaves the cell empty."""
    cell: Cell = ws.cell(row=row, column=column)
    if value is None:
        return cell
    if isinstance(value, str):
        safe_text(cell, value)
    else:
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.replace(tzinfo=None)  # tables give local times; Excel stores none
        cell.value = value
        if kind != "text":
            cell.number_format = NUMBER_FORMATS[kind]
        elif isinstance(value, datetime):
            cell.number_format = NUMBER_FORMATS["datetime"]
        elif isinstance(value, date):
            cell.number_format = NUMBER_FORMATS["date"]
    return cell


def write_table(ws: Worksheet, table: Table, *, top: int = 1) -> int:
    """The table with a bold, wrapped header row frozen at `top`; returns the next free row."""
    for index, column in enumerate(table.columns, start=1):
        cell = put(ws, top, index, column.header)
        cell.font, cell.fill = BOLD, HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        letter = get_column_letter(index)
        ws.column_dimensions[letter].width = column.width
    ws.row_dimensions[top].height = 45
    ws.freeze_panes = ws.cell(row=top + 1, column=1)
    first_footer = len(table.rows) - table.footer_rows
    for offset, values in enumerate(table.rows):
        row = top + 1 + offset
        for index, (column, value) in enumerate(zip(table.columns, values, strict=True), start=1):
            cell = put(ws, row, index, value, column.kind)
            if offset >= first_footer:
                cell.font, cell.fill = BOLD, TOTAL_FILL
    return top + 1 + len(table.rows)


def _about(ws: Worksheet, report: AlertReport) -> None:
    """What the workbook covers and how its figures are defined."""
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 70
    ws.column_dimensions["C"].width = 16
    ws.column_dimensions["D"].width = 16
    ws.column_dimensions["E"].width = 90
    noun_zh, noun_en = GROUP_NOUNS[report.group_by]
    lines: list[tuple[str, str]] = [
        ("报表 report", f"告警处置统计 {period_label(report)} alerts report"),
        ("统计期间 period", period_text(report)),
        ("时区 time zone", report.timezone),
        ("数据截至 as of", f"{local_time(report, report.as_of):%Y-%m-%d %H:%M:%S}"),
        ("分组 grouped by", f"{noun_zh} {noun_en}"),
        ("筛选 filters", "; ".join(f"{k}={v}" for k, v in sorted(report.filters.items())) or "无 none"),
    ]
    row = 1
    for name, value in lines:
        put(ws, row, 1, name).font = BOLD
        put(ws, row, 2, value)
        row += 1

    row += 1
    put(ws, row, 1, "响应目标 targets").font = BOLD
    row += 1
    for index, header in enumerate(("社区 site", "级别 severity", "响应目标(秒) acknowledge (s)",
                                    "办结目标(秒) resolve (s)"), start=1):
        cell = put(ws, row, index, header)
        cell.font, cell.fill = BOLD, HEADER_FILL
    row += 1
    for site, targets in sorted(report.targets.items()):
        for severity, target in targets.items():
            put(ws, row, 1, site)
            put(ws, row, 2, f"{severity_label(severity)} {severity}")
            put(ws, row, 3, target.acknowledge_seconds, "seconds")
            put(ws, row, 4, target.resolve_seconds, "seconds")
            row += 1

    row += 1
    put(ws, row, 1, "口径 definitions").font = BOLD
    row += 1
    for name, chinese, english in DEFINITIONS:
        put(ws, row, 1, name).font = BOLD
        put(ws, row, 2, chinese).alignment = Alignment(wrap_text=True, vertical="top")
        ws.merge_cells(start_row=row, start_column=2, end_row=row, end_column=4)
        put(ws, row, 5, english).alignment = Alignment(wrap_text=True, vertical="top")
        ws.row_dimensions[row].height = 48
        row += 1

    row += 1
    put(ws, row, 1, "处置 dispositions").font = BOLD
    row += 1
    for key, label in report.dispositions.items():
        put(ws, row, 1, key)
        put(ws, row, 2, label)
        row += 1
    truncated = [g for g in report.groups if g.overdue_count > len(g.overdue)]
    if truncated:
        row += 1
        put(ws, row, 1, "超时未办 overdue").font = BOLD
        put(ws, row, 2, "每组只列出最早的若干条 only the oldest are listed: " + "; ".join(
            f"{g.label} {len(g.overdue)}/{g.overdue_count}" for g in truncated))


def render_xlsx(report: AlertReport) -> bytes:
    """The workbook: 汇总 Summary, 处置 Dispositions, 超时未办 Overdue, 每日 Daily, 设备在线率 Availability and
    说明 About, in the order a clerk reads them."""
    workbook = Workbook()
    first = workbook.active
    assert first is not None  # a new workbook always has its first sheet
    workbook.remove(first)
    for table in (group_rows(report), disposition_rows(report), overdue_rows(report), daily_rows(report),
                  availability_rows(report)):
        write_table(workbook.create_sheet(table.name), table)
    _about(workbook.create_sheet("说明 About"), report)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
