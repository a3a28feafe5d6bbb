"""SQLAlchemy models. The schema itself is owned by Alembic (kernel/migrations);
these classes must match the latest migration (a test checks that they do)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Ids from topics and the site file: [A-Za-z0-9_-]{1,64}.
ID = String(64)
# BIGINT on PostgreSQL, INTEGER (the rowid alias, so it autoincrements) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: Anju stores UTC-aware datetimes only")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def bind_processor(self, dialect: Any) -> Callable[[datetime | None], Any] | None:
        """On SQLite, one call straight to the text SQLAlchemy's SQLite DATETIME stores (UTC, always six digits of
        microseconds, so text order is time order): the two chained processors it replaces were a tenth of the
        gateway's busy time at 5,000 msg/s (docs/architecture.md#measured-decisions)."""
        if dialect.name == "sqlite":
            return sqlite_utc_text
        return super().bind_processor(dialect)


def sqlite_utc_text(value: datetime | None) -> str | None:
    """What a `UtcDateTime` column holds on SQLite (also for statements run through the driver: gateway/store.py)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError("naive datetime: Anju stores UTC-aware datetimes only")
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # without its "+00:00"


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {dict[str, Any]: JSON}


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    address: Mapped[str | None] = mapped_column(String(500))
    type_aliases: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """kind → {the vendor's type name → the canonical type}: how this site's firmware names things (docs/devices.md)."""
    notifications: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Quiet hours and the family's wait (`kernel.siteconfig.NotificationPolicy`); None: the defaults."""
    targets: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Response targets per severity (`kernel.siteconfig.ResponseTargets`); None: the defaults."""


class Grid(Base):
    """A grid (网格): the smallest unit of responsibility, with its own patrol team."""

    __tablename__ = "grids"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    patrol_team: Mapped[str | None] = mapped_column(String(200))
    """Display name of the team (kept for the site file); `team_id` is the team that is routed to."""
    team_id: Mapped[str | None] = mapped_column(ForeignKey("patrol_teams.id", ondelete="SET NULL"), index=True)
    wait: Mapped[str] = mapped_column(String(32), default="5m", server_default="5m")
    """How long the grid's patrol team has to acknowledge before the site's chain is notified."""


class Device(Base):
    """A registered device and its server-owned health."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    grid_id: Mapped[str | None] = mapped_column(ForeignKey("grids.id"), index=True)
    zone: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    location: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Health. `online` is None until the device has said anything.
    online: Mapped[bool | None] = mapped_column(Boolean)
    online_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime)
    battery: Mapped[float | None] = mapped_column(Float)
    tamper: Mapped[bool] = mapped_column(Boolean, default=False)
    fault: Mapped[str | None] = mapped_column(String(200))
    readings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The values of the device's latest telemetry, `metric` or `metric:zone` → value (a fence's voltage per
    zone, a button's battery): health at a glance without querying the time series."""


class Event(Base):
    """A canonical event: what a device reported, or what the gateway observed (online/offline)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_device_ts", "device_id", "ts"), Index("ix_events_site_ts", "site_id", "ts"),
                      # The rules' look-backs (a capture looking for a fence alarm, a burst of denials) ask for
                      # one or two types in a window: by (site, ts) alone they read every event of the window.
                      Index("ix_events_site_type_ts", "site_id", "type", "ts"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ID)
    device_id: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    """Event time as the device reported it (arrival time when it did not)."""
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    msg_id: Mapped[str | None] = mapped_column(String(128))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The whole payload, unknown fields included."""


