"""The report's output formats (CSV, XLSX, the PDF bulletin) from `AlertReport` objects built here, no database.

The figures themselves are `office.report`'s business and tested against a database elsewhere; here a report with
known numbers goes in and the same numbers must come out of every format, readable by the tools the office uses
(Excel-compatible CSV, openpyxl, a PDF renderer), whatever the alert titles contain.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pypdfium2 as pdfium
import pytest

from kernel.vocabulary import DISPOSITION_LABELS, DISPOSITIONS, SEVERITIES
from office import bulletin
from office.availability import KindAvailability
from office.bulletin import BulletinError, human_duration, rank, render_bulletin
from office.charts import nice_ticks
from office.csvfile import render_csv
from office.report import (
    AlertReport,
    GroupFigures,
    OverdueAlert,
    Percentiles,
    SeverityTargetOut,
    TargetShare,
)
from office.tables import group_rows
from office.xlsx import render_xlsx

SINCE = datetime(2026, 10, 31, 16, tzinfo=UTC)  # 2026-11-01 00:00 in Shanghai
UNTIL = datetime(2026, 11, 30, 16, tzinfo=UTC)
AS_OF = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
DAYS = [date(2026, 11, 1) + timedelta(days=n) for n in range(30)]
HOSTILE = '=HYPERLINK("http://x","y")'
TITLE = "和谐社区 2026年11月 智慧安防月度通报"
NUMERALS = "一二三四五六七八九十"


def _share(met: int, counted: int) -> TargetShare:
    return TargetShare(met=met, counted=counted, pct=round(100.0 * met / counted, 1) if counted else None)


def _overdue(grid: str, number: int, title: str, age_hours: float) -> OverdueAlert:
    created = AS_OF - timedelta(hours=age_hours)
    return OverdueAlert(id=number, site="hexie", grid=grid, rule="fence_alarm", severity="major", title=title,
                        state="open", created_at=created, age_seconds=age_hours * 3600.0, missed="acknowledge",
                        target_seconds=300.0)


def _figures(key: str | None, label: str, index: int, overdue: list[OverdueAlert]) -> GroupFigures:
    """A grid's month with plausible numbers: 2–9 alerts a day, most owned within target."""
    daily = [2 + (day * (index + 3) + 5 * index) % 6 + (2 if day % 7 in (5, 6) else 0) for day in range(30)]
    raised = sum(daily)
    open_ = 2 + index % 3
    resolved = raised - open_
    acknowledged = raised - 1 - index % 3
    disposed = {"handled": resolved * 4 // 10, "referred": resolved // 10, "false_alarm": resolved // 4,
                "device_fault": resolved // 10, "test": 2, "duplicate": 1}
    dispositions = {**disposed, "unspecified": resolved - sum(disposed.values())}
    by_severity = {"critical": raised // 6, "major": raised // 4, "warning": raised // 10}
    by_severity = {s: by_severity.get(s, raised - sum(by_severity.values())) for s in SEVERITIES}
    return GroupFigures(
        key=key, label=label, raised=raised, acknowledged=acknowledged, resolved=resolved, open=open_,
        escalated=3 + index % 4, beyond_community=index % 2, silenced=index % 3,
        time_to_acknowledge=Percentiles(count=acknowledged, p50=48.0 + 20 * index, p90=192.0 + 100 * index),
        time_to_resolve=Percentiles(count=resolved, p50=1500.0 + 300 * index, p90=7512.0 + 600 * index),
        acknowledged_within_target=_share(acknowledged - 4 - index, acknowledged),
        resolved_within_target=_share(resolved - 6 - index, resolved),
        dispositions=dispositions, by_severity=by_severity, daily=daily, overdue_count=len(overdue),
        overdue=overdue,
        availability=[KindAvailability(kind="elder_button", devices=40 + index, uptime_pct=99.2 - index / 10,
                                       outages=3 + index),
                      KindAvailability(kind="access_gate", devices=12, uptime_pct=97.5, outages=8),
                      KindAvailability(kind="fence", devices=4, uptime_pct=None, outages=0)])


def make_report(grids: int = 3, *, hostile: bool = False, quiet: bool = False) -> AlertReport:
    """Hexie community, November 2026, grouped by grid; grid 2 has a few overdue alerts, grid 3 has 20."""
    groups: list[GroupFigures] = []
    for index in range(0 if quiet else grids):
        overdue: list[OverdueAlert] = []
        if index == 1:
            overdue = [_overdue("g2", 9001, HOSTILE if hostile else "3号楼 一键通 呼叫", 30),
                       _overdue("g2", 9002, "周界围栏 Z2 报警 " * 20, 12.5),
                       _overdue("g2", 9003, "东门 门禁 强行开门", 2)]
        elif index == 2:
            overdue = [_overdue("g3", 9100 + n, f"车库 车牌识别 离线 {n}", 100 - n) for n in range(20)]
        name = f"第{NUMERALS[index]}网格" if index < len(NUMERALS) else f"第{index + 1}网格"
        groups.append(_figures(f"g{index + 1}", name, index, overdue))
    total = _total(groups)
    return AlertReport(
        since=SINCE, until=UNTIL, as_of=AS_OF, timezone="Asia/Shanghai", group_by="grid", filters={}, days=DAYS,
        targets={"hexie": {"critical": SeverityTargetOut(acknowledge_seconds=60, resolve_seconds=3600),
                           "major": SeverityTargetOut(acknowledge_seconds=300, resolve_seconds=14400),
                           "minor": SeverityTargetOut(acknowledge_seconds=1800, resolve_seconds=86400),
                           "warning": SeverityTargetOut(acknowledge_seconds=14400, resolve_seconds=259200)}},
        dispositions={**DISPOSITION_LABELS, "unspecified": "未填写 not given"}, total=total, groups=groups,
        availability=[KindAvailability(kind="elder_button", devices=130, uptime_pct=99.1, outages=12),
                      KindAvailability(kind="access_gate", devices=36, uptime_pct=97.5, outages=24),
                      KindAvailability(kind="fence", devices=12, uptime_pct=None, outages=0)])


def _total(groups: list[GroupFigures]) -> GroupFigures:
    def add(name: str) -> int:
        return sum(getattr(g, name) for g in groups)

    def merged(name: str, keys: Any) -> dict[str, int]:
        return {k: sum(getattr(g, name)[k] for g in groups) for k in keys}

    ack = (sum(g.acknowledged_within_target.met for g in groups),
           sum(g.acknowledged_within_target.counted for g in groups))
    res = (sum(g.resolved_within_target.met for g in groups), sum(g.resolved_within_target.counted for g in groups))
    overdue = sorted((a for g in groups for a in g.overdue), key=lambda a: a.created_at)
    return GroupFigures(
        key=None, label="合计", raised=add("raised"), acknowledged=add("acknowledged"), resolved=add("resolved"),
        open=add("open"), escalated=add("escalated"), beyond_community=add("beyond_community"),
        silenced=add("silenced"),
        time_to_acknowledge=Percentiles(count=add("acknowledged"), p50=61.0, p90=252.0) if groups else
        Percentiles(count=0, p50=None, p90=None),
        time_to_resolve=Percentiles(count=add("resolved"), p50=1800.0, p90=8100.0) if groups else
        Percentiles(count=0, p50=None, p90=None),
        acknowledged_within_target=_share(*ack), resolved_within_target=_share(*res),
        dispositions=merged("dispositions", (*DISPOSITIONS, "unspecified")),
        by_severity=merged("by_severity", SEVERITIES),
        daily=[sum(g.daily[n] for g in groups) for n in range(30)],
        overdue_count=len(overdue), overdue=overdue)


# --- tables and CSV ---

def _number(text: str) -> float | None:
    return None if text == "" else float(text)


def test_csv_round_trips_the_group_figures_with_a_bom() -> None:
    report = make_report()
    data = render_csv(report)
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    header, body = rows[0], rows[1:]
    assert header == group_rows(report).headers
    assert "响应中位数(秒) ack p50 (s)" in header and "按时响应率(%) ack within target (%)" in header
    assert len(body) == len(report.groups) + 1
    column = {name: index for index, name in enumerate(header)}
    for row, group in zip(body, [*report.groups, report.total], strict=True):
        assert row[column["网格 grid"]] == group.label
        assert int(row[column["告警数 raised"]]) == group.raised
        assert int(row[column["未办结 open"]]) == group.open
        assert _number(row[column["响应P90(秒) ack p90 (s)"]]) == group.time_to_acknowledge.p90
        assert _number(row[column["办结中位数(秒) resolve p50 (s)"]]) == group.time_to_resolve.p50
        assert _number(row[column["按时响应率(%) ack within target (%)"]]) == group.acknowledged_within_target.pct
        assert int(row[column["处置:误报 disposition: false_alarm"]]) == group.dispositions["false_alarm"]
    assert body[-1][0] == "" and body[-1][1] == "合计"


def test_csv_keeps_an_empty_figure_empty_and_a_formula_inert() -> None:
    report = make_report()
    report.groups[0].label = "=cmd|' /C calc'!A0"
    report.groups[0].time_to_acknowledge = Percentiles(count=0, p50=None, p90=None)
    rows = list(csv.reader(io.StringIO(render_csv(report).decode("utf-8-sig"), newline="")))
    assert rows[1][1] == "'=cmd|' /C calc'!A0"
    assert rows[1][rows[0].index("响应中位数(秒) ack p50 (s)")] == ""


# --- XLSX ---

def test_xlsx_opens_with_the_reports_numbers_and_inert_titles() -> None:
    report = make_report(hostile=True)
    book = openpyxl.load_workbook(io.BytesIO(render_xlsx(report)))
    assert book.sheetnames == ["汇总 Summary", "处置 Dispositions", "超时未办 Overdue", "每日 Daily",
                               "设备在线率 Availability", "说明 About"]
    summary = book["汇总 Summary"]
    assert summary.freeze_panes == "A2"
    assert summary["A1"].font.bold
    headers = [cell.value for cell in summary[1]]
    column = {name: index + 1 for index, name in enumerate(headers)}
    for offset, group in enumerate([*report.groups, report.total]):
        row = offset + 2
        assert summary.cell(row, 2).value == group.label
        assert summary.cell(row, column["告警数 raised"]).value == group.raised
        assert summary.cell(row, column["已升级 escalated"]).value == group.escalated
        assert summary.cell(row, column["响应中位数(秒) ack p50 (s)"]).value == group.time_to_acknowledge.p50
        assert summary.cell(row, column["办结P90(秒) resolve p90 (s)"]).value == group.time_to_resolve.p90
        pct = summary.cell(row, column["按时办结率(%) resolved within target (%)"])
        assert pct.value == group.resolved_within_target.pct and pct.number_format == "0.0"
    assert summary.cell(len(report.groups) + 2, 2).font.bold  # the total row

    overdue = book["超时未办 Overdue"]
    titles = {overdue.cell(row, 7).value: overdue.cell(row, 7) for row in range(2, overdue.max_row + 1)}
    cell = titles[HOSTILE]
    assert cell.data_type == "s" and cell.value == HOSTILE  # a string, not a formula
    created = overdue.cell(2, 9).value
    assert isinstance(created, datetime) and created.tzinfo is None
    first = report.groups[1].overdue[0]
    assert created == first.created_at.astimezone(bulletin_zone()).replace(tzinfo=None)

    daily = book["每日 Daily"]
    assert [c.value for c in daily[1]] == ["日期 date", "第一网格", "第二网格", "第三网格", "合计 total"]
    assert daily.cell(2, 1).value == datetime(2026, 11, 1)
    assert [daily.cell(r, 5).value for r in range(2, 32)] == report.total.daily
    about = book["说明 About"]
    texts = [c.value for row in about.iter_rows() for c in row if isinstance(c.value, str)]
    assert "Asia/Shanghai" in texts and any("最近秩" in t for t in texts)


def bulletin_zone() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


# --- the bulletin ---

def _pages(data: bytes) -> list[str]:
    document = pdfium.PdfDocument(data)
    return [document[n].get_textpage().get_text_range() for n in range(len(document))]


def test_bulletin_renders_the_month_in_chinese_with_its_figures() -> None:
    report = make_report(hostile=True)
    data = render_bulletin(report, title=TITLE)
    document = pdfium.PdfDocument(data)
    assert len(document) == 1 + len(report.groups) + 1  # summary, one page per grid, availability and definitions
    image = document[0].render(scale=1).to_pil().convert("L")
    dark = sum(image.histogram()[:128])
    assert dark > 0.01 * image.width * image.height
    pages = _pages(data)
    first = pages[0]
    assert TITLE in first
    assert "网格排名" in first and "第二网格" in first
    assert f"{report.total.acknowledged_within_target.pct:.1f}%" in first
    assert "4分12秒" in first  # the total's p90 to acknowledge, 252 s
    assert "共 5 页" in first and "第 1 页" in first
    grid_one = pages[1]
    assert "网格：第一网格" in grid_one and "3分12秒" in grid_one and "2小时5分" in grid_one
    assert "排名 第" in grid_one
    assert "HYPERLINK" in pages[2]  # the hostile title is only text, cut to its cell
    assert "共 20 件" in pages[3] and "最早 15 件" in pages[3]
    assert "统计口径" in pages[-1] and "一键通" in pages[-1]


def test_a_month_without_alerts_still_renders_a_bulletin() -> None:
    data = render_bulletin(make_report(quiet=True))
    pages = _pages(data)
    assert len(pages) == 2
    assert "本月无告警" in pages[0] and "月度通报 2026年11月" in pages[0]


def test_two_hundred_grids_and_hostile_labels_render() -> None:
    report = make_report(200)
    report.groups[5].label = "\u202e" + "长" * 500 + "\x00\n😀 مرحبا {nb} {anju:nb}"
    report.groups[6].overdue[0:0] = [_overdue("g7", 1, "x" * 10_000 + "\u0000", 1)]
    data = render_bulletin(report)
    document = pdfium.PdfDocument(data)
    assert len(document) > 200
    assert "第200网格" in "".join(_pages(data)[-3:])


def test_without_a_cjk_font_the_bulletin_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANJU_REPORT_FONT", raising=False)
    monkeypatch.setattr(bulletin, "_fc_match", lambda pattern: None)
    monkeypatch.setattr(bulletin, "KNOWN_FONTS", (("/nonexistent/a.ttc", "/nonexistent/b.ttc"),))
    with pytest.raises(BulletinError, match="apt-get install fonts-noto-cjk"):
        render_bulletin(make_report())
    monkeypatch.setenv("ANJU_REPORT_FONT", "/nonexistent/font.ttf")
    with pytest.raises(BulletinError, match="fonts-noto-cjk"):
        render_bulletin(make_report())


def test_a_report_by_severity_renders_in_every_format() -> None:
    report = make_report()
    report.group_by = "severity"
    for group, (key, label) in zip(report.groups, [("critical", "紧急"), ("major", "重要"), ("minor", "一般")],
                                   strict=True):
        group.key, group.label, group.availability = key, label, None
    header = next(csv.reader(io.StringIO(render_csv(report).decode("utf-8-sig"))))
    assert header[:2] == ["编号 severity id", "级别 severity"]
    assert openpyxl.load_workbook(io.BytesIO(render_xlsx(report)))["汇总 Summary"]["B2"].value == "紧急"
    pages = _pages(render_bulletin(report))
    assert "分级别情况" in pages[0] and "排名规则" not in pages[0]
    assert "级别：紧急（critical）" in pages[1]


def test_the_font_is_the_simplified_chinese_face_of_the_collection(monkeypatch: pytest.MonkeyPatch) -> None:
    regular, bold = bulletin.KNOWN_FONTS[0]
    monkeypatch.setenv("ANJU_REPORT_FONT", regular)
    fonts = bulletin.find_fonts()
    assert fonts.regular == bulletin.FontFile(Path(regular), 2) and fonts.bold == bulletin.FontFile(Path(bold), 2)
    monkeypatch.delenv("ANJU_REPORT_FONT")
    monkeypatch.setattr(bulletin, "_fc_match", lambda pattern: None)
    assert bulletin.find_fonts().regular == bulletin.FontFile(Path(regular), 2)


# --- the pieces ---

@pytest.mark.parametrize(("seconds", "text"), [
    (None, "—"), (0.0, "0秒"), (0.4, "不足1秒"), (48.0, "48秒"), (192.0, "3分12秒"), (180.0, "3分"),
    (7512.0, "2小时5分"), (7200.0, "2小时"), (97200.0, "1天3小时"),
])
def test_durations_read_as_the_office_says_them(seconds: float | None, text: str) -> None:
    assert human_duration(seconds) == text


def test_ranking_puts_the_best_answered_first_and_the_unjudged_last() -> None:
    report = make_report()
    a, b, c = report.groups
    a.acknowledged_within_target = _share(9, 10)
    b.acknowledged_within_target = _share(0, 0)
    c.acknowledged_within_target = _share(18, 20)
    c.time_to_acknowledge = Percentiles(count=20, p50=10, p90=a.time_to_acknowledge.p90)
    c.raised = a.raised
    assert [(place, g.label) for place, g in rank([b, c, a])] == [(1, "第一网格"), (1, "第三网格"), (3, "第二网格")]
    c.raised = a.raised + 1
    assert [g.label for _, g in rank([b, c, a])] == ["第一网格", "第三网格", "第二网格"]
    assert rank([b, c, a])[1][0] == 2


def test_ticks_are_round() -> None:
    assert nice_ticks(0) == [0.0, 1.0]
    assert nice_ticks(3) == [0.0, 1.0, 2.0, 3.0]
    assert nice_ticks(23) == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]
    assert nice_ticks(870)[-1] == 1000.0
