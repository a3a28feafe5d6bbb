"""Settings: one YAML file, overridable by `ANJU_<SECTION>__<KEY>` environment variables (SPEC §1).

Environment variables win over the file so that a container can change one
value without rewriting the config; defaults alone give a working embedded set-up.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class _Section(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class MqttSettings(_Section):
    url: str = "mqtt://127.0.0.1:1883"
    client_id: str = "anju-gateway"
    """Fixed, so the broker keeps the gateway's persistent session across restarts."""
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    shared_group: str | None = None
    """Subscribe through `$share/<group>/...` so several workers split the traffic."""
    keepalive: int = 30
    session_expiry: int = 7 * 24 * 3600
    """MQTT 5 only: how long the broker keeps our session (and queued messages) while we are away."""
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None


class DbSettings(_Section):
    url: str = "sqlite:///anju.db"


class BodyLimits(_Section):
    """Request body sizes, in bytes, enforced before the body is read or the token checked (api/limits.py)."""

    default: int = Field(default=1024 * 1024, ge=16 * 1024)
    """Every route but those below: the largest JSON body (a device with 64 KiB of attributes) is far smaller."""
    faces: int = Field(default=56 * 1024 * 1024, ge=16 * 1024)
    """`POST /persons/{id}/faces`: up to 10 photos of 4 MiB each, base64 (4 bytes per 3)."""
    reports: int = Field(default=6 * 1024 * 1024, ge=16 * 1024)
    """`POST /reports`: a field report with a photo of up to 4 MiB, base64 (4 bytes per 3)."""
    vendors: int = Field(default=4 * 1024 * 1024, ge=16 * 1024)
    """`POST /vendors/hikvision/...`: a camera's event with its JPEG pictures."""
    devices_import: int = Field(default=16 * 1024 * 1024, ge=16 * 1024)
    """`POST /devices/import`: a CSV of up to 5 million characters (3 bytes each in Chinese)."""
    rules: int = Field(default=4 * 1024 * 1024, ge=16 * 1024)
    """`PUT /rules/files/{name}`, `POST /rules/check`: a rule file of up to 512 Ki characters, as JSON."""


class ApiSettings(_Section):
    enabled: bool = True
    """False: `anju serve` runs ingest only, no HTTP server (a worker of a scaled-out deployment)."""
    host: str = "127.0.0.1"
    port: int = 8080
    admin_token: str | None = None
    """A bearer token with role admin, for first set-up and automation (never stored)."""
    cors_origins: list[str] = Field(default_factory=list)
    """Other web origins allowed to call the API from a browser; none by default (the console is same-origin)."""
    auth_failures_per_minute: int = Field(default=30, ge=0)
    """Wrong tokens one client address may present per minute before it gets 429 (0: no limit; api/ratelimit.py)."""
    trusted_proxies: list[str] = Field(default_factory=list)
    """Addresses (or networks, `10.0.0.0/8`) of reverse proxies whose `X-Forwarded-For` / `X-Forwarded-Proto`
    are believed. None by default: behind no proxy, anyone could name any address in the header, and dodge the
    wrong-token limit or turn it against someone else's address (api/serve.py)."""
    body_limits: BodyLimits = Field(default_factory=BodyLimits)


class GatewaySettings(_Section):
    ingest: bool = True
    """False: do not subscribe to device topics. An API-only process of a scaled-out deployment: it still
    processes vendor HTTP pushes, publishes the alerts it changes and runs timers (claimed once cluster-wide)."""
    max_payload_bytes: int = 256 * 1024
    batch_size: int = 500
    """Messages committed in one transaction at most; acknowledgements go out after the commit."""
    batch_seconds: float = Field(default=0.005, gt=0)
    """How long one transaction should take: batches are sized by the measured cost per message (up to
    `batch_size`). An elder's press arriving meanwhile waits for that commit, so this bounds its wait.
    5 ms rather than 15 shortens a press's wait under heavy telemetry at no measurable cost in throughput
    (docs/architecture.md#measured-decisions)."""
    bulk_linger_seconds: float = Field(default=0.02, ge=0, le=1)
    """How long a small batch of telemetry, status and routine events (a gate pass: `DeviceDriver.routine_types`)
    waits for more before its transaction starts (an urgent event arriving meanwhile is taken at once, and never
    waits this): heartbeats and passes arrive evenly spread, and one transaction each cost more than the messages.
    0 turns it off (docs/architecture.md#throughput)."""
    queue_limit: int = 20_000
    """Beyond this many queued messages, QoS 0 telemetry is shed (counted); QoS 1 never is."""
    auto_register: bool = False
    """Register unknown devices of a known site and kind on first message instead of dead-lettering them."""
    watchdog_interval: float = 0.5
    dedup_retention_days: int = 7
    rejected_per_minute: int = Field(default=60, ge=1)
    """A device whose messages are refused more often than this per minute is quarantined: one
    `messages_rejected` maintenance alert, and its further refusals are counted but only sampled into dead
    letters and the log, so a broken or hostile device cannot slow the others (docs/architecture.md). Its valid
    messages are still processed: a quarantined button's press still raises the SOS."""
    quarantine_seconds: float = Field(default=600, gt=0)
    """How long a quarantine lasts after the last minute over budget."""
    quarantine_sample_every: int = Field(default=100, ge=1)
    """While quarantined, one refusal in this many is kept as a dead letter (the rest are counted)."""
    dead_letter_retention_days: int = Field(default=14, ge=1)
    dead_letter_max_rows: int = Field(default=100_000, ge=100)
    """The hourly prune deletes dead letters older than the retention, then the oldest beyond this count."""
    rejected_log_per_minute: int = Field(default=30, ge=1)
    """Log lines for refused messages per minute at most; the rest are summed up in one line a minute."""


