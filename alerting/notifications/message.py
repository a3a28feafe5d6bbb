"""What a notification says: what, where, who, since when, and the one-tap link (SPEC §6).

Written for a person reading a phone at 3 a.m.: the first line is enough to get up and go (what and where);
the next lines say whom to expect and whom to call; times are the site's local time. Chinese first, English
after a slash, as the rest of Anju's vocabulary. Composed when it is sent, not when it was planned, so a
reminder says who acknowledged and a held message says how long the alert has been open.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerting.notifications.channels import Message

SEVERITY_LABEL = {"critical": "紧急 CRITICAL", "major": "重要 MAJOR", "minor": "一般 MINOR", "warning": "提示 WARNING"}
STEP_LABEL = {
    "notified": "新告警 / new alert",
    "escalated": "升级：下级未确认 / escalated: not acknowledged below",
    "reminded": "提醒：已确认未处置 / reminder: acknowledged, not resolved",
    "family": "家属通知 / for the family",
    "test": "测试 / test",
}
LOCATION_KEYS = ("area", "courtyard", "building", "unit", "room", "floor", "entrance", "gate", "wall")


@dataclass(frozen=True, slots=True)
class AlertView:
    """What the message needs of an alert, read by the sender just before it sends."""

    id: int
    title: str
    severity: str
    state: str
    created_at: datetime
    count: int
    acknowledged_by: str | None
    site_name: str
    timezone: str
    grid_name: str | None
    device_name: str | None
    zone: str | None
    location: Mapping[str, Any]
    contacts: Mapping[str, Any] | None
    affected: Mapping[str, Any] | None = None
    """The households and vulnerable residents an equipment alert affects (`alerting.affected`), or None."""


WHY_LABEL = {"lives alone": "独居", "welfare check": "关怀"}
MAX_NAMED_BUILDINGS = 6
MAX_NAMED_PERSONS = 10


def affected_line(affected: Mapping[str, Any], role: str) -> str | None:
    """`影响 Affected: 20号楼 36户; 独居老人/关怀对象 杨长海 (1单元 独居), …`; the family's message leaves the
    residents' names out (they are not theirs to know)."""
    buildings = [b for b in affected.get("buildings") or [] if isinstance(b, Mapping)]
    if not buildings:
        return None
    names = [str(b.get("name") or b.get("id")) for b in buildings]
    shown = "、".join(names[:MAX_NAMED_BUILDINGS])
    if len(names) > MAX_NAMED_BUILDINGS:
        shown += f" 等{len(names)}栋"
    line = f"影响 Affected: {shown} {int(affected.get('households') or 0)}户"
    people = [p for p in affected.get("vulnerable") or [] if isinstance(p, Mapping)]
    if role == "family" or not people:
        return line
    by_id = {str(b.get("id")): str(b.get("name") or b.get("id")) for b in buildings}
    named = []
    for p in people[:MAX_NAMED_PERSONS]:
        where = " ".join(x for x in (by_id.get(str(p.get("building"))) if len(buildings) > 1 else None,
                                     p.get("unit")) if x)
        why = WHY_LABEL.get(str(p.get("why")), str(p.get("why") or ""))
        named.append(f"{p.get('name') or p.get('person')} ({' '.join(x for x in (where, why) if x)})")
    more = len(people) - len(named) + int(affected.get("vulnerable_more") or 0)
    return f"{line}; 独居老人/关怀对象 Vulnerable: " + ", ".join(named) + (f" 等{more}人" if more > 0 else "")


def where(view: AlertView) -> str:
    """Courtyard, building, unit, room (whatever the site file gives), then the zone and the grid."""
    parts = [str(view.location[k]) for k in LOCATION_KEYS if view.location.get(k) not in (None, "")]
    parts += [f"{k} {v}" for k, v in view.location.items() if k not in LOCATION_KEYS and isinstance(v, str | int)]
    if view.zone and not parts:
        parts.append(f"防区 zone {view.zone}")
    if view.grid_name:
        parts.append(view.grid_name)
    return " ".join(parts) or view.site_name


def _person(contact: Mapping[str, Any]) -> str:
    bits = [str(contact.get("name") or "?")]
    extra = [str(contact[k]) for k in ("relation", "age") if contact.get(k) not in (None, "")]
    health = contact.get("health")
    if isinstance(health, list):
        extra += [str(h) for h in health]
    if extra:
        bits.append(f"({', '.join(extra)})")
    if contact.get("phone"):
        bits.append(str(contact["phone"]))
    return " ".join(bits)


def compose(view: AlertView, step: str, role: str, link: str | None, now: datetime) -> Message:
    """The message for one recipient; `role` family leaves out the other relatives' numbers."""
    zone = ZoneInfo(view.timezone)
    since = view.created_at.astimezone(zone)
    minutes = max(0, int((now - view.created_at).total_seconds() // 60))
    severity = SEVERITY_LABEL.get(view.severity, view.severity)
    place = where(view)
    lines = [f"【{severity}】{view.title}", f"地点 Where: {view.site_name} {place}"]
    contacts = view.contacts or {}
    elder = contacts.get("elder")
    if isinstance(elder, Mapping):
        lines.append(f"老人 Elder: {_person(elder)}")
    family = [c for c in contacts.get("family") or [] if isinstance(c, Mapping)]
    if family and role != "family":
        lines.append("家属 Family: " + "; ".join(_person(c) for c in family))
    affected = affected_line(view.affected, role) if view.affected else None
    if affected:
        lines.append(affected)
    ago = f"{minutes} 分钟前 / {minutes} min ago" if minutes else "刚刚 / just now"
    lines.append(f"时间 Since: {since:%Y-%m-%d %H:%M:%S} ({ago})")
    if view.count > 1:
        lines.append(f"次数 Occurrences: {view.count}")
    if view.state == "acknowledged" and view.acknowledged_by:
        lines.append(f"已确认 Acknowledged by: {view.acknowledged_by}")
    elif role == "family":
        lines.append("社区工作人员已收到通知 / the community's staff have been told")
    lines.append(STEP_LABEL.get(step, step))
    if link:
        lines.append(f"打开 Open: {link}")
    short_where = " ".join(str(view.location[k]) for k in ("building", "unit", "room") if view.location.get(k))
    short = f"{short_where or view.device_name or place} {view.title}"[:60]
    return Message(title=f"【{severity}】{view.title}"[:200], body="\n".join(lines), severity=view.severity,
                   link=link, short=short)
