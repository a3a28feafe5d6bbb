"""The common driver interface: one subclass per device kind.

A driver says what a kind's messages look like (a pydantic model per message
type), what they mean (canonical events, readings, health), how often the kind
checks in, and which commands it takes. The gateway knows nothing kind-specific:
adding a kind is adding one module with one `DeviceDriver` subclass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kernel.observations import ReadingValue

__all__ = ["ReadingValue"]  # re-exported: drivers build readings from here (the type lives in the kernel)


class Payload(BaseModel):
    """Base of every message schema: the SPEC's common fields; unknown fields are kept.

    Strict so that `"battery": "80"` is a wrong type, not a silent conversion:
    a device that sends strings for numbers has a bug its integrator must see.
    """

    model_config = ConfigDict(extra="allow", strict=True)

    msg_id: str | None = Field(default=None, min_length=1, max_length=128)
    ts: int | float | str | None = None
    type: str


class Heartbeat(Payload):
    """A bare heartbeat: the device is alive (kinds that report more define their own)."""

    type: Literal["heartbeat"]


class Capture(Payload):
    """A camera event: the camera's own result (`result_field`), or only a snapshot for the gateway to read."""

    result_field: ClassVar[str]
    snapshot: str | None = None
    """Base64 JPEG."""
    snapshot_url: str | None = Field(default=None, max_length=2048)
    snapshot_id: int | None = Field(default=None, ge=1)
    """Extension: the stored picture (`GET /api/v1/snapshots/{id}`); set by the gateway, which takes `snapshot`
    out of the event, and on the events it makes from reading that picture (`read_by: anju`)."""
    direction: Literal["in", "out"] | None = None

    @model_validator(mode="after")
    def _result_or_snapshot(self) -> Capture:
        if getattr(self, self.result_field) is None and self.snapshot is None and self.snapshot_url is None \
                and self.snapshot_id is None:
            raise ValueError(f"a {self.type} event needs `{self.result_field}`, `snapshot` or `snapshot_url`")
        return self


class Command(BaseModel):
    """Base of command payloads sent on `.../cmd`."""

    model_config = ConfigDict(extra="forbid")


@dataclass(slots=True)
class HealthUpdate:
    """What a message says about the device's health; None means 'not mentioned'."""

    battery: float | None = None
    tamper: bool | None = None
    fault: str | None = None


@dataclass(slots=True)
class Interpretation:
    """What one validated message means, in kind-independent terms."""

    store_event: bool
    """Discrete events are stored; periodic heartbeats only feed readings and health."""
    readings: list[ReadingValue] = field(default_factory=list)
    health: HealthUpdate = field(default_factory=HealthUpdate)