class Reading(Base):
    """One telemetry value: the embedded time-series store."""

    __tablename__ = "readings"
    __table_args__ = (Index("ix_readings_device_metric_ts", "device_id", "metric", "ts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ID)
    metric: Mapped[str] = mapped_column(String(64))
    zone: Mapped[str | None] = mapped_column(String(64))
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    value: Mapped[float] = mapped_column(Float)


class DeadLetter(Base):
    """A message the gateway refused, kept with the reason so an integrator can see what went wrong."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    topic: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(64), index=True)
    detail: Mapped[str] = mapped_column(Text)
    device_id: Mapped[str | None] = mapped_column(ID)
    size: Mapped[int] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    """At most the first 4 KiB: enough to see the problem, bounded for oversized input."""


class DeviceDeviation(Base):
    """How often a device's messages were accepted only after a repair (`gateway.tolerance`), per reason.

    The message was processed; this is what tells the integrator that its firmware still departs from the
    contract (epoch seconds, numeric ids, ...), on the device's page and the contract page.
    """

    __tablename__ = "device_deviations"

    device_id: Mapped[str] = mapped_column(ID, primary_key=True)
    reason: Mapped[str] = mapped_column(String(64), primary_key=True)
    field: Mapped[str] = mapped_column(String(200))
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_sent: Mapped[str] = mapped_column(String(200))
    """The last repaired value as sent (shortened)."""


class ProcessedMessage(Base):
    """(device, msg_id) pairs already processed: the dedup memory that survives restarts."""

    __tablename__ = "processed_messages"

    device_id: Mapped[str] = mapped_column(ID, primary_key=True)
    msg_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class Alert(Base):
    """An alert and its lifecycle: open → acknowledged → resolved (Alertmanager-sized, no more).

    `dedup_key` is set while the alert is not resolved and is unique among such
    alerts (a partial unique index), so the database itself guarantees that two
    messages a millisecond apart, even on two gateway processes, merge into one
    alert instead of opening two.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ux_alerts_open_dedup_key", "dedup_key", unique=True,
              postgresql_where=text("state <> 'resolved'"), sqlite_where=text("state <> 'resolved'")),
        Index("ix_alerts_state_escalate_at", "state", "escalate_at"),
        Index("ix_alerts_site_created", "site_id", "created_at"),
        Index("ix_alerts_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ID)
    grid_id: Mapped[str | None] = mapped_column(ID)
    device_id: Mapped[str | None] = mapped_column(ID)
    kind: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    audience: Mapped[str] = mapped_column(String(16), default="patrol")
    title: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(16), default="open")
    level: Mapped[int] = mapped_column(Integer, default=0)
    count: Mapped[int] = mapped_column(Integer, default=1)
    dedup_key: Mapped[str | None] = mapped_column(String(500))
    silenceable: Mapped[bool] = mapped_column(Boolean, default=True)
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    disposition: Mapped[str | None] = mapped_column(String(32))
    """How it ended (`kernel.vocabulary.DISPOSITIONS`): required when a person resolves a critical or major alert;
    None when the system resolved it (an outage that ended) or for alerts resolved before dispositions existed."""
    escalate_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """When the next escalation (open) or reminder (acknowledged SOS) is due; None when nothing is."""
    silenced_by: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    """The silence that muted this alert when it was raised: recorded, not notified, not escalated."""
    parent_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), index=True)
    """The grouped alert (a site or segment outage) this one is folded under: recorded, not announced, not
    escalated; resolved with its parent."""


class AlertHistory(Base):
    """Every step of an alert: created, repeated, escalated, reminded, acknowledged, resolved — who and when."""

    __tablename__ = "alert_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    action: Mapped[str] = mapped_column(String(32))
    by: Mapped[str | None] = mapped_column(String(200))
    level: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text)


