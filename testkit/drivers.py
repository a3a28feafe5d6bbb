"""A test harness for driver authors: feed recorded vendor payloads, assert Anju's canonical events.

Every payload goes through the gateway's own decoding (`gateway.decode.decode`):
the driver's `normalize`, the payload model's validation, the time stamp and
`interpret`, exactly as on a live broker, without a broker or a database.

    from testkit.drivers import assert_canonical, load_payloads

    def test_lpr():
        meaning = assert_canonical(AcmeVC200(), "event", load_payloads("tests/payloads/lpr.json")[0],
                                   type="plate", fields={"plate": "辽E12345"})
        assert meaning.store_event

For a vendor driver (`canonical_kind` set) the canonical payload is also checked
against the canonical kind's own schema, so rules written for that kind see what
they expect. Failures are `AssertionError`s that say what went wrong and why.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from devices import BUILTIN_DRIVERS
from devices.base import DeviceDriver, Interpretation
from gateway.decode import CommandResult, DeviceMessage, RawMessage, Rejection, StatusMessage, decode

TEST_SITE = "harness"
TEST_DEVICE = "dev1"
MAX_PAYLOAD_BYTES = 256 * 1024
"""The gateway's default `gateway.max_payload_bytes`."""

_MISSING = object()


@dataclass(frozen=True, slots=True)
class Recorded:
    """One recorded vendor payload: where it came from (for test ids and messages) and its bytes."""

    name: str
    payload: bytes

    def json(self) -> Any:
        return orjson.loads(self.payload)


def _as_bytes(payload: bytes | str | Mapping[str, Any] | Recorded) -> bytes:
    if isinstance(payload, Recorded):
        return payload.payload
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _label(payload: bytes | str | Mapping[str, Any] | Recorded) -> str:
    if isinstance(payload, Recorded):
        return payload.name
    text = _as_bytes(payload).decode("utf-8", errors="replace")
    return text if len(text) <= 200 else text[:200] + "..."


def feed(driver: DeviceDriver, channel: str, payload: bytes | str | Mapping[str, Any] | Recorded,
         *, received_at: datetime | None = None) -> DeviceMessage | Rejection:
    """Decode one payload as the gateway would for a device of `driver`'s kind on `channel`."""
    if channel not in ("event", "telemetry"):
        raise ValueError(f"channel must be 'event' or 'telemetry', not {channel!r}")
    raw = RawMessage(topic=f"anju/v1/{TEST_SITE}/{driver.kind}/{TEST_DEVICE}/{channel}", payload=_as_bytes(payload),
                     qos=1, retain=False, mid=1, received_at=received_at or datetime.now(UTC))
    decoded = decode(raw, MAX_PAYLOAD_BYTES, {driver.kind: driver})
    assert not isinstance(decoded, StatusMessage | CommandResult)  # the channel is event or telemetry
    return decoded


def _canonical_driver(kind: str) -> DeviceDriver | None:
    for cls in BUILTIN_DRIVERS:
        if cls.kind == kind:
            return cls()
    return None


def canonical(driver: DeviceDriver, channel: str, payload: bytes | str | Mapping[str, Any] | Recorded,
              *, received_at: datetime | None = None) -> DeviceMessage:
    """The decoded message; fails with the gateway's rejection reason when the gateway would dead-letter it."""
    result = feed(driver, channel, payload, received_at=received_at)
    where = f"{driver.kind} {channel} payload {_label(payload)}"
    if isinstance(result, Rejection):
        raise AssertionError(f"the gateway would reject the {where}: {result.reason}: {result.detail}")
    if driver.canonical != driver.kind:
        base = _canonical_driver(driver.canonical)
        if base is None:
            raise AssertionError(f"{driver.kind}: canonical_kind {driver.canonical!r} is not a built-in kind")
        model = base.schema_for(channel, result.payload.type)
        if model is None:
            known = sorted(base.events if channel == "event" else base.telemetry)
            raise AssertionError(f"{where} became type {result.payload.type!r}, which {driver.canonical} has no "
                                 f"{channel} of (known: {known})")
        try:
            model.model_validate(result.data)
        except ValidationError as exc:
            raise AssertionError(f"{where} does not satisfy the canonical {driver.canonical} "
                                 f"{result.payload.type!r} schema: {exc}") from None
    return result