class TimeseriesSettings(_Section):
    """Where readings (telemetry values) go: docs/timeseries.md."""

    backend: Literal["sql", "influxdb"] = "sql"
    """`sql`: the `readings` table of the main database, written in each batch's transaction (the default);
    `influxdb`: InfluxDB 2/3 (or anything speaking its `/api/v2/write`), through an on-disk buffer."""
    url: str = "http://127.0.0.1:8086"
    token: str | None = None
    org: str = "anju"
    bucket: str = "anju"
    batch_size: int = Field(default=5000, ge=1)
    """Readings per write request to InfluxDB."""
    flush_interval: float = Field(default=1.0, gt=0)
    """Seconds a partial batch may wait in the buffer before it is sent."""
    buffer_dir: str = "anju-readings-buffer"
    """Directory of the on-disk buffer (one per gateway process) holding readings InfluxDB has not yet accepted."""
    buffer_max_mb: float = Field(default=512, gt=0)
    """Bound of the buffer; when full, the oldest readings are dropped and counted."""
    retention_days: int | None = Field(default=None, ge=1)
    """SQL: readings older than this are deleted by the hourly prune (None: kept forever). InfluxDB: set the
    bucket's retention instead (docs/timeseries.md); this value is not used."""


class VisionSettings(_Section):
    """Reading the snapshots of camera events that carry no result of their own (docs/vision.md)."""

    enabled: bool = True
    workers: int = Field(default=1, ge=1, le=16)
    """Recognition processes, one core each; they run beside the gateway, never on its MQTT or processing thread."""
    queue_limit: int = Field(default=64, ge=1)
    """Snapshots waiting for a worker; beyond this a burst's further snapshots are stored unread (counted)."""
    face_threshold: float = Field(default=0.91, gt=0, le=1)
    """Cosine similarity from which a face is the enrolled person: 0.91 keeps every genuine pair of the shared face
    set at 0.34 % false accepts (the curve: docs/vision.md#faces)."""
    face_upsample: int = Field(default=0, ge=0, le=2)
    """0 finds faces from about 80 px across (face cameras' close-ups); 1 from about 40 px, at twice the time."""


class PrivacySettings(_Section):
    """Personal data under PIPL: pictures and faces (docs/privacy.md)."""

    snapshot_retention_days: int = Field(default=30, ge=1)
    """Camera pictures older than this are deleted by the hourly prune; the events stay, without the picture."""
    keep_enrolment_photos: bool = False
    """Enrolment keeps only the face embeddings unless this is set."""


class RulesSettings(_Section):
    files: list[str] = Field(default_factory=list)
    """Rule files (docs/rules.md); none configured means the built-in rule pack."""


def _duration(value: str) -> str:
    from kernel.durations import parse_duration

    parse_duration(value)  # a bad duration is an error at load time, with the reason
    return value


Duration = Annotated[str, AfterValidator(_duration)]


class FlappingSettings(_Section):
    count: int = Field(default=4, ge=2)
    """This many offline transitions of one device ..."""
    within: Duration = "10m"
    """... within this long is flapping (one maintenance alert, merged while open)."""


class GroupingSettings(_Section):
    min_devices: int = Field(default=3, ge=2)
    """A site (or network segment) outage needs at least this many devices gone offline ..."""
    fraction: float = Field(default=0.5, gt=0, le=1)
    """... and at least this share of the group's devices ..."""
    window: Duration = "30s"
    """... within this long. Recovery: this share of the incident's devices back online."""


def _no_kinds() -> Collection[str]:
    return ()


KNOWN_KINDS: Callable[[], Collection[str]] = _no_kinds
"""The device kinds settings may name: `devices` sets it to its driver table when it loads (the kernel imports no
other part of Anju); before that, kind names in settings are not checked."""


def use_kind_catalog(catalog: Callable[[], Collection[str]]) -> None:
    global KNOWN_KINDS
    KNOWN_KINDS = catalog


