"""The common driver interface: one subclass per device kind.

A driver says what a kind's messages look like (a pydantic model per message
type), what they mean (canonical events, readings, health), how often the kind
checks in, and which commands it takes. The gateway knows nothing kind-specific:
adding a kind is adding one folder (`devices/<kind>/`, docs/devices.md) with one `DeviceDriver`
subclass, and the places that need to know something of a kind ask its driver through the hooks below.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from devices.simulation import KindModel
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


@dataclass(frozen=True, slots=True)
class PersonEvidence:
    """What in one observation names the person it shows (`DeviceDriver.person_evidence`).

    The person directory (`rules.persons`) looks `value` up by `link`: `person` is a person id; `device` the
    observing device itself, in the `devices` of the person holding it (an elder's button); `credential` a
    card number or PIN in a person's `credentials`; `plate` a plate in a person's `plates`. Devices, credentials
    and plates are looked up within the device's site.
    """

    link: Literal["person", "device", "credential", "plate"]
    value: str


Holder = Callable[[], "tuple[str, Mapping[str, Any]] | None"]
"""Asked lazily by `DeviceDriver.contacts`: the name and attributes of the person whose `devices` list the device."""


class PushError(ValueError):
    """An HTTP push body a driver cannot turn into messages; `reason` is a stable class (the dead letter's
    reason is `<driver kind>_<reason>`), `detail` a sentence for the integrator."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class PushTarget:
    """The registered device an HTTP push was posted to (`POST /api/v1/vendors/{vendor}/{site}/{device}`)."""

    site: str
    device: str
    kind: str
    """Its registered (canonical) kind."""
    attributes: Mapping[str, Any]
    timezone: tzinfo | None
    """The site's zone, for vendor times written without an offset; None: unknown."""


@dataclass(slots=True)
class Push:
    """One canonical message an HTTP push means: it enters the gateway as if published on
    `anju/v1/{site}/{kind}/{device}/{channel}` (same decoding, dedup, storage and rules as MQTT)."""

    device: str
    kind: str
    """The canonical kind the payload is (the device's registered kind)."""
    channel: Literal["event", "telemetry"]
    payload: dict[str, Any]
    """The canonical payload (with `type` and, for dedup, a `msg_id` derived from the vendor's event identity)."""
    picture: bytes | None = None
    """The event's picture (JPEG): the gateway carries it as the payload's `snapshot`, within the payload limit."""


@dataclass(slots=True)
class Pushed:
    """What one HTTP push body means: its messages, or why nothing came of it (answered 200 all the same)."""

    messages: list[Push] = field(default_factory=list)
    ignored: str | None = None


def _field(payload: Payload, name: str) -> Any:
    """A declared field's or an extra field's value, None when there is neither. `getattr` on a model without the
    field costs pydantic's failed lookup and an exception, for every heartbeat."""
    value = payload.__dict__.get(name)
    if value is None and payload.__pydantic_extra__:
        value = payload.__pydantic_extra__.get(name)
    return value


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
    """A safety kind (elder button, fence, gate, lift): an event of it is never refused for a secondary field's format,
    and one that cannot be understood at all raises an "unrecognised alarm" besides its dead letter (SPEC §2)."""
    alarm_types: ClassVar[frozenset[str]] = frozenset()
    """The event types that are alarms: one of these that stays invalid after the tolerated repairs raises an
    "unrecognised alarm" (for a safety kind, as does an event of a type the driver does not know at all)."""
    routine_types: ClassVar[frozenset[str]] = frozenset()
    """Event types that are everyday records, never alarms in themselves (a gate's `pass`, a camera's `plate`): they
    wait for the telemetry batch (at most `gateway.bulk_linger_seconds`) instead of a transaction each, ahead of
    the telemetry (`gateway.inbox`). Leave out anything a person must hear of at once; rules may still alert on them."""
    aliases: ClassVar[dict[str, str]] = {}
    """Other names firmware uses for this kind's types, lower-case → canonical type (`sos` → `press`). Sites and
    devices add their own (`type_aliases`, docs/devices.md); matching is case-insensitive either way."""
    canonical_kind: ClassVar[str | None] = None
    """For a vendor driver: the built-in kind its devices are (e.g. "plate_camera"). Its `kind` then only selects
    the driver by topic; the device is registered, matched by rules and shown as `canonical_kind`, and `normalize`
    must produce that kind's canonical payloads. None: the driver defines a kind of its own."""
    push_kinds: ClassVar[tuple[str, ...]] = ()
    """For a driver that takes HTTP pushes (`parse_push`): the registered kinds of the devices they may be posted
    for (a Hikvision push goes to a `plate_camera` or a `face_camera`); empty: the driver's `canonical` kind."""
    derived_readings: ClassVar[frozenset[str]] = frozenset()
    """Readings `interpret` makes that are not numeric telemetry fields (a lift's `in_service` as 1/0 from a
    boolean, a heating loop's `spread_c` computed from two fields): rules may name them as a threshold's `metric`
    (`rules.catalog.metrics_of` adds them to the numeric fields of the kind's telemetry models)."""
    personal_device: ClassVar[bool] = False
    """A device that belongs to one person (an elder's button): persons list it in their `devices` (the site file
    refuses any other kind there), and `contacts` may fall back to that person."""

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

    def simulated(self, rng: random.Random | None = None,
                  attributes: Mapping[str, Any] | None = None) -> KindModel | None:
        """This kind's simulated device (a `devices.simulation.KindModel`), or None when the kind has none.

        `simulators.kinds.make_model` (and so `SimulatedDevice`, `anju simulate`) asks every driver, built-in or
        third-party, through this one hook. `attributes` are the device's attributes from the site file, for a
        model whose shape depends on them (a fence host's zones and pulse voltage). Plugins written before the
        hook took them (`simulated(self, rng)`) keep working: they are asked without.
        """
        return None

    def samples(self) -> dict[str, list[dict[str, Any]]]:
        """Canonical example payloads of the kind by channel (`{"event": [...], "telemetry": [...]}`), {} if none.

        Read from `samples.json` beside the driver's module (a built-in kind's folder): one file shows a newcomer
        what the kind sends, and tests/devices/test_kinds.py feeds every sample through the gateway's decoding,
        so the examples cannot drift from the schemas.
        """
        module = sys.modules.get(type(self).__module__)
        where = getattr(module, "__file__", None)
        path = Path(where).parent / "samples.json" if where else None
        if path is None or not path.is_file():
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(channel): list(items) for channel, items in data.items()}

    def describe_reading(self, data: Mapping[str, Any]) -> str:
        """One line saying what Anju read from a camera picture (`read_by: anju`), kept as the picture's outcome.

        Only kinds whose events carry pictures (a `Capture` payload) are asked; the default names the type.
        """
        return str(data.get("type") or "reading")

    def person_evidence(self, type: str, data: Mapping[str, Any], device: str) -> PersonEvidence | None:
        """What in an event of `type` shows a person (for `per: person` absences, the welfare check), or None.

        The kind knows which of its events show the person themselves (a button press, a granted pass, a good face
        match) and which never do (heartbeats, denied passes, one-time codes). Default: none do.
        """
        return None

    def contacts(self, attributes: Mapping[str, Any], holder: Holder) -> dict[str, Any] | None:
        """Who the patrol calls about an alert of this device (the API's `contacts`), None when there is nobody.

        `attributes` are the device's own (site file, API); `holder()` looks up the person whose `devices` list
        the device, only if called. Default: None (cameras, gates and fences have nobody to call).
        """
        return None

    @property
    def takes_pushes(self) -> bool:
        """Whether the driver overrides `parse_push` (`POST /api/v1/vendors/{kind}/...` is served)."""
        return type(self).parse_push is not DeviceDriver.parse_push

    def parse_push(self, body: bytes, content_type: str, headers: Mapping[str, str], target: PushTarget) -> Pushed:
        """Map a vendor's HTTP push (a camera posting its own event format) to canonical messages.

        The HTTP counterpart of `normalize`: the body (at most 4 MiB), its Content-Type and headers, and the
        registered device it was posted to. Raise `PushError` for a body that cannot be mapped: it is kept as a
        dead letter and answered 422. Default: pushes are not supported (the route answers 404).
        """
        raise NotImplementedError(f"{type(self).__name__} takes no HTTP pushes")

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
        battery = _field(payload, "battery")
        result = Interpretation(store_event=False)
        if battery is not None:
            result.readings.append(ReadingValue("battery", float(battery)))
            result.health.battery = float(battery)
        fault = _field(payload, "fault")
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
            "routine_types": sorted(self.routine_types),
            "aliases": dict(self.aliases),
            "events": {name: model.model_json_schema() for name, model in self.events.items()},
            "telemetry": {name: model.model_json_schema() for name, model in self.telemetry.items()},
            "commands": {name: model.model_json_schema() for name, model in self.commands.items()},
        }

