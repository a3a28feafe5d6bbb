"""What the gateway knows of a registered device: the contract type every part reads (observations carry it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from sys import intern
from typing import Any


@dataclass(slots=True)
class DeviceInfo:
    id: str
    site: str
    kind: str
    grid: str | None
    zone: str | None
    offline_timeout: timedelta
    name: str | None = None
    online: bool | None = None
    last_seen: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    battery: float | None = None
    tamper: bool = False
    fault: str | None = None
    segment: str | None = None
    """The network segment (`attributes.segment`): outages are grouped per segment, else per site."""
    type_aliases: dict[str, str] | None = None
    """`attributes.type_aliases`: this device's own names for its kind's types (lower-case → canonical)."""

    @classmethod
    def from_row(cls, row: Any, offline_timeout: timedelta) -> DeviceInfo:
        """From a `Device`, or a row with the same attribute names (`gateway.registry.device_info` adds the
        deadline, which depends on the drivers).

        Site, kind, grid and zone are shared by thousands of devices, but the database driver returns a new
        string for each row: interned, a district's registry holds a third less
        (docs/architecture.md#measured-decisions).
        """
        segment = (row.attributes or {}).get("segment")
        aliases = (row.attributes or {}).get("type_aliases")
        return cls(row.id, intern(row.site_id), intern(row.kind), _intern(row.grid_id), _intern(row.zone),
                   offline_timeout, row.name, row.online, row.last_seen,
                   battery=row.battery, tamper=bool(row.tamper), fault=row.fault,
                   segment=str(segment) if segment not in (None, "") else None,
                   type_aliases=normal_aliases(aliases))


def normal_aliases(value: Any) -> dict[str, str] | None:
    """Stored aliases, as matched (lower-case keys); anything malformed is ignored (it was checked when set)."""
    if not isinstance(value, dict) or not value:
        return None
    return {str(k).strip().lower(): v for k, v in value.items() if isinstance(v, str)}


def _intern(value: str | None) -> str | None:
    return None if value is None else intern(value)
