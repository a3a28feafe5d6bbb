"""The site configuration file (SPEC §4): the community as an operator describes it.

One YAML file lists sites, their grids (网格) and the devices installed in them.
The gateway loads it into the registry at start-up; the simulators read the same
file, so the simulated community and the registered one can never disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
CLOCK_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceConfig(_Strict):
    """One installed device. `location` is free-form (building, unit, room, gate...)."""

    id: str = Field(pattern=ID_PATTERN)
    kind: str
    grid: str | None = None
    zone: str | None = None
    name: str | None = None
    location: dict[str, Any] = Field(default_factory=dict)
    # Extra per-device settings, e.g. the elder's family contacts for a button,
    # or the fence zones a fence host controls.
    attributes: dict[str, Any] = Field(default_factory=dict)


class DutyShift(_Strict):
    """Someone on duty on these days between `from` and `to` (local time; may wrap past midnight)."""

    name: str
    phone: str | None = None
    notify: list[str] = Field(default_factory=list)
    """Notification targets: Apprise URLs (`wecombot://…`, `mailto://…`) or `sms:`/`voice:` numbers (SPEC §6)."""
    days: list[str] | None = None
    """mon..sun; all days when left out."""
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None


class EscalationLevelConfig(_Strict):
    """One level of the responsibility chain above the grid: community office, street, district."""

    name: str
    wait: str | None = None
    """How long this level has to acknowledge before the next is notified (e.g. 10m); none at the top."""
    roster: list[DutyShift] = Field(default_factory=list)
    """Who is on duty when; an empty roster means the level is always staffed."""
    notify: list[str] = Field(default_factory=list)
    """Told whenever an alert reaches this level, whoever is on duty (the office's WeCom group, its mailbox)."""


class TeamMember(_Strict):
    name: str
    phone: str | None = None
    notify: list[str] = Field(default_factory=list)
    """Apprise URLs or `sms:`/`voice:` numbers; a roster shift of the same name without its own uses these."""


class TeamConfig(_Strict):
    """A patrol team (巡防队) that can cover several grids."""

    id: str = Field(pattern=ID_PATTERN)
    name: str
    members: list[TeamMember] = Field(default_factory=list)
    roster: list[DutyShift] = Field(default_factory=list)


Held = Literal["major", "minor", "warning"]
DEFAULT_HELD: tuple[Held, ...] = ("minor", "warning")


class QuietHours(_Strict):
    """Hours in which alerts of the `hold` severities are not sent but kept until the hours end.

    Critical alerts are never held, whatever `hold` says: an elder's SOS at 3 a.m. is why Anju exists."""

    from_: str = Field(alias="from", pattern=CLOCK_PATTERN)
    to: str = Field(pattern=CLOCK_PATTERN)
    hold: list[Held] = Field(default_factory=lambda: list(DEFAULT_HELD))
    """Never `critical`: refused, so a site file cannot look as if it held an SOS back."""

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.from_ == self.to:
            raise ValueError("quiet hours need `from` and `to` to differ")
        return self


class NotificationPolicy(_Strict):
    """Per site: quiet hours, and when an elder's family is told of an SOS (docs/notifications.md)."""

    quiet_hours: QuietHours | None = None
    family_after: str | None = "0s"
    """How long an SOS may stay unacknowledged before the family is told: `0s` at once, `3m` after three minutes
    without an acknowledgement; null: the family is never told by Anju (the patrol calls them)."""


class GridConfig(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str
    team: str | None = None
    """The id of a team in the site's `teams:`; without it, `patrol_team` and `roster` make a team for this grid."""
    patrol_team: str | None = None
    wait: str = "5m"
    """How long the grid's patrol team has to acknowledge before the chain's first level is notified."""
    roster: list[DutyShift] = Field(default_factory=list)

    @property
    def team_id(self) -> str:
        return self.team or f"{self.id}-team"


class PersonConfig(_Strict):
    """A person the rules know (`id` is what face cameras report as `person_id`)."""

    id: str = Field(pattern=ID_PATTERN)
    name: str
    grid: str | None = None
    role: str = "resident"
    welfare_check: bool = False
    devices: list[str] = Field(default_factory=list)
    """Elder buttons this person uses."""
    credentials: list[str] = Field(default_factory=list)
    """Gate cards and PINs."""
    plates: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)


class SiteConfig(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str
    timezone: str = "Asia/Shanghai"
    address: str | None = None
    teams: list[TeamConfig] = Field(default_factory=list)
    grids: list[GridConfig] = Field(default_factory=list)
    devices: list[DeviceConfig] = Field(default_factory=list)
    persons: list[PersonConfig] = Field(default_factory=list)
    escalation: list[EscalationLevelConfig] = Field(default_factory=list)
    """The chain above the grids (grid → community → street → district); default: the standard chain."""
    maintenance: list[EscalationLevelConfig] = Field(default_factory=list)
    """The chain of maintenance alerts (property company → community → street), from level 0: a dead battery
    never climbs the patrol chain. Default: `alerting.routing.DEFAULT_MAINTENANCE_CHAIN`."""
    notifications: NotificationPolicy = Field(default_factory=NotificationPolicy)
    type_aliases: dict[str, dict[str, str]] = Field(default_factory=dict)
    """kind → {vendor's type name → canonical type}: how this site's firmware names things (docs/tolerance.md).
    Checked against the drivers when the file is applied (`gateway.registry.apply_site_config`)."""


class CommunityConfig(_Strict):
    """The whole file."""

    sites: list[SiteConfig]


YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser where PyYAML was built with it (the wheels are): the same safe loading, several times faster on
a district's site file (docs/architecture.md#measured-decisions)."""


def load_site_config(path: str | Path) -> CommunityConfig:
    """Read and validate a site configuration file; raises `ValueError` on bad input."""
    with open(path, encoding="utf-8") as fh:
        raw = yaml.load(fh, Loader=YAML_LOADER)  # a safe loader, libyaml's when available
    return CommunityConfig.model_validate(raw)


def sample_community_path() -> Path:
    """The sample community shipped with Anju and used by `anju demo`."""
    return Path(__file__).resolve().parent / "data" / "sample_community.yaml"
