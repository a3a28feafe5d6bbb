"""The office's report as flat tables: the one place that decides the columns and their headers.

CSV and XLSX both write these tables, so a column is named, ordered and typed once. Headers are bilingual,
Chinese first as the office reads them, the English after it for integrators and the API's users
(`响应中位数(秒) ack p50 (s)`). Cells keep numbers as numbers (a spreadsheet must be able to sum them) and
`None` where the report has no value (a p90 of no alert is unknown, not zero); each writer decides how to show
an empty cell. Times are local to the report's time zone and naive, because that is how the office reads a
clock time and what a spreadsheet can store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from devices import get_driver
from office.availability import KindAvailability
from office.report import SEVERITY_LABELS, AlertReport, GroupFigures, OverdueAlert

Cell = str | int | float | datetime | date | None
Kind = Literal["text", "count", "seconds", "pct", "datetime", "date"]
"""How a column's cells are shown: writers pick number formats and widths from it."""

GROUP_NOUNS: dict[str, tuple[str, str]] = {
    "site": ("社区", "site"), "grid": ("网格", "grid"), "rule": ("规则", "rule"), "severity": ("级别", "severity"),
}
"""What a group is called in headers and titles, by `group_by`."""
MISSED_LABELS: dict[str, str] = {"acknowledge": "超时未响应", "resolve": "超时未办结"}
STATE_LABELS: dict[str, str] = {"open": "待响应", "acknowledged": "处理中", "resolved": "已办结"}


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    header: str
    kind: Kind = "count"
    width: int = 10
    """Approximate width in characters, for spreadsheets."""


@dataclass(slots=True)
class Table:
    """Rows under bilingual headers; the last `footer_rows` rows are sums (a writer sets them apart)."""

    name: str
    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    footer_rows: int = 0

    @property
    def headers(self) -> list[str]:
        return [column.header for column in self.columns]


def split_label(label: str) -> tuple[str, str]:
    """`"现场处置 real incident, handled on the spot"` → the Chinese part and the English part.

    The vocabulary's labels are written Chinese first, then the English after one space; a label without a space
    is all Chinese.
    """
    chinese, _, english = label.strip().partition(" ")
    return chinese, english.strip()


def disposition_name(report: AlertReport, key: str) -> str:
    """The Chinese name of a disposition, as the office reads it (the key when the report has no label)."""
    return split_label(report.dispositions.get(key, key))[0] or key


def kind_label(kind: str) -> str:
    """A device kind as the office knows it (`一键通 elder alarm button`), from its driver; the kind itself for a
    kind no installed driver knows any more."""
    driver = get_driver(kind)
    return driver.title if driver is not None else kind


def severity_label(severity: str) -> str:
    return SEVERITY_LABELS.get(severity, severity)


def local_time(report: AlertReport, moment: datetime) -> datetime:
    """`moment` as the clock in the report's time zone showed it, naive (a naive `moment` is taken as UTC)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(report.timezone)).replace(tzinfo=None)


def _group_columns(report: AlertReport) -> list[Column]:
    noun_zh, noun_en = GROUP_NOUNS[report.group_by]
    columns = [
        Column("key", f"编号 {noun_en} id", "text", 14),
        Column("label", f"{noun_zh} {noun_en}", "text", 18),
        Column("raised", "告警数 raised"),
        Column("acknowledged", "已响应 acknowledged"),
        Column("resolved", "已办结 resolved"),
        Column("open", "未办结 open"),
        Column("overdue", "超时未办 overdue"),
        Column("escalated", "已升级 escalated"),
        Column("beyond_community", "升至街道及以上 beyond community", width=14),
        Column("silenced", "静默期内 silenced"),
        Column("ack_p50", "响应中位数(秒) ack p50 (s)", "seconds", 12),
        Column("ack_p90", "响应P90(秒) ack p90 (s)", "seconds", 12),
        Column("resolve_p50", "办结中位数(秒) resolve p50 (s)", "seconds", 12),
        Column("resolve_p90", "办结P90(秒) resolve p90 (s)", "seconds", 12),
        Column("ack_met", "按时响应 ack within target", width=12),
        Column("ack_counted", "响应应评 ack judged", width=12),
        Column("ack_pct", "按时响应率(%) ack within target (%)", "pct", 14),
        Column("resolve_met", "按时办结 resolved within target", width=12),
        Column("resolve_counted", "办结应评 resolve judged", width=12),
        Column("resolve_pct", "按时办结率(%) resolved within target (%)", "pct", 14),
    ]
    for key in dispositions(report):
        columns.append(Column(f"disposition_{key}", f"处置:{disposition_name(report, key)} disposition: {key}",
                              width=12))
    for severity in severities(report):
        columns.append(Column(f"severity_{severity}", f"{severity_label(severity)} {severity}", width=9))
    return columns


def dispositions(report: AlertReport) -> list[str]:
    """The disposition keys in the vocabulary's order, then any the figures have beyond it (a newer release)."""
    keys = list(report.dispositions)
    for group in (report.total, *report.groups):
        keys.extend(key for key in group.dispositions if key not in keys)
    return keys