class DeviceDriver:
    """Subclass once per kind and set the class attributes; override `interpret` when needed."""

    kind: ClassVar[str]
    title: ClassVar[str]
    """Human name, e.g. "一键通 elder alarm button"."""
    heartbeat_interval: ClassVar[timedelta]
    offline_timeout: ClassVar[timedelta]
    """Silent longer than this means offline; overridable per kind (`health.offline_timeouts`) and per device
    (`attributes.offline_timeout_s`, `attributes.sleeping`): see `gateway.health.OfflineTimeouts`."""
    events: ClassVar[dict[str, type[Payload]]] = {}
    telemetry: ClassVar[dict[str, type[Payload]]] = {}
    commands: ClassVar[dict[str, type[Command]]] = {}
    safety: ClassVar[bool] = False
    """A safety kind (elder button, fence, gate): an event of it is never refused for a secondary field's format,
    and one that cannot be understood at all raises an "unrecognised alarm" besides its dead letter (SPEC §2)."""
    alarm_types: ClassVar[frozenset[str]] = frozenset()
    """The event types that are alarms: one of these that stays invalid after the tolerated repairs raises an
    "unrecognised alarm" (for a safety kind, as does an event of a type the driver does not know at all)."""
    aliases: ClassVar[dict[str, str]] = {}
    """Other names firmware uses for this kind's types, lower-case → canonical type (`sos` → `press`). Sites and
    devices add their own (`type_aliases`, docs/devices.md); matching is case-insensitive either way."""
    canonical_kind: ClassVar[str | None] = None
    """For a vendor driver: the built-in kind its devices are (e.g. "plate_camera"). Its `kind` then only selects
    the driver by topic; the device is registered, matched by rules and shown as `canonical_kind`, and `normalize`
    must produce that kind's canonical payloads. None: the driver defines a kind of its own."""

    @property
    def canonical(self) -> str:
        """The kind devices of this driver are registered as: `canonical_kind`, else `kind`."""
        return self.canonical_kind or self.kind

    def normalize(self, channel: str, data: dict[str, Any]) -> dict[str, Any]:
        """Map a vendor's JSON object to Anju's canonical payload (with `type`); built-ins take the SPEC as is.

        Runs before validation. Raise `ValueError` for a payload the driver cannot map: the message is
        dead-lettered with the reason.
        """
        return data

    def check_aliases(self, mapping: Any) -> dict[str, str]:
        """A site's or device's `type_aliases` for this kind, validated; keys lower-cased (matching ignores case).

        Raises ValueError with the reason. A canonical type name cannot be mapped to another type: a site file
        that made `press` mean `cancel` would silence every SOS of its buttons (the safety floor).
        """
        if not isinstance(mapping, dict):
            raise ValueError("type_aliases must map the vendor's type names to this kind's types")
        known = {*self.events, *self.telemetry}
        out: dict[str, str] = {}
        for name, target in mapping.items():
            if not isinstance(name, str) or not 1 <= len(name.strip()) <= 64:
                raise ValueError(f"alias {name!r} must be a name of 1 to 64 characters")
            if target not in known:
                raise ValueError(f"alias {name!r} names {target!r}, which is not a {self.kind} type "
                                 f"(known: {sorted(known)})")
            own = next((t for t in known if t.lower() == name.strip().lower()), None)
            if own is not None and own != target:
                raise ValueError(f"{name!r} is a {self.kind} type already; it cannot be made to mean {target!r}")
            out[name.strip().lower()] = target
        return out

    def simulated(self, rng: Any = None) -> Any:
        """A simulator model (`simulators.kinds.base.KindModel`) of this kind's device, or None.

        Lets `simulators.kinds.make_model` (and so `SimulatedDevice`, `anju simulate`) drive a kind that has no
        built-in simulator: each third-party driver can ship its own simulated device.
        """
        return None

    def schema_for(self, channel: str, msg_type: str) -> type[Payload] | None:
        """The payload model of `msg_type` on `channel` ("event" or "telemetry"), None if unknown."""
        table = self.events if channel == "event" else self.telemetry
        return table.get(msg_type)

    def interpret(self, channel: str, payload: Payload) -> Interpretation:
        """Default meaning: events are stored; telemetry's numeric `battery` feeds health and readings."""
        if channel == "event":
            return Interpretation(store_event=True)
        return self.telemetry_readings(payload)

    @staticmethod
    def telemetry_readings(payload: Payload) -> Interpretation:
        battery = getattr(payload, "battery", None)
        result = Interpretation(store_event=False)
        if battery is not None:
            result.readings.append(ReadingValue("battery", float(battery)))
            result.health.battery = float(battery)
        fault = getattr(payload, "fault", None)
        if fault is not None:
            result.health.fault = fault or None
        return result

    def describe(self) -> dict[str, Any]:
        """The kind's contract as data: for docs, the integrator view and `anju devices`."""
        return {
            "kind": self.kind,
            "title": self.title,
            "heartbeat_interval_s": self.heartbeat_interval.total_seconds(),
            "offline_timeout_s": self.offline_timeout.total_seconds(),
            "safety": self.safety,
            "aliases": dict(self.aliases),
            "events": {name: model.model_json_schema() for name, model in self.events.items()},
            "telemetry": {name: model.model_json_schema() for name, model in self.telemetry.items()},
            "commands": {name: model.model_json_schema() for name, model in self.commands.items()},
        }