def assert_canonical(driver: DeviceDriver, channel: str, payload: bytes | str | Mapping[str, Any] | Recorded,
                     *, type: str | None = None, fields: Mapping[str, Any] | None = None,
                     store_event: bool | None = None, ts: datetime | None = None,
                     readings: Mapping[str, float] | None = None) -> Interpretation:
    """Assert that `payload` decodes to a canonical message and return what it means.

    `type`: the canonical type (e.g. "plate"); `fields`: canonical fields and their values (a subset of the
    stored payload); `store_event`: stored as an event or not; `ts`: the event time; `readings`: metric -> value.
    """
    msg = canonical(driver, channel, payload)
    where = f"{driver.kind} {channel} payload {_label(payload)}"
    if type is not None and msg.payload.type != type:
        raise AssertionError(f"{where}: canonical type is {msg.payload.type!r}, expected {type!r}")
    for name, expected in (fields or {}).items():
        actual = msg.data.get(name, _MISSING)
        if actual is _MISSING:
            raise AssertionError(f"{where}: canonical field {name!r} is missing (fields: {sorted(msg.data)})")
        if actual != expected:
            raise AssertionError(f"{where}: canonical field {name!r} is {actual!r}, expected {expected!r}")
    if store_event is not None and msg.meaning.store_event != store_event:
        raise AssertionError(f"{where}: store_event is {msg.meaning.store_event}, expected {store_event}")
    if ts is not None and msg.ts != ts:
        raise AssertionError(f"{where}: event time is {msg.ts.isoformat()}, expected {ts.isoformat()}")
    if readings is not None:
        got = {r.metric: r.value for r in msg.meaning.readings}
        if got != dict(readings):
            raise AssertionError(f"{where}: readings are {got}, expected {dict(readings)}")
    return msg.meaning


def assert_rejected(driver: DeviceDriver, channel: str, payload: bytes | str | Mapping[str, Any] | Recorded,
                    reason: str | None = None) -> Rejection:
    """Assert that the gateway would dead-letter `payload` (with `reason`, e.g. "invalid_payload", if given)."""
    result = feed(driver, channel, payload)
    where = f"{driver.kind} {channel} payload {_label(payload)}"
    if not isinstance(result, Rejection):
        raise AssertionError(f"{where} was accepted as {result.payload.type!r}, expected a rejection")
    if reason is not None and result.reason != reason:
        raise AssertionError(f"{where} was rejected as {result.reason!r} ({result.detail}), expected {reason!r}")
    return result


def load_payloads(path: str | Path) -> list[Recorded]:
    """Recorded payloads from a file or a directory of files (sorted by name).

    `.json`: one payload, or a JSON array of payloads; `.jsonl`/`.ndjson`: one payload per line (blank lines
    and lines starting with `#` skipped); anything else (`.bin`, `.txt`): the file's bytes as one payload.
    """
    path = Path(path)
    if path.is_dir():
        found = [r for child in sorted(path.iterdir()) if child.is_file() for r in load_payloads(child)]
        if not found:
            raise AssertionError(f"no recorded payloads in {path}")
        return found
    data = path.read_bytes()
    if path.suffix == ".json":
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise AssertionError(f"{path} is not JSON: {exc}") from None
        if isinstance(parsed, list):
            return [Recorded(f"{path.name}[{i}]", orjson.dumps(item)) for i, item in enumerate(parsed)]
        return [Recorded(path.name, data)]
    if path.suffix in (".jsonl", ".ndjson"):
        lines = data.decode("utf-8").splitlines()
        return [Recorded(f"{path.name}:{n}", line.encode("utf-8")) for n, line in enumerate(lines, 1)
                if line.strip() and not line.lstrip().startswith("#")]
    return [Recorded(path.name, data)]


def iter_payloads(path: str | Path) -> Iterator[Recorded]:
    """`load_payloads` as an iterator (for `pytest.mark.parametrize(..., ids=lambda r: r.name)`)."""
    yield from load_payloads(path)


__all__ = ["Recorded", "assert_canonical", "assert_rejected", "canonical", "feed", "iter_payloads",
           "load_payloads"]