class HealthSettings(_Section):
    """Device health: offline deadlines, battery thresholds, flapping and outage grouping (docs/health.md)."""

    offline_timeouts: dict[str, Duration] = Field(default_factory=dict)
    """Per kind, e.g. `{elder_button: 3m}`; default: the driver's (per device: `attributes.offline_timeout_s`)."""
    sleeping_timeout: Duration = "25h"
    """Devices with `attributes.sleeping: true` (battery buttons that wake rarely)."""
    battery_low: float = Field(default=20, gt=0, le=100)
    battery_critical: float = Field(default=10, gt=0, le=100)
    flapping: FlappingSettings = Field(default_factory=FlappingSettings)
    grouping: GroupingSettings = Field(default_factory=GroupingSettings)

    @field_validator("offline_timeouts")
    @classmethod
    def _known_kinds(cls, value: dict[str, str]) -> dict[str, str]:
        known = set(KNOWN_KINDS())
        unknown = sorted(set(value) - known) if known else []
        if unknown:
            raise ValueError(f"unknown kind(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return value

    @model_validator(mode="after")
    def _critical_below_low(self) -> HealthSettings:
        if self.battery_critical > self.battery_low:
            raise ValueError("battery_critical must not be above battery_low")
        return self


class PhoneSettings(_Section):
    """SMS and voice calls to phone numbers through a provider's HTTP API (docs/notifications.md)."""

    provider: Literal["aliyun"] | None = None
    """None: phone numbers are not used (a warning at start-up says so when some are configured)."""
    access_key_id: str | None = None
    access_key_secret: str | None = None
    sms_endpoint: str = "https://dysmsapi.aliyuncs.com/"
    voice_endpoint: str = "https://dyvmsapi.aliyuncs.com/"
    region: str = "cn-hangzhou"
    sign_name: str | None = None
    """The SMS signature (签名) registered with the provider, e.g. 和谐社区."""
    sms_template: str | None = None
    """The registered SMS template code (SMS_123456789); its variables are filled from the message."""
    voice_template: str | None = None
    """The registered text-to-speech template code (TTS_123456789) for voice calls."""
    called_show_number: str | None = None
    """The number a voice call shows (a number rented from the provider); optional for shared numbers."""
    voice_for: list[str] = Field(default_factory=lambda: ["critical"])
    """Severities for which a phone number is also called (an SOS), besides the SMS."""


class NotificationSettings(_Section):
    """How alerts reach people off-app (SPEC §6, docs/notifications.md)."""

    enabled: bool = True
    """False: nothing is queued (a bench or an API-only process that should not plan notifications)."""
    workers: int = Field(default=2, ge=0)
    """Sender threads in this process; 0: this process queues notifications but another one sends them."""
    public_url: str = "http://127.0.0.1:8080"
    """How recipients reach the console: the base of the one-tap links in messages."""
    link_secret: str | None = None
    """Signs the one-tap links; None: a random secret kept in the database, shared by every process."""
    link_ttl: str = "24h"
    """How long a one-tap link opens its alert."""
    poll_seconds: float = Field(default=1.0, gt=0)
    """How often senders look for due notifications queued by other processes (this one's wake them at once)."""
    timeout_seconds: float = Field(default=10.0, gt=0)
    """One send attempt at most (an HTTP request, an SMTP session)."""
    lease_seconds: float = Field(default=120.0, gt=0)
    """A claimed notification whose sender died is claimed again after this (delivery is at least once)."""
    max_attempts: int = Field(default=8, ge=1)
    backoff_seconds: float = Field(default=5.0, gt=0)
    """The wait before the second attempt; doubled each time, up to `backoff_max_seconds`."""
    backoff_max_seconds: float = Field(default=600.0, gt=0)
    endpoints: dict[str, str] = Field(default_factory=dict)
    """Apprise schema → request URL template, for a private WeCom/DingTalk/Feishu deployment or an egress relay
    (`{"wecombot": "https://wecom.example.internal/cgi-bin/webhook/send?key={key}"}`)."""
    phone: PhoneSettings = Field(default_factory=PhoneSettings)


class Settings(BaseSettings):
    """All settings; see docs/configuration.md for every key."""

    model_config = SettingsConfigDict(env_prefix="ANJU_", env_nested_delimiter="__", extra="forbid")

    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    db: DbSettings = Field(default_factory=DbSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    rules: RulesSettings = Field(default_factory=RulesSettings)
    timeseries: TimeseriesSettings = Field(default_factory=TimeseriesSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    vision: VisionSettings = Field(default_factory=VisionSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    site_file: str | None = None
    """The site configuration (SPEC §4) loaded into the registry at start-up."""
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first, then values passed in (the config file), then defaults.
        return env_settings, init_settings


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from an optional YAML file, environment variables and explicit overrides."""
    data: dict[str, Any] = {}
    if config_file is not None:
        with open(config_file, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{config_file}: the config file must be a mapping of sections")
    for key, value in overrides.items():
        if isinstance(value, dict):
            data.setdefault(key, {}).update(value)
        else:
            data[key] = value
    return Settings(**data)