def severities(report: AlertReport) -> list[str]:
    keys = list(report.total.by_severity)
    for group in report.groups:
        keys.extend(key for key in group.by_severity if key not in keys)
    return keys


def _group_row(report: AlertReport, group: GroupFigures) -> list[Cell]:
    ack, res = group.acknowledged_within_target, group.resolved_within_target
    row: list[Cell] = [
        group.key, group.label, group.raised, group.acknowledged, group.resolved, group.open, group.overdue_count,
        group.escalated, group.beyond_community, group.silenced,
        group.time_to_acknowledge.p50, group.time_to_acknowledge.p90,
        group.time_to_resolve.p50, group.time_to_resolve.p90,
        ack.met, ack.counted, ack.pct, res.met, res.counted, res.pct,
    ]
    row.extend(group.dispositions.get(key, 0) for key in dispositions(report))
    row.extend(group.by_severity.get(key, 0) for key in severities(report))
    return row


def group_rows(report: AlertReport) -> Table:
    """One row per group, in the report's order, then the total row (SPEC §7: the figures per group)."""
    table = Table("汇总 Summary", _group_columns(report), footer_rows=1)
    table.rows = [_group_row(report, group) for group in report.groups]
    table.rows.append(_group_row(report, report.total))
    return table


def overdue_rows(report: AlertReport) -> Table:
    """The alerts still open past their target, group by group (oldest first in each, as the report lists them)."""
    noun_zh, noun_en = GROUP_NOUNS[report.group_by]
    table = Table("超时未办 Overdue", [
        Column("group", f"分组({noun_zh}) group ({noun_en})", "text", 16),
        Column("id", "告警编号 alert id", width=10),
        Column("site", "社区编号 site id", "text", 12),
        Column("grid", "网格编号 grid id", "text", 12),
        Column("rule", "规则 rule", "text", 16),
        Column("severity", "级别 severity", "text", 10),
        Column("title", "标题 title", "text", 40),
        Column("state", "状态 state", "text", 10),
        Column("created_at", f"发生时间 raised at ({report.timezone})", "datetime", 20),
        Column("age_seconds", "已过时长(秒) age (s)", "seconds", 12),
        Column("missed", "未按时 missed", "text", 12),
        Column("target_seconds", "目标(秒) target (s)", "seconds", 10),
    ])
    for group in report.groups:
        table.rows.extend(_overdue_row(report, group, alert) for alert in group.overdue)
    return table


def _overdue_row(report: AlertReport, group: GroupFigures, alert: OverdueAlert) -> list[Cell]:
    return [group.label, alert.id, alert.site, alert.grid, alert.rule,
            f"{severity_label(alert.severity)} {alert.severity}", alert.title,
            f"{STATE_LABELS.get(alert.state, alert.state)} {alert.state}", local_time(report, alert.created_at),
            alert.age_seconds, f"{MISSED_LABELS.get(alert.missed, alert.missed)} {alert.missed}",
            alert.target_seconds]


def disposition_rows(report: AlertReport) -> Table:
    """How the resolved alerts ended, one row per group and disposition, each with its share of the resolved."""
    noun_zh, noun_en = GROUP_NOUNS[report.group_by]
    table = Table("处置 Dispositions", [
        Column("key", f"编号 {noun_en} id", "text", 14),
        Column("label", f"{noun_zh} {noun_en}", "text", 18),
        Column("disposition", "处置 disposition", "text", 14),
        Column("disposition_label", "说明 meaning", "text", 40),
        Column("count", "件数 count"),
        Column("pct", "占已办结(%) share of resolved (%)", "pct", 14),
    ])
    groups = [*report.groups, report.total]
    for group in groups:
        resolved = sum(group.dispositions.values())
        for key in dispositions(report):
            count = group.dispositions.get(key, 0)
            table.rows.append([group.key, group.label, key, report.dispositions.get(key, key), count,
                               round(100.0 * count / resolved, 1) if resolved else None])
    table.footer_rows = len(dispositions(report))
    return table