class RuleTimer(Base):
    """A pending clock for a rule: `duration` started, `absence` since the last sighting, a sustained threshold.

    Kept in the database, so timers survive a restart, and claimed with
    `FOR UPDATE SKIP LOCKED` when due, so each fires once however many gateways run.
    """

    __tablename__ = "rule_timers"
    __table_args__ = (Index("ux_rule_timers_rule_group", "rule", "group_key", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(64))
    group_key: Mapped[str] = mapped_column(String(500))
    device_id: Mapped[str] = mapped_column(ID)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    armed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Silence(Base):
    """A silence or maintenance window: matching alerts are recorded but nobody is woken for them.

    Never applies to rules marked `silenceable: false` (elder SOS, fence intrusion
    and cut): those always reach a person.
    """

    __tablename__ = "silences"
    __table_args__ = (Index("ix_silences_ends_at", "ends_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), default="silence")
    """"silence" (an alert source someone knows about) or "maintenance" (planned work on devices)."""
    site_id: Mapped[str | None] = mapped_column(ID)
    grid_id: Mapped[str | None] = mapped_column(ID)
    device_id: Mapped[str | None] = mapped_column(ID)
    rule: Mapped[str | None] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WatchlistEntry(Base):
    """One plate or person on a named watchlist (blacklist, residents, watchlist...), used by rules."""

    __tablename__ = "watchlist_entries"
    __table_args__ = (Index("ux_watchlist_entries_list_value", "list", "value", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    list: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(128))
    """A plate (辽E12345) or a person id, as devices report them."""
    note: Mapped[str | None] = mapped_column(Text)
    added_by: Mapped[str | None] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PatrolTeam(Base):
    """A patrol team (巡防队): who is called first for the alerts of the grids it covers, with its duty roster."""

    __tablename__ = "patrol_teams"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    members: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """[{name, phone}]: who to call."""
    roster: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """[{name, phone, days, from, to}]: who is on duty when; empty means always staffed."""


class EscalationLevel(Base):
    """One level of a site's chain above the grid (community office, street, district), in order."""

    __tablename__ = "escalation_levels"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    chain: Mapped[str] = mapped_column(String(16), primary_key=True, default="patrol", server_default="patrol")
    """patrol: above the grid's team (position 1 is the first level above level 0); maintenance: the maintenance
    chain, position 1 being its level 0 (the property company)."""
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    """1 is the first level above the grid patrol (level 0)."""
    name: Mapped[str] = mapped_column(String(200))
    wait: Mapped[str | None] = mapped_column(String(32))
    """None at the top: the alert stays there."""
    roster: Mapped[list[Any]] = mapped_column(JSON, default=list)
    notify: Mapped[list[Any] | None] = mapped_column(JSON)
    """Targets told whenever an alert reaches this level (the office's group), besides who is on duty."""


class Person(Base):
    """A person the rules know: an elder (welfare check), a resident, a watchlisted person.

    `id` is what face cameras report as `person_id`. Links tell the rules when the
    person was seen: their elder buttons, their gate credentials (card, PIN), plates.
    """

    __tablename__ = "persons"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    grid_id: Mapped[str | None] = mapped_column(ID)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32), default="resident")
    """elder, resident, staff, visitor."""
    welfare_check: Mapped[bool] = mapped_column(Boolean, default=False)
    """Raise a welfare-check alert when this person is not seen for the rule's period."""
    devices: Mapped[list[Any]] = mapped_column(JSON, default=list)
    credentials: Mapped[list[Any]] = mapped_column(JSON, default=list)
    plates: Mapped[list[Any]] = mapped_column(JSON, default=list)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Family contacts, age, health notes: shown to the patrol that answers the person's SOS."""
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    building_id: Mapped[str | None] = mapped_column(ID)
    """The building the person lives in (`buildings.id`): an equipment outage there names them if vulnerable."""
    unit: Mapped[str | None] = mapped_column(String(64))


class Building(Base):
    """A building (楼) with its units and households: who an equipment outage affects (docs/buildings.md)."""

    __tablename__ = "buildings"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    courtyard: Mapped[str | None] = mapped_column(String(200))
    grid_id: Mapped[str | None] = mapped_column(ID)
    units: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """[{name, households}]."""
    households: Mapped[int] = mapped_column(Integer, default=0)
    """The units' households, summed."""


class ApiToken(Base):
    """A bearer token, stored as its SHA-256 (tokens are long random strings, so a fast hash is safe)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    """Who uses it: shown in alert histories as the person who acknowledged or resolved."""
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("patrol_teams.id", ondelete="SET NULL"))
    grids: Mapped[list[Any] | None] = mapped_column(JSON)
    """Patrol scope: these grids (plus the grids of `team_id`)."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LoginLink(Base):
    """A one-time console login link (`/console/#login=<code>`) for a token, until used or expired.

    A link lands in the browser's list of visited pages, which no page can clean, so it carries a code that
    works once, not the token. The token is kept sealed with the code (api/auth.py): the database alone gives
    neither, and the row is deleted by its first use.
    """

    __tablename__ = "login_links"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[int] = mapped_column(BigId, ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class RuleFileRow(Base):
    """A rule file managed through the API; validated before it is stored, added to the configured pack."""

    __tablename__ = "rule_files"

    name: Mapped[str] = mapped_column(ID, primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str | None] = mapped_column(String(200))


class AlertChangeRow(Base):
    """The alert change journal: every announced step of every alert, in order.

    Written in the transaction that makes the change, so the live stream can
    replay exactly what a reconnecting client missed (`since=<id>`), and any
    process (API workers, other gateways) can follow it.
    """

    __tablename__ = "alert_changes"
    __table_args__ = (Index("ix_alert_changes_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(BigId, index=True)
    site_id: Mapped[str] = mapped_column(ID)
    grid_id: Mapped[str | None] = mapped_column(ID)
    audience: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    alert: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Snapshot(Base):
    """A camera picture (the `snapshot` of a plate or face event), kept apart from the event.

    Events keep only `snapshot_id`, so that pictures (personal data under PIPL) can
    expire after `privacy.snapshot_retention_days` while the events stay. The API
    knows a picture only by its `public_id` (random, unlike the sequential `id` the
    gateway uses), and lets a patrol see it by the grid recorded at capture.
    """

    __tablename__ = "snapshots"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(String(32), index=True, unique=True)
    """What the API shows and accepts (`secrets.token_urlsafe(16)`): a URL that cannot be guessed from another."""
    site_id: Mapped[str] = mapped_column(ID)
    grid_id: Mapped[str | None] = mapped_column(ID)
    """The camera's grid when the picture was taken: who may see it, whatever later happens to the camera."""
    device_id: Mapped[str] = mapped_column(ID, index=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    media_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    event_id: Mapped[int | None] = mapped_column(BigId)
    """The event that brought the picture."""
    task: Mapped[str | None] = mapped_column(String(16), index=True)
    """`plate` or `face` while the gateway still has to read the picture (re-queued after a restart)."""
    outcome: Mapped[str | None] = mapped_column(String(200))
    """What reading it gave: the plate, the person, nothing found, or why it was skipped."""


class FaceEmbedding(Base):
    """One enrolled face of a person: the embedding, and the photo only when `privacy.keep_enrolment_photos`."""

    __tablename__ = "face_embeddings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    """128 little-endian float32, unit length (vision/faces.py)."""
    source: Mapped[str | None] = mapped_column(String(200))
    """Where the photo came from (a file name), for the person's export."""
    photo: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str | None] = mapped_column(String(200))


class PersonDataAccess(Base):
    """The audit log of person data: every view, export, enrolment and deletion, with who did it.

    Kept when the person is deleted (no foreign key): the log must outlive the data it is about.
    """

    __tablename__ = "person_data_access"
    __table_args__ = (Index("ix_person_data_access_person", "person_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    """view, list, export, enrol, delete_faces, delete."""
    person_id: Mapped[str | None] = mapped_column(ID)
    detail: Mapped[str | None] = mapped_column(String(500))


class Notification(Base):
    """The outbox: one message to one target about one alert step, written in the alert change's transaction.

    Senders claim due rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL) under a lease, send outside any
    transaction, and record the outcome; a sender killed mid-send leaves a lease that runs out, and the row is
    claimed again (at least once). `alerting.notifications.outbox` owns the life of a row.
    """

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[str | None] = mapped_column(ID)
    step: Mapped[str] = mapped_column(String(32))
    """The alert step that caused it: created, escalated, reminded, family."""
    level: Mapped[int] = mapped_column(Integer)
    recipient: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    """on_duty (a patrol member), level (a level's own targets), family, maintenance."""
    target: Mapped[str] = mapped_column(Text)
    """The Apprise URL or `sms:`/`voice:` number, with its secrets: never shown (see `shown`)."""
    shown: Mapped[str] = mapped_column(String(300))
    channel: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    """pending, sending, delivered, failed, cancelled."""
    condition: Mapped[str | None] = mapped_column(String(32))
    """unacknowledged: sent only if the alert is still open when it comes due (the family's wait)."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class SecretRow(Base):
    """Secrets Anju makes for itself and every process must share (the one-tap links' signing key)."""

    __tablename__ = "secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class DeviceCommand(Base):
    """A command sent to a device (SPEC §5), from the request to the device's answer or its expiry: the audit.

    Written by the API (`gateway.commands`), published on the device's `cmd` topic after the commit, and
    closed by the device's `cmd_result` (in the gateway's batch transaction) or by the watchdog at `expires_at`.
    """

    __tablename__ = "device_commands"
    __table_args__ = (Index("ix_device_commands_open", "state", "expires_at"),
                      Index("ix_device_commands_device", "device_id", "requested_at"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """The `cmd_id` (32 hex characters), as published and as the device answers it."""
    site_id: Mapped[str] = mapped_column(ID)
    device_id: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(ID)
    command: Mapped[str] = mapped_column(String(64))
    args: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16))
    """pending (stored, not yet published), sent, succeeded, failed, expired."""
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    detail: Mapped[Any | None] = mapped_column(JSON)
    """The device's `detail` (why it failed, what it did)."""
    alert_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("alerts.id", ondelete="SET NULL"))
    """Sent from this alert's page (an ambulance at the gate of an elder's SOS): recorded in its history too."""


class PatrolPoint(Base):
    """A patrol point (巡更点) with a printed QR code and, optionally, an NFC tag."""

    __tablename__ = "patrol_points"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    grid_id: Mapped[str | None] = mapped_column(ID)
    name: Mapped[str] = mapped_column(String(200))
    location: Mapped[dict[str, Any]] = mapped_column(default=dict)
    code: Mapped[str] = mapped_column(String(64))
    """The secret part of the point's QR code: a printed code proves the scanner stood there (a guessed id does
    not). Made once; replaced to retire printed codes."""
    nfc_tag: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PatrolRoute(Base):
    """A route: ordered points, each with its time window in a round, and the team's schedule."""

    __tablename__ = "patrol_routes"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[str | None] = mapped_column(ID)
    name: Mapped[str] = mapped_column(String(200))
    points: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """[{point, within}]: each point must be checked within `within` of the round's start."""
    schedule: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """{times: ["22:00", "02:00"], days: [mon..sun] | null}: when rounds start, in the site's time zone."""
    duration: Mapped[str] = mapped_column(String(32), default="1h")
    """A round not complete this long after its start is overdue."""
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PatrolRound(Base):
    """One scheduled round of a route: made when it starts, closed when complete or overdue."""

    __tablename__ = "patrol_rounds"
    __table_args__ = (Index("ix_patrol_rounds_route_start", "route_id", "starts_at", unique=True),
                      Index("ix_patrol_rounds_open", "state", "due_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    route_id: Mapped[str] = mapped_column(ID)
    site_id: Mapped[str] = mapped_column(ID)
    team_id: Mapped[str | None] = mapped_column(ID)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    state: Mapped[str] = mapped_column(String(16))
    """open, completed, incomplete (overdue with points missed)."""
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    points: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """The route's [{point, within}] when the round was made: a route changed later does not rewrite history."""
    missed: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """Points whose window ran out unchecked (each raised its alert once)."""


class PatrolCheckin(Base):
    """A patrol member at a point: scanned (QR), tapped (NFC), or typed; sent at once or when back online."""

    __tablename__ = "patrol_checkins"
    __table_args__ = (Index("ix_patrol_checkins_round", "round_id"),
                      Index("ix_patrol_checkins_member", "member", "at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    """Made by the phone for each scan: a check-in sent twice (offline, then again) is stored once."""
    round_id: Mapped[int | None] = mapped_column(BigId)
    point_id: Mapped[str] = mapped_column(ID)
    site_id: Mapped[str] = mapped_column(ID)
    member: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[str | None] = mapped_column(ID)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    """When it was scanned (the phone's clock, bounded by the server's)."""
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    method: Mapped[str] = mapped_column(String(8))
    """qr, nfc, manual."""