def availability_rows(report: AlertReport) -> Table:
    """Devices online by kind: the whole scope first, then each site or grid when the report has them."""
    noun_zh, noun_en = GROUP_NOUNS[report.group_by]
    table = Table("设备在线率 Availability", [
        Column("group", f"范围({noun_zh}) scope ({noun_en})", "text", 18),
        Column("kind", "设备类型 kind", "text", 14),
        Column("kind_label", "名称 name", "text", 26),
        Column("devices", "设备数 devices"),
        Column("uptime_pct", "在线率(%) uptime (%)", "pct", 12),
        Column("outages", "离线次数 outages"),
    ])

    def add(scope: str, rows: list[KindAvailability]) -> None:
        table.rows.extend([scope, row.kind, kind_label(row.kind), row.devices, row.uptime_pct, row.outages]
                          for row in rows)

    add("全部 all", report.availability)
    for group in report.groups:
        if group.availability:
            add(group.label, group.availability)
    return table


def daily_rows(report: AlertReport) -> Table:
    """Alerts raised per local day: one column per group, then the total."""
    columns = [Column("day", "日期 date", "date", 12)]
    columns.extend(Column(f"group_{index}", group.label, width=max(8, min(20, len(group.label) * 2)))
                   for index, group in enumerate(report.groups))
    columns.append(Column("total", "合计 total"))
    table = Table("每日 Daily", columns)
    for index, day in enumerate(report.days):
        row: list[Cell] = [day]
        row.extend(_day(group, index) for group in report.groups)
        row.append(_day(report.total, index))
        table.rows.append(row)
    return table


def _day(group: GroupFigures, index: int) -> int:
    return group.daily[index] if index < len(group.daily) else 0


DEFINITIONS: tuple[tuple[str, str, str], ...] = (
    ("统计口径", "按告警发生时间计入期间；并入停电等汇总告警的只计一次；"
                 "维护静默期内发生的只计为“静默期内”，不计入其他各项。",
     "An alert counts in the period it was raised in; alerts folded under an outage count once, as the outage; "
     "alerts raised under a silence count as silenced and nowhere else."),
    ("响应用时", "从告警发生到第一次有人处理：确认，或未确认而直接办结。系统自动解除的告警不算有人响应。",
     "Time to acknowledge: raised → the first person's step (the acknowledgement, or a resolution without one). "
     "An alert the system resolved was never acknowledged."),
    ("办结用时", "从告警发生到办结，不论由谁办结。",
     "Time to resolve: raised → resolved, whoever resolved it."),
    ("中位数与P90", "最近秩百分位：至少50%（90%）的告警用时不超过此值，即“90%的告警在P90内响应”。",
     "p50 and p90 are nearest-rank percentiles: at least 50 % (90 %) of the alerts took no longer."),
    ("按时率", "已答复、或已过目标时间仍未答复的告警计入“应评”；其中在本社区该级别目标内答复的为“按时”。"
               "尚在目标时间内的告警暂不评。",
     "Within target: an alert is judged once answered or past its target without an answer (counted); met are "
     "those answered within the target of their site and severity. An alert still inside its target is not "
     "judged yet."),
    ("升级", "升至第一响应人以上至少一级为“已升级”；升两级及以上（街道及以上）为“升至街道及以上”。",
     "Escalated: climbed at least one level above the first responders; beyond community: two levels or more "
     "(the street or above)."),
    ("超时未办", "出具报告时仍未办结且已超过目标：无人响应的按响应目标计，已响应的按办结目标计。",
     "Overdue: not resolved when the report was made and past its target: the acknowledge target while nobody "
     "has acknowledged it, else the resolve target."),
)
"""The report's definitions (office/report.py's docstring) in short form: name, Chinese, English."""


def is_month(report: AlertReport) -> bool:
    """Whether the period is exactly one calendar month in the report's time zone (the bulletin's usual case)."""
    since, until = local_time(report, report.since), local_time(report, report.until)
    if since.time() != until.time() or since.hour or since.minute or since.second or since.day != 1:
        return False
    return until.day == 1 and (until.year * 12 + until.month) - (since.year * 12 + since.month) == 1


def period_label(report: AlertReport) -> str:
    """`2026年11月` for a calendar month, else the first and last local day (`2026-11-03 至 2026-11-09`)."""
    since = local_time(report, report.since)
    if is_month(report):
        return f"{since.year}年{since.month}月"
    first, last = (report.days[0], report.days[-1]) if report.days else (since.date(), since.date())
    return first.isoformat() if first == last else f"{first.isoformat()} 至 {last.isoformat()}"


def period_text(report: AlertReport) -> str:
    """The exact period, local clock times, the end excluded: `2026-11-01 00:00 至 2026-12-01 00:00（不含）`."""
    since, until = local_time(report, report.since), local_time(report, report.until)
    return f"{since:%Y-%m-%d %H:%M} 至 {until:%Y-%m-%d %H:%M}（不含）"
